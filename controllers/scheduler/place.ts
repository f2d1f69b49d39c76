// place(fleet) → decisions: which agent each Session is bound to. Pure: no I/O, no clock (the time
// is an input), so a scheduling pass can be printed and compared against golden text.
//
// Rules (README "Fleet"):
// - A Session pinned with spec.agent is bound to that agent and never moved.
// - A bound Session stays where it is, unless its agent has been Offline for longer than
//   rescheduleAfterMs (0: never), or it is the next Session off a draining agent: then it moves to
//   the best other agent with epoch + 1. With no such agent it stays bound and is Unschedulable.
// - An unbound Session goes to the best agent that is Online, not cordoned or draining, matches its
//   agentSelector, and has room (--max-sessions, CPU and memory limits against the engine's).
// - Best: fewest bound Sessions, then the lowest share of CPU or memory allocated, then the fewest
//   Sessions of the Session's own namespace (spread), then the name. Sessions are placed in key
//   order, each one counted before the next is placed, so one pass spreads a burst.
import type { ObjectKey, SessionBinding } from '../../crds/types.ts';
import { describeRefusals, refusalOf } from './refusals.ts';
import type { Refusal } from './refusals.ts';
import type { AgentLoad, AgentView, SessionView } from './views.ts';

export const BINDING_REASONS = { bound: 'Bound', pinned: 'Pinned', rescheduled: 'Rescheduled', drained: 'Drained' } as const;
export type BindingReason = (typeof BINDING_REASONS)[keyof typeof BINDING_REASONS];
export const UNSCHEDULABLE = 'Unschedulable' as const;

export interface PlaceInput {
  agents: readonly AgentView[];
  sessions: readonly SessionView[];
  /** 0: never move a Session off an Offline agent. */
  rescheduleAfterMs: number;
  /** Draining agents with a Session moved off them that has not settled yet: nothing more moves. */
  drainBusy: ReadonlySet<string>;
  /** RFC 3339, the time of new bindings. */
  now: string;
}

/** What the Scheduled condition should say. */
export interface ScheduledCondition {
  status: 'True' | 'False';
  reason: BindingReason | typeof UNSCHEDULABLE;
  message: string;
}

export interface Decision {
  key: ObjectKey;
  /** The binding the Session should have; undefined only while it was never bound and cannot be. */
  binding?: SessionBinding;
  scheduled: ScheduledCondition;
  /** 'bind': a first binding; 'move': to another agent (epoch + 1); 'none': the binding stays. */
  change: 'bind' | 'move' | 'none';
  /** Why it moved, e.g. "agent host-a Offline for 61s". */
  cause?: string;
  /** For a move: the agent it leaves. */
  from?: string;
}

export function place(input: PlaceInput): Decision[] {
  const agents = [...input.agents].sort((a, b) => a.name.localeCompare(b.name));
  const byName = new Map(agents.map((a) => [a.name, a]));
  const loads = new Map<string, AgentLoad>(agents.map((a) => [a.name, { nanoCpus: 0, memoryBytes: 0, sessions: 0, byNamespace: new Map() }]));
  const sessions = [...input.sessions].sort((a, b) => a.key.localeCompare(b.key));
  // What is already bound (or pinned) counts before anything new is placed.
  for (const session of sessions) {
    const holder = session.pinned ?? session.binding?.agent;
    if (holder) charge(loads.get(holder), session);
  }

  const drainStarted = new Set<string>();
  return sessions.map((session) => decide(session));

  function decide(session: SessionView): Decision {
    const { key, binding } = session;
    if (session.pinned) {
      const agent = session.pinned;
      const scheduled: ScheduledCondition = { status: 'True', reason: BINDING_REASONS.pinned, message: `pinned to ${agent} by spec.agent` };
      if (binding?.agent === agent) return { key, binding, scheduled, change: 'none' };
      return { key, binding: nextBinding(binding, agent, BINDING_REASONS.pinned, input.now), scheduled, change: binding ? 'move' : 'bind', cause: 'spec.agent', ...(binding ? { from: binding.agent } : {}) };
    }
    if (binding) {
      const holder = byName.get(binding.agent);
      const offlineFor = holder ? holder.offlineForMs : Number.POSITIVE_INFINITY;
      const lost = input.rescheduleAfterMs > 0 && offlineFor > input.rescheduleAfterMs;
      const drain = holder?.draining === true && !input.drainBusy.has(holder.name) && !drainStarted.has(holder.name);
      if (!lost && !drain) {
        return { key, binding, scheduled: { status: 'True', reason: boundReason(binding), message: boundMessage(binding) }, change: 'none' };
      }
      const cause = lost
        ? holder
          ? `agent ${binding.agent} Offline for ${Math.round(offlineFor / 1000)}s`
          : `agent ${binding.agent} has no Agent record`
        : `agent ${binding.agent} is draining`;
      if (drain && holder) drainStarted.add(holder.name);
      const target = best(session, binding.agent);
      if (typeof target !== 'string') {
        return {
          key,
          binding,
          scheduled: { status: 'False', reason: UNSCHEDULABLE, message: `${cause}; no other agent can take it: ${target.message}` },
          change: 'none',
        };
      }
      uncharge(loads.get(binding.agent), session);
      charge(loads.get(target), session);
      const reason = lost ? BINDING_REASONS.rescheduled : BINDING_REASONS.drained;
      const next = nextBinding(binding, target, reason, input.now);
      return { key, binding: next, scheduled: { status: 'True', reason, message: `${cause}; ${boundMessage(next)}` }, change: 'move', cause, from: binding.agent };
    }
    const target = best(session, undefined);
    if (typeof target !== 'string') return { key, scheduled: { status: 'False', reason: UNSCHEDULABLE, message: target.message }, change: 'none' };
    charge(loads.get(target), session);
    const next = nextBinding(undefined, target, BINDING_REASONS.bound, input.now);
    return { key, binding: next, scheduled: { status: 'True', reason: BINDING_REASONS.bound, message: boundMessage(next) }, change: 'bind' };
  }

  /** The agent to place `session` on, or why there is none. `leaving` is never chosen. */
  function best(session: SessionView, leaving: string | undefined): string | { message: string } {
    const refusals: Refusal[] = [];
    let chosen: { agent: AgentView; load: AgentLoad } | undefined;
    for (const agent of agents) {
      const load = loads.get(agent.name)!;
      const refusal = agent.name === leaving ? { agent: agent.name, kind: 'leaving' as const, text: 'the agent it leaves' } : refusalOf(agent, load, session);
      if (refusal) {
        refusals.push(refusal);
        continue;
      }
      if (!chosen || better(session, agent, load, chosen.agent, chosen.load)) chosen = { agent, load };
    }
    return chosen ? chosen.agent.name : { message: describeRefusals(refusals) };
  }
}

