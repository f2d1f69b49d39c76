// Turns whatever dockerode / docker-modem / node:http threw into one of our engine errors, so no
// caller ever looks at HTTP status codes or errno strings.
import { ConflictError, EngineError, EngineUnavailableError, NotFoundError } from '../../../controllers/runtime/errors.ts';

/** Socket-level failures: the engine is not there (or stopped answering), not that it said no. */
const UNAVAILABLE_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EACCES',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
]);

interface RawError {
  statusCode?: unknown;
  code?: unknown;
  message?: unknown;
  json?: unknown;
  cause?: unknown;
}

function asRaw(error: unknown): RawError {
  return typeof error === 'object' && error !== null ? (error as RawError) : {};
}

/** The engine's own message ({"message": "..."}) rather than docker-modem's "(HTTP code 404) ..." prefix. */
function engineMessage(raw: RawError): string {
  const json = raw.json;
  if (typeof json === 'object' && json !== null && typeof (json as { message?: unknown }).message === 'string') {
    return (json as { message: string }).message;
  }
  if (typeof json === 'string' && json.trim() !== '') return json.trim();
  if (Buffer.isBuffer(json) && json.length > 0) return json.toString('utf8').trim();
  return typeof raw.message === 'string' ? raw.message.trim() : String(raw.message ?? 'unknown error');
}

function isUnavailable(raw: RawError, error: unknown): boolean {
  if (typeof raw.code === 'string' && UNAVAILABLE_CODES.has(raw.code)) return true;
  // node:http reports a peer that closed mid-request with this message and ECONNRESET, but
  // some paths (aborted responses) only carry the message.
  if (typeof raw.message === 'string' && /socket hang up|^aborted$/i.test(raw.message)) return true;
  return false;
}

/**
 * Maps an error to NotFoundError (404), ConflictError (409), EngineUnavailableError (socket
 * trouble, timeouts) or EngineError (anything else), keeping the original as `cause`.
 * `what` names the call for the message, e.g. "inspect container 3f2a".
 */
export function toEngineError(what: string, error: unknown): EngineError {
  if (error instanceof EngineError) return error;
  const raw = asRaw(error);
  const status = typeof raw.statusCode === 'number' ? raw.statusCode : undefined;
  // An HTTP status means the engine answered: check it before any socket heuristics, so an
  // engine message that happens to contain "connection refused" (a failed pull) stays an
  // EngineError.
  if (status !== undefined) {
    const message = `${what}: ${engineMessage(raw)}`;
    if (status === 404) return new NotFoundError(message, status, { cause: error });
    if (status === 409) return new ConflictError(message, status, { cause: error });
    return new EngineError(message, status, { cause: error });
  }
  const message = `${what}: ${typeof raw.message === 'string' ? raw.message : String(error)}`;
  if (isUnavailable(raw, error)) return new EngineUnavailableError(message, undefined, { cause: error });
  return new EngineError(message, undefined, { cause: error });
}

/** docker-modem reports "304 not modified" (start a running / stop a stopped container) as an error. */
export function isNotModified(error: unknown): boolean {
  return asRaw(error).statusCode === 304;
}
