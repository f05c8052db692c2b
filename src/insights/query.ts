import { Prisma } from '@prisma/client';
import { z } from 'zod';
import type { Db } from '../db/client.js';
import { ValidationError } from '../errors.js';
import type { Auth } from '../http/route.js';
import { channelKinds } from '../channels/contract.js';
import { stages } from '../leads/stages.js';
import { visibleLeadsWhere } from '../leads/visibility.js';



export const groupBys = ['day', 'week', 'month', 'quarter'] as const;
export type GroupBy = (typeof groupBys)[number];

const localDate = /^\d{4}-\d{2}-\d{2}$/;

/**
 * The years a period may name. No lead predates 1970, and nothing is planned a thousand years
 * ahead: a year outside these is a typo, better refused than read as another ("0001" became 2001)
 * or carried to an instant past what the driver can read back (the end of 9999 is in year 10000).
 */
export const yearRange = { earliest: 1970, latest: 2999 } as const;
const yearMessage = `the year must be from ${yearRange.earliest} to ${yearRange.latest}`;
const yearInRange = (value: string) => {
  const year = Number(value.slice(0, 4));
  return year >= yearRange.earliest && year <= yearRange.latest;
};

/** A calendar date that exists (no 30 February, no month 13), in the years above. */
export const calendarDate = (message: string) => z.iso.date({ error: message }).refine(yearInRange, yearMessage);

const dateOrInstantMessage = 'a date (YYYY-MM-DD) or an ISO 8601 date-time with its offset';
const instantOrDate = z
  .union([z.iso.date({ error: dateOrInstantMessage }), z.iso.datetime({ offset: true, error: dateOrInstantMessage })], { error: dateOrInstantMessage })
  .refine(yearInRange, yearMessage);

/** The query every insight takes: the period, how to bucket it, and which leads count. */
export const insightQuery = z
  .object({
    from: instantOrDate
      .optional()
      .describe('Start of the period (inclusive). A date is local midnight in the workspace time zone. Default: 30 days ago, local midnight.'),
    to: instantOrDate.optional().describe('End of the period (exclusive). A date includes that whole local day. Default: now.'),
    groupBy: z.enum(groupBys).default('day').describe('Bucket size, in the workspace time zone (weeks start on Monday).'),
    channel: z.enum(channelKinds).optional().describe('Only leads that arrived on this channel'),
    sourceId: z.string().min(1).max(100).optional().describe('Only leads from this source'),
    productId: z.string().min(1).max(100).optional().describe('Only leads interested in this product'),
    segment: z.string().min(1).max(200).optional().describe('Only leads of this segment (its name)'),
    ownerId: z.string().min(1).max(100).optional().describe('Only leads owned by this user'),
    format: z.enum(['json', 'csv']).optional().describe('csv: the table as text/csv (so does Accept: text/csv)'),
  })
  .strict();
export type InsightQuery = z.infer<typeof insightQuery>;

export const businessHoursParam = z
  .enum(['true', 'false'])
  .default('false')
  .transform((value) => value === 'true')
  .describe('true: count only working time (the workspace\'s workingHours, in its time zone)');

export const stageParam = z.enum(stages);

export interface Filters {
  channel?: string | undefined;
  sourceId?: string | undefined;
  productId?: string | undefined;
  segment?: string | undefined;
  ownerId?: string | undefined;
}

/** A resolved request: the workspace clock, the period as instants, and the lead filter as SQL. */
export interface Scope {
  workspaceId: string;
  timeZone: string;
  from: Date;
  to: Date;
  groupBy: GroupBy;
  /** date_trunc's unit and the step between buckets. */
  unit: Prisma.Sql;
  step: Prisma.Sql;
  /** Conditions on `l` (a leads row): workspace, visibility and filters, not the period. */
  leads: Prisma.Sql;
  /**
   * Whether `leads` says more than the workspace (a visibility rule or a filter). When it does not,
   * a figure read from a table that carries the workspace id needs no join to `leads` at all.
   */
  narrowed: boolean;
  /**
   * Whether the workspace's daily counts are still being moved to its new time zone: until then
   * every figure reads the rows themselves (as a narrowed scope does), and responses say so.
   */
  recomputing: boolean;
  /**
   * The whole local days inside the period, [first, end) as dates (YYYY-MM-DD), and the instants
   * they start and end at: daily counts cover them, and the leads themselves the rest.
   */
  days: { first: string; end: string; startsAt: Date; endsAt: Date };
}

