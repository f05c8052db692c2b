import { z } from 'zod';
import { definitions } from '../../insights/definitions.js';
import { sendCsv, streamCsv, wantsCsv } from '../../insights/csv.js';
import { followUpGroupings, followUpRate } from '../../insights/follow-up.js';
import { type Funnel, funnelByOwner, type OwnerFunnelStage, stageFunnel } from '../../insights/funnel.js';
import { allLeadRows, leadRowColumns, leadRows } from '../../insights/lead-rows.js';
import { arrivalsHeatmap, dimensions, leadsCreated, leadsCreatedTotals } from '../../insights/leads-created.js';
import { businessHoursParam, calendarDate, type InsightQuery, insightQuery, periodView, recomputingView, resolveScope, type Scope, stageParam } from '../../insights/query.js';
import { quotaProgress } from '../../insights/quotas.js';
import { sequencePerformance } from '../../insights/sequences.js';
import { firstResponseByRep, speedGroupings, speedToLead } from '../../insights/speed.js';
import { ValidationError } from '../../errors.js';
import type { AppDeps } from '../deps.js';
import { decodeCursor, encodeCursor, route, type RouteDef } from '../route.js';

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
  unanswered: z.number().int().describe('Windows still waiting for a person\'s reply (not in the percentiles)'),
  unansweredPastDue: z.number().int().describe('Of those, already past their first-response deadline'),
  firstTouches: z.number().int().describe('Leads\' first windows (one per lead: opened by its arrival)'),
  firstTouchesAnswered: z.number().int(),
  firstTouchP50Seconds: seconds.describe('Speed to lead: p50 over answered first windows'),
  firstTouchP90Seconds: seconds,
  reopenings: z.number().int().describe('Windows opened by a contact writing again on a resolved conversation'),
  p50Seconds: seconds.describe('Over answered windows only'),
  p90Seconds: seconds.describe('Over answered windows only'),
  p50IncludingOpenSeconds: seconds.describe('Over every window, the unanswered counted at their age now'),
  p90IncludingOpenSeconds: seconds.describe('Over every window, the unanswered counted at their age now'),
  firstTouchP50IncludingOpenSeconds: seconds.describe('Over every first window, the unanswered counted at their age now'),
  firstTouchP90IncludingOpenSeconds: seconds.describe('Over every first window, the unanswered counted at their age now'),
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
  assigned: z.number().int().describe('Leads created in the period with an owner and a first-response deadline'),
  touchedWithinSla: z.number().int().describe('Of those, answered by a person by the deadline'),
  rate: share.describe('touchedWithinSla / assigned: first response within the SLA (the name it had first; see withinSlaRate)'),
  withinSlaRate: share.describe('touchedWithinSla / assigned: first response within the SLA'),
  followUpsDue: z.number().int().describe('Follow-ups due in the period, up to now'),
  followUpsDoneOnTime: z.number().int().describe('Of those, completed by their due time'),
  overdue: z.number().int().describe('Of those, still open'),
  followUpRate: share.describe('followUpsDoneOnTime / followUpsDue'),
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
  ownerId: z.string().nullable().describe('A rep\'s own quota; null: the team\'s'),
  owner: z.string().nullable(),
  start: instant,
  end: instant,
  target: z.number().int().describe('Qualified leads'),
  actual: z.number().int().describe('Leads that first reached Qualified or later in the quota\'s period (one lost afterwards still counts)'),
  ratio: share,
  wonTarget: z.number().int().nullable(),
  won: z.number().int().describe('Leads that first reached Customer in the quota\'s period (one lost afterwards still counts)'),
  wonRatio: share,
  revenueTarget: z.number().nullable(),
  revenue: z.number().describe('The deal values of those won leads'),
  revenueRatio: share,
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

const recomputing = z
  .boolean()
  .describe('true while the daily counts are being rebuilt after a time-zone change: the figures are read from the leads themselves meanwhile (exact, slower)');
const table = <T extends z.ZodType>(row: T) => z.object({ period, recomputing, data: z.array(row) });
const describe = (text: string) => `${text}\n\n${definitions.common}`;

