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
    -- Leads that first got to Qualified or later inside the quotas' span (an arrival flagged when written).
    reached AS (
      SELECT e."leadId", e."enteredAt" AS at
      FROM stage_entries e ${scope.narrowed ? Prisma.sql`JOIN leads l ON l.id = e."leadId"` : Prisma.empty}
      WHERE e."workspaceId" = ${scope.workspaceId} AND e."firstQualified"
        AND e."enteredAt" >= (SELECT min(start) FROM wanted) AND e."enteredAt" < (SELECT max("end") FROM wanted)
        ${scope.narrowed ? Prisma.sql`AND ${scope.leads}` : Prisma.empty}),
    -- The products of those leads, for the quotas that name one.
    reached_products AS (
      SELECT r.at, lp."productId" FROM reached r JOIN lead_products lp ON lp."leadId" = r."leadId"
      WHERE lp."productId" IN (SELECT "productId" FROM wanted WHERE "productId" IS NOT NULL))
    SELECT w.id AS "quotaId", w.period, w."productId", w.product, w.start, w."end", w.target, n.actual,
      CASE WHEN w.target = 0 THEN NULL ELSE round(n.actual::numeric / w.target, 4)::float8 END AS ratio
    FROM wanted w
    CROSS JOIN LATERAL (SELECT CASE WHEN w."productId" IS NULL
      THEN (SELECT count(*) FROM reached r WHERE r.at >= w.start AND r.at < w."end")
      ELSE (SELECT count(*) FROM reached_products r WHERE r."productId" = w."productId" AND r.at >= w.start AND r.at < w."end")
      END::int AS actual) n
    ORDER BY w.start, w.product NULLS FIRST, w.id`;
}
