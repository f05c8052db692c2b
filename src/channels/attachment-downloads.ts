import type { AdapterContext, DueAttachment, SourceRecord } from './contract.js';

/**
 * Downloads a source's attachments that are due (stored with their message, fetched after it),
 * one look at a time per source: a look asked for while one runs is the running one's to do.
 * What a channel fetches and how it retries is `fetchOne`'s.
 */
export class AttachmentDownloads {
  private readonly looking = new Set<string>();

  constructor(
    private readonly kind: string,
    private readonly what: string,
    private readonly fetchOne: (ctx: AdapterContext, source: SourceRecord, file: DueAttachment) => Promise<void>,
  ) {}

  look(ctx: AdapterContext, sourceId: string): void {
    if (this.looking.has(sourceId)) return;
    this.looking.add(sourceId);
    void (async () => {
      const source = await ctx.findSource(sourceId);
      if (!source || source.kind !== this.kind) return;
      for (const file of await ctx.attachments.due(sourceId, 20)) await this.fetchOne(ctx, source, file);
    })()
      .catch((error: unknown) => ctx.logger.warn({ err: error, sourceId }, `could not download ${this.what}`))
      .finally(() => this.looking.delete(sourceId));
  }
}
