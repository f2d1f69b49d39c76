// A ProbeTransport for unit tests: each port answers what the test says (failing until told
// otherwise), and every check is recorded, so a test can count them on the FakeClock.
import type { ProbeOutcome, ProbeTransport } from '../../controllers/session/prober.ts';

export class FakeProbeTransport implements ProbeTransport {
  readonly answers = new Map<number, ProbeOutcome>();
  readonly checks: { kind: 'httpGet' | 'tcpSocket'; host: string; port: number }[] = [];

  answer(port: number, ok: boolean, output = ok ? 'HTTP 200' : 'HTTP 503'): void {
    this.answers.set(port, { ok, output });
  }

  httpGet(host: string, target: { port: number }): Promise<ProbeOutcome> {
    this.checks.push({ kind: 'httpGet', host, port: target.port });
    return Promise.resolve(this.answers.get(target.port) ?? { ok: false, output: 'connect ECONNREFUSED' });
  }

  tcpConnect(host: string, port: number): Promise<ProbeOutcome> {
    this.checks.push({ kind: 'tcpSocket', host, port });
    return Promise.resolve(this.answers.get(port) ?? { ok: false, output: 'connect ECONNREFUSED' });
  }
}
