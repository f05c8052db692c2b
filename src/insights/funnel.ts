import { Prisma } from '@prisma/client';
import type { Db } from '../db/client.js';
import { type Stage, stages } from '../leads/stages.js';
import { creationCounts } from './counts.js';
import { createdInPeriod, type Scope } from './query.js';

/** The main path a lead travels to be won; the other stages are side roads. */
export const funnelPath: readonly Stage[] = ['open', 'contacted', 'qualified', 'negotiation', 'customer'];

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
  // The cohort's stage entries, each with the stay it ended, read by the lead's creation time.
  const inCohort = Prisma.sql`e."workspaceId" = ${scope.workspaceId} AND e."leadCreatedAt" >= ${scope.from} AND e."leadCreatedAt" < ${scope.to} AND e."enteredAt" >= ${scope.from}`;
  const entries = scope.narrowed
    ? Prisma.sql`SELECT e."leadId", e.stage, e."enteredAt", e."previousStage", e."previousEnteredAt" FROM stage_entries e JOIN leads l ON l.id = e."leadId" WHERE ${inCohort} AND ${scope.leads}`
    : Prisma.sql`SELECT e."leadId", e.stage, e."enteredAt", e."previousStage", e."previousEnteredAt" FROM stage_entries e WHERE ${inCohort}`;
  // Constants of this module, written as literals so the ranks are integers.
  const path = Prisma.raw(funnelPath.map((stage, rank) => `('${stage}', ${rank + 1})`).join(', '));
  const [perStage, current, losses] = await Promise.all([
    // Per stage: leads that entered it, the median of its stays that ended (an entry ends the
    // previous stay), and leads whose furthest stage on the main path it is.
    prisma.$queryRaw<{ stage: string; entered: number; median: number | null; furthest: number }[]>`
      WITH e AS MATERIALIZED (${entries}),
      path (stage, rank) AS (VALUES ${path}),
      entered AS (SELECT stage, count(DISTINCT "leadId")::int AS n FROM e GROUP BY 1),
      ended AS (
        SELECT "previousStage" AS stage, percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM "enteredAt" - "previousEnteredAt")::float8) AS median
        FROM e GROUP BY 1),
      furthest AS (
        SELECT path.stage, count(*)::int AS n
        FROM (SELECT "leadId", max(path.rank) AS r FROM e JOIN path ON path.stage = e.stage GROUP BY 1) f JOIN path ON path.rank = f.r
        GROUP BY 1)
      SELECT s.stage, COALESCE(entered.n, 0) AS entered, ended.median, COALESCE(furthest.n, 0) AS furthest
      FROM (SELECT stage FROM entered UNION SELECT stage FROM ended) s
      LEFT JOIN entered USING (stage) LEFT JOIN ended USING (stage) LEFT JOIN furthest USING (stage)`,
    prisma.$queryRaw<{ stage: string; leads: number }[]>`${
      scope.narrowed
        ? Prisma.sql`SELECT l.stage, count(*)::int AS leads FROM leads l WHERE ${createdInPeriod(scope)} GROUP BY 1`
        : Prisma.sql`SELECT c.key AS stage, sum(c.n)::int AS leads FROM (${creationCounts(scope, 'stage')}) c GROUP BY 1`
    }`,
    // Lost: the reason given when the lead was last marked Unqualified, else the lead's own.
    prisma.$queryRaw<{ reason: string | null; leads: number }[]>`
      SELECT COALESCE(last.reason, l."lossReason") AS reason, count(*)::int AS leads
      FROM leads l
      LEFT JOIN LATERAL (
        SELECT e.reason FROM stage_entries e
        WHERE e."leadId" = l.id AND e.stage = 'unqualified' AND e."enteredAt" >= ${scope.from}
        ORDER BY e."enteredAt" DESC LIMIT 1) last ON TRUE
      WHERE ${createdInPeriod(scope)} AND l.stage = 'unqualified'
      GROUP BY 1 ORDER BY 2 DESC, 1`,
  ]);
  const cohort = current.reduce((sum, row) => sum + row.leads, 0);
  // Every lead of the cohort was Open; those that went no further on the main path stay there.
  const beyondOpen = perStage.filter((row) => row.stage !== 'open').reduce((sum, row) => sum + row.furthest, 0);
  const furthestAt = (stage: Stage) => (stage === 'open' ? cohort - beyondOpen : (perStage.find((row) => row.stage === stage)?.furthest ?? 0));
  const reachedAtLeast = (rank: number) => funnelPath.slice(rank - 1).reduce((sum, stage) => sum + furthestAt(stage), 0);
  const currentIn = (stage: string) => current.find((row) => row.stage === stage)?.leads ?? 0;
  const rows: FunnelStage[] = stages.map((stage) => {
    const stats = perStage.find((row) => row.stage === stage);
    const rank = funnelPath.indexOf(stage) + 1;
    const entered = stage === 'open' ? cohort : (stats?.entered ?? 0);
    const reached = rank > 0 ? reachedAtLeast(rank) : entered;
    const previous = rank > 1 ? reachedAtLeast(rank - 1) : 0;
    return {
      stage,
      reached,
      conversion: rank > 1 ? (previous === 0 ? null : Math.round((reached / previous) * 10_000) / 10_000) : null,
      entered,
      current: currentIn(stage),
      medianSecondsInStage: stats?.median ?? null,
    };
  });
  return {
    stages: rows,
    cohort,
    won: currentIn('customer'),
    lost: currentIn('unqualified'),
    lossReasons: losses,
  };
}
