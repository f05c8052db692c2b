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
  /** Deals won credited to the rep (the owner when the lead first reached Customer), and their revenue. */
  won: number;
  revenue: number;
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
  /** The rep whose own quota it is; null: the team's. */
  ownerId: string | null;
  target: number;
  actual: number;
  ratio: number;
  wonTarget: number | null;
  won: number;
  wonRatio: number | null;
  revenueTarget: number | null;
  revenue: number;
  revenueRatio: number | null;
  /** The name withinSlaRate had first. */
  followUpRate: number | null;
  withinSlaRate: number | null;
  byRep: RepProgress[];
}

const ratioOf = (actual: number, target: number | null) => (target === null || target <= 0 ? null : Math.round((actual / target) * 10_000) / 10_000);

/**
 * Actual against targets. Qualified: leads that first reached Qualified (or a later stage) inside
 * the period (the stage entries flagged so when written); a lead lost afterwards still counts.
 * Won: leads that first reached Customer inside the period, and revenue the sum of their deal
 * values; a lead lost after it was won still counts. Of the quota's product when it names one,
 * and of its rep when it is a rep's own: each step is credited to whoever owned the lead when it
 * got there. And first response within the SLA: of the leads created in the period with an
 * owner, the share a person answered by the deadline. All count only the leads `visible` (SQL on
 * `l`) lets the caller see: a rep who sees only their own leads gets the same figures as the
 * insights' quota figure, made of their own leads.
 */
export async function quotaProgress(prisma: Db, quota: Quota, timeZone: string, visible: Prisma.Sql): Promise<QuotaProgress> {
  const { from, to } = periodRange(quota.period, timeZone);
  const productJoin = quota.productId
    ? Prisma.sql`JOIN lead_products lp ON lp."leadId" = l.id AND lp."productId" = ${quota.productId}`
    : Prisma.empty;
  const repOnly = quota.ownerId ? Prisma.sql`AND e."ownerId" = ${quota.ownerId}` : Prisma.empty;
  const steps = await prisma.$queryRaw<{ ownerId: string | null; qualified: number; won: number; revenue: number }[]>`
    SELECT e."ownerId",
      count(*) FILTER (WHERE e."firstQualified")::int AS qualified,
      count(*) FILTER (WHERE e.stage = 'customer')::int AS won,
      COALESCE(sum(l."dealValue") FILTER (WHERE e.stage = 'customer'), 0)::float8 AS revenue
    FROM stage_entries e
    JOIN leads l ON l.id = e."leadId"
    ${productJoin}
    WHERE e."workspaceId" = ${quota.workspaceId} AND e."enteredAt" >= ${from} AND e."enteredAt" < ${to} AND ${visible} ${repOnly}
      AND (e."firstQualified" OR (e.stage = 'customer' AND NOT EXISTS (
        SELECT 1 FROM stage_entries p WHERE p."leadId" = e."leadId" AND p.stage = 'customer' AND (p."enteredAt", p."activityId") < (e."enteredAt", e."activityId"))))
    GROUP BY e."ownerId"`;
  const answered = await prisma.$queryRaw<{ ownerId: string; assigned: bigint | number; within: bigint | number }[]>`
    SELECT l."ownerId",
           count(*) AS assigned,
           count(*) FILTER (WHERE l."firstResponseAt" IS NOT NULL AND l."firstResponseAt" <= l."firstResponseDueAt") AS within
    FROM leads l
    ${productJoin}
    WHERE l."workspaceId" = ${quota.workspaceId} AND ${visible} AND l."ownerId" IS NOT NULL
      ${quota.ownerId ? Prisma.sql`AND l."ownerId" = ${quota.ownerId}` : Prisma.empty}
      AND l."firstResponseDueAt" IS NOT NULL
      AND l."createdAt" >= ${from} AND l."createdAt" < ${to}
    GROUP BY l."ownerId"`;
  const users = await prisma.user.findMany({ where: { workspaceId: quota.workspaceId }, select: { id: true, name: true } });
  const byRep = new Map<string, RepProgress>();
  const rep = (userId: string) => {
    let row = byRep.get(userId);
    if (!row) {
      row = { userId, name: users.find((user) => user.id === userId)?.name ?? '', qualified: 0, won: 0, revenue: 0, assigned: 0, answeredWithinSla: 0, followUpRate: null, withinSlaRate: null };
      byRep.set(userId, row);
    }
    return row;
  };
  let actual = 0;
  let won = 0;
  let revenue = 0;
  for (const row of steps) {
    actual += row.qualified;
    won += row.won;
    revenue += row.revenue;
    if (row.ownerId) {
      const entry = rep(row.ownerId);
      entry.qualified += row.qualified;
      entry.won += row.won;
      entry.revenue = Math.round((entry.revenue + row.revenue) * 100) / 100;
    }
  }
  revenue = Math.round(revenue * 100) / 100;
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
  const wonTarget = quota.wonTarget;
  const revenueTarget = quota.revenueTarget === null ? null : Number(quota.revenueTarget);
  return {
    period: quota.period,
    from: from.toISOString(),
    to: to.toISOString(),
    ownerId: quota.ownerId,
    target: quota.target,
    actual,
    ratio: quota.target > 0 ? actual / quota.target : 0,
    wonTarget,
    won,
    wonRatio: ratioOf(won, wonTarget),
    revenueTarget,
    revenue,
    revenueRatio: ratioOf(revenue, revenueTarget),
    followUpRate: assigned > 0 ? within / assigned : null,
    withinSlaRate: assigned > 0 ? within / assigned : null,
    byRep: [...byRep.values()].sort((a, b) => a.name.localeCompare(b.name)),
  };
}
