import { Prisma } from '@prisma/client';
import type { Db } from '../db/client.js';
import { creationCounts } from './counts.js';
import { bucketLabel, bucketOf, bucketSeries, createdInPeriod, type Scope } from './query.js';

export const followUpGroupings = ['rep', 'period'] as const;
export type FollowUpGrouping = (typeof followUpGroupings)[number];

export interface FollowUpRow {
  key: string | null;
  label: string | null;
  start: Date | null;
  end: Date | null;
  /** Leads created in the period with an owner and a first-response deadline. */
  assigned: number;
  /** Of those, answered by a person by the deadline (the SLA, counted in working hours). */
  touchedWithinSla: number;
  /** touchedWithinSla / assigned, under the name it had first (it is not the follow-up rate). */
  rate: number | null;
  /** The same share, named for what it is. */
  withinSlaRate: number | null;
  /** Follow-ups due in the period (by now), and how many were completed by their due time. */
  followUpsDue: number;
  followUpsDoneOnTime: number;
  /** Of the follow-ups due, those still open: overdue now. */
  overdue: number;
  /** The follow-up rate: followUpsDoneOnTime / followUpsDue. */
  followUpRate: number | null;
}

/** Assigned leads and those touched within the SLA, per key `k`, from the leads themselves. */
function slaFromLeads(scope: Scope, leadKey: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`
    SELECT ${leadKey} AS k, count(*)::int AS assigned,
      count(*) FILTER (WHERE l."firstResponseAt" <= l."firstResponseDueAt")::int AS touched
    FROM leads l
    WHERE ${createdInPeriod(scope)} AND l."ownerId" IS NOT NULL AND l."firstResponseDueAt" IS NOT NULL
    GROUP BY 1`;
}

/** The same from the daily counts (keyed by the lead's owner, on its creation day). */
function slaFromDailyCounts(scope: Scope, by: FollowUpGrouping): Prisma.Sql {
  const key = by === 'rep' ? Prisma.sql`c.key` : Prisma.sql`date_trunc(${scope.unit}, c.day::timestamp)`;
  return Prisma.sql`
    SELECT k, sum(assigned)::int AS assigned, sum(touched)::int AS touched
    FROM (
      SELECT ${key} AS k, c.n AS assigned, 0 AS touched FROM (${creationCounts(scope, 'sla_assigned')}) c
      UNION ALL
      SELECT ${key}, 0, c.n FROM (${creationCounts(scope, 'sla_touched')}) c) both_counts
    GROUP BY 1`;
}

/**
 * Two figures per rep or period, each of its own population. First response within the SLA: of
 * the leads created in the period with an owner and a deadline, the share a person answered by it
 * (per the lead's owner, or period of creation). The follow-up rate: of the follow-ups that fell
 * due in the period (up to now), the share completed by their due time; the ones still open are
 * the overdue (per the follow-up's owner, or period of its due time).
 */
export async function followUpRate(prisma: Db, scope: Scope, by: FollowUpGrouping): Promise<FollowUpRow[]> {
  const leadKey = by === 'rep' ? Prisma.sql`l."ownerId"` : bucketOf(scope, Prisma.sql`l."createdAt"`);
  const followUpKey = by === 'rep' ? Prisma.sql`f."ownerId"` : bucketOf(scope, Prisma.sql`f."dueAt"`);
  // Follow-ups carry their workspace: the lead is read only when a filter or visibility needs it.
  const leadJoin = scope.narrowed ? Prisma.sql`JOIN leads l ON l.id = f."leadId"` : Prisma.empty;
  const leadConditions = scope.narrowed ? Prisma.sql`AND ${scope.leads}` : Prisma.empty;
  return prisma.$queryRaw<FollowUpRow[]>`
    WITH sla AS (${scope.narrowed ? slaFromLeads(scope, leadKey) : slaFromDailyCounts(scope, by)}),
    -- One population: the follow-ups due in the period that are due by now (one due later is
    -- not yet late, nor on time). Done by the due time, or still open: overdue.
    due AS (
      SELECT ${followUpKey} AS k, count(*)::int AS due,
        count(*) FILTER (WHERE f.status = 'done' AND f."completedAt" <= f."dueAt")::int AS on_time,
        count(*) FILTER (WHERE f.status = 'open')::int AS overdue
      FROM follow_ups f ${leadJoin}
      WHERE f."workspaceId" = ${scope.workspaceId} AND f."dueAt" >= ${scope.from} AND f."dueAt" < ${scope.to} AND f."dueAt" < now() ${leadConditions}
      GROUP BY 1),
    keys AS (${
      by === 'period'
        ? Prisma.sql`SELECT b AS k, start, "end" FROM (${bucketSeries(scope)}) series`
        : Prisma.sql`SELECT k, NULL::timestamptz AS start, NULL::timestamptz AS "end" FROM sla UNION SELECT k, NULL, NULL FROM due`
    })
    SELECT ${by === 'period' ? bucketLabel(Prisma.sql`keys.k`) : Prisma.sql`keys.k`} AS key,
      ${by === 'period' ? bucketLabel(Prisma.sql`keys.k`) : Prisma.sql`u.name`} AS label,
      keys.start, keys."end",
      COALESCE(sla.assigned, 0) AS assigned, COALESCE(sla.touched, 0) AS "touchedWithinSla",
      CASE WHEN COALESCE(sla.assigned, 0) = 0 THEN NULL ELSE round(sla.touched::numeric / sla.assigned, 4)::float8 END AS rate,
      CASE WHEN COALESCE(sla.assigned, 0) = 0 THEN NULL ELSE round(sla.touched::numeric / sla.assigned, 4)::float8 END AS "withinSlaRate",
      COALESCE(due.due, 0) AS "followUpsDue", COALESCE(due.on_time, 0) AS "followUpsDoneOnTime", COALESCE(due.overdue, 0) AS overdue,
      CASE WHEN COALESCE(due.due, 0) = 0 THEN NULL ELSE round(due.on_time::numeric / due.due, 4)::float8 END AS "followUpRate"
    FROM keys
    LEFT JOIN sla ON sla.k IS NOT DISTINCT FROM keys.k
    LEFT JOIN due ON due.k IS NOT DISTINCT FROM keys.k
    ${by === 'rep' ? Prisma.sql`LEFT JOIN users u ON u.id = keys.k` : Prisma.empty}
    ORDER BY ${by === 'period' ? Prisma.sql`keys.k` : Prisma.sql`COALESCE(sla.assigned, 0) DESC, label, key`}`;
}
