import { Prisma } from '@prisma/client';
import type { Db } from '../db/client.js';
import { funnelPath, type Stage, stages } from '../leads/stages.js';
import { creationCounts } from './counts.js';
import { createdInPeriod, type Scope } from './query.js';

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
  /** Leads of the cohort neither won nor lost yet: the cohort is still open for them. */
  open: number;
  /** won / (won + lost): leads still open are not losses; null while none is decided. */
  winRate: number | null;
  lossReasons: { reason: string | null; leads: number }[];
}

/**
 * The stage funnel of the leads created in the period (a cohort), from their stage changes up to
 * now: how far each got, the conversion between consecutive stages of the main path, the median
 * time in each stage, won (Customer) and lost (Unqualified, with the reason given), the leads
 * still open (neither), and the win rate over the decided ones.
 */
export async function stageFunnel(prisma: Db, scope: Scope): Promise<Funnel> {
  // Per stage, leads of the cohort: in it now, that ever entered it, and whose furthest stage on
  // the main path it is (each lead keeps these on its row; the daily counts sum them).
  const perLead = (column: Prisma.Sql, fact: 'stage' | 'entered' | 'furthest') =>
    scope.narrowed
      ? Prisma.sql`SELECT ${column} AS stage, count(*)::int AS leads FROM leads l ${fact === 'entered' ? Prisma.sql`CROSS JOIN LATERAL unnest(l."stagesEntered") AS s (stage)` : Prisma.empty} WHERE ${createdInPeriod(scope)} GROUP BY 1`
      : Prisma.sql`SELECT c.key AS stage, sum(c.n)::int AS leads FROM (${creationCounts(scope, fact)}) c GROUP BY 1`;
  // Stays that ended: each stage entry of the cohort ends the stay before it.
  const inCohort = Prisma.sql`e."workspaceId" = ${scope.workspaceId} AND e."leadCreatedAt" >= ${scope.from} AND e."leadCreatedAt" < ${scope.to}`;
  const [current, entered, furthest, medians, losses] = await Promise.all([
    prisma.$queryRaw<{ stage: string; leads: number }[]>`${perLead(Prisma.sql`l.stage`, 'stage')}`,
    prisma.$queryRaw<{ stage: string; leads: number }[]>`${perLead(Prisma.sql`s.stage`, 'entered')}`,
    prisma.$queryRaw<{ stage: string; leads: number }[]>`${perLead(Prisma.sql`l."furthestStage"`, 'furthest')}`,
    prisma.$queryRaw<{ stage: string; median: number | null }[]>`
      SELECT e."previousStage" AS stage, percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM e."enteredAt" - e."previousEnteredAt")::float8) AS median
      FROM stage_entries e ${scope.narrowed ? Prisma.sql`JOIN leads l ON l.id = e."leadId"` : Prisma.empty}
      WHERE ${inCohort} ${scope.narrowed ? Prisma.sql`AND ${scope.leads}` : Prisma.empty}
      GROUP BY 1`,
    // Lost: in Unqualified now, by the reason given when it was marked.
    prisma.$queryRaw<{ reason: string | null; leads: number }[]>`${
      scope.narrowed
        ? Prisma.sql`SELECT l."lossReason" AS reason, count(*)::int AS leads FROM leads l WHERE ${createdInPeriod(scope)} AND l.stage = 'unqualified' GROUP BY 1`
        : Prisma.sql`SELECT c.key AS reason, sum(c.n)::int AS leads FROM (${creationCounts(scope, 'lost')}) c GROUP BY 1`
    } ORDER BY 2 DESC, 1`,
  ]);
  const count = (rows: { stage: string; leads: number }[], stage: string) => rows.find((row) => row.stage === stage)?.leads ?? 0;
  const cohort = current.reduce((sum, row) => sum + row.leads, 0);
  const reachedAtLeast = (rank: number) => funnelPath.slice(rank - 1).reduce((sum, stage) => sum + count(furthest, stage), 0);
  const rows: FunnelStage[] = stages.map((stage) => {
    const rank = funnelPath.indexOf(stage) + 1;
    const enteredIt = stage === 'open' ? cohort : count(entered, stage);
    const reached = rank > 0 ? reachedAtLeast(rank) : enteredIt;
    const previous = rank > 1 ? reachedAtLeast(rank - 1) : 0;
    return {
      stage,
      reached,
      conversion: rank > 1 ? (previous === 0 ? null : Math.round((reached / previous) * 10_000) / 10_000) : null,
      entered: enteredIt,
      current: count(current, stage),
      medianSecondsInStage: medians.find((row) => row.stage === stage)?.median ?? null,
    };
  });
  const won = count(current, 'customer');
  const lost = count(current, 'unqualified');
  return {
    stages: rows,
    cohort,
    won,
    lost,
    open: cohort - won - lost,
    winRate: won + lost === 0 ? null : Math.round((won / (won + lost)) * 10_000) / 10_000,
    lossReasons: losses,
  };
}

