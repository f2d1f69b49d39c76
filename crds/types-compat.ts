// Compile-time only: `tsc --noEmit` fails here when a hand-written part of crds/types.ts disagrees
// with the types generated from the CRD schemas (an enum value added in the YAML but not in the
// `as const` list code iterates over, or Session/Agent drifting from the schema's shape).
// Nothing imports this file; it exports only types.
import type * as T from './types.ts';
import type * as GenSession from './generated/session.ts';
import type * as GenAgent from './generated/agent.ts';

type Equal<X, Y> = (<V>() => V extends X ? 1 : 2) extends <V>() => V extends Y ? 1 : 2 ? true : false;
type Expect<Check extends true> = Check;
type Values<List extends readonly unknown[]> = List[number];
type WithoutMeta<R> = Omit<R, 'apiVersion' | 'kind' | 'metadata'>;

export type TypesMatchCrds = [
  Expect<Equal<Values<typeof T.CONDITION_STATUSES>, GenSession.ConditionStatus>>,
  Expect<Equal<Values<typeof T.CONDITION_STATUSES>, GenAgent.ConditionStatus>>,
  Expect<Equal<Values<typeof T.PROTOCOLS>, GenSession.Protocol>>,
  Expect<Equal<Values<typeof T.RESTART_POLICIES>, GenSession.RestartPolicy>>,
  Expect<Equal<Values<typeof T.IMAGE_PULL_POLICIES>, GenSession.ImagePullPolicy>>,
  Expect<Equal<Values<typeof T.DESIRED_STATES>, GenSession.DesiredState>>,
  Expect<Equal<Values<typeof T.SESSION_PHASES>, GenSession.SessionPhase>>,
  Expect<Equal<Values<typeof T.AGENT_STATES>, GenAgent.AgentState>>,
  // One Condition type serves both kinds, so their schemas must agree.
  Expect<Equal<GenSession.Condition, GenAgent.Condition>>,
  // Session and Agent add typed metadata and literal apiVersion/kind to the schema's shape.
  Expect<Equal<WithoutMeta<T.Session>, WithoutMeta<GenSession.SessionResource>>>,
  Expect<Equal<WithoutMeta<T.Agent>, WithoutMeta<GenAgent.AgentResource>>>,
];
