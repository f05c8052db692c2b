import { Prisma } from '@prisma/client';
import type { Db } from '../db/client.js';
import { bucketLabel, bucketOf, bucketSeries, createdInPeriod, type Scope } from './query.js';

export const speedGroupings = ['period', 'rep', 'channel'] as const;
export type SpeedGrouping = (typeof speedGroupings)[number];

export interface SpeedRow {
  key: string | null;
  label: string | null;
  /** The bucket's instants when grouped by period. */
  start: Date | null;
  end: Date | null;
  /** Response windows opened: a new lead's first message, or a contact reopening a resolved conversation. */
  windows: number;
  answered: number;
  /**
   * Windows still waiting for a person, beside the percentiles (which are over answered ones, so a
   * rep who leaves the hard leads unanswered would look fast without it); and of those, the ones
   * already past their first-response deadline.
   */
  unanswered: number;
  unansweredPastDue: number;
  /**
   * Speed to lead proper: each lead's first window only (one first touch per lead), and how many
   * of the windows are a contact coming back instead.
   */
  firstTouches: number;
  firstTouchesAnswered: number;
  firstTouchP50Seconds: number | null;
  firstTouchP90Seconds: number | null;
  reopenings: number;
  p50Seconds: number | null;
  p90Seconds: number | null;
  /**
   * The same percentiles with the windows still waiting counted at their age now (wall or working
   * time, as the rest): a rep who leaves leads unanswered is not faster for it.
   */
  p50IncludingOpenSeconds: number | null;
  p90IncludingOpenSeconds: number | null;
  /** Speed to lead over every first window, the unanswered at their age now. */
  firstTouchP50IncludingOpenSeconds: number | null;
  firstTouchP90IncludingOpenSeconds: number | null;
  within5m: number | null;
  within15m: number | null;
  within60m: number | null;
  /** Leads created that got an automatic acknowledgement within a day, and how long it took to go out. */
  acknowledged: number;
  ackP50Seconds: number | null;
  ackP90Seconds: number | null;
}

const share = (n: Prisma.Sql) => Prisma.sql`CASE WHEN count(*) = 0 THEN NULL ELSE round((${n})::numeric / count(*), 4)::float8 END`;

/**
 * A period's response windows as `w (k, answered, s, age, past_due, first)`: the grouping key,
 * whether a person answered and after how many seconds, those seconds or, while unanswered, the
 * window's age now, whether it is still waiting past its deadline now, and whether it is the
 * lead's first window (opened by its arrival, not by the contact coming back).
 */
function windowsSql(scope: Scope, by: SpeedGrouping, businessHours: boolean): Prisma.Sql {
  const seconds = businessHours
    ? Prisma.sql`rw."businessSeconds"::float8`
    : Prisma.sql`COALESCE(rw."wallSeconds"::float8, extract(epoch FROM rw."respondedAt" - rw."openedAt")::float8)`;
  // An open window's age is measured as an answered one would be: working time in the workspace's
  // hours, or the wall clock.
  const age = businessHours
    ? Prisma.sql`working_seconds_between(rw."openedAt", now(), (SELECT ws."workingHours" FROM workspaces ws WHERE ws.id = ${scope.workspaceId})::jsonb, ${scope.timeZone})`
    : Prisma.sql`round(extract(epoch FROM now() - rw."openedAt"))::float8`;
  // Windows carry their workspace and the lead's owner (kept by triggers): the lead is read only
  // when a filter or visibility needs it. By rep, an answered window is its responder's, never the
  // owner's: one an integration answered (a workspace API key) is no rep's.
  const windowKey =
    by === 'rep'
      ? Prisma.sql`CASE WHEN rw."respondedAt" IS NULL THEN rw."ownerId" ELSE rw."responderId" END`
      : by === 'channel'
        ? Prisma.sql`rw.channel`
        : bucketOf(scope, Prisma.sql`rw."openedAt"`);
  return Prisma.sql`
      SELECT ${windowKey} AS k, rw."respondedAt" IS NOT NULL AS answered, CASE WHEN rw."respondedAt" IS NULL THEN NULL ELSE ${seconds} END AS s,
        CASE WHEN rw."respondedAt" IS NULL THEN ${age} ELSE ${seconds} END AS age,
        rw."respondedAt" IS NULL AND rw."dueAt" < now() AS past_due,
        NOT rw.reopening AS first
      FROM response_windows rw ${scope.narrowed ? Prisma.sql`JOIN leads l ON l.id = rw."leadId"` : Prisma.empty}
      WHERE rw."workspaceId" = ${scope.workspaceId} AND rw."openedAt" >= ${scope.from} AND rw."openedAt" < ${scope.to}
        ${scope.narrowed ? Prisma.sql`AND ${scope.leads}` : Prisma.empty}`;
}

/**
 * Speed to lead. Human first-response time comes from response windows: each opens when a lead
 * arrives or a contact reopens a resolved conversation, and only a person's reply closes it, so
 * acknowledgements and sequence steps never count. A window belongs to the rep who answered it,
 * or to the lead's owner while unanswered. Shares are of all windows opened in the period: an
 * unanswered one is not "within" anything; the unanswered are counted beside the percentiles.
 */
