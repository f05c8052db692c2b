import { z } from 'zod';
import { definitions } from '../../insights/definitions.js';
import { sendCsv, streamCsv, wantsCsv } from '../../insights/csv.js';
import { followUpGroupings, followUpRate } from '../../insights/follow-up.js';
import { stageFunnel } from '../../insights/funnel.js';
import { allLeadRows, leadRowColumns, leadRows } from '../../insights/lead-rows.js';
import { arrivalsHeatmap, dimensions, leadsCreated, leadsCreatedTotals } from '../../insights/leads-created.js';
import { businessHoursParam, insightQuery, periodView, resolveScope, stageParam } from '../../insights/query.js';
import { quotaProgress } from '../../insights/quotas.js';
import { sequencePerformance } from '../../insights/sequences.js';
import { speedGroupings, speedToLead } from '../../insights/speed.js';
import { ValidationError } from '../../errors.js';
import type { AppDeps } from '../deps.js';
import { decodeCursor, encodeCursor, route, type RouteContext } from '../route.js';

const instant = z.string().describe('ISO 8601, UTC');
const share = z.number().nullable().describe('0–1; null when there is nothing to divide by');
const seconds = z.number().nullable();
const period = z.object({ timeZone: z.string(), from: instant, to: instant, groupBy: z.string() });
const bucket = { bucket: z.string().describe('The bucket\'s first local day, YYYY-MM-DD'), start: instant, end: instant };
const keyed = { key: z.string().nullable(), label: z.string().nullable() };

const createdRow = z.object({ ...bucket, key: z.string().nullable().optional(), label: z.string().nullable().optional(), leads: z.number().int() });
const totalRow = z.object({ ...keyed, leads: z.number().int() });
const speedRow = z.object({
  ...keyed,
  start: instant.nullable(),
  end: instant.nullable(),
  windows: z.number().int(),
  answered: z.number().int(),
  p50Seconds: seconds,
  p90Seconds: seconds,
  within5m: share,
  within15m: share,
  within60m: share,
  acknowledged: z.number().int(),
  ackP50Seconds: seconds,
  ackP90Seconds: seconds,
});
const followUpRow = z.object({
  ...keyed,
  start: instant.nullable(),
  end: instant.nullable(),
  assigned: z.number().int(),
  touchedWithinSla: z.number().int(),
  rate: share,
  followUpsDue: z.number().int(),
  followUpsDoneOnTime: z.number().int(),
  overdue: z.number().int(),
});
const funnelRow = z.object({
  stage: z.string(),
  reached: z.number().int(),
  conversion: share,
  entered: z.number().int(),
  current: z.number().int(),
  medianSecondsInStage: seconds,
});
const quotaRow = z.object({
  quotaId: z.string(),
  period: z.string(),
  productId: z.string().nullable(),
  product: z.string().nullable(),
  start: instant,
  end: instant,
  target: z.number().int(),
  actual: z.number().int(),
  ratio: share,
});
const sequenceRow = z.object({
  sequenceId: z.string(),
  sequence: z.string(),
  step: z.number().int(),
  enrolled: z.number().int(),
  sent: z.number().int(),
  failed: z.number().int(),
  skipped: z.number().int(),
  replied: z.number().int(),
  optedOut: z.number().int(),
});
const leadRow = z.object({
  id: z.string(),
  name: z.string().nullable(),
  stage: z.string(),
  ownerId: z.string().nullable(),
  owner: z.string().nullable(),
  channel: z.string(),
  sourceId: z.string().nullable(),
  source: z.string().nullable(),
  products: z.string().nullable().describe('Product names, "; " between them'),
  segment: z.string().nullable(),
  tags: z.string().nullable(),
  dealValue: z.string().nullable(),
  dealCurrency: z.string().nullable(),
  companySize: z.string().nullable(),
  score: z.number().int(),
  createdAt: instant,
  firstResponseAt: instant.nullable(),
  frtSeconds: seconds,
  frtBusinessSeconds: seconds,
});

const table = <T extends z.ZodType>(row: T) => z.object({ period, data: z.array(row) });
const describe = (text: string) => `${text}\n\n${definitions.common}`;

const byDimension = insightQuery.extend({ by: z.enum(dimensions).optional().describe('Split each bucket by this dimension') });
const speedQuery = insightQuery.extend({ by: z.enum(speedGroupings).default('period'), businessHours: businessHoursParam });
const followUpQuery = insightQuery.extend({ by: z.enum(followUpGroupings).default('rep') });
const sequenceQuery = insightQuery.extend({ sequenceId: z.string().min(1).max(100).optional() });
const leadsQuery = insightQuery.extend({
  bucket: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a bucket label (YYYY-MM-DD) as the figures return it').optional(),
  by: z.enum(dimensions).optional(),
  key: z.string().max(200).optional(),
  reachedStage: stageParam.optional(),
  dayOfWeek: z.coerce.number().int().min(1).max(7).optional(),
  hour: z.coerce.number().int().min(0).max(23).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(500).optional(),
});

