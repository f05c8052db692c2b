/**
 * The error catalog: every error the gateway raises on purpose has a code, an HTTP status and
 * a stable problem `type` (RFC 9457). Channel errors also say whether a retry can help.
 */
export const problemCatalog = {
  validation_failed: { status: 422, title: 'The request is not valid' },
  malformed_body: { status: 400, title: 'The request body could not be parsed' },
  unsupported_media_type: { status: 415, title: 'Unsupported content type' },
  payload_too_large: { status: 413, title: 'The request body is too large' },
  unauthorized: { status: 401, title: 'Authentication is required' },
  signature_expired: { status: 401, title: 'The signature\'s timestamp is too old or in the future' },
  forbidden: { status: 403, title: 'Not allowed' },
  origin_not_allowed: { status: 403, title: 'This origin may not post to this form' },
  not_found: { status: 404, title: 'Not found' },
  conflict: { status: 409, title: 'Conflict' },
  rate_limited: { status: 429, title: 'Too many requests' },
  unsupported_source_kind: { status: 422, title: 'This kind of source is not available' },
  source_connection_failed: { status: 422, title: 'The source could not connect' },
  no_reply_channel: { status: 422, title: 'The contact has no channel to reply on' },
  template_invalid: { status: 422, title: 'The template cannot be rendered' },
  attachments_not_supported: { status: 422, title: 'This channel cannot carry these files' },
  invite_invalid: { status: 410, title: 'This invitation link no longer works' },
  invite_not_sent: { status: 502, title: 'The invitation could not be emailed' },
  not_ready: { status: 503, title: 'Not ready' },
  database_unavailable: { status: 503, title: 'The database is unavailable' },
  internal: { status: 500, title: 'Internal error' },
} as const;

export type ProblemCode = keyof typeof problemCatalog;

export const problemTypeBase = 'https://leadgate.dev/problems/';

export function problemType(code: ProblemCode): string {
  return `${problemTypeBase}${code.replace(/_/g, '-')}`;
}

export interface FieldError {
  path: string;
  message: string;
}

/** An error meant for the client: rendered as problem+json with its catalog status and type. */
export class ProblemError extends Error {
  override readonly name = 'ProblemError';
  readonly status: number;
  constructor(
    readonly code: ProblemCode,
    detail?: string,
    readonly errors?: FieldError[],
    options?: { cause?: unknown; headers?: Record<string, string> },
  ) {
    super(detail ?? problemCatalog[code].title, options?.cause === undefined ? undefined : { cause: options.cause });
    this.status = problemCatalog[code].status;
    this.headers = options?.headers;
  }
  readonly headers: Record<string, string> | undefined;
}

export class NotFoundError extends ProblemError {
  constructor(what: string) {
    super('not_found', `${what} not found`);
  }
}

export class ValidationError extends ProblemError {
  constructor(errors: FieldError[], detail = 'Some fields are not valid') {
    super('validation_failed', detail, errors);
  }
}

/**
 * A channel's transport failed. `retryable` decides between a retry with backoff and an
 * immediate, visible failure (invalid address, blocked, rejected by the provider).
 */
export class ChannelError extends Error {
  override readonly name = 'ChannelError';
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A process wrote for a connection whose lease another process now holds: it must stop. */
/**
 * The connection to send through is not open in this process: another process holds it (or
 * none does right now). The send waits for the connection's owner, and waiting costs no attempt;
 * it fails only when nobody has held the connection for the configured time.
 */
export class ConnectionElsewhereError extends ChannelError {
  constructor(
    code: string,
    message: string,
    /** When to look again (another process may take the job meanwhile). */
    readonly retryInMs: number,
  ) {
    super(code, message, true);
  }
}

export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
  constructor(readonly leaseKey: string) {
    super(`the lease ${leaseKey} is held by another process`);
  }
}