const maxBuckets = 1000;
const bucketDays: Record<GroupBy, number> = { day: 1, week: 7, month: 28, quarter: 89 };

/**
 * The caller's visibility as SQL on `l`. It follows `visibleLeadsWhere`, so a rep of a workspace
 * with visibility "own" sees figures made of their own leads only.
 */
export async function visibilitySql(prisma: Db, auth: Auth): Promise<Prisma.Sql> {
  return (await visibility(prisma, auth)).sql;
}

async function visibility(prisma: Db, auth: Auth): Promise<{ sql: Prisma.Sql; narrowed: boolean }> {
  const where = await visibleLeadsWhere(prisma, auth);
  const { workspaceId, OR, ...rest } = where;
  if (Object.keys(rest).length > 0 || typeof workspaceId !== 'string') {
    throw new Error(`insights cannot express this visibility rule in SQL: ${JSON.stringify(where)}`);
  }
  const parts: Prisma.Sql[] = [Prisma.sql`l."workspaceId" = ${workspaceId}`];
  if (OR) {
    const owners = OR.map((clause) => {
      const keys = Object.keys(clause);
      if (keys.length !== 1 || keys[0] !== 'ownerId' || (clause.ownerId !== null && typeof clause.ownerId !== 'string')) {
        throw new Error(`insights cannot express this visibility rule in SQL: ${JSON.stringify(clause)}`);
      }
      return clause.ownerId === null ? Prisma.sql`l."ownerId" IS NULL` : Prisma.sql`l."ownerId" = ${clause.ownerId as string}`;
    });
    parts.push(owners.length ? Prisma.sql`(${Prisma.join(owners, ' OR ')})` : Prisma.sql`FALSE`);
  }
  return { sql: Prisma.join(parts, ' AND '), narrowed: OR !== undefined };
}

export function filterSql(filters: Filters): Prisma.Sql[] {
  const parts: Prisma.Sql[] = [];
  if (filters.channel) parts.push(Prisma.sql`l.channel = ${filters.channel}`);
  if (filters.sourceId) parts.push(Prisma.sql`l."sourceId" = ${filters.sourceId}`);
  if (filters.segment) parts.push(Prisma.sql`l.segment = ${filters.segment}`);
  if (filters.ownerId) parts.push(Prisma.sql`l."ownerId" = ${filters.ownerId}`);
  if (filters.productId) {
    parts.push(Prisma.sql`EXISTS (SELECT 1 FROM lead_products lp WHERE lp."leadId" = l.id AND lp."productId" = ${filters.productId})`);
  }
  return parts;
}

/**
 * Resolves the period in the workspace's time zone: dates are local midnights (PostgreSQL's own
 * time zone rules, so a day across a daylight-saving change is 23 or 25 hours long).
 */
