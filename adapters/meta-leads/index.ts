import type { Router } from 'express';
import { z } from 'zod';
import type { AdapterContext, ChannelAdapter, InboundEvent, SourceKindSpec, SourceRecord } from '../../src/channels/contract.js';
import { ChannelError, errorMessage } from '../../src/errors.js';
import { backoffMs } from '../../src/queue/backoff.js';
import { GraphClient, GraphError, type GraphOptions, defaultGraph } from '../meta/graph.js';
import { metaSecretsShape, metaWebhookPath, metaWebhookRoutes, newVerifyToken } from '../meta/webhook.js';

const createSchema = z
  .object({
    appSecret: z.string().min(16).max(200).describe('App settings → Basic → App secret: signs every webhook'),
    accessToken: z.string().min(20).max(1000).describe('A page access token with leads_retrieval and pages_manage_metadata'),
    pageId: z.string().regex(/^\d{5,30}$/, 'must be the Facebook page id (digits only)'),
  })
  .strict();
type LeadsInput = z.infer<typeof createSchema>;

const storedSettings = z.object({ pageId: z.string() });
const storedSecrets = z.object({ ...metaSecretsShape, accessToken: z.string() });

/**
 * A `leadgen` change of a page: only ids, the lead itself is fetched with the page token.
 * @see https://developers.facebook.com/docs/graph-api/webhooks/reference/page/#leadgen
 */
const leadgenValue = z
  .object({
    leadgen_id: z.union([z.string(), z.number()]).transform(String),
    page_id: z.union([z.string(), z.number()]).transform(String),
    form_id: z.union([z.string(), z.number()]).transform(String).optional(),
    ad_id: z.union([z.string(), z.number()]).transform(String).optional(),
    adgroup_id: z.union([z.string(), z.number()]).transform(String).optional(),
    created_time: z.number().optional(),
  })
  .loose();
const pageEntry = z.object({ id: z.string().optional(), changes: z.array(z.object({ field: z.string(), value: z.unknown() }).loose()).default([]) }).loose();

/**
 * The lead as Graph answers it: the form's answers and where it came from.
 * @see https://developers.facebook.com/docs/marketing-api/guides/lead-ads/retrieving
 */
const leadAnswer = z
  .object({
    id: z.string(),
    created_time: z.string().optional(),
    field_data: z.array(z.object({ name: z.string(), values: z.array(z.string()).default([]) }).loose()).default([]),
    ad_id: z.string().optional(),
    ad_name: z.string().optional(),
    adset_id: z.string().optional(),
    adset_name: z.string().optional(),
    campaign_id: z.string().optional(),
    campaign_name: z.string().optional(),
    form_id: z.string().optional(),
    platform: z.string().optional(),
    is_organic: z.boolean().optional(),
  })
  .loose();
type LeadAnswer = z.infer<typeof leadAnswer>;
const leadFields = 'id,created_time,field_data,ad_id,ad_name,adset_id,adset_name,campaign_id,campaign_name,form_id,platform,is_organic';
const formAnswer = z.object({ id: z.string(), name: z.string().optional() }).loose();
const pageAnswer = z.object({ id: z.string(), name: z.string().optional() }).loose();

/** A lead Meta announced that is not fetched yet: kept until it is, across restarts. */
interface PendingLead {
  leadgenId: string;
  formId?: string;
  adId?: string;
  attempts: number;
  nextAttemptAt: string;
  lastError?: string;
}
const pendingPrefix = 'leadgen:';

/** Meta's standard questions, by the keys Lead Ads forms give them; the rest are the business's own questions. */
const standard: Record<string, 'name' | 'firstName' | 'lastName' | 'email' | 'phone' | 'company'> = {
  full_name: 'name',
  first_name: 'firstName',
  last_name: 'lastName',
  email: 'email',
  work_email: 'email',
  phone_number: 'phone',
  work_phone_number: 'phone',
  company_name: 'company',
};

/**
 * The lead's answers as a form submission: standard questions to the person, every other answer
 * (the business's own questions, city, job title) kept as a field, and the ad as attribution.
 */
