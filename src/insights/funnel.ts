import { Prisma } from '@prisma/client';
import type { Db } from '../db/client.js';
import { type Stage, stages } from '../leads/stages.js';
import { createdInPeriod, type Scope } from './query.js';

/** The main path a lead travels to be won; the other stages are side roads. */
export const funnelPath: readonly Stage[] = ['open', 'contacted', 'qualified', 'negotiation', 'customer'];

/** The stage a `lead.stage_changed` activity moved the lead into. */
export const stageEntered = Prisma.sql`(a.data->>'after')`;

export interface FunnelStage {
  stage: Stage;
  /** Leads of the cohort that got this far on the main path (this stage or a later one); for side stages, that entered it. */
  reached: number;
  /** reached / reached of the previous stage of the main path. */
  conversion: number | null;
  /** Leads of the cohort that were ever in this stage. */
  entered: number;
  /** Leads of the cohort in this stage now. */
  current: number;
  /** Median time spent in the stage, over stays that have ended. */
  medianSecondsInStage: number | null;
}

export interface Funnel {
  stages: FunnelStage[];
  cohort: number;
  won: number;
  lost: number;
  lossReasons: { reason: string | null; leads: number }[];
}

/**
 * The stage funnel of the leads created in the period (a cohort), from their stage changes up to
 * now: how far each got, the conversion between consecutive stages of the main path, the median
 * time in each stage, and won (Customer) and lost (Unqualified, with the reason given).
 */
export async function stageFunnel(prisma: Db, scope: Scope): Promise<Funnel> {
  const cohort = Prisma.sql`
    cohort AS (SELECT l.id, l."createdAt", l.stage, l."lossReason" FROM leads l WHERE ${createdInPeriod(scope)}),
    changes AS (
      SELECT a."leadId", a."createdAt" AS at, ${stageEntered} AS stage, a.data->>'reason' AS reason
      FROM activities a JOIN cohort c ON c.id = a."leadId"
      WHERE a."workspaceId" = ${scope.workspaceId} AND a.kind = 'lead.stage_changed' AND a."createdAt" >= ${scope.from}),
    stays AS (
      SELECT "leadId", stage, at, lead(at) OVER (PARTITION BY "leadId" ORDER BY at) AS left_at
      FROM (SELECT id AS "leadId", 'open' AS stage, "createdAt" AS at FROM cohort UNION ALL SELECT "leadId", stage, at FROM changes) s)`;
  // Constants of this module, written as literals so the ranks are integers.
  const path = Prisma.raw(funnelPath.map((stage, rank) => `('${stage}', ${rank + 1})`).join(', '));
  const [perStage, furthest, current, losses] = await Promise.all([
    prisma.$queryRaw<{ stage: string; entered: number; median: number | null }[]>`
      WITH ${cohort}
      SELECT stage, count(DISTINCT "leadId")::int AS entered,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM left_at - at)::float8) FILTER (WHERE left_at IS NOT NULL) AS median
      FROM stays GROUP BY stage`,
    prisma.$queryRaw<{ rank: number; leads: number }[]>`
      WITH ${cohort},
      path (stage, rank) AS (VALUES ${path})
      SELECT r AS rank, count(*)::int AS leads
      FROM (SELECT "leadId", max(path.rank) AS r FROM stays JOIN path ON path.stage = stays.stage GROUP BY 1) f
      GROUP BY 1`,
    prisma.$queryRaw<{ stage: string; leads: number }[]>`
      SELECT l.stage, count(*)::int AS leads FROM leads l WHERE ${createdInPeriod(scope)} GROUP BY 1`,
    prisma.$queryRaw<{ reason: string | null; leads: number }[]>`
      WITH ${cohort},
      lost AS (
        SELECT DISTINCT ON (c.id) COALESCE(ch.reason, c."lossReason") AS reason
        FROM cohort c LEFT JOIN changes ch ON ch."leadId" = c.id AND ch.stage = 'unqualified'
        WHERE c.stage = 'unqualified'
        ORDER BY c.id, ch.at DESC NULLS LAST)
      SELECT reason, count(*)::int AS leads FROM lost GROUP BY 1 ORDER BY 2 DESC, 1`,
  ]);
  const reachedAtLeast = (rank: number) => furthest.filter((row) => row.rank >= rank).reduce((sum, row) => sum + row.leads, 0);
  const currentIn = (stage: string) => current.find((row) => row.stage === stage)?.leads ?? 0;
  const rows: FunnelStage[] = stages.map((stage) => {
    const stats = perStage.find((row) => row.stage === stage);
    const rank = funnelPath.indexOf(stage) + 1;
    const reached = rank > 0 ? reachedAtLeast(rank) : (stats?.entered ?? 0);
    const previous = rank > 1 ? reachedAtLeast(rank - 1) : 0;
    return {
      stage,
      reached,
      conversion: rank > 1 ? (previous === 0 ? null : Math.round((reached / previous) * 10_000) / 10_000) : null,
      entered: stats?.entered ?? 0,
      current: currentIn(stage),
      medianSecondsInStage: stats?.median ?? null,
    };
  });
  return {
    stages: rows,
    cohort: current.reduce((sum, row) => sum + row.leads, 0),
    won: currentIn('customer'),
    lost: currentIn('unqualified'),
    lossReasons: losses,
  };
}
