// What the file-lock stress test (test/integration/file-lease-stress.test.ts) and its worker
// processes (file-lock-churn-worker.ts, which runs on import) share.
import type { LeaseTimings } from '../../reconciler/leader.ts';

/** What a worker prints when done. */
export interface ChurnSummary {
  name: string;
  terms: number;
  replicasStarted: number;
  helperKills: number;
  /** Backend calls that outlived their bound and were abandoned (logged as warnings). */
  abandoned: number;
  /** Calls that got their answer from the real lock but were held back past the bound. */
  delayed: number;
  /** New grants (identity, token) by the locks of this process, whether or not the elector saw them. */
  acquisitions: number;
  /** Log lines at error level (the elector's "token went backwards" is one). */
  errors: string[];
}

// Bounds of 100 ms: on a busy machine a helper spawn plus two fsyncs often take longer, so calls
// are abandoned while they still run.
export const CHURN_TIMINGS: LeaseTimings = { leaseDurationMs: 1_000, renewDeadlineMs: 700, retryPeriodMs: 100 };

export const CHURN_GO = 'go';
export const CHURN_STOP = 'stop';
/** In the control directory: one JSON line per new token a lock granted, in grant order. */
export const CHURN_GRANTS = 'grants.jsonl';