export async function speedToLead(prisma: Db, scope: Scope, by: SpeedGrouping, businessHours: boolean): Promise<SpeedRow[]> {
  const leadKey = by === 'rep' ? Prisma.sql`l."ownerId"` : by === 'channel' ? Prisma.sql`l.channel` : bucketOf(scope, Prisma.sql`l."createdAt"`);
  return prisma.$queryRaw<SpeedRow[]>`
    WITH w AS (${windowsSql(scope, by, businessHours)}),
    frt AS (
      SELECT k, count(*)::int AS windows, count(*) FILTER (WHERE answered)::int AS answered,
        count(*) FILTER (WHERE NOT answered)::int AS unanswered, count(*) FILTER (WHERE past_due)::int AS past_due,
        count(*) FILTER (WHERE first)::int AS first_touches, count(*) FILTER (WHERE first AND answered)::int AS first_answered,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY s) FILTER (WHERE first) AS first_p50,
        percentile_cont(0.9) WITHIN GROUP (ORDER BY s) FILTER (WHERE first) AS first_p90,
        count(*) FILTER (WHERE NOT first)::int AS reopenings,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY s) AS p50, percentile_cont(0.9) WITHIN GROUP (ORDER BY s) AS p90,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY age) AS p50_open, percentile_cont(0.9) WITHIN GROUP (ORDER BY age) AS p90_open,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY age) FILTER (WHERE first) AS first_p50_open,
        percentile_cont(0.9) WITHIN GROUP (ORDER BY age) FILTER (WHERE first) AS first_p90_open,
        ${share(Prisma.sql`count(*) FILTER (WHERE s <= 300)`)} AS w5,
        ${share(Prisma.sql`count(*) FILTER (WHERE s <= 900)`)} AS w15,
        ${share(Prisma.sql`count(*) FILTER (WHERE s <= 3600)`)} AS w60
      FROM w GROUP BY k),
    a AS (
      SELECT ${leadKey} AS k, extract(epoch FROM l."acknowledgedAt" - l."createdAt")::float8 AS s
      FROM leads l
      WHERE ${createdInPeriod(scope)} AND l."acknowledgedAt" < l."createdAt" + interval '1 day'),
    acks AS (
      SELECT k, count(*)::int AS acknowledged,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY s) AS p50, percentile_cont(0.9) WITHIN GROUP (ORDER BY s) AS p90
      FROM a GROUP BY k),
    keys AS (${by === 'period' ? Prisma.sql`SELECT b AS k, start, "end" FROM (${bucketSeries(scope)}) series` : Prisma.sql`SELECT k, NULL::timestamptz AS start, NULL::timestamptz AS "end" FROM frt UNION SELECT k, NULL, NULL FROM acks`})
    SELECT ${by === 'period' ? bucketLabel(Prisma.sql`keys.k`) : Prisma.sql`keys.k`} AS key,
      ${by === 'rep' ? Prisma.sql`u.name` : by === 'period' ? bucketLabel(Prisma.sql`keys.k`) : Prisma.sql`keys.k`} AS label,
      keys.start, keys."end",
      COALESCE(frt.windows, 0) AS windows, COALESCE(frt.answered, 0) AS answered,
      COALESCE(frt.unanswered, 0) AS unanswered, COALESCE(frt.past_due, 0) AS "unansweredPastDue",
      COALESCE(frt.first_touches, 0) AS "firstTouches", COALESCE(frt.first_answered, 0) AS "firstTouchesAnswered",
      frt.first_p50 AS "firstTouchP50Seconds", frt.first_p90 AS "firstTouchP90Seconds", COALESCE(frt.reopenings, 0) AS reopenings,
      frt.p50 AS "p50Seconds", frt.p90 AS "p90Seconds",
      frt.p50_open AS "p50IncludingOpenSeconds", frt.p90_open AS "p90IncludingOpenSeconds",
      frt.first_p50_open AS "firstTouchP50IncludingOpenSeconds", frt.first_p90_open AS "firstTouchP90IncludingOpenSeconds",
      frt.w5 AS "within5m", frt.w15 AS "within15m", frt.w60 AS "within60m",
      COALESCE(acks.acknowledged, 0) AS acknowledged, acks.p50 AS "ackP50Seconds", acks.p90 AS "ackP90Seconds"
    FROM keys
    LEFT JOIN frt ON frt.k IS NOT DISTINCT FROM keys.k
    LEFT JOIN acks ON acks.k IS NOT DISTINCT FROM keys.k
    ${by === 'rep' ? Prisma.sql`LEFT JOIN users u ON u.id = keys.k` : Prisma.empty}
    ORDER BY ${by === 'period' ? Prisma.sql`keys.k` : Prisma.sql`COALESCE(frt.windows, 0) DESC, label, key`}`;
}

export interface RepFirstResponse {
  key: string | null;
  label: string | null;
  answered: number;
  /** Windows of the rep still waiting for a person, beside the median of the answered ones. */
  unanswered: number;
  medianSeconds: number | null;
  /** The median with the unanswered windows counted at their age now. */
  medianIncludingOpenSeconds: number | null;
}

/**
 * The overview's median first response per rep (wall clock): the same windows, keys and order as
 * `speedToLead(…, 'rep', false)`, without the acknowledgements and shares it does not show.
 */
export async function firstResponseByRep(prisma: Db, scope: Scope): Promise<RepFirstResponse[]> {
  return prisma.$queryRaw<RepFirstResponse[]>`
    WITH w AS (${windowsSql(scope, 'rep', false)}),
    frt AS (
      SELECT k, count(*)::int AS windows, count(*) FILTER (WHERE answered)::int AS answered,
        count(*) FILTER (WHERE NOT answered)::int AS unanswered,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY s) AS p50, percentile_cont(0.5) WITHIN GROUP (ORDER BY age) AS p50_open
      FROM w GROUP BY k)
    SELECT frt.k AS key, u.name AS label, frt.answered, frt.unanswered, frt.p50 AS "medianSeconds", frt.p50_open AS "medianIncludingOpenSeconds"
    FROM frt LEFT JOIN users u ON u.id = frt.k
    ORDER BY frt.windows DESC, label, key`;
}
