import { Prisma } from '@prisma/client';
import type { Db } from '../db/client.js';
import { type Scope } from './query.js';

export interface QuotaRow {
  quotaId: string;
  period: string;
  productId: string | null;
  product: string | null;
  start: Date;
  end: Date;
  target: number;
  actual: number;
  ratio: number | null;
}

/**
 * Actuals from the daily counts the triggers keep: a quota's span is whole local days (a month or a
 * quarter), so it is a sum over them.
 */
function actualsFromDailyCounts(scope: Scope): Prisma.Sql {
  return Prisma.sql`
    SELECT w.id, sum(c.n)::int AS n
    FROM wanted w JOIN insight_counts c
      ON c."workspaceId" = ${scope.workspaceId} AND c.day >= w.local_start::date AND c.day < w.local_end::date
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
        -- Every wanted quota lies in these whole local quarters (quotas are months or quarters); each
        -- counts only its own span below. Bounds the planner can evaluate, so it sizes the join right.
        AND e."enteredAt" >= (date_trunc('quarter', ${scope.from}::timestamptz AT TIME ZONE ${scope.timeZone}) AT TIME ZONE ${scope.timeZone})
        AND e."enteredAt" < ((date_trunc('quarter', ${scope.to}::timestamptz AT TIME ZONE ${scope.timeZone}) + interval '3 months') AT TIME ZONE ${scope.timeZone})
        AND ${scope.leads}),
    -- The products of those leads, for the quotas that name one: one pass whatever the number of
    -- quotas, each lead's products read through its key (not a scan of every lead's products).
    reached_products AS MATERIALIZED (
      SELECT r.at, p."productId"
      FROM reached r CROSS JOIN LATERAL unnest(ARRAY(SELECT lp."productId" FROM lead_products lp WHERE lp."leadId" = r."leadId")) AS p ("productId")
      WHERE EXISTS (SELECT 1 FROM wanted WHERE "productId" IS NOT NULL))
    SELECT w.id, count(*)::int AS n FROM wanted w JOIN reached r ON r.at >= w.start AND r.at < w."end" WHERE w."productId" IS NULL GROUP BY 1
    UNION ALL
    SELECT w.id, count(*)::int FROM wanted w JOIN reached_products r ON r."productId" = w."productId" AND r.at >= w.start AND r.at < w."end" GROUP BY 1`;
}

/**
 * Quota vs actual for every quota whose period (a month "2026-11" or quarter "2026-Q4", in the
 * workspace time zone) overlaps the requested one. Actual: leads that first reached Qualified or
 * a later stage during the quota's period, of the quota's product when it names one — the same
 * count as `GET /quotas/:id/progress`, for many quotas in one query.
 */
export async function quotaProgress(prisma: Db, scope: Scope): Promise<QuotaRow[]> {
  return prisma.$queryRaw<QuotaRow[]>`
    WITH q AS (
      SELECT q.id, q.period, q."productId", q.target, p.name AS product, local_start,
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
    actuals AS (${scope.narrowed ? actualsFromStageEntries(scope) : actualsFromDailyCounts(scope)})
    SELECT w.id AS "quotaId", w.period, w."productId", w.product, w.start, w."end", w.target, COALESCE(a.n, 0) AS actual,
      CASE WHEN w.target = 0 THEN NULL ELSE round(COALESCE(a.n, 0)::numeric / w.target, 4)::float8 END AS ratio
    FROM wanted w LEFT JOIN actuals a ON a.id = w.id
    ORDER BY w.start, w.product NULLS FIRST, w.id`;
}
