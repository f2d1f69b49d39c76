// Engine errors by meaning, so callers never parse HTTP status codes.
export class EngineError extends Error {
  override readonly name: string = 'EngineError';
  constructor(
    message: string,
    readonly statusCode?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The container, image or object does not exist (HTTP 404). */
export class NotFoundError extends EngineError {
  override readonly name = 'NotFoundError';
}

/** A name is taken or the object is in a state that forbids the call (HTTP 409). */
export class ConflictError extends EngineError {
  override readonly name = 'ConflictError';
}

/** The engine does not answer (socket missing, connection refused, reset, timeout). */
export class EngineUnavailableError extends EngineError {
  override readonly name = 'EngineUnavailableError';
}
