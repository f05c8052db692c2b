import { Prisma } from '@prisma/client';
import type { Db } from '../db/client.js';
import { creationCounts } from './counts.js';
import { bucketLabel, bucketOf, bucketSeries, createdInPeriod, type Scope } from './query.js';

export const dimensions = ['channel', 'source', 'product', 'segment', 'owner', 'stage'] as const;
export type Dimension = (typeof dimensions)[number];

/** A dimension's key over `l` (a leads row), with the join it needs (names come after, by `labelOf`). */
export function dimensionSql(dimension: Dimension): { key: Prisma.Sql; joins: Prisma.Sql } {
  switch (dimension) {
    case 'channel':
      return { key: Prisma.sql`l.channel`, joins: Prisma.empty };
    case 'segment':
      return { key: Prisma.sql`l.segment`, joins: Prisma.empty };
    case 'stage':
      return { key: Prisma.sql`l.stage`, joins: Prisma.empty };
    case 'source':
      return { key: Prisma.sql`l."sourceId"`, joins: Prisma.empty };
    case 'owner':
      return { key: Prisma.sql`l."ownerId"`, joins: Prisma.empty };
    case 'product':
      // A lead interested in two products counts once for each.
      return { key: Prisma.sql`lp."productId"`, joins: Prisma.sql`LEFT JOIN lead_products lp ON lp."leadId" = l.id` };
  }
}

export interface CreatedRow {
  bucket: string;
  start: Date;
  end: Date;
  key?: string | null;
  label?: string | null;
  leads: number;
}

/** The name a dimension's key stands for (sources, users and products have names), as SQL on `key`. */
function labelOf(dimension: Dimension | undefined, key: Prisma.Sql): Prisma.Sql {
  switch (dimension) {
    case 'source':
      return Prisma.sql`(SELECT d.name FROM sources d WHERE d.id = ${key})`;
    case 'owner':
      return Prisma.sql`(SELECT d.name FROM users d WHERE d.id = ${key})`;
    case 'product':
      return Prisma.sql`(SELECT d.name FROM products d WHERE d.id = ${key})`;
    default:
      return key;
  }
}

/**
 * Leads created in the period as `(b, key, leads)`: per local bucket `b` (with `bucketed`) and
 * value `key` of the dimension (none: one null key). A scope that is not narrowed reads the daily
 * counts; a narrowed one (filters, or a rep who sees only their own leads) reads the leads.
 */
function createdCounts(scope: Scope, by: Dimension | undefined, bucketed: boolean): Prisma.Sql {
  if (!scope.narrowed) {
    const bucket = bucketed ? Prisma.sql`date_trunc(${scope.unit}, c.day::timestamp)` : Prisma.sql`NULL::timestamp`;
    const key = by ? Prisma.sql`c.key` : Prisma.sql`NULL::text`;
    return Prisma.sql`
      SELECT ${bucket} AS b, ${key} AS key, sum(c.n)::int AS leads
      FROM (${creationCounts(scope, by ?? 'hour')}) c GROUP BY 1, 2`;
  }
  const { key, joins } = by ? dimensionSql(by) : { key: Prisma.sql`NULL::text`, joins: Prisma.empty };
  const bucket = bucketed ? bucketOf(scope, Prisma.sql`l."createdAt"`) : Prisma.sql`NULL::timestamp`;
  return Prisma.sql`
    SELECT ${bucket} AS b, ${key} AS key, count(*)::int AS leads
    FROM leads l ${joins} WHERE ${createdInPeriod(scope)} GROUP BY 1, 2`;
}

/** Leads created per bucket; with a dimension, per bucket and value (only values that occur). */
export async function leadsCreated(prisma: Db, scope: Scope, by?: Dimension): Promise<CreatedRow[]> {
  if (!by) {
    return prisma.$queryRaw<CreatedRow[]>`
      WITH buckets AS (${bucketSeries(scope)}), counts AS (${createdCounts(scope, undefined, true)})
      SELECT ${bucketLabel(Prisma.sql`buckets.b`)} AS bucket, buckets.start, buckets."end", COALESCE(counts.leads, 0) AS leads
      FROM buckets LEFT JOIN counts ON counts.b = buckets.b ORDER BY buckets.b`;
  }
  return prisma.$queryRaw<CreatedRow[]>`
    WITH buckets AS (${bucketSeries(scope)}), counts AS (${createdCounts(scope, by, true)})
    SELECT ${bucketLabel(Prisma.sql`buckets.b`)} AS bucket, buckets.start, buckets."end", counts.key, ${labelOf(by, Prisma.sql`counts.key`)} AS label, counts.leads
    FROM buckets JOIN counts ON counts.b = buckets.b ORDER BY buckets.b, counts.leads DESC, counts.key`;
}

export interface TotalRow {
  key: string | null;
  label: string | null;
  leads: number;
}

/** Leads created in the period per value of a dimension, most first. */
export async function leadsCreatedTotals(prisma: Db, scope: Scope, by: Dimension): Promise<TotalRow[]> {
  return prisma.$queryRaw<TotalRow[]>`
    WITH counts AS (${createdCounts(scope, by, false)})
    SELECT key, ${labelOf(by, Prisma.sql`key`)} AS label, sum(leads)::int AS leads
    FROM counts GROUP BY key ORDER BY 3 DESC, 1`;
}

export interface HeatmapCell {
  dayOfWeek: number;
  hour: number;
  leads: number;
}

/** Arrivals by local day of week (1 = Monday … 7 = Sunday) and hour (0–23): all 168 cells. */
export async function arrivalsHeatmap(prisma: Db, scope: Scope): Promise<HeatmapCell[]> {
  const cells = scope.narrowed
    ? Prisma.sql`
      SELECT extract(isodow FROM l."createdAt" AT TIME ZONE ${scope.timeZone})::int AS d,
             extract(hour FROM l."createdAt" AT TIME ZONE ${scope.timeZone})::int AS h,
             count(*)::int AS leads
      FROM leads l WHERE ${createdInPeriod(scope)} GROUP BY 1, 2`
    : Prisma.sql`
      SELECT extract(isodow FROM c.day)::int AS d, c.key::int AS h, sum(c.n)::int AS leads
      FROM (${creationCounts(scope, 'hour')}) c GROUP BY 1, 2`;
  return prisma.$queryRaw<HeatmapCell[]>`
    WITH counts AS (${cells})
    SELECT d AS "dayOfWeek", h AS hour, COALESCE(counts.leads, 0) AS leads
    FROM generate_series(1, 7) AS d CROSS JOIN generate_series(0, 23) AS h
    LEFT JOIN counts USING (d, h) ORDER BY d, h`;
}
