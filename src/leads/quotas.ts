import { Prisma, type Quota } from '@prisma/client';
import { DateTime } from 'luxon';
import type { Db } from '../db/client.js';

/** "2026-11" (a month) or "2026-Q4" (a quarter). */
export const periodPattern = /^(\d{4})-(?:(0[1-9]|1[0-2])|Q([1-4]))$/;

/** The instants a period starts and ends in the workspace's time zone (end exclusive). */
export function periodRange(period: string, timeZone: string): { from: Date; to: Date } {
  const match = periodPattern.exec(period);
  if (!match) throw new RangeError(`not a period: ${period}`);
  const year = Number(match[1]);
  const month = match[2] ? Number(match[2]) : (Number(match[3]) - 1) * 3 + 1;
  const start = DateTime.fromObject({ year, month, day: 1 }, { zone: timeZone });
  return { from: start.toJSDate(), to: start.plus({ months: match[2] ? 1 : 3 }).toJSDate() };
}

/** Stages at or past Qualified: a lead counts for a quota the first time it reaches one. */
export const qualifiedOrLater = ['qualified', 'negotiation', 'customer'];

export interface RepProgress {
  userId: string;
  name: string;
  qualified: number;
  assigned: number;
  answeredWithinSla: number;
  /** The name withinSlaRate had first: it is first response within the SLA, not follow-ups done. */
  followUpRate: number | null;
  withinSlaRate: number | null;
}

export interface QuotaProgress {
  period: string;
  from: string;
  to: string;
  target: number;
  actual: number;
  ratio: number;
  /** The name withinSlaRate had first. */
  followUpRate: number | null;
  withinSlaRate: number | null;
  byRep: RepProgress[];
}

/**
 * Actual against target: leads that first reached Qualified (or a later stage) inside the period
 * (the stage entries flagged so when written),
 * of the quota's product when it names one; and the follow-up rate: of the leads created in the
 * period with an owner, the share whose first response came within the SLA. Both count only the
 * leads `visible` (SQL on `l`) lets the caller see: a rep who sees only their own leads gets the
 * same actual as the insights' quota figure, made of their own leads.
 */
export async function quotaProgress(prisma: Db, quota: Quota, timeZone: string, visible: Prisma.Sql): Promise<QuotaProgress> {
  const { from, to } = periodRange(quota.period, timeZone);
  const productJoin = quota.productId
    ? Prisma.sql`JOIN lead_products lp ON lp."leadId" = l.id AND lp."productId" = ${quota.productId}`
    : Prisma.empty;
  const qualified = await prisma.$queryRaw<{ ownerId: string | null; count: bigint | number }[]>`
    SELECT l."ownerId", count(*) AS count
    FROM stage_entries e
    JOIN leads l ON l.id = e."leadId"
    ${productJoin}
    WHERE e."workspaceId" = ${quota.workspaceId} AND e."firstQualified" AND e."enteredAt" >= ${from} AND e."enteredAt" < ${to} AND ${visible}
    GROUP BY l."ownerId"`;
  const answered = await prisma.$queryRaw<{ ownerId: string; assigned: bigint | number; within: bigint | number }[]>`
    SELECT l."ownerId",
           count(*) AS assigned,
           count(*) FILTER (WHERE l."firstResponseAt" IS NOT NULL AND l."firstResponseAt" <= l."firstResponseDueAt") AS within
    FROM leads l
    ${productJoin}
    WHERE l."workspaceId" = ${quota.workspaceId} AND ${visible} AND l."ownerId" IS NOT NULL
      AND l."firstResponseDueAt" IS NOT NULL
      AND l."createdAt" >= ${from} AND l."createdAt" < ${to}
    GROUP BY l."ownerId"`;
  const users = await prisma.user.findMany({ where: { workspaceId: quota.workspaceId }, select: { id: true, name: true } });
  const byRep = new Map<string, RepProgress>();
  const rep = (userId: string) => {
    let row = byRep.get(userId);
    if (!row) {
      row = { userId, name: users.find((user) => user.id === userId)?.name ?? '', qualified: 0, assigned: 0, answeredWithinSla: 0, followUpRate: null, withinSlaRate: null };
      byRep.set(userId, row);
    }
    return row;
  };
  let actual = 0;
  for (const row of qualified) {
    actual += Number(row.count);
    if (row.ownerId) rep(row.ownerId).qualified += Number(row.count);
  }
  let assigned = 0;
  let within = 0;
  for (const row of answered) {
    const entry = rep(row.ownerId);
    entry.assigned = Number(row.assigned);
    entry.answeredWithinSla = Number(row.within);
    entry.withinSlaRate = entry.assigned > 0 ? entry.answeredWithinSla / entry.assigned : null;
    entry.followUpRate = entry.withinSlaRate;
    assigned += entry.assigned;
    within += entry.answeredWithinSla;
  }
  return {
    period: quota.period,
    from: from.toISOString(),
    to: to.toISOString(),
    target: quota.target,
    actual,
    ratio: quota.target > 0 ? actual / quota.target : 0,
    followUpRate: assigned > 0 ? within / assigned : null,
    withinSlaRate: assigned > 0 ? within / assigned : null,
    byRep: [...byRep.values()].sort((a, b) => a.name.localeCompare(b.name)),
  };
}