type Ctx<Q> = RouteContext<Record<string, never>, Q, undefined>;

export function insightRoutes(deps: AppDeps) {
  const prisma = deps.db.prisma;

  /** JSON `{period, data}`, or the data as CSV when asked. */
  const answerTable = <Row extends object>(ctx: Ctx<{ format?: 'json' | 'csv' | undefined }>, name: string, columns: readonly (keyof Row & string)[], scope: { period: ReturnType<typeof periodView> }, data: Row[]) => {
    if (wantsCsv(ctx.req, ctx.query.format)) {
      sendCsv(ctx.res, name, columns, data);
      return undefined;
    }
    return { period: scope.period, data };
  };

  return [
    route({
      method: 'get',
      path: '/insights/summary',
      summary: 'The overview: leads created, by channel, product, segment and stage; follow-up rate; median first response per rep; quotas',
      description: describe(definitions.summary),
      tag: 'insights',
      query: insightQuery,
      response: {
        status: 200,
        description: 'The overview',
        schema: z.object({
          period,
          leadsCreated: z.object({ total: z.number().int(), buckets: z.array(createdRow) }),
          byChannel: z.array(totalRow),
          byProduct: z.array(totalRow),
          bySegment: z.array(totalRow),
          byStage: z.array(totalRow),
          followUpRate: z.object({ assigned: z.number().int(), touchedWithinSla: z.number().int(), rate: share, overdue: z.number().int() }),
          firstResponseByRep: z.array(z.object({ ...keyed, answered: z.number().int(), medianSeconds: seconds })),
          quotas: z.array(quotaRow),
        }),
      },
      handler: async ({ query, auth }) => {
        const scope = await resolveScope(prisma, auth, query);
        const [buckets, byChannel, byProduct, bySegment, byStage, followUps, speed, quotas] = await Promise.all([
          leadsCreated(prisma, scope),
          leadsCreatedTotals(prisma, scope, 'channel'),
          leadsCreatedTotals(prisma, scope, 'product'),
          leadsCreatedTotals(prisma, scope, 'segment'),
          leadsCreatedTotals(prisma, scope, 'stage'),
          followUpRate(prisma, scope, 'rep'),
          speedToLead(prisma, scope, 'rep', false),
          quotaProgress(prisma, scope),
        ]);
        const assigned = followUps.reduce((sum, row) => sum + row.assigned, 0);
        const touched = followUps.reduce((sum, row) => sum + row.touchedWithinSla, 0);
        return {
          period: periodView(scope),
          leadsCreated: { total: buckets.reduce((sum, row) => sum + row.leads, 0), buckets },
          byChannel,
          byProduct,
          bySegment,
          byStage,
          followUpRate: {
            assigned,
            touchedWithinSla: touched,
            rate: assigned === 0 ? null : Math.round((touched / assigned) * 10_000) / 10_000,
            overdue: followUps.reduce((sum, row) => sum + row.overdue, 0),
          },
          firstResponseByRep: speed
            .filter((row) => row.windows > 0)
            .map((row) => ({ key: row.key, label: row.label, answered: row.answered, medianSeconds: row.p50Seconds })),
          quotas,
        };
      },
    }),
    route({
      method: 'get',
      path: '/insights/leads-created',
      summary: 'Leads created per day, week, month or quarter, optionally by channel, source, product, segment, owner or stage',
      description: describe(definitions.leadsCreated),
      tag: 'insights',
      query: byDimension,
      response: { status: 200, description: 'One row per bucket (and value)', schema: table(createdRow), csv: true },
      handler: async (ctx) => {
        const scope = await resolveScope(prisma, ctx.auth, ctx.query);
        const rows = await leadsCreated(prisma, scope, ctx.query.by);
        const columns = ctx.query.by ? (['bucket', 'start', 'end', 'key', 'label', 'leads'] as const) : (['bucket', 'start', 'end', 'leads'] as const);
        return answerTable(ctx, 'leads-created', columns, { period: periodView(scope) }, rows);
      },
    }),
    route({
      method: 'get',
      path: '/insights/arrivals',
      summary: 'When leads arrive: day of week × hour, in the workspace time zone',
      description: describe(definitions.arrivals),
      tag: 'insights',
      query: insightQuery,
      response: {
        status: 200,
        description: '168 cells',
        schema: table(z.object({ dayOfWeek: z.number().int(), hour: z.number().int(), leads: z.number().int() })),
        csv: true,
      },
      handler: async (ctx) => {
        const scope = await resolveScope(prisma, ctx.auth, ctx.query);
        return answerTable(ctx, 'arrivals', ['dayOfWeek', 'hour', 'leads'], { period: periodView(scope) }, await arrivalsHeatmap(prisma, scope));
      },
    }),
    route({
      method: 'get',
      path: '/insights/speed-to-lead',
      summary: 'Acknowledgement latency and human first-response time (p50, p90, share within 5/15/60 minutes) per period, rep or channel',
      description: describe(definitions.speedToLead),
      tag: 'insights',
      query: speedQuery,
      response: { status: 200, description: 'One row per bucket, rep or channel', schema: table(speedRow).extend({ businessHours: z.boolean() }), csv: true },
      handler: async (ctx) => {
        const scope = await resolveScope(prisma, ctx.auth, ctx.query);
        const rows = await speedToLead(prisma, scope, ctx.query.by, ctx.query.businessHours);
        const answer = answerTable(ctx, 'speed-to-lead', speedRow.keyof().options, { period: periodView(scope) }, rows);
        return answer && { ...answer, businessHours: ctx.query.businessHours };
      },
    }),
    route({
      method: 'get',
      path: '/insights/follow-up-rate',
      summary: 'Share of assigned leads answered within the SLA, and follow-ups due, done on time and overdue, per rep or period',
      description: describe(definitions.followUpRate),
      tag: 'insights',
      query: followUpQuery,
      response: { status: 200, description: 'One row per rep or bucket', schema: table(followUpRow), csv: true },
      handler: async (ctx) => {
        const scope = await resolveScope(prisma, ctx.auth, ctx.query);
        const rows = await followUpRate(prisma, scope, ctx.query.by);
        return answerTable(ctx, 'follow-up-rate', followUpRow.keyof().options, { period: periodView(scope) }, rows);
      },
    }),
    route({
      method: 'get',
      path: '/insights/funnel',
      summary: 'Stage funnel of the leads created in the period: reached, conversion, median time in stage, won and lost with reasons',
      description: describe(definitions.funnel),
      tag: 'insights',
      query: insightQuery,
      response: {
        status: 200,
        description: 'The funnel (CSV: the stage table)',
        schema: table(funnelRow).extend({
          cohort: z.number().int(),
          won: z.number().int(),
          lost: z.number().int(),
          lossReasons: z.array(z.object({ reason: z.string().nullable(), leads: z.number().int() })),
        }),
        csv: true,
      },
      handler: async (ctx) => {
        const scope = await resolveScope(prisma, ctx.auth, ctx.query);
        const funnel = await stageFunnel(prisma, scope);
        const answer = answerTable(ctx, 'funnel', funnelRow.keyof().options, { period: periodView(scope) }, funnel.stages);
        return answer && { ...answer, cohort: funnel.cohort, won: funnel.won, lost: funnel.lost, lossReasons: funnel.lossReasons };
      },
    }),
    route({
      method: 'get',
      path: '/insights/quotas',
      summary: 'Quota vs actual (qualified leads) per period and product',
      description: describe(definitions.quotas),
      tag: 'insights',
      query: insightQuery,
      response: { status: 200, description: 'One row per quota', schema: table(quotaRow), csv: true },
      handler: async (ctx) => {
        const scope = await resolveScope(prisma, ctx.auth, ctx.query);
        return answerTable(ctx, 'quotas', quotaRow.keyof().options, { period: periodView(scope) }, await quotaProgress(prisma, scope));
      },
    }),
    route({
      method: 'get',
      path: '/insights/sequences',
      summary: 'Sequence performance per step: enrolled, sent, replied, opted out',
      description: describe(definitions.sequences),
      tag: 'insights',
      query: sequenceQuery,
      response: { status: 200, description: 'One row per sequence step', schema: table(sequenceRow), csv: true },
      handler: async (ctx) => {
        const scope = await resolveScope(prisma, ctx.auth, ctx.query);
        const rows = await sequencePerformance(prisma, scope, ctx.query.sequenceId);
        return answerTable(ctx, 'sequences', sequenceRow.keyof().options, { period: periodView(scope) }, rows);
      },
    }),
    route({
      method: 'get',
      path: '/insights/leads',
      summary: 'The leads behind a figure (drill-down); as CSV, the one-row-per-lead export',
      description: describe(definitions.leads),
      tag: 'insights',
      query: leadsQuery,
      response: {
        status: 200,
        description: 'A page of leads, newest first (CSV: every matching lead, streamed)',
        schema: z.object({ period, data: z.array(leadRow), nextCursor: z.string().nullable() }),
        csv: true,
      },
      handler: async (ctx) => {
        const { query } = ctx;
        if (query.key !== undefined && !query.by) {
          throw new ValidationError([{ path: 'query.key', message: 'needs `by`: the dimension the key is a value of' }]);
        }
        const scope = await resolveScope(prisma, ctx.auth, query);
        const selection = { bucket: query.bucket, by: query.by, key: query.key, reachedStage: query.reachedStage, dayOfWeek: query.dayOfWeek, hour: query.hour };
        if (wantsCsv(ctx.req, query.format)) {
          await streamCsv(ctx.res, 'leads', leadRowColumns, allLeadRows(prisma, scope, selection));
          return undefined;
        }
        const rows = await leadRows(prisma, scope, selection, { after: decodeCursor(query.cursor), limit: query.limit + 1 });
        const data = rows.slice(0, query.limit);
        const last = data[data.length - 1];
        return { period: periodView(scope), data, nextCursor: rows.length > query.limit && last ? encodeCursor(last.createdAt, last.id) : null };
      },
    }),
  ];
}
