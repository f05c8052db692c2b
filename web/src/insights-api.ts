/** The shapes of /api/v1/insights/* as the page reads them (see src/http/routes/insights.ts). */

export type GroupBy = 'day' | 'week' | 'month' | 'quarter';
export type Split = 'channel' | 'product' | 'segment' | 'owner';

export interface Period {
  timeZone: string;
  from: string;
  to: string;
  groupBy: GroupBy;
}

export interface Table<Row> {
  period: Period;
  data: Row[];
}

export interface Keyed {
  key: string | null;
  label: string | null;
}

export interface CreatedRow {
  bucket: string;
  start: string;
  end: string;
  key?: string | null;
  label?: string | null;
  leads: number;
}

export interface Summary {
  period: Period;
  /** The daily counts are being moved to a new time zone: figures come from the leads meanwhile. */
  recomputing: boolean;
  leadsCreated: { total: number; buckets: CreatedRow[] };
  byChannel: (Keyed & { leads: number })[];
  followUpRate: { assigned: number; touchedWithinSla: number; rate: number | null; overdue: number };
  followUps: { due: number; doneOnTime: number; overdue: number; rate: number | null };
  quotas: QuotaRow[];
}

export interface SpeedRow extends Keyed {
  windows: number;
  answered: number;
  unanswered: number;
  p50Seconds: number | null;
  p90Seconds: number | null;
  within5m: number | null;
  within15m: number | null;
  within60m: number | null;
  acknowledged: number;
  ackP50Seconds: number | null;
  ackP90Seconds: number | null;
}

export interface FollowUpRow extends Keyed {
  assigned: number;
  touchedWithinSla: number;
  rate: number | null;
  followUpsDue: number;
  followUpsDoneOnTime: number;
  overdue: number;
  followUpRate: number | null;
}

export interface FunnelStage {
  stage: string;
  reached: number;
  conversion: number | null;
  entered: number;
  current: number;
  medianSecondsInStage: number | null;
}

export interface Funnel extends Table<FunnelStage> {
  cohort: number;
  won: number;
  lost: number;
  open: number;
  winRate: number | null;
  lossReasons: { reason: string | null; leads: number }[];
}

export interface QuotaRow {
  quotaId: string;
  period: string;
  productId: string | null;
  product: string | null;
  target: number;
  actual: number;
  ratio: number | null;
}

export interface SequenceRow {
  sequenceId: string;
  sequence: string;
  step: number;
  enrolled: number;
  sent: number;
  failed: number;
  skipped: number;
  replied: number;
  optedOut: number;
}

export interface ArrivalCell {
  dayOfWeek: number;
  hour: number;
  leads: number;
}

export interface LeadRow {
  id: string;
  name: string | null;
  stage: string;
  owner: string | null;
  channel: string;
  createdAt: string;
  frtSeconds: number | null;
}

/** Which leads are behind a figure: the query of GET /insights/leads besides the filters. */
export interface Selection {
  bucket?: string;
  by?: Split;
  key?: string;
  reachedStage?: string;
  dayOfWeek?: number;
  hour?: number;
}
