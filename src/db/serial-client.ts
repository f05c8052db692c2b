import pg from 'pg';

/**
 * A pg client that runs the queries given to it one after another. Prisma's query interpreter
 * starts independent reads of one transaction at once, on the transaction's one client: pg
 * queues them itself today, warns that it will stop (pg 9), and a queued query that fails can
 * leave the next one waiting. Here each waits for the one before it to settle.
 */
export class SerialClient extends pg.Client {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(config?: string | pg.ClientConfig) {
    super(config);
    // A connection the server drops while the client is checked out between two queries (the
    // database stopped, in the middle of a transaction) is reported as an 'error' event, which
    // the pool listens for only on idle clients: unheard, it would end the process. Its holder
    // learns of it from its next query, which fails, and the pool drops the client on release.
    this.on('error', () => undefined);
  }

  // The override takes pg's overloads as they come and hands them on unchanged.
  override query(...args: unknown[]): never {
    const run = () => (super.query as (...callArgs: unknown[]) => unknown)(...args);
    // Callback and submittable (cursor) forms are what pg's own pool uses on a client it holds alone.
    const last = args.at(-1);
    const first = args[0] as { submit?: unknown } | undefined;
    if (typeof last === 'function' || typeof first?.submit === 'function') return run() as never;
    const result = this.tail.then(run, run);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result as never;
  }
}
