import { Prisma } from '@prisma/client';
import type { Db } from '../db/client.js';
import { type Scope } from './query.js';

export interface QuotaRow {
  quotaId: string;
  period: string;
  productId: string | null;
  product: string | null;
  /** A rep's own quota (credited with the steps made while they owned the lead); null: the team's. */
  ownerId: string | null;
  owner: string | null;
  start: Date;
  end: Date;
  target: number;
  actual: number;
  ratio: number | null;
  wonTarget: number | null;
  won: number;
  wonRatio: number | null;
  revenueTarget: number | null;
  revenue: number;
  revenueRatio: number | null;
}

/**
 * Actuals from the daily counts the triggers keep: a quota's span is whole local days (a month or a
 * quarter), so it is a sum over them.
 */
function actualsFromDailyCounts(scope: Scope): Prisma.Sql {
  return Prisma.sql`
    SELECT w.id, sum(c.n)::int AS n
    FROM wanted w JOIN insight_counts c
      ON w."ownerId" IS NULL AND c."workspaceId" = ${scope.workspaceId} AND c.day >= w.local_start::date AND c.day < w.local_end::date
      AND ((w."productId" IS NULL AND c.fact = 'qualified') OR (c.fact = 'qualified_product' AND c.key = w."productId"))
    GROUP BY 1`;
}

/** Actuals of the scope's leads only (filters, or a rep who sees their own), from the stage entries. */
function actualsFromStageEntries(scope: Scope): Prisma.Sql {
  return Prisma.sql`
    WITH
    -- Leads that first got to Qualified or later around the quotas' span (an arrival flagged when written).
    reached AS MATERIALIZED (
      SELECT e."leadId", e."enteredAt" AS at
      FROM stage_entries e JOIN leads l ON l.id = e."leadId"
      WHERE e."workspaceId" = ${scope.workspaceId} AND e."firstQualified"
        -- Each quota counts only its own span below.
        AND ${quartersAround(scope, Prisma.sql`e."enteredAt"`)}
        AND ${scope.leads}),
    -- The products of those leads, for the quotas that name one: one pass whatever the number of
    -- quotas, each lead's products read through its key (not a scan of every lead's products).
    reached_products AS MATERIALIZED (
      SELECT r.at, p."productId"
      FROM reached r CROSS JOIN LATERAL unnest(ARRAY(SELECT lp."productId" FROM lead_products lp WHERE lp."leadId" = r."leadId")) AS p ("productId")
      WHERE EXISTS (SELECT 1 FROM wanted WHERE "productId" IS NOT NULL))
    SELECT w.id, count(*)::int AS n FROM wanted w JOIN reached r ON r.at >= w.start AND r.at < w."end" WHERE w."productId" IS NULL AND w."ownerId" IS NULL GROUP BY 1
    UNION ALL
    SELECT w.id, count(*)::int FROM wanted w JOIN reached_products r ON r."productId" = w."productId" AND r.at >= w.start AND r.at < w."end" WHERE w."ownerId" IS NULL GROUP BY 1`;
}

/** Every wanted quota lies in these whole local quarters: bounds the planner can size a scan by. */
function quartersAround(scope: Scope, column: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`${column} >= (date_trunc('quarter', ${scope.from}::timestamptz AT TIME ZONE ${scope.timeZone}) AT TIME ZONE ${scope.timeZone})
    AND ${column} < ((date_trunc('quarter', ${scope.to}::timestamptz AT TIME ZONE ${scope.timeZone}) + interval '3 months') AT TIME ZONE ${scope.timeZone})`;
}

/**
 * Deals won (a lead's first arrival at Customer) in the quotas' quarters, with the deal value, the
 * owner then and the lead's products; and, when a rep has a quota of their own, the first
 * arrivals at Qualified or later too (the daily counts know the team, not who owned the lead).
 */
function stepsFromStageEntries(scope: Scope): Prisma.Sql {
  return Prisma.sql`
    SELECT e."enteredAt" AS at, e."ownerId", e."firstQualified" AS qualified, e.stage = 'customer' AS won, l."dealValue",
      ARRAY(SELECT lp."productId" FROM lead_products lp WHERE lp."leadId" = e."leadId") AS products
    FROM stage_entries e JOIN leads l ON l.id = e."leadId"
    WHERE e."workspaceId" = ${scope.workspaceId} AND ${quartersAround(scope, Prisma.sql`e."enteredAt"`)} AND ${scope.leads}
      AND (
        (e.stage = 'customer' AND NOT EXISTS (
          SELECT 1 FROM stage_entries p WHERE p."leadId" = e."leadId" AND p.stage = 'customer' AND (p."enteredAt", p."activityId") < (e."enteredAt", e."activityId")))
        OR (e."firstQualified" AND EXISTS (SELECT 1 FROM wanted WHERE "ownerId" IS NOT NULL)))`;
}