const byDimension = insightQuery.extend({ by: z.enum(dimensions).optional().describe('Split each bucket by this dimension') });
const speedQuery = insightQuery.extend({ by: z.enum(speedGroupings).default('period'), businessHours: businessHoursParam });
const followUpQuery = insightQuery.extend({ by: z.enum(followUpGroupings).default('rep') });
const funnelQuery = insightQuery.extend({
  by: z.enum(['owner']).optional().describe('owner: also the funnel per owner at the time of each step (`byOwner`)'),
});
const sequenceQuery = insightQuery.extend({ sequenceId: z.string().min(1).max(100).optional() });
const leadsQuery = insightQuery.extend({
  bucket: calendarDate('a bucket label (YYYY-MM-DD) as the figures return it').optional(),
  by: z.enum(dimensions).optional(),
  key: z.string().max(200).optional(),
  reachedStage: stageParam.optional(),
  dayOfWeek: z.coerce.number().int().min(1).max(7).optional(),
  hour: z.coerce.number().int().min(0).max(23).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(500).optional(),
});

export function insightRoutes(deps: AppDeps) {
  const prisma = deps.db.prisma;
  // The funnel's table and its totals come from one computation per request.
  const funnels = new WeakMap<Scope, Funnel & { byOwner: OwnerFunnelStage[] | undefined }>();

  /**
   * A figure that is one table: JSON `{period, data, ...extra}`, or the table as CSV when asked
   * (`?format=csv` or `Accept: text/csv`).
   */
  function tableRoute<Q extends InsightQuery, Row extends object>(def: {
    path: string;
    summary: string;
    definition: string;
    query: z.ZodType<Q>;
    row: z.ZodObject;
    rows: (scope: Scope, query: Q) => Promise<Row[]>;
    columns?: (query: Q) => readonly (keyof Row & string)[];
    extra?: { schema: z.ZodRawShape; values: (scope: Scope, query: Q) => Promise<Record<string, unknown>> };
  }): RouteDef {
    return route<Record<string, never>, Q>({
      method: 'get',
      path: def.path,
      summary: def.summary,
      description: describe(def.definition),
      tag: 'insights',
      query: def.query,
      response: { status: 200, description: 'The table (CSV: its rows)', schema: table(def.row).extend(def.extra?.schema ?? {}), csv: true },
      handler: async ({ query, auth, req, res }) => {
        const scope = await resolveScope(prisma, auth, query);
        const data = await def.rows(scope, query);
        if (wantsCsv(req, query.format)) {
          sendCsv(res, def.path.split('/').pop()!, def.columns?.(query) ?? (Object.keys(def.row.shape) as (keyof Row & string)[]), data);
          return undefined;
        }
        return { period: periodView(scope), ...recomputingView(scope), data, ...(def.extra ? await def.extra.values(scope, query) : {}) };
      },
    });
  }

  return [
    route({
      method: 'get',
      path: '/insights/summary',
      summary: 'The overview: leads created, by channel, product, segment and stage; first response within the SLA; follow-up rate; median first response per rep; quotas',
      description: describe(definitions.summary),
      tag: 'insights',
      query: insightQuery,
      response: {
        status: 200,
        description: 'The overview',
        schema: z.object({
          period,
          recomputing,
          leadsCreated: z.object({ total: z.number().int(), buckets: z.array(createdRow) }),
          byChannel: z.array(totalRow),
          byProduct: z.array(totalRow),
          bySegment: z.array(totalRow),
          byStage: z.array(totalRow),
          followUpRate: z
            .object({ assigned: z.number().int(), touchedWithinSla: z.number().int(), rate: share, overdue: z.number().int() })
            .describe('The name it had first: `rate` is first response within the SLA (as firstResponseWithinSla), `overdue` as followUps'),
          firstResponseWithinSla: z.object({ assigned: z.number().int(), answered: z.number().int(), rate: share }),
          followUps: z.object({ due: z.number().int(), doneOnTime: z.number().int(), overdue: z.number().int(), rate: share }),
          firstResponseByRep: z.array(z.object({ ...keyed, answered: z.number().int(), unanswered: z.number().int(), medianSeconds: seconds, medianIncludingOpenSeconds: seconds })),
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
          firstResponseByRep(prisma, scope),
          quotaProgress(prisma, scope),
        ]);
        const total = (field: 'assigned' | 'touchedWithinSla' | 'followUpsDue' | 'followUpsDoneOnTime' | 'overdue') => followUps.reduce((sum, row) => sum + row[field], 0);
        const ratio = (part: number, whole: number) => (whole === 0 ? null : Math.round((part / whole) * 10_000) / 10_000);
        const assigned = total('assigned');
        const touched = total('touchedWithinSla');
        const due = total('followUpsDue');
        const onTime = total('followUpsDoneOnTime');
        const overdue = total('overdue');
        return {
          period: periodView(scope),
          ...recomputingView(scope),
          leadsCreated: { total: buckets.reduce((sum, row) => sum + row.leads, 0), buckets },
          byChannel,
          byProduct,
          bySegment,
          byStage,
          followUpRate: { assigned, touchedWithinSla: touched, rate: ratio(touched, assigned), overdue },
          firstResponseWithinSla: { assigned, answered: touched, rate: ratio(touched, assigned) },
          followUps: { due, doneOnTime: onTime, overdue, rate: ratio(onTime, due) },
          firstResponseByRep: speed,
          quotas,
        };
      },
    }),
    tableRoute({
      path: '/insights/leads-created',
      summary: 'Leads created per day, week, month or quarter, optionally by channel, source, product, segment, owner or stage',
      definition: definitions.leadsCreated,
      query: byDimension,
      row: createdRow,
      rows: (scope, query) => leadsCreated(prisma, scope, query.by),
      columns: (query) => (query.by ? ['bucket', 'start', 'end', 'key', 'label', 'leads'] : ['bucket', 'start', 'end', 'leads']),
    }),
    tableRoute({
      path: '/insights/arrivals',
      summary: 'When leads arrive: day of week × hour, in the workspace time zone',
      definition: definitions.arrivals,
      query: insightQuery,
      row: z.object({ dayOfWeek: z.number().int(), hour: z.number().int(), leads: z.number().int() }),
      rows: (scope) => arrivalsHeatmap(prisma, scope),
    }),
    tableRoute({
      path: '/insights/speed-to-lead',
      summary: 'Acknowledgement latency and human first-response time (p50, p90, share within 5/15/60 minutes) per period, rep or channel',
      definition: definitions.speedToLead,
      query: speedQuery,
      row: speedRow,
      rows: (scope, query) => speedToLead(prisma, scope, query.by, query.businessHours),
      extra: { schema: { businessHours: z.boolean() }, values: async (_scope, query) => ({ businessHours: query.businessHours }) },
    }),
    tableRoute({
      path: '/insights/follow-up-rate',
      summary: 'First response within the SLA (share of assigned leads), and the follow-up rate (follow-ups due, done on time, overdue), per rep or period',
      definition: definitions.followUpRate,
      query: followUpQuery,
      row: followUpRow,
      rows: (scope, query) => followUpRate(prisma, scope, query.by),
    }),
    tableRoute({
      path: '/insights/funnel',
      summary: 'Stage funnel of the leads created in the period: reached, conversion, median time in stage, won and lost with reasons',
      definition: definitions.funnel,
      query: funnelQuery,
      row: funnelRow,
      rows: async (scope, query) => {
        const [funnel, byOwner] = await Promise.all([stageFunnel(prisma, scope), query.by === 'owner' ? funnelByOwner(prisma, scope) : undefined]);
        funnels.set(scope, { ...funnel, byOwner });
        return funnel.stages;
      },
      extra: {
        schema: {
          cohort: z.number().int(),
          won: z.number().int(),
          lost: z.number().int(),
          open: z.number().int().describe('Leads of the cohort neither won nor lost yet'),
          winRate: share.describe('won / (won + lost); null while none is won or lost'),
          lossReasons: z.array(z.object({ reason: z.string().nullable(), leads: z.number().int() })),
          byOwner: z
            .array(z.object({ ...keyed, stage: z.string(), reached: z.number().int(), conversion: share, entered: z.number().int() }))
            .optional()
            .describe('With by=owner: per owner at the time of each step and stage, the leads of the cohort it got there (Open is no one\'s step)'),
        },
        values: async (scope) => {
          const { stages: _stages, byOwner, ...rest } = funnels.get(scope)!;
          return byOwner ? { ...rest, byOwner } : rest;
        },
      },
    }),
    tableRoute({
      path: '/insights/quotas',
      summary: 'Quota vs actual (qualified leads, deals won, revenue) per period, product and rep',
      definition: definitions.quotas,
      query: insightQuery,
      row: quotaRow,
      rows: (scope) => quotaProgress(prisma, scope),
    }),
    tableRoute({
      path: '/insights/sequences',
      summary: 'Sequence performance per step: enrolled, sent, replied, opted out',
      definition: definitions.sequences,
      query: sequenceQuery,
      row: sequenceRow,
      rows: (scope, query) => sequencePerformance(prisma, scope, query.sequenceId),
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
        schema: z.object({ period, recomputing, data: z.array(leadRow), nextCursor: z.string().nullable() }),
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
        return { period: periodView(scope), ...recomputingView(scope), data, nextCursor: rows.length > query.limit && last ? encodeCursor(last.createdAt, last.id) : null };
      },
    }),
  ];
}