export interface OwnerFunnelStage {
  /** The owner credited (null: the lead had none when it got there). */
  key: string | null;
  label: string | null;
  stage: Stage;
  /** Leads of the cohort that got this far on the main path (side stages: entered it) while this owner had them. */
  reached: number;
  /** reached / the same owner's reached of the previous stage of the main path (none before Contacted). */
  conversion: number | null;
  /** Leads of the cohort that first entered this stage while this owner had them. */
  entered: number;
}

/**
 * The funnel by owner at the time of each step: a lead's progress is credited to whoever owned it
 * when it got there (the owner each stage entry keeps), so reassigning a lead does not rewrite who
 * brought it that far. On the main path a step that skips stages (Contacted straight to
 * Negotiation) reaches each skipped one too, credited alike. The cohort's arrival (Open) is no
 * one's step.
 */
export async function funnelByOwner(prisma: Db, scope: Scope): Promise<OwnerFunnelStage[]> {
  const ranks = funnelPath.map((stage, i) => Prisma.sql`(${stage}::text, ${i + 1}::int)`);
  const allStages = stages.map((stage) => Prisma.sql`(${stage}::text)`);
  const rows = await prisma.$queryRaw<{ ownerId: string | null; label: string | null; stage: string; reached: number; entered: number }[]>`
    WITH e AS (
      SELECT e."leadId", e.stage, e."enteredAt", e."activityId", e."ownerId", p.rank
      FROM stage_entries e ${scope.narrowed ? Prisma.sql`JOIN leads l ON l.id = e."leadId"` : Prisma.empty}
      LEFT JOIN (VALUES ${Prisma.join(ranks)}) AS p (stage, rank) ON p.stage = e.stage
      WHERE e."workspaceId" = ${scope.workspaceId} AND e."leadCreatedAt" >= ${scope.from} AND e."leadCreatedAt" < ${scope.to}
        ${scope.narrowed ? Prisma.sql`AND ${scope.leads}` : Prisma.empty}),
    ordered AS (
      SELECT e.*,
        COALESCE(max(rank) OVER (PARTITION BY "leadId" ORDER BY "enteredAt", "activityId" ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 1) AS furthest_before,
        row_number() OVER (PARTITION BY "leadId", stage ORDER BY "enteredAt", "activityId") AS nth
      FROM e),
    -- Each entry that goes further on the main path reaches every rank up to its own.
    reached AS (
      SELECT o."ownerId", p.stage, count(*)::int AS n
      FROM ordered o
      CROSS JOIN LATERAL generate_series(o.furthest_before + 1, o.rank) AS r (rank)
      JOIN (VALUES ${Prisma.join(ranks)}) AS p (stage, rank) ON p.rank = r.rank
      WHERE o.rank > o.furthest_before
      GROUP BY 1, 2),
    entered AS (SELECT "ownerId", stage, count(*)::int AS n FROM ordered WHERE nth = 1 GROUP BY 1, 2),
    owners AS (SELECT "ownerId" FROM reached UNION SELECT "ownerId" FROM entered)
    SELECT o."ownerId", u.name AS label, s.stage, COALESCE(r.n, 0) AS reached, COALESCE(en.n, 0) AS entered
    FROM owners o
    CROSS JOIN (VALUES ${Prisma.join(allStages)}) AS s (stage)
    LEFT JOIN reached r ON r."ownerId" IS NOT DISTINCT FROM o."ownerId" AND r.stage = s.stage
    LEFT JOIN entered en ON en."ownerId" IS NOT DISTINCT FROM o."ownerId" AND en.stage = s.stage
    LEFT JOIN users u ON u.id = o."ownerId"
    WHERE s.stage <> 'open'`;
  const reachedOf = (key: string | null, stage: Stage) => rows.find((row) => row.ownerId === key && row.stage === stage)?.reached ?? 0;
  const owners = [...new Map(rows.map((row) => [row.ownerId, row.label])).entries()].sort(
    ([a, aLabel], [b, bLabel]) => (aLabel ?? '\uffff').localeCompare(bLabel ?? '\uffff') || (a ?? '').localeCompare(b ?? ''),
  );
  return owners.flatMap(([key, label]) =>
    stages
      .filter((stage) => stage !== 'open')
      .map((stage) => {
        const row = rows.find((r) => r.ownerId === key && r.stage === stage);
        const rank = funnelPath.indexOf(stage);
        const onPath = rank >= 0;
        const reached = onPath ? (row?.reached ?? 0) : (row?.entered ?? 0);
        const previous = rank > 1 ? reachedOf(key, funnelPath[rank - 1]!) : 0;
        return {
          key,
          label,
          stage,
          reached,
          conversion: rank > 1 && previous > 0 ? Math.round((reached / previous) * 10_000) / 10_000 : null,
          entered: row?.entered ?? 0,
        };
      }),
  );
}
