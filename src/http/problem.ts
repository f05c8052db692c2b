import type { ErrorRequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import type { DatabaseAvailability } from '../db/availability.js';
import { type ProblemCode, ProblemError, problemCatalog, problemType } from '../errors.js';

export function sendProblem(res: Response, error: ProblemError, instance?: string): void {
  for (const [name, value] of Object.entries(error.headers ?? {})) res.setHeader(name, value);
  res
    .status(error.status)
    .type('application/problem+json')
    .send(
      JSON.stringify({
        type: problemType(error.code),
        title: problemCatalog[error.code].title,
        status: error.status,
        detail: error.message,
        ...(instance ? { instance } : {}),
        ...(error.errors ? { errors: error.errors } : {}),
      }),
    );
}

/** Body-parser and other http-errors style failures carry a status and a type string. */
function fromHttpError(error: unknown): ProblemError | undefined {
  if (!error || typeof error !== 'object') return undefined;
  const { status, type, message } = error as { status?: unknown; type?: unknown; message?: unknown };
  if (typeof status !== 'number' || status < 400 || status >= 500) return undefined;
  const byType: Record<string, ProblemCode> = {
    'entity.parse.failed': 'malformed_body',
    'entity.too.large': 'payload_too_large',
    'encoding.unsupported': 'unsupported_media_type',
    'charset.unsupported': 'unsupported_media_type',
  };
  const code = (typeof type === 'string' && byType[type]) || (status === 413 ? 'payload_too_large' : 'malformed_body');
  return new ProblemError(code, typeof message === 'string' ? message : undefined, undefined, { cause: error });
}

/** How long a client should wait before trying again while the database is away. */
const databaseRetryAfterSeconds = 5;

/**
 * Every error leaves as problem+json; nothing about the server's insides does. While the database
 * cannot be reached the answer is 503 with Retry-After (nothing was stored: try again), and the
 * outage is logged once by `availability`, not once per request.
 */
export function problemHandler(logger: Logger, availability?: DatabaseAvailability): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    const problem = error instanceof ProblemError ? error : fromHttpError(error);
    if (problem) {
      sendProblem(res, problem, req.originalUrl.split('?')[0]);
      return;
    }
    if (availability?.noteError(error)) {
      if (res.headersSent) return;
      const unavailable = new ProblemError('database_unavailable', 'The database cannot be reached; nothing was stored. Try again shortly.', undefined, {
        headers: { 'Retry-After': String(databaseRetryAfterSeconds) },
      });
      sendProblem(res, unavailable, req.originalUrl.split('?')[0]);
      return;
    }
    logger.error({ err: error, reqId: res.locals.requestId as string | undefined }, 'unhandled error');
    if (res.headersSent) return;
    sendProblem(res, new ProblemError('internal', 'Something went wrong on our side; the request id identifies it in the logs.'));
  };
}
