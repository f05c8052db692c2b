import { Prisma } from '@prisma/client';
import type { Db } from '../db/client.js';
import { type Scope } from './query.js';
import { stageEntered } from './funnel.js';

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

/** Stages that count as qualified for a quota: qualified or any later stage of the main path. */
const qualifiedOrLater = Prisma.sql`('qualified', 'negotiation', 'customer')`;

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
    -- Leads that got to Qualified or later inside the quotas' span, and when they first did.
    reached AS (
      SELECT a."leadId", min(a."createdAt") AS at
      FROM activities a JOIN leads l ON l.id = a."leadId"
      WHERE a."workspaceId" = ${scope.workspaceId} AND a.kind = 'lead.stage_changed' AND ${stageEntered} IN ${qualifiedOrLater}
        AND a."createdAt" >= (SELECT min(start) FROM wanted) AND a."createdAt" < (SELECT max("end") FROM wanted) AND ${scope.leads}
      GROUP BY 1),
    -- A lead counts the first time it gets this far, not again when it moves on.
    first_reached AS (
      SELECT r."leadId", r.at FROM reached r
      WHERE NOT EXISTS (
        SELECT 1 FROM activities earlier
        WHERE earlier."leadId" = r."leadId" AND earlier.kind = 'lead.stage_changed' AND earlier."createdAt" < r.at
          AND (earlier.data->>'after') IN ${qualifiedOrLater}))
    SELECT w.id AS "quotaId", w.period, w."productId", w.product, w.start, w."end", w.target, count(f."leadId")::int AS actual,
      CASE WHEN w.target = 0 THEN NULL ELSE round(count(f."leadId")::numeric / w.target, 4)::float8 END AS ratio
    FROM wanted w
    LEFT JOIN first_reached f ON f.at >= w.start AND f.at < w."end"
      AND (w."productId" IS NULL OR EXISTS (SELECT 1 FROM lead_products lp WHERE lp."leadId" = f."leadId" AND lp."productId" = w."productId"))
    GROUP BY w.id, w.period, w."productId", w.product, w.start, w."end", w.target
    ORDER BY w.start, w.product NULLS FIRST, w.id`;
}
