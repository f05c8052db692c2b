import { Prisma } from '@prisma/client';
import type { Db } from '../db/client.js';
import type { Cursor } from '../http/route.js';
import { funnelPath, type Stage } from '../leads/stages.js';
import { type Dimension, dimensionSql } from './leads-created.js';
import { bucketOf, createdInPeriod, type Scope } from './query.js';

/** Which leads are behind a figure: the period and filters, narrowed to one bar or cell. */
export interface Selection {
  /** A bucket's label (its first local day) as the figures return it. */
  bucket?: string | undefined;
  by?: Dimension | undefined;
  /** The dimension's value; empty for leads without one. */
  key?: string | undefined;
  /** Leads of the cohort that reached this stage (the funnel's bars). */
  reachedStage?: Stage | undefined;
  dayOfWeek?: number | undefined;
  hour?: number | undefined;
}

/** One row per lead, for drill-down lists and the lead export. */
export interface LeadRow {
  id: string;
  name: string | null;
  stage: string;
  ownerId: string | null;
  owner: string | null;
  channel: string;
  sourceId: string | null;
  source: string | null;
  products: string | null;
  segment: string | null;
  tags: string | null;
  dealValue: string | null;
  dealCurrency: string | null;
  companySize: string | null;
  score: number;
  createdAt: Date;
  firstResponseAt: Date | null;
  /** The first response window's time to a person's answer, wall clock and working time. */
  frtSeconds: number | null;
  frtBusinessSeconds: number | null;
}

export const leadRowColumns = [
  'id', 'name', 'stage', 'ownerId', 'owner', 'channel', 'sourceId', 'source', 'products', 'segment', 'tags',
  'dealValue', 'dealCurrency', 'companySize', 'score', 'createdAt', 'firstResponseAt', 'frtSeconds', 'frtBusinessSeconds',
] as const satisfies readonly (keyof LeadRow)[];

function selectionSql(scope: Scope, selection: Selection): Prisma.Sql[] {
  const parts: Prisma.Sql[] = [];
  if (selection.bucket) {
    parts.push(Prisma.sql`${bucketOf(scope, Prisma.sql`l."createdAt"`)} = ${selection.bucket}::timestamp`);
  }
  if (selection.by) {
    const { key } = dimensionSql(selection.by);
    // Only the key is needed; products go through lead_products without the join.
    const value = selection.key ? selection.key : null;
    if (selection.by === 'product') {
      parts.push(
        value === null
          ? Prisma.sql`NOT EXISTS (SELECT 1 FROM lead_products lp WHERE lp."leadId" = l.id)`
          : Prisma.sql`EXISTS (SELECT 1 FROM lead_products lp WHERE lp."leadId" = l.id AND lp."productId" = ${value})`,
      );
    } else {
      parts.push(value === null ? Prisma.sql`${key} IS NULL` : Prisma.sql`${key} = ${value}`);
    }
  }
  if (selection.reachedStage && selection.reachedStage !== 'open') {
    const rank = funnelPath.indexOf(selection.reachedStage);
    parts.push(
      rank >= 0
        ? Prisma.sql`l."furthestStage" IN (${Prisma.join(funnelPath.slice(rank))})`
        : Prisma.sql`${selection.reachedStage} = ANY (l."stagesEntered")`,
    );
  }
  if (selection.dayOfWeek !== undefined) parts.push(Prisma.sql`extract(isodow FROM l."createdAt" AT TIME ZONE ${scope.timeZone}) = ${selection.dayOfWeek}`);
  if (selection.hour !== undefined) parts.push(Prisma.sql`extract(hour FROM l."createdAt" AT TIME ZONE ${scope.timeZone}) = ${selection.hour}`);
  return parts;
}

/** A page of the leads behind a figure, newest first, after the cursor. */
export async function leadRows(prisma: Db, scope: Scope, selection: Selection, page: { after?: Cursor | undefined; limit: number }): Promise<LeadRow[]> {
  const conditions = [createdInPeriod(scope), ...selectionSql(scope, selection)];
  if (page.after) {
    conditions.push(Prisma.sql`(l."createdAt", l.id) < (${new Date(page.after.at)}::timestamptz, ${page.after.id})`);
  }
  return prisma.$queryRaw<LeadRow[]>`
    SELECT l.id, l.name, l.stage, l."ownerId", u.name AS owner, l.channel, l."sourceId", s.name AS source,
      (SELECT string_agg(p.name, '; ' ORDER BY p.name) FROM lead_products lp JOIN products p ON p.id = lp."productId" WHERE lp."leadId" = l.id) AS products,
      l.segment, array_to_string(l.tags, '; ') AS tags, l."dealValue"::text AS "dealValue", l."dealCurrency", l."companySize", l.score,
      l."createdAt", l."firstResponseAt", fw."wallSeconds" AS "frtSeconds", fw."businessSeconds" AS "frtBusinessSeconds"
    FROM leads l
    LEFT JOIN users u ON u.id = l."ownerId"
    LEFT JOIN sources s ON s.id = l."sourceId"
    LEFT JOIN LATERAL (
      SELECT rw."wallSeconds", rw."businessSeconds" FROM response_windows rw WHERE rw."leadId" = l.id ORDER BY rw."openedAt" LIMIT 1) fw ON TRUE
    WHERE ${Prisma.join(conditions, ' AND ')}
    ORDER BY l."createdAt" DESC, l.id DESC
    LIMIT ${page.limit}`;
}

/** Every lead behind a figure, a batch at a time, so an export never holds them all in memory. */
export async function* allLeadRows(prisma: Db, scope: Scope, selection: Selection, batchSize = 2000): AsyncGenerator<LeadRow[]> {
  let after: Cursor | undefined;
  for (;;) {
    const rows = await leadRows(prisma, scope, selection, { after, limit: batchSize });
    if (rows.length > 0) yield rows;
    if (rows.length < batchSize) return;
    const last = rows[rows.length - 1]!;
    after = { at: last.createdAt.toISOString(), id: last.id };
  }
}