/**
 * Quota vs actual for every quota whose period (a month "2026-11" or quarter "2026-Q4", in the
 * workspace time zone) overlaps the requested one. Actual: leads that first reached Qualified or
 * a later stage during the quota's period, of the quota's product when it names one; won: leads
 * that first reached Customer in it, and revenue their deal values. A rep's own quota counts the
 * steps made while the rep owned the lead. The same counts as `GET /quotas/:id/progress`, for
 * many quotas in one query.
 */
export async function quotaProgress(prisma: Db, scope: Scope): Promise<QuotaRow[]> {
  return prisma.$queryRaw<QuotaRow[]>`
    WITH q AS (
      SELECT q.id, q.period, q."productId", q."ownerId", q.target, q."wonTarget", q."revenueTarget", p.name AS product, local_start,
        local_start + CASE WHEN q.period LIKE '%-Q%' THEN interval '3 months' ELSE interval '1 month' END AS local_end
      FROM quotas q
      LEFT JOIN products p ON p.id = q."productId"
      CROSS JOIN LATERAL (SELECT CASE WHEN q.period LIKE '%-Q%'
          THEN make_timestamp(substr(q.period, 1, 4)::int, (substr(q.period, 7, 1)::int - 1) * 3 + 1, 1, 0, 0, 0)
          ELSE (q.period || '-01')::timestamp END AS local_start) ls
      WHERE q."workspaceId" = ${scope.workspaceId}),
    bounded AS (
      SELECT q.*, local_start AT TIME ZONE ${scope.timeZone} AS start, local_end AT TIME ZONE ${scope.timeZone} AS "end" FROM q),
    wanted AS (SELECT * FROM bounded WHERE start < ${scope.to} AND "end" > ${scope.from}),
    actuals AS (${scope.narrowed ? actualsFromStageEntries(scope) : actualsFromDailyCounts(scope)}),
    steps AS MATERIALIZED (${stepsFromStageEntries(scope)}),
    per_quota AS (
      SELECT w.id, count(*) FILTER (WHERE s.qualified)::int AS qualified, count(*) FILTER (WHERE s.won)::int AS won,
        COALESCE(sum(s."dealValue") FILTER (WHERE s.won), 0) AS revenue
      FROM wanted w JOIN steps s ON s.at >= w.start AND s.at < w."end"
        AND (w."ownerId" IS NULL OR s."ownerId" = w."ownerId") AND (w."productId" IS NULL OR w."productId" = ANY (s.products))
      GROUP BY 1),
    figures AS (
      SELECT w.*, CASE WHEN w."ownerId" IS NULL THEN COALESCE(a.n, 0) ELSE COALESCE(pq.qualified, 0) END AS actual,
        COALESCE(pq.won, 0) AS won, COALESCE(pq.revenue, 0) AS revenue
      FROM wanted w LEFT JOIN actuals a ON a.id = w.id LEFT JOIN per_quota pq ON pq.id = w.id)
    SELECT f.id AS "quotaId", f.period, f."productId", f.product, f."ownerId", u.name AS owner, f.start, f."end", f.target, f.actual,
      CASE WHEN f.target = 0 THEN NULL ELSE round(f.actual::numeric / f.target, 4)::float8 END AS ratio,
      f."wonTarget", f.won, CASE WHEN COALESCE(f."wonTarget", 0) = 0 THEN NULL ELSE round(f.won::numeric / f."wonTarget", 4)::float8 END AS "wonRatio",
      f."revenueTarget"::float8 AS "revenueTarget", f.revenue::float8 AS revenue,
      CASE WHEN COALESCE(f."revenueTarget", 0) = 0 THEN NULL ELSE round(f.revenue / f."revenueTarget", 4)::float8 END AS "revenueRatio"
    FROM figures f LEFT JOIN users u ON u.id = f."ownerId"
    ORDER BY f.start, f.product NULLS FIRST, u.name NULLS FIRST, f.id`;
}