export async function resolveScope(prisma: Db, auth: Auth, query: InsightQuery): Promise<Scope> {
  const workspace = await prisma.workspace.findUniqueOrThrow({ where: { id: auth.workspaceId }, select: { timeZone: true, insightCountsTimeZone: true } });
  const recomputing = workspace.insightCountsTimeZone !== null;
  const tz = workspace.timeZone;
  const instant = (value: string | undefined, endOfDay: boolean): Prisma.Sql => {
    if (value === undefined) return Prisma.sql`NULL::timestamptz`;
    if (localDate.test(value)) {
      return endOfDay
        ? Prisma.sql`((${value}::date + 1)::timestamp AT TIME ZONE ${tz})`
        : Prisma.sql`(${value}::date::timestamp AT TIME ZONE ${tz})`;
    }
    return Prisma.sql`${value}::timestamptz`;
  };
  const [range] = await prisma.$queryRaw<{ from: Date; to: Date; first: string; end: string; startsAt: Date; endsAt: Date }[]>`
    WITH period AS (
      SELECT COALESCE(${instant(query.from, false)}, date_trunc('day', (now() AT TIME ZONE ${tz}) - interval '29 days') AT TIME ZONE ${tz}) AS "from",
             COALESCE(${instant(query.to, true)}, now()) AS "to"),
    -- The first whole local day starts at "from" or at the next local midnight; the last ends at the
    -- start of the day "to" falls in. (A local midnight that does not exist, as on a daylight-saving
    -- start at midnight, is read by PostgreSQL as the day's first instant.)
    days AS (
      SELECT "from", "to",
        CASE WHEN ("from" AT TIME ZONE ${tz})::date::timestamp AT TIME ZONE ${tz} = "from"
          THEN ("from" AT TIME ZONE ${tz})::date ELSE ("from" AT TIME ZONE ${tz})::date + 1 END AS first,
        ("to" AT TIME ZONE ${tz})::date AS "end"
      FROM period)
    SELECT "from", "to", to_char(first, 'YYYY-MM-DD') AS first, to_char("end", 'YYYY-MM-DD') AS "end",
      first::timestamp AT TIME ZONE ${tz} AS "startsAt", "end"::timestamp AT TIME ZONE ${tz} AS "endsAt"
    FROM days`;
  const { from, to, first, end, startsAt, endsAt } = range!;
  if (from >= to) throw new ValidationError([{ path: 'query.from', message: 'must be before to' }]);
  if ((to.getTime() - from.getTime()) / 86_400_000 / bucketDays[query.groupBy] > maxBuckets) {
    throw new ValidationError([{ path: 'query.groupBy', message: `the period would have more than ${maxBuckets} ${query.groupBy} buckets; pick a larger one or a shorter period` }]);
  }
  const visible = await visibility(prisma, auth);
  const filters = filterSql(query);
  return {
    workspaceId: auth.workspaceId,
    timeZone: tz,
    from,
    to,
    groupBy: query.groupBy,
    unit: Prisma.sql`${query.groupBy}`,
    step: Prisma.sql`${query.groupBy === 'quarter' ? '3 months' : `1 ${query.groupBy}`}::interval`,
    leads: Prisma.join([visible.sql, ...filters], ' AND '),
    narrowed: visible.narrowed || filters.length > 0 || recomputing,
    recomputing,
    days: { first, end, startsAt, endsAt },
  };
}

/** Leads created in the period that pass the scope, as a WHERE condition on `l`. */
export function createdInPeriod(scope: Scope): Prisma.Sql {
  return Prisma.sql`${scope.leads} AND l."createdAt" >= ${scope.from} AND l."createdAt" < ${scope.to}`;
}

/** The local bucket (a timestamp without time zone) that holds the instant `column`. */
export function bucketOf(scope: Scope, column: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`date_trunc(${scope.unit}, ${column} AT TIME ZONE ${scope.timeZone})`;
}

/**
 * Every bucket of the period, so empty ones show as zero: `b` (local start), `start` and `end`
 * (instants). The first and last may be partial: only the period inside them counts.
 */
export function bucketSeries(scope: Scope): Prisma.Sql {
  return Prisma.sql`
    SELECT b, (b AT TIME ZONE ${scope.timeZone}) AS start, ((b + ${scope.step}) AT TIME ZONE ${scope.timeZone}) AS "end"
    FROM generate_series(
      date_trunc(${scope.unit}, ${scope.from}::timestamptz AT TIME ZONE ${scope.timeZone}),
      date_trunc(${scope.unit}, (${scope.to}::timestamptz - interval '1 millisecond') AT TIME ZONE ${scope.timeZone}),
      ${scope.step}) AS b`;
}

/** A bucket's label: its first local day. */
export function bucketLabel(column: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`to_char(${column}, 'YYYY-MM-DD')`;
}

/** What every insight response says besides its figures: whether the daily counts are being rebuilt. */
export function recomputingView(scope: Scope) {
  return { recomputing: scope.recomputing };
}

export function periodView(scope: Scope) {
  return { timeZone: scope.timeZone, from: scope.from.toISOString(), to: scope.to.toISOString(), groupBy: scope.groupBy };
}
