import type { Source } from '@prisma/client';
import type { Db } from '../db/client.js';
import type { SecretBox } from '../security/secrets.js';
import type { SourceRecord } from './contract.js';

const cacheTtlMs = 5_000;

/**
 * Sources as adapters see them, with secrets opened. Webhooks look a source up on every request,
 * so lookups are cached briefly; changes made through this process drop the entry at once, and
 * other processes see them within the TTL.
 */
export class SourceDirectory {
  private readonly cache = new Map<string, { record: SourceRecord | null; at: number }>();

  constructor(
    private readonly prisma: Db,
    private readonly box: SecretBox,
  ) {}

  async find(sourceId: string): Promise<SourceRecord | null> {
    const hit = this.cache.get(sourceId);
    if (hit && Date.now() - hit.at < cacheTtlMs) return hit.record;
    const row = await this.prisma.source.findUnique({ where: { id: sourceId }, include: { workspace: { select: { country: true } } } });
    const record = row && !row.deletedAt ? this.toRecord(row) : null;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(sourceId, { record, at: Date.now() });
    return record;
  }

  forget(sourceId: string): void {
    this.cache.delete(sourceId);
  }

  toRecord(row: Source & { workspace?: { country: string } }): SourceRecord {
    return {
      id: row.id,
      workspaceId: row.workspaceId,
      ...(row.workspace ? { country: row.workspace.country } : {}),
      kind: row.kind,
      name: row.name,
      settings: row.settings as Record<string, unknown>,
      secrets: this.box.open<Record<string, unknown>>(row.secrets),
    };
  }
}