export function leadEvent(lead: LeadAnswer, formName: string | undefined): Omit<InboundEvent, 'sourceId'> {
  const person: Partial<Record<'name' | 'firstName' | 'lastName' | 'email' | 'phone' | 'company', string>> = {};
  const fields: Record<string, string> = {};
  for (const field of lead.field_data) {
    const value = field.values.join(', ').trim();
    if (!value) continue;
    const canonical = standard[field.name];
    if (canonical && !person[canonical]) person[canonical] = value;
    else fields[field.name.replace(/_/g, ' ').trim() || field.name] = value.slice(0, 2000);
  }
  const name = person.name ?? ([person.firstName, person.lastName].filter(Boolean).join(' ') || undefined);
  const values: Record<string, string | undefined> = {
    leadgen_id: lead.id,
    form_id: lead.form_id,
    form_name: formName,
    ad_id: lead.ad_id,
    ad_name: lead.ad_name,
    adset_id: lead.adset_id,
    adset_name: lead.adset_name,
    campaign_id: lead.campaign_id,
    campaign_name: lead.campaign_name,
    ad_platform: lead.platform,
    ...(lead.is_organic !== undefined ? { is_organic: String(lead.is_organic) } : {}),
  };
  const attribution = Object.fromEntries(Object.entries(values).filter((entry): entry is [string, string] => Boolean(entry[1])));
  return {
    channel: 'webform',
    externalId: lead.id,
    from: { ...(name ? { name } : {}), ...(person.email ? { email: person.email } : {}), ...(person.phone ? { phone: person.phone } : {}) },
    receivedAt: lead.created_time ? new Date(lead.created_time) : new Date(),
    ...(person.company ? { company: person.company } : {}),
    ...(Object.keys(fields).length > 0 ? { fields } : {}),
    attribution,
    raw: lead,
  };
}

function spec(graph: GraphClient): SourceKindSpec<LeadsInput> {
  return {
    createSchema,
    updateSchema: createSchema.partial(),
    prepare(input, previous) {
      const before = previous ? storedSecrets.partial().parse(previous.secrets) : {};
      return {
        settings: storedSettings.parse({ ...(previous?.settings ?? {}), ...(input.pageId ? { pageId: input.pageId } : {}) }),
        secrets: { appSecret: input.appSecret ?? before.appSecret, accessToken: input.accessToken ?? before.accessToken, verifyToken: before.verifyToken ?? newVerifyToken() },
      };
    },
    async verify(prepared) {
      const { pageId } = storedSettings.parse(prepared.settings);
      const { accessToken } = storedSecrets.parse(prepared.secrets);
      try {
        await graph.get(`/${pageId}`, accessToken, pageAnswer, { fields: 'id,name' });
      } catch (error) {
        if (!(error instanceof GraphError)) throw error;
        if (error.tokenExpired || error.httpStatus === 401) throw new ChannelError('accessToken_rejected', `Meta refused the page access token: ${error.message}`, false, { cause: error });
        if (error.metaCode === 100 || error.httpStatus === 404 || error.metaCode === 200) {
          throw new ChannelError('pageId_not_found', `the access token cannot reach page ${pageId}: ${error.message}`, false, { cause: error });
        }
        throw new ChannelError('graph_unreachable', `the Graph API could not check the token: ${error.message}`, false, { cause: error });
      }
    },
    present(source, publicUrl) {
      return { webhookUrl: metaWebhookPath(publicUrl, source.id), verifyToken: storedSecrets.parse(source.secrets).verifyToken, ...storedSettings.parse(source.settings) };
    },
  };
}

export interface MetaLeadsOptions {
  graph?: GraphOptions;
  retry?: { baseMs: number; maxMs: number };
}

/**
 * Facebook and Instagram Lead Ads: Meta announces each lead on the page's `leadgen` webhook; the
 * announcement is kept until the lead is fetched from Graph, so a lead Graph cannot give yet
 * (an expired token, Graph down) waits and is tried again on the backoff, never lost.
 */
export class MetaLeadsAdapter implements ChannelAdapter {
  readonly kind = 'meta_leads';
  readonly sends = [] as const;
  readonly source: SourceKindSpec;
  private readonly graph: GraphClient;
  private readonly retry: { baseMs: number; maxMs: number };
  private readonly fetching = new Set<string>();
  /** Sources whose state this process last set (error, or healthy), to write it only when it changes. */
  private readonly shown = new Map<string, 'error' | 'connected'>();
  private readonly formNames = new Map<string, string | undefined>();
  private sweep: NodeJS.Timeout | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(options: MetaLeadsOptions = {}) {
    this.graph = new GraphClient(options.graph ?? defaultGraph);
    this.retry = options.retry ?? { baseMs: 5_000, maxMs: 900_000 };
    this.source = spec(this.graph) as unknown as SourceKindSpec;
  }

  private ctx: AdapterContext | undefined;

  routes(ctx: AdapterContext): Router {
    this.ctx = ctx;
    return metaWebhookRoutes(ctx, {
      kind: this.kind,
      receive: async (source, body) => {
        const { pageId } = storedSettings.parse(source.settings);
        let any = false;
        for (const rawEntry of body.entry) {
          const entry = pageEntry.safeParse(rawEntry);
          if (!entry.success) continue;
          for (const change of entry.data.changes) {
            if (change.field !== 'leadgen') continue;
            const value = leadgenValue.safeParse(change.value);
            if (!value.success || value.data.page_id !== pageId) continue;
            const key = `${pendingPrefix}${value.data.leadgen_id}`;
            // Stored before the 200: the lead is owed from here on, whatever happens to this process.
            if (!(await ctx.state.get(source.id, key))) {
              const pending: PendingLead = {
                leadgenId: value.data.leadgen_id,
                ...(value.data.form_id ? { formId: value.data.form_id } : {}),
                ...(value.data.ad_id ? { adId: value.data.ad_id } : {}),
                attempts: 0,
                nextAttemptAt: new Date().toISOString(),
              };
              await ctx.state.set(source.id, key, pending);
            }
            any = true;
          }
        }
        if (any) this.fetchDue(ctx, source.id);
      },
    });
  }

