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
      SELECT q.*, local_start AT TIME ZONE ${scope.timeZone} AS start, local_end AT TIME ZONE ${scope.timeZone} AS "end" FROM q)
    SELECT b.id AS "quotaId", b.period, b."productId", b.product, b.start, b."end", b.target, actual.leads AS actual,
      CASE WHEN b.target = 0 THEN NULL ELSE round(actual.leads::numeric / b.target, 4)::float8 END AS ratio
    FROM bounded b
    CROSS JOIN LATERAL (
      SELECT count(DISTINCT a."leadId")::int AS leads
      FROM activities a JOIN leads l ON l.id = a."leadId"
      WHERE a."workspaceId" = ${scope.workspaceId} AND a.kind = 'lead.stage_changed' AND ${stageEntered} IN ${qualifiedOrLater}
        AND a."createdAt" >= b.start AND a."createdAt" < b."end" AND ${scope.leads}
        AND (b."productId" IS NULL OR EXISTS (SELECT 1 FROM lead_products lp WHERE lp."leadId" = l.id AND lp."productId" = b."productId"))
        -- A lead counts the first time it gets this far, not again when it moves on.
        AND NOT EXISTS (
          SELECT 1 FROM activities earlier
          WHERE earlier."leadId" = a."leadId" AND earlier.kind = 'lead.stage_changed' AND earlier."createdAt" < b.start
            AND (earlier.data->>'after') IN ${qualifiedOrLater})) actual
    WHERE b.start < ${scope.to} AND b."end" > ${scope.from}
    ORDER BY b.start, b.product NULLS FIRST, b.id`;
}
