import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Prisma } from '@prisma/client';
import type { Db } from '../db/client.js';
import type { AdapterContext, SourceStatus } from './contract.js';

/** Names this process as a lease holder; unique even across restarts with the same pid. */
export const processHolderId = `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

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

export function leases(prisma: Db, holder = processHolderId): AdapterContext['leases'] {
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
