import { Prisma } from '@prisma/client';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { Poller } from '../queue/poller.js';
import type { Scope } from './query.js';

/**
 * Facts counted per local day in `insight_counts`, by the lead's creation day. Database triggers
 * keep them (migration `20261126030533_insight_counts`), so no write path can forget to.
 */
export type CreationFact = 'hour' | 'channel' | 'source' | 'owner' | 'segment' | 'stage' | 'product' | 'sla_assigned' | 'sla_touched' | 'entered' | 'furthest' | 'lost';

/**
 * The scope's leads as `(day, key, n)`: how many leads created on each local day have the fact
 * with that key. Whole local days come from the daily counts; the partial days at either end of the
 * period (a period starting mid-day, or today so far) from the leads themselves, through the same
 * SQL functions the triggers use, so both halves agree. Only for scopes that are not narrowed: the
 * counts know the workspace, not the caller's filters.
 */
export function creationCounts(scope: Scope, fact: CreationFact): Prisma.Sql {
  if (scope.narrowed) throw new Error('daily counts hold whole workspaces; a narrowed scope reads the leads');
  const { days } = scope;
  const fromLeads = (from: Date, to: Date) => {
    const inPeriod = Prisma.sql`l."workspaceId" = ${scope.workspaceId} AND l."createdAt" >= ${from} AND l."createdAt" < ${to}`;
    const facts = [Prisma.sql`SELECT lf.day, lf.key FROM leads l CROSS JOIN LATERAL insight_lead_facts(l, ${scope.timeZone}) lf WHERE ${inPeriod} AND lf.fact = ${fact}`];
    // A lead's products are facts of their own; the lead's facts say only when it has none.
    if (fact === 'product') {
      facts.push(Prisma.sql`
        SELECT pf.day, pf.key FROM leads l JOIN lead_products lp ON lp."leadId" = l.id CROSS JOIN LATERAL insight_product_facts(lp, ${scope.timeZone}) pf
        WHERE ${inPeriod} AND pf.fact = 'product'`);
    }
    return Prisma.sql`SELECT f.day, f.key, count(*)::int AS n FROM (${Prisma.join(facts, ' UNION ALL ')}) f GROUP BY 1, 2`;
  };
  if (days.first >= days.end) return fromLeads(scope.from, scope.to);
  const parts = [
    Prisma.sql`
      SELECT c.day, c.key, sum(c.n)::int AS n
      FROM insight_counts c
      WHERE c."workspaceId" = ${scope.workspaceId} AND c.fact = ${fact} AND c.day >= ${days.first}::date AND c.day < ${days.end}::date
      GROUP BY 1, 2 HAVING sum(c.n) <> 0`,
  ];
  if (scope.from < days.startsAt) parts.push(fromLeads(scope.from, days.startsAt));
  if (days.endsAt < scope.to) parts.push(fromLeads(days.endsAt, scope.to));
  return Prisma.join(parts, ' UNION ALL ');
}

/**
 * Folds the delta rows the triggers append into one row per (workspace, day, fact, key), so the
 * daily counts stay as small as the days and values they hold. Safe with writers and with other
 * processes folding at once: each run deletes the rows it read and writes back their sum in one
 * statement, and a delta written meanwhile is simply left for the next run. Each round looks again
 * at the ids the round before it read, so a delta whose transaction was still open then (its id
 * taken, its row not yet visible) is folded a round later; the sums are right either way.
 */
export class InsightCountCompactor {
  private readonly poller: Poller;
  /** The highest id the last round read, and the one the round before it read. */
  private foldedUpTo = 0n;
  private lookFrom = 0n;

  constructor(private readonly deps: { prisma: Db; logger: Logger; pollMs: number }) {
    this.poller = new Poller(() => this.compactLogged(), deps.pollMs);
  }

  start(): void {
    this.poller.start();
  }

  stop(): Promise<void> {
    return this.poller.stop();
  }

  private async compactLogged(): Promise<void> {
    try {
      await this.compact();
    } catch (error) {
      this.deps.logger.error({ err: error }, 'folding the insight counts failed; the next round tries again');
    }
  }

