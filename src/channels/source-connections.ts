import type { AdapterContext, SourceRecord } from './contract.js';

/** A long-lived connection of one source (a mailbox, a WhatsApp number). */
export interface SourceConnection {
  /** What the connection was built from; a source whose fingerprint changes gets a new connection. */
  readonly fingerprint: string;
  start(): void;
  stop(): Promise<void>;
}

/**
 * One connection per live source of a kind, kept in step with the database: sources created,
 * changed or deleted through any process are picked up within `refreshMs`.
 */
export class SourceConnections<C extends SourceConnection> {
  private readonly connections = new Map<string, C>();
  private ctx: AdapterContext | undefined;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> = Promise.resolve();

  constructor(
    private readonly kind: string,
    private readonly create: (source: SourceRecord, ctx: AdapterContext, fingerprint: string) => C | Promise<C>,
    private readonly fingerprint: (source: SourceRecord) => string,
    private readonly refreshMs = 5_000,
  ) {}

  async start(ctx: AdapterContext): Promise<void> {
    if (this.ctx) throw new Error(`the ${this.kind} adapter is already started`);
    this.ctx = ctx;
    // Through the chain: a change announced meanwhile waits, so no source gets two connections.
    this.refreshing = this.refresh();
    await this.refreshing;
    this.timer = setInterval(() => this.changed(), this.refreshMs);
    this.timer.unref();
  }

  /** Looks at the sources again now (one was created, changed or deleted through this process). */
  changed(): void {
    if (!this.ctx) return;
    this.refreshing = this.refreshing.then(() => this.refresh()).catch((error: unknown) => this.ctx?.logger.error({ err: error }, `could not refresh ${this.kind} sources`));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.refreshing;
    await Promise.all([...this.connections.values()].map((connection) => connection.stop()));
    this.connections.clear();
    this.ctx = undefined;
  }

  get(sourceId: string): C | undefined {
    return this.connections.get(sourceId);
  }

  private async refresh(): Promise<void> {
    const ctx = this.ctx;
    if (!ctx) return;
    const sources = await ctx.listSources(this.kind);
    const wanted = new Map(sources.map((source) => [source.id, source]));
    for (const [id, connection] of this.connections) {
      const source = wanted.get(id);
      if (!source || this.fingerprint(source) !== connection.fingerprint) {
        this.connections.delete(id);
        await connection.stop();
      }
    }
    for (const source of sources) {
      if (this.connections.has(source.id)) continue;
      const connection = await this.create(source, ctx, this.fingerprint(source));
      this.connections.set(source.id, connection);
      connection.start();
    }
  }
}
