import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { Prisma } from '@prisma/client';
import type { Db } from '../db/client.js';
import { LeaseLostError } from '../errors.js';
import { closedStages } from '../leads/stages.js';
import { queueWorkspaceEvent } from '../messaging/webhooks.js';
import type { SecretBox } from '../security/secrets.js';
import type { AdapterContext, Handle, SourceEventKind, SourceStatus } from './contract.js';

/** A lease holder's name: the host and process, unique even across restarts with the same pid. */
export function newHolderId(): string {
  return `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

export function adapterState(prisma: Db): AdapterContext['state'] {
  return {
    get: async <T>(sourceId: string, key: string) => {
      const row = await prisma.adapterState.findUnique({ where: { sourceId_key: { sourceId, key } } });
      return row ? (row.value as T) : null;
    },
    set: async (sourceId, key, value) => {
      const source = await prisma.source.findUniqueOrThrow({ where: { id: sourceId }, select: { workspaceId: true } });
      await prisma.adapterState.upsert({
        where: { sourceId_key: { sourceId, key } },
        create: { sourceId, key, workspaceId: source.workspaceId, value: value as Prisma.InputJsonValue },
        update: { value: value as Prisma.InputJsonValue },
      });
    },
    list: async <T>(sourceId: string, prefix: string) => {
      const rows = await prisma.adapterState.findMany({ where: { sourceId, key: { startsWith: prefix } }, orderBy: { updatedAt: 'asc' }, take: 500 });
      return rows.map((row) => ({ key: row.key, value: row.value as T }));
    },
    remove: async (sourceId, key) => {
      await prisma.adapterState.deleteMany({ where: { sourceId, key } });
    },
  };
}

export function leases(prisma: Db, holder: string): AdapterContext['leases'] {
  return {
    acquire: async (key, ttlMs) => {
      // One statement: take a free or expired lease, or renew our own; never someone else's live one.
      const rows = await prisma.$queryRaw<{ holder: string }[]>`
        INSERT INTO leases (key, holder, "expiresAt") VALUES (${key}, ${holder}, now() + ${`${ttlMs} milliseconds`}::interval)
        ON CONFLICT (key) DO UPDATE SET holder = EXCLUDED.holder, "expiresAt" = EXCLUDED."expiresAt"
        WHERE leases.holder = EXCLUDED.holder OR leases."expiresAt" < now()
        RETURNING holder`;
      return rows.length === 1;
    },
    release: async (key) => {
      await prisma.lease.deleteMany({ where: { key, holder } });
    },
  };
}

/** See AdapterContext.vault: one sealed row per key; a write is one transaction behind the lease. */
export function sourceVault(prisma: Db, box: SecretBox, holder: string): AdapterContext['vault'] {
  return {
    get: async (sourceId, keys) => {
      const found = new Map<string, string>();
      if (keys.length === 0) return found;
      const rows = await prisma.sourceSecret.findMany({ where: { sourceId, key: { in: keys } } });
      for (const row of rows) found.set(row.key, box.open<string>(row.value));
      return found;
    },
    write: async (sourceId, changes, { leaseKey }) => {
      const entries = Object.entries(changes.set ?? {});
      const removed = changes.remove ?? [];
      if (entries.length === 0 && removed.length === 0) return;
      const source = await prisma.source.findUniqueOrThrow({ where: { id: sourceId }, select: { workspaceId: true } });
      await prisma.$transaction(async (tx) => {
        // The lease row stays locked until commit: a process that lost the connection cannot
        // overwrite the keys of the one that took it over.
        const lease = await tx.$queryRaw<{ holder: string }[]>`
          SELECT holder FROM leases WHERE key = ${leaseKey} AND holder = ${holder} AND "expiresAt" > now() FOR SHARE`;
        if (lease.length === 0) throw new LeaseLostError(leaseKey);
        if (removed.length > 0) await tx.sourceSecret.deleteMany({ where: { sourceId, key: { in: removed } } });
        if (entries.length > 0) {
          const rows = entries.map(([key, value]) => Prisma.sql`(${source.workspaceId}, ${sourceId}, ${key}, ${box.seal(value)}, now())`);
          await tx.$executeRaw`
            INSERT INTO source_secrets ("workspaceId", "sourceId", key, value, "updatedAt") VALUES ${Prisma.join(rows)}
            ON CONFLICT ("sourceId", key) DO UPDATE SET value = EXCLUDED.value, "updatedAt" = EXCLUDED."updatedAt"`;
        }
      });
    },
    clear: async (sourceId, prefix = '') => {
      await prisma.sourceSecret.deleteMany({ where: { sourceId, key: { startsWith: prefix } } });
    },
  };
}

/** See AdapterContext.findMessage. */
export async function findSourceMessage(prisma: Db, sourceId: string, externalId: string) {
  const message = await prisma.message.findFirst({
    where: { sourceId, externalId },
    orderBy: { createdAt: 'desc' },
    select: { direction: true, text: true, eventId: true },
  });
  if (!message) return null;
  const event = message.eventId ? await prisma.inboundEvent.findUnique({ where: { id: message.eventId }, select: { raw: true } }) : null;
  return { direction: message.direction as 'in' | 'out', text: message.text, raw: event?.raw ?? null };
}

/** See AdapterContext.announce: the status and the webhook deliveries commit together. */
export async function announceSourceEvent(prisma: Db, sourceId: string, event: SourceEventKind, status: SourceStatus): Promise<void> {
  await prisma.$transaction(async (tx) => {
    const source = await tx.source.findUnique({ where: { id: sourceId }, select: { workspaceId: true, kind: true, name: true } });
    if (!source) return;
    await tx.source.update({ where: { id: sourceId }, data: { status: { ...status } } });
    await queueWorkspaceEvent(tx, { workspaceId: source.workspaceId, event, at: new Date(), data: { sourceId, kind: source.kind, name: source.name, status } });
  });
}

export async function setSourceStatus(prisma: Db, sourceId: string, status: SourceStatus): Promise<void> {
  await prisma.source.updateMany({ where: { id: sourceId }, data: { status: { ...status } } });
}

/** How long "typing…" shows without a newer signal: WhatsApp repeats it every few seconds while it lasts. */
export const typingShowsForMs = 25_000;

/** See AdapterContext.typing. */
export async function noteTyping(
  prisma: Db,
  sourceId: string,
  from: Handle,
  typing: boolean,
  normalizePhone: (text: string, country: string) => string | null,
): Promise<void> {
  const source = await prisma.source.findUnique({ where: { id: sourceId }, select: { workspaceId: true, workspace: { select: { country: true } } } });
  if (!source) return;
  const phone = from.phone ? normalizePhone(from.phone, source.workspace.country) : null;
  const values = [phone, from.whatsappId, from.email?.toLowerCase()].filter((value): value is string => Boolean(value));
  if (values.length === 0) return;
  const lead = await prisma.lead.findFirst({
    where: { workspaceId: source.workspaceId, contact: { identities: { some: { workspaceId: source.workspaceId, value: { in: values } } } } },
    orderBy: { lastActivityAt: 'desc' },
    select: { id: true },
  });
  if (!lead) return;
  const until = new Date(Date.now() + (typing ? typingShowsForMs : 0));
  await prisma.typingSignal.upsert({
    where: { leadId: lead.id },
    create: { leadId: lead.id, workspaceId: source.workspaceId, until },
    update: { until },
  });
}

/** See AdapterContext.ownerFor. */
export async function ownerFor(prisma: Db, sourceId: string, from: Handle, normalizePhone: (text: string, country: string) => string | null) {
  const source = await prisma.source.findUnique({ where: { id: sourceId }, include: { owner: true, workspace: true } });
  if (!source) return null;
  const phone = from.phone ? normalizePhone(from.phone, source.workspace.country) : null;
  const values = [phone, from.email?.toLowerCase(), from.whatsappId].filter((value): value is string => Boolean(value));
  if (values.length > 0) {
    const lead = await prisma.lead.findFirst({
      where: {
        workspaceId: source.workspaceId,
        stage: { notIn: [...closedStages] },
        owner: { active: true },
        contact: { identities: { some: { value: { in: values } } } },
      },
      orderBy: { createdAt: 'desc' },
      include: { owner: true },
    });
    if (lead?.owner) return { userId: lead.owner.id, name: lead.owner.name, phone: lead.owner.phone };
  }
  if (source.owner?.active) return { userId: source.owner.id, name: source.owner.name, phone: source.owner.phone };
  return null;
}

/** See AdapterContext.attachments: the rows of files a channel hands over after their message. */
export function laterAttachments(prisma: Db): AdapterContext['attachments'] {
  return {
    due: async (sourceId, limit) => {
      const rows = await prisma.attachment.findMany({
        where: { status: 'pending', event: { sourceId }, OR: [{ nextAttemptAt: null }, { nextAttemptAt: { lte: new Date() } }] },
        orderBy: { createdAt: 'asc' },
        take: limit,
        select: { id: true, eventId: true, filename: true, contentType: true, attempts: true, event: { select: { raw: true } } },
      });
      return rows.map((row) => ({
        id: row.id,
        eventId: row.eventId!,
        filename: row.filename,
        contentType: row.contentType,
        attempts: row.attempts,
        raw: row.event?.raw ?? null,
      }));
    },
    store: async (attachmentId, data) => {
      // Base64 and decode(), as at capture: the PGlite driver cannot bind a bytea parameter.
      await prisma.$executeRaw`
        UPDATE attachments SET data = decode(${data.toString('base64')}, 'base64'), size = ${data.length}, status = 'stored',
          error = NULL, "nextAttemptAt" = NULL, attempts = attempts + 1
        WHERE id = ${attachmentId} AND status = 'pending'`;
    },
    failed: async (attachmentId, error, retryAt) => {
      await prisma.attachment.updateMany({
        where: { id: attachmentId, status: 'pending' },
        data: { attempts: { increment: 1 }, error, ...(retryAt ? { nextAttemptAt: retryAt } : { status: 'failed', nextAttemptAt: null }) },
      });
    },
  };
}