  /** One round: folds the groups new deltas touched. Returns how many rows it removed. */
  async compact(): Promise<number> {
    const [latest] = await this.deps.prisma.$queryRaw<{ id: bigint | null }[]>`SELECT max(id) AS id FROM insight_counts`;
    const upTo = latest?.id ?? 0n;
    if (upTo <= this.lookFrom) return 0;
    // Groups that new deltas touched and that hold more than one row now (a folded row is itself
    // new the next round, alone in its group, and left as it is).
    const [result] = await this.deps.prisma.$queryRaw<{ removed: number }[]>`
      WITH touched AS (
        SELECT DISTINCT "workspaceId", fact, day, key FROM insight_counts WHERE id > ${this.lookFrom} AND id <= ${upTo}),
      crowded AS (
        SELECT t.* FROM touched t
        WHERE (SELECT count(*) FROM insight_counts c
               WHERE c."workspaceId" = t."workspaceId" AND c.fact = t.fact AND c.day = t.day AND c.key IS NOT DISTINCT FROM t.key AND c.id <= ${upTo}) > 1),
      gone AS (
        DELETE FROM insight_counts c USING crowded t
        WHERE c."workspaceId" = t."workspaceId" AND c.fact = t.fact AND c.day = t.day AND c.key IS NOT DISTINCT FROM t.key AND c.id <= ${upTo}
        RETURNING c."workspaceId", c.fact, c.day, c.key, c.n),
      folded AS (
        INSERT INTO insight_counts ("workspaceId", fact, day, key, n)
        SELECT "workspaceId", fact, day, key, sum(n)::int FROM gone GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0
        RETURNING 1)
      SELECT ((SELECT count(*) FROM gone) - (SELECT count(*) FROM folded))::int AS removed`;
    this.lookFrom = this.foldedUpTo;
    this.foldedUpTo = upTo;
    return result?.removed ?? 0;
  }
}

/**
 * Moves a workspace's daily counts to its new time zone in the background: a time-zone change
 * only notes the zone the counts are still kept in (a trigger on workspaces), so `PATCH
 * /workspace` does not wait for a rebuild of every lead's facts (many seconds at a million leads).
 * Until the rebuild commits, the insights read the leads themselves and say they are recomputing.
 *
 * The rebuild reads one snapshot (repeatable read): the deltas it deletes are exactly those of
 * the writes it sees, and a write it does not see keeps its delta, so nothing counts twice. One
 * process rebuilds a workspace at a time (an advisory lock); another finds it taken and moves on.
 */
export class InsightCountRebuilder {
  private readonly poller: Poller;

  constructor(private readonly deps: { prisma: Db; logger: Logger; pollMs: number }) {
    this.poller = new Poller(() => this.rebuildLogged(), deps.pollMs);
  }

  start(): void {
    this.poller.start();
  }

  stop(): Promise<void> {
    return this.poller.stop();
  }

  private async rebuildLogged(): Promise<void> {
    try {
      await this.rebuildPending();
    } catch (error) {
      this.deps.logger.error({ err: error }, 'rebuilding the insight counts failed; the next round tries again');
    }
  }

  /** Rebuilds every workspace whose counts are in another time zone than its own. Returns how many it rebuilt. */
  async rebuildPending(): Promise<number> {
    const pending = await this.deps.prisma.$queryRaw<{ id: string }[]>`SELECT id FROM workspaces WHERE "insightCountsTimeZone" IS NOT NULL`;
    let rebuilt = 0;
    for (const { id } of pending) if (await this.rebuild(id)) rebuilt++;
    return rebuilt;
  }

  private async rebuild(workspaceId: string): Promise<boolean> {
    const timeZone = await this.deps.prisma.$transaction(
      async (tx) => {
        await tx.$executeRaw`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ`;
        const [lock] = await tx.$queryRaw<{ taken: boolean }[]>`SELECT pg_try_advisory_xact_lock(hashtext('insight_counts_rebuild'), hashtext(${workspaceId})) AS taken`;
        if (!lock?.taken) return null;
        const [workspace] = await tx.$queryRaw<{ timeZone: string; pending: string | null }[]>`
          SELECT "timeZone", "insightCountsTimeZone" AS pending FROM workspaces WHERE id = ${workspaceId}`;
        if (!workspace?.pending) return null;
        await tx.$executeRaw`SELECT insight_counts_rebuild(${workspaceId})`;
        return workspace.timeZone;
      },
      { timeout: 30 * 60_000, maxWait: 60_000 },
    );
    if (timeZone === null) return false;
    // Done for the zone it rebuilt in; a change made meanwhile leaves the workspace pending.
    await this.deps.prisma.$executeRaw`UPDATE workspaces SET "insightCountsTimeZone" = NULL WHERE id = ${workspaceId} AND "timeZone" = ${timeZone}`;
    this.deps.logger.info({ workspaceId, timeZone }, 'insight counts rebuilt in the workspace\'s time zone');
    return true;
  }
}
