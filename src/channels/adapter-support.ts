import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Prisma } from '@prisma/client';
import type { Db } from '../db/client.js';
import { closedStages } from '../leads/stages.js';
import type { AdapterContext, Handle, SourceStatus } from './contract.js';

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

export async function setSourceStatus(prisma: Db, sourceId: string, status: SourceStatus): Promise<void> {
  await prisma.source.updateMany({ where: { id: sourceId }, data: { status: { ...status } } });
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
