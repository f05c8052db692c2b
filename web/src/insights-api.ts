/**
 * The shapes of /api/v1/insights/* as the page reads them, taken from web/src/api-types.ts
 * (generated from /openapi.json by `npm run api:types`; see src/http/routes/insights.ts).
 */
import type { paths } from './api-types.js';

type Answer<P extends keyof paths> = NonNullable<paths[P]['get']> extends { responses: { 200: { content: { 'application/json': infer Body } } } } ? Body : never;
type Query<P extends keyof paths> = NonNullable<NonNullable<paths[P]['get']> extends { parameters: { query?: infer Q } } ? Q : never>;
type Row<Answered> = Answered extends { data: (infer Item)[] } ? Item : never;

export type GroupBy = NonNullable<Query<'/api/v1/insights/summary'>['groupBy']>;
/** The splits the page offers, of those the API has. */
export type Split = Extract<NonNullable<Query<'/api/v1/insights/leads-created'>['by']>, 'channel' | 'product' | 'segment' | 'owner'>;

export type Summary = Answer<'/api/v1/insights/summary'>;
export type Period = Summary['period'];

export interface Table<Item> {
  period: Period;
  data: Item[];
}

export type CreatedRow = Row<Answer<'/api/v1/insights/leads-created'>>;
export type SpeedRow = Row<Answer<'/api/v1/insights/speed-to-lead'>>;
export type Keyed = Pick<SpeedRow, 'key' | 'label'>;
export type FollowUpRow = Row<Answer<'/api/v1/insights/follow-up-rate'>>;
export type Funnel = Answer<'/api/v1/insights/funnel'>;
export type FunnelStage = Row<Funnel>;
export type QuotaRow = Row<Answer<'/api/v1/insights/quotas'>>;
export type SequenceRow = Row<Answer<'/api/v1/insights/sequences'>>;
export type ArrivalCell = Row<Answer<'/api/v1/insights/arrivals'>>;
export type LeadRow = Row<Answer<'/api/v1/insights/leads'>>;

/** Which leads are behind a figure: the query of GET /insights/leads besides the filters. */
export type Selection = Pick<Query<'/api/v1/insights/leads'>, 'bucket' | 'by' | 'key' | 'dayOfWeek' | 'hour'> & {
  /** A stage as the funnel's rows name it (the server refuses one it does not know). */
  reachedStage?: string;
};