/** Fewest bound Sessions, then the lower share of CPU or memory, then fewer of this namespace, then the name. */
function better(session: SessionView, a: AgentView, aLoad: AgentLoad, b: AgentView, bLoad: AgentLoad): boolean {
  if (aLoad.sessions !== bLoad.sessions) return aLoad.sessions < bLoad.sessions;
  const share = (agent: AgentView, load: AgentLoad): number =>
    Math.max(fraction(load.nanoCpus, agent.capacity.nanoCpus), fraction(load.memoryBytes, agent.capacity.memoryBytes));
  const aShare = share(a, aLoad);
  const bShare = share(b, bLoad);
  if (aShare !== bShare) return aShare < bShare;
  const aSame = aLoad.byNamespace.get(session.namespace) ?? 0;
  const bSame = bLoad.byNamespace.get(session.namespace) ?? 0;
  if (aSame !== bSame) return aSame < bSame;
  return a.name.localeCompare(b.name) < 0;
}

function fraction(used: number, capacity: number | undefined): number {
  return capacity && capacity > 0 ? used / capacity : 0;
}

function charge(load: AgentLoad | undefined, session: SessionView): void {
  if (!load) return;
  load.nanoCpus += session.request.nanoCpus;
  load.memoryBytes += session.request.memoryBytes;
  load.sessions += 1;
  load.byNamespace.set(session.namespace, (load.byNamespace.get(session.namespace) ?? 0) + 1);
}

function uncharge(load: AgentLoad | undefined, session: SessionView): void {
  if (!load) return;
  load.nanoCpus -= session.request.nanoCpus;
  load.memoryBytes -= session.request.memoryBytes;
  load.sessions -= 1;
  load.byNamespace.set(session.namespace, (load.byNamespace.get(session.namespace) ?? 1) - 1);
}

function nextBinding(previous: SessionBinding | undefined, agent: string, reason: BindingReason, time: string): SessionBinding {
  return { agent, epoch: (previous?.epoch ?? 0) + 1, time, reason };
}

function boundReason(binding: SessionBinding): BindingReason {
  const known: readonly string[] = Object.values(BINDING_REASONS);
  return known.includes(binding.reason ?? '') ? (binding.reason as BindingReason) : BINDING_REASONS.bound;
}

function boundMessage(binding: SessionBinding): string {
  return `bound to ${binding.agent} (epoch ${binding.epoch})`;
}

/** One line per change and per Session that cannot be placed (golden tests, the scheduler's debug log). */
export function decisionsToString(decisions: readonly Decision[]): string {
  const lines: string[] = [];
  for (const d of decisions) {
    if (d.change === 'bind') lines.push(`bind ${d.key} → ${d.binding?.agent} (epoch ${d.binding?.epoch}, ${d.binding?.reason})`);
    else if (d.change === 'move') lines.push(`move ${d.key} ${d.from} → ${d.binding?.agent} (epoch ${d.binding?.epoch}, ${d.binding?.reason}): ${d.cause}`);
    else if (d.scheduled.status === 'False') lines.push(`unschedulable ${d.key}: ${d.scheduled.message}`);
  }
  return lines.length === 0 ? 'no changes' : lines.join('\n');
}
