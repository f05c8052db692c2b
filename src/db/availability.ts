import type { Logger } from 'pino';

/**
 * Codes that mean the database cannot be reached or is going away, as the layers under us report
 * them (besides socket errors): PostgreSQL's connection-exception and operator-intervention SQLSTATEs
 * (class 08, 57P0x), and Prisma's codes for the same (P1001 not reachable, P1008 timed out, P1017
 * connection closed).
 * @see https://www.postgresql.org/docs/current/errcodes-appendix.html
 * @see https://www.prisma.io/docs/orm/reference/error-reference
 */
const unreachableCodes = new Set([
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  'P1001',
  'P1002',
  'P1008',
  'P1017',
]);
/** The driver adapter's own names for them (a DriverAdapterError's cause). */
const unreachableKinds = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout']);
/** pg ends a query on a connection that dropped with a plain Error and no code. */
const unreachableMessages = /Connection terminated|Can't reach database server|Server has closed the connection|timeout exceeded when trying to connect|Client has encountered a connection error|Connection is not open/i;

/** Where the database is reached: a TCP port, or the Unix socket's path (the embedded one). */
export interface DatabaseEndpoint {
  port?: number;
  socketPath?: string;
}

const socketCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ENOENT']);

/**
 * Whether an error says the database is out of reach, rather than that a statement failed. A
 * socket error counts only when it names the database's own port or socket: Redis, SMTP and
 * webhook targets fail with the same codes.
 */
export function isDatabaseUnreachable(error: unknown, endpoint: DatabaseEndpoint, depth = 0): boolean {
  if (depth > 5 || !error || typeof error !== 'object') return false;
  const { code, kind, message, cause, meta, errors, port, address } = error as {
    code?: unknown;
    kind?: unknown;
    message?: unknown;
    cause?: unknown;
    meta?: { driverAdapterError?: unknown };
    errors?: unknown;
    port?: unknown;
    address?: unknown;
  };
  if (typeof code === 'string' && socketCodes.has(code)) {
    if ((endpoint.port !== undefined && port === endpoint.port) || (endpoint.socketPath !== undefined && address === endpoint.socketPath)) return true;
  } else if (typeof code === 'string' && unreachableCodes.has(code)) return true;
  if (typeof kind === 'string' && unreachableKinds.has(kind)) return true;
  if (typeof message === 'string' && unreachableMessages.test(message)) return true;
  if (Array.isArray(errors) && errors.some((inner) => isDatabaseUnreachable(inner, endpoint, depth + 1))) return true;
  return isDatabaseUnreachable(cause, endpoint, depth + 1) || isDatabaseUnreachable(meta?.driverAdapterError, endpoint, depth + 1);
}

/**
 * Whether the database answers, as seen by this process. An outage is logged once when it is
 * first seen and once when it ends (a probe every `probeMs` while it lasts finds out), not once
 * per request or per connection that fails meanwhile.
 */
export class DatabaseAvailability {
  private downSince: number | null = null;
  private probe: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly logger: Logger | undefined,
    private readonly endpoint: DatabaseEndpoint,
    private readonly ping: () => Promise<void>,
    private readonly probeMs = 1_000,
  ) {}

  get available(): boolean {
    return this.downSince === null;
  }

  /**
   * Looks at an error from the database: when it says the database is out of reach, notes the
   * outage (logged if it is news) and answers true; any other error answers false.
   */
  noteError(error: unknown): boolean {
    if (!isDatabaseUnreachable(error, this.endpoint)) return false;
    if (this.downSince === null && !this.closed) {
      this.downSince = Date.now();
      this.logger?.error({ err: error }, 'database unavailable');
      this.scheduleProbe();
    }
    return true;
  }

  /** A query went through: when an outage was noted, it is over. */
  noteSuccess(): void {
    if (this.downSince === null) return;
    const downMs = Date.now() - this.downSince;
    this.downSince = null;
    if (this.probe) clearTimeout(this.probe);
    this.probe = undefined;
    this.logger?.info({ downMs }, 'database available again');
  }

  /**
   * The logger for background work (pollers, workers): a warning or error whose `err` says the
   * database is out of reach notes the outage instead of writing a line, so a poller that runs
   * every 250 ms does not log four errors a second while the database is away.
   */
  quiet(logger: Logger): Logger {
    const child = logger.child({});
    for (const level of ['warn', 'error', 'fatal'] as const) {
      const write = child[level].bind(child) as (...args: unknown[]) => void;
      // pino sets a logger's level methods on the instance itself; its level never changes here.
      child[level] = ((first: unknown, ...rest: unknown[]) => {
        if (first && typeof first === 'object' && 'err' in first && this.noteError((first as { err: unknown }).err)) return;
        write(first, ...rest);
      }) as Logger['warn'];
    }
    return child;
  }

  close(): void {
    this.closed = true;
    if (this.probe) clearTimeout(this.probe);
    this.probe = undefined;
  }

  private scheduleProbe(): void {
    if (this.closed) return;
    this.probe = setTimeout(() => {
      this.ping().then(
        () => this.noteSuccess(),
        (error: unknown) => {
          // Still down (or down in another way): look again later, quietly.
          if (this.downSince !== null && !isDatabaseUnreachable(error, this.endpoint)) this.logger?.debug({ err: error }, 'database probe failed');
          if (this.downSince !== null) this.scheduleProbe();
        },
      );
    }, this.probeMs);
    this.probe.unref();
  }
}