  async start(ctx: AdapterContext): Promise<void> {
    if (this.sweep) throw new Error('the meta_leads adapter is already started');
    const sweep = () =>
      ctx.listSources(this.kind).then(
        (sources) => sources.forEach((source) => this.fetchDue(ctx, source.id)),
        (error: unknown) => ctx.logger.warn({ err: error }, 'could not list Lead Ads sources'),
      );
    // Leads announced before a restart are fetched now, not at the first sweep.
    void sweep();
    this.sweep = setInterval(() => void sweep(), Math.min(60_000, Math.max(1_000, this.retry.maxMs)));
    this.sweep.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweep);
    this.sweep = undefined;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private fetchDue(ctx: AdapterContext, sourceId: string, everyOne = false): void {
    if (this.fetching.has(sourceId)) return;
    this.fetching.add(sourceId);
    void (async () => {
      const source = await ctx.findSource(sourceId);
      if (!source || source.kind !== this.kind) return;
      const now = Date.now();
      for (const { key, value } of await ctx.state.list<PendingLead>(sourceId, pendingPrefix)) {
        if (!everyOne && new Date(value.nextAttemptAt).getTime() > now) continue;
        await this.fetchOne(ctx, source, key, value);
      }
    })()
      .catch((error: unknown) => ctx.logger.warn({ err: error, sourceId }, 'could not fetch Lead Ads leads'))
      .finally(() => this.fetching.delete(sourceId));
  }

  private async fetchOne(ctx: AdapterContext, source: SourceRecord, key: string, pending: PendingLead): Promise<void> {
    const { accessToken } = storedSecrets.parse(source.secrets);
    try {
      const lead = await this.graph.get(`/${pending.leadgenId}`, accessToken, leadAnswer, { fields: leadFields });
      const formId = lead.form_id ?? pending.formId;
      const formName = formId ? await this.formName(formId, accessToken) : undefined;
      const event = leadEvent({ ...lead, ...(lead.ad_id || !pending.adId ? {} : { ad_id: pending.adId }), ...(formId ? { form_id: formId } : {}) }, formName);
      // The lead id is the idempotency key: a crash before the removal fetches and captures it again, harmlessly.
      await ctx.capture({ ...event, sourceId: source.id });
      await ctx.state.remove(source.id, key);
      await this.show(ctx, source.id, { state: 'connected' });
    } catch (error) {
      const attempts = pending.attempts + 1;
      const delay = backoffMs(attempts, this.retry.baseMs, this.retry.maxMs);
      const at = new Date(Date.now() + delay);
      const reason = `lead ${pending.leadgenId} could not be fetched: ${errorMessage(error)}`;
      ctx.logger.warn({ err: error, sourceId: source.id, leadgenId: pending.leadgenId, attempts }, 'could not fetch a Lead Ads lead; it waits for the next try');
      await ctx.state.set(source.id, key, { ...pending, attempts, nextAttemptAt: at.toISOString(), lastError: reason } satisfies PendingLead);
      const expired = error instanceof GraphError && error.tokenExpired;
      await this.show(ctx, source.id, {
        state: 'error',
        detail: expired ? 'The page access token expired or was revoked: paste a new one; leads wait and are fetched then' : 'Leads wait to be fetched from Meta and are tried again',
        lastError: reason,
        nextRetryAt: at.toISOString(),
      });
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.fetchDue(ctx, source.id);
      }, delay + 10);
      timer.unref();
      this.timers.add(timer);
    }
  }

  /** A form's name, asked once per form; a form Graph will not name is kept by its id alone. */
  private async formName(formId: string, accessToken: string): Promise<string | undefined> {
    if (this.formNames.has(formId)) return this.formNames.get(formId);
    try {
      const form = await this.graph.get(`/${formId}`, accessToken, formAnswer, { fields: 'id,name' });
      this.formNames.set(formId, form.name);
      return form.name;
    } catch (error) {
      if (error instanceof GraphError && !error.retryable) {
        this.formNames.set(formId, undefined);
        return undefined;
      }
      throw error;
    }
  }

  private async show(ctx: AdapterContext, sourceId: string, status: Parameters<AdapterContext['setStatus']>[1]): Promise<void> {
    if (status.state === 'connected' && this.shown.get(sourceId) === 'connected') return;
    this.shown.set(sourceId, status.state === 'error' ? 'error' : 'connected');
    await ctx.setStatus(sourceId, status);
  }

  sourceChanged(sourceId: string): void {
    // A new token may fix what failed: the leads waiting are tried again at once.
    this.shown.delete(sourceId);
    if (this.ctx) this.fetchDue(this.ctx, sourceId, true);
  }
}
