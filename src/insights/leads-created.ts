import { Prisma } from '@prisma/client';
import type { Db } from '../db/client.js';
import { bucketLabel, bucketOf, bucketSeries, createdInPeriod, type Scope } from './query.js';

export const dimensions = ['channel', 'source', 'product', 'segment', 'owner', 'stage'] as const;
export type Dimension = (typeof dimensions)[number];

/** A dimension's key and label over `l` (a leads row), with the joins it needs. */
export function dimensionSql(dimension: Dimension): { key: Prisma.Sql; label: Prisma.Sql; joins: Prisma.Sql } {
  switch (dimension) {
    case 'channel':
      return { key: Prisma.sql`l.channel`, label: Prisma.sql`l.channel`, joins: Prisma.empty };
    case 'segment':
      return { key: Prisma.sql`l.segment`, label: Prisma.sql`l.segment`, joins: Prisma.empty };
    case 'stage':
      return { key: Prisma.sql`l.stage`, label: Prisma.sql`l.stage`, joins: Prisma.empty };
    case 'source':
      return { key: Prisma.sql`l."sourceId"`, label: Prisma.sql`d.name`, joins: Prisma.sql`LEFT JOIN sources d ON d.id = l."sourceId"` };
    case 'owner':
      return { key: Prisma.sql`l."ownerId"`, label: Prisma.sql`d.name`, joins: Prisma.sql`LEFT JOIN users d ON d.id = l."ownerId"` };
    case 'product':
      // A lead interested in two products counts once for each.
      return {
        key: Prisma.sql`lp."productId"`,
        label: Prisma.sql`d.name`,
        joins: Prisma.sql`LEFT JOIN lead_products lp ON lp."leadId" = l.id LEFT JOIN products d ON d.id = lp."productId"`,
      };
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

/** Leads created per bucket; with a dimension, per bucket and value (only values that occur). */
export async function leadsCreated(prisma: Db, scope: Scope, by?: Dimension): Promise<CreatedRow[]> {
  if (!by) {
    return prisma.$queryRaw<CreatedRow[]>`
      WITH buckets AS (${bucketSeries(scope)}),
      counts AS (
        SELECT ${bucketOf(scope, Prisma.sql`l."createdAt"`)} AS b, count(*)::int AS leads
        FROM leads l WHERE ${createdInPeriod(scope)} GROUP BY 1)
      SELECT ${bucketLabel(Prisma.sql`buckets.b`)} AS bucket, buckets.start, buckets."end", COALESCE(counts.leads, 0) AS leads
      FROM buckets LEFT JOIN counts ON counts.b = buckets.b ORDER BY buckets.b`;
  }
  const { key, label, joins } = dimensionSql(by);
  return prisma.$queryRaw<CreatedRow[]>`
    WITH buckets AS (${bucketSeries(scope)}),
    counts AS (
      SELECT ${bucketOf(scope, Prisma.sql`l."createdAt"`)} AS b, ${key} AS key, min(${label}) AS label, count(*)::int AS leads
      FROM leads l ${joins} WHERE ${createdInPeriod(scope)} GROUP BY 1, 2)
    SELECT ${bucketLabel(Prisma.sql`buckets.b`)} AS bucket, buckets.start, buckets."end", counts.key, counts.label, counts.leads
    FROM buckets JOIN counts ON counts.b = buckets.b ORDER BY buckets.b, counts.leads DESC, counts.key`;
}

export interface TotalRow {
  key: string | null;
  label: string | null;
  leads: number;
}

/** Leads created in the period per value of a dimension, most first. */
export async function leadsCreatedTotals(prisma: Db, scope: Scope, by: Dimension): Promise<TotalRow[]> {
  const { key, label, joins } = dimensionSql(by);
  return prisma.$queryRaw<TotalRow[]>`
    SELECT ${key} AS key, min(${label}) AS label, count(*)::int AS leads
    FROM leads l ${joins} WHERE ${createdInPeriod(scope)}
    GROUP BY 1 ORDER BY 3 DESC, 1`;
}

export interface HeatmapCell {
  dayOfWeek: number;
  hour: number;
  leads: number;
}

/** Arrivals by local day of week (1 = Monday … 7 = Sunday) and hour (0–23): all 168 cells. */
export async function arrivalsHeatmap(prisma: Db, scope: Scope): Promise<HeatmapCell[]> {
  return prisma.$queryRaw<HeatmapCell[]>`
    WITH counts AS (
      SELECT extract(isodow FROM l."createdAt" AT TIME ZONE ${scope.timeZone})::int AS d,
             extract(hour FROM l."createdAt" AT TIME ZONE ${scope.timeZone})::int AS h,
             count(*)::int AS leads
      FROM leads l WHERE ${createdInPeriod(scope)} GROUP BY 1, 2)
    SELECT d AS "dayOfWeek", h AS hour, COALESCE(counts.leads, 0) AS leads
    FROM generate_series(1, 7) AS d CROSS JOIN generate_series(0, 23) AS h
    LEFT JOIN counts USING (d, h) ORDER BY d, h`;
}
