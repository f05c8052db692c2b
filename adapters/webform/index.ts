import { createHmac, randomBytes } from 'node:crypto';
import express, { type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import type { AdapterContext, ChannelAdapter, InboundEvent, SourceKindSpec, SourceRecord } from '../../src/channels/contract.js';
import { ProblemError } from '../../src/errors.js';
import { inspectParsed, shapeProblem, storableValue } from '../../src/input-shape.js';
import { safeEqual } from '../../src/security/tokens.js';
import { FormBodyError, parseFormBody } from './body.js';
import { type CanonicalField, type NormalizedSubmission, normalizeSubmissions } from './normalize.js';
import { RateLimiter } from '../../src/rate-limit.js';

const canonicalFields = ['name', 'firstName', 'lastName', 'email', 'phone', 'message', 'company', 'product', 'pageUrl', 'ignore'] as const;

const origin = z
  .string()
  .refine((value) => value === '*' || /^https?:\/\/[^/\s]+$/i.test(value), 'must be "*" or an origin such as https://www.example.com');

const settingsShape = {
  fieldMap: z.record(z.string().min(1).max(200), z.enum(canonicalFields)).optional(),
  thankYouUrl: z.url({ protocol: /^https?$/ }).nullable().optional(),
  allowedOrigins: z.array(origin).max(50).optional(),
  honeypotField: z.string().min(1).max(100).optional(),
  rateLimitPerMinute: z.number().int().min(1).max(100_000).optional(),
};

const createSchema = z.object(settingsShape).strict();
type WebformInput = z.infer<typeof createSchema>;

const storedSettings = z.object({
  fieldMap: z.record(z.string(), z.enum(canonicalFields)).default({}),
  thankYouUrl: z.string().nullable().default(null),
  allowedOrigins: z.array(z.string()).default([]),
  honeypotField: z.string().default('_gotcha'),
  rateLimitPerMinute: z.number().default(30),
});
type WebformSettings = z.infer<typeof storedSettings>;

/** The secret, and after a rotation the one before it with the moment it stops working. */
const storedSecrets = z.object({ secret: z.string(), previousSecret: z.string().optional(), previousValidUntil: z.iso.datetime().optional() });
type WebformSecrets = z.infer<typeof storedSecrets>;

const newSecret = () => `wfs_${randomBytes(24).toString('base64url')}`;

/** The secrets a post may be authenticated with now: the current one, and the previous one during its grace period. */
function acceptedSecrets(secrets: WebformSecrets, now = Date.now()): string[] {
  const previousValid = secrets.previousSecret && secrets.previousValidUntil && Date.parse(secrets.previousValidUntil) > now;
  return previousValid ? [secrets.secret, secrets.previousSecret!] : [secrets.secret];
}

/** How far a signature's `t=` may be from the gateway's clock, either way. */
export const signatureToleranceSeconds = 300;

const spec: SourceKindSpec<WebformInput> = {
  createSchema,
  updateSchema: createSchema.partial(),
  prepare(input, previous) {
    const settings = { ...storedSettings.parse(previous?.settings ?? {}), ...dropUndefined(input) };
    const secrets = previous?.secrets ?? { secret: newSecret() };
    return { settings, secrets };
  },
  rotateSecret(secrets, previousValidUntil) {
    const { secret } = storedSecrets.parse(secrets);
    const next = newSecret();
    return { secret: next, secrets: { secret: next, previousSecret: secret, previousValidUntil: previousValidUntil.toISOString() } };
  },
  present(source, publicUrl) {
    const settings = storedSettings.parse(source.settings);
    const secrets = storedSecrets.parse(source.secrets);
    return {
      webhookUrl: `${publicUrl}/hooks/forms/${source.id}`,
      // The owner must paste this into the form or form builder, so it is shown, unlike other secrets.
      secret: secrets.secret,
      previousSecretValidUntil: secrets.previousValidUntil && Date.parse(secrets.previousValidUntil) > Date.now() ? secrets.previousValidUntil : null,
      ...settings,
    };
  },
};

function dropUndefined<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Web forms from any site or form builder: `POST /hooks/forms/:sourceId`. */
export class WebformAdapter implements ChannelAdapter {
  readonly kind = 'webform';
  readonly sends = [] as const;
  readonly source = spec as unknown as SourceKindSpec;
  private readonly limiter = new RateLimiter();

  routes(ctx: AdapterContext): Router {
    const router = express.Router();
    const rawBody = express.raw({ type: () => true, limit: ctx.maxUploadBytes });
    router.options('/forms/:sourceId', async (req, res) => {
      const source = await this.findSource(ctx, String(req.params.sourceId));
      this.allowOrigin(req, res, storedSettings.parse(source.settings));
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Leadgate-Token, X-Leadgate-Signature');
      res.setHeader('Access-Control-Max-Age', '600');
      res.status(204).end();
    });
    // The source and a token are checked before the body is read: a post to a form that does not
    // exist, or with a wrong token, costs nothing but its headers.
    router.post('/forms/:sourceId', (req, res, next) => this.admit(ctx, req, res).then(() => next(), next), rawBody, (req, res) => this.receive(ctx, req, res));
    return router;
  }

  private async findSource(ctx: AdapterContext, sourceId: string | undefined): Promise<SourceRecord> {
    const source = sourceId ? await ctx.findSource(sourceId) : null;
    if (!source || source.kind !== this.kind) throw new ProblemError('not_found', 'no web form with this id');
    return source;
  }

  private allowOrigin(req: Request, res: Response, settings: WebformSettings): void {
    const requestOrigin = req.headers.origin;
    if (!requestOrigin) return;
    const allowed = settings.allowedOrigins;
    if (allowed.length === 0) return;
    // With the form's secret inside a public page, the origin list is what keeps other sites out.
    if (!allowed.includes('*') && !allowed.includes(requestOrigin)) {
      throw new ProblemError('origin_not_allowed', `${requestOrigin} is not among this form's allowed origins`);
    }
    res.setHeader('Access-Control-Allow-Origin', allowed.includes('*') ? '*' : requestOrigin);
    res.setHeader('Vary', 'Origin');
  }

  /**
   * `X-Leadgate-Signature` is `sha256=<hex HMAC of the body>`, or `t=<unix seconds>,v1=<hex HMAC of
   * "t.body">` (several v1 allowed), whose time must be within five minutes of ours so that a
   * captured request cannot be replayed later. Otherwise the secret itself, as a token.
   */
  private authenticate(req: Request, raw: Buffer, secrets: WebformSecrets): void {
    const accepted = acceptedSecrets(secrets);
    const signature = req.get('x-leadgate-signature');
    if (signature !== undefined) {
      const timed = parseTimedSignature(signature);
      if (timed) {
        const skew = Math.abs(Date.now() / 1000 - timed.t);
        const signs = (secret: string) => createHmac('sha256', secret).update(`${timed.t}.`).update(raw).digest('hex');
        const expected = accepted.map(signs);
        if (!timed.v1.some((given) => expected.some((one) => safeEqual(given, one)))) {
          throw new ProblemError('unauthorized', 'X-Leadgate-Signature does not match "t.body" signed with this form\'s secret');
        }
        if (skew > signatureToleranceSeconds) {
          throw new ProblemError('signature_expired', `the signature's t= is ${Math.round(skew)} s away from the gateway's clock; at most ${signatureToleranceSeconds} s are accepted`);
        }
        return;
      }
      const given = signature.trim().toLowerCase();
      if (!accepted.some((secret) => safeEqual(given, `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`))) {
        throw new ProblemError('unauthorized', 'X-Leadgate-Signature does not match the body signed with this form\'s secret');
      }
      return;
    }
    const queryToken = typeof req.query.token === 'string' ? req.query.token : undefined;
    const token = req.get('x-leadgate-token') ?? queryToken;
    if (token === undefined) {
      throw new ProblemError('unauthorized', 'send the form secret as ?token=, X-Leadgate-Token, or sign the body in X-Leadgate-Signature');
    }
    if (!accepted.some((secret) => safeEqual(token, secret))) throw new ProblemError('unauthorized', 'the form token is not valid');
  }

  /** Before the body: the form exists, the origin may post to it, and a token (when one is sent instead of a signature) is right. */
  private async admit(ctx: AdapterContext, req: Request, res: Response): Promise<void> {
    const source = await this.findSource(ctx, String(req.params.sourceId));
    this.allowOrigin(req, res, storedSettings.parse(source.settings));
    if (req.get('x-leadgate-signature') === undefined) this.authenticate(req, Buffer.alloc(0), storedSecrets.parse(source.secrets));
    res.locals.source = source;
  }

  private async receive(ctx: AdapterContext, req: Request, res: Response): Promise<void> {
    const receivedAt = new Date();
    const source = res.locals.source as SourceRecord;
    const settings = storedSettings.parse(source.settings);
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    this.authenticate(req, raw, storedSecrets.parse(source.secrets));

    let parsed;
    try {
      parsed = await parseFormBody(raw, req.get('content-type'), ctx.maxUploadBytes);
    } catch (error) {
      if (!(error instanceof FormBodyError)) throw error;
      const code = error.kind === 'unsupported' ? 'unsupported_media_type' : error.kind === 'too_large' ? 'payload_too_large' : 'malformed_body';
      throw new ProblemError(code, error.message, undefined, { cause: error });
    }
    const problem = inspectParsed(parsed.fields);
    if (problem && problem.kind !== 'unstorable_text') throw shapeProblem(problem);
    // A NUL or half a surrogate pair in a field is dropped, not the submission with it.
    const fields = storableValue(parsed.fields);
    const submissions = normalizeSubmissions(fields, {
      fieldMap: settings.fieldMap as Record<string, CanonicalField | 'ignore'>,
      honeypotField: settings.honeypotField,
      ...(source.country ? { defaultCountry: source.country } : {}),
    });
    const hasContent = (submission: NormalizedSubmission) =>
      [submission.name, submission.email, submission.phone, submission.message, submission.company, submission.product].some(Boolean) ||
      Object.keys(submission.custom).length > 0 ||
      parsed.attachments.length > 0;
    const found = submissions.map((submission, index) => ({ submission, index })).filter(({ submission }) => hasContent(submission) || submission.honeypot);
    if (found.length === 0) {
      throw new ProblemError('validation_failed', 'the submission has no fields', [{ path: '(body)', message: 'no form fields were found' }]);
    }
    // A post carrying several leads (RD Station's {"leads": [...]}) keeps each lead's own part as its raw payload.
    const batch = submissions.length > 1 && typeof fields === 'object' && fields !== null && Array.isArray((fields as { leads?: unknown }).leads) ? (fields as { leads: unknown[] }).leads : null;
    const events = found.map(({ submission, index }, position) =>
      this.event(source, submission, receivedAt, position === 0 ? parsed.attachments : [], batch ? { leads: [batch[index]] } : fields),
    );

    if (found.some(({ submission }) => submission.honeypot)) {
      // Answered like a success, so a bot learns nothing; kept for review all the same.
      for (const event of events) await ctx.capture(event, { rejectedBecause: `spam: the hidden field "${settings.honeypotField}" was filled` });
      this.answer(req, res, settings, [], 202);
      return;
    }
    // A signed post proves it knows the secret: it comes from a server (Elementor, Zapier, RD Station),
    // and every post of such a service comes from the same few addresses.
    const signed = req.get('x-leadgate-signature') !== undefined;
    const waitSeconds = signed ? 0 : this.limiter.take(`${source.id}:${req.ip ?? ''}`, settings.rateLimitPerMinute);
    if (waitSeconds > 0) {
      for (const event of events) {
        await ctx.capture(event, { rejectedBecause: `rate limited: more than ${settings.rateLimitPerMinute} submissions a minute from ${req.ip}` });
      }
      throw new ProblemError('rate_limited', `this form takes at most ${settings.rateLimitPerMinute} submissions a minute from one address`, undefined, {
        headers: { 'Retry-After': String(waitSeconds) },
      });
    }
    const results = [];
    for (const event of events) results.push(await ctx.capture(event));
    this.answer(req, res, settings, results, results.some((result) => result.created) ? 202 : 200);
  }

  private event(source: SourceRecord, submission: NormalizedSubmission, receivedAt: Date, attachments: InboundEvent['attachments'], raw: unknown): InboundEvent {
    return {
      channel: 'webform',
      sourceId: source.id,
      ...(submission.externalId ? { externalId: `${submission.builder}:${submission.externalId}` } : {}),
      from: {
        ...(submission.name ? { name: submission.name } : {}),
        ...(submission.email ? { email: submission.email } : {}),
        ...(submission.phone ? { phone: submission.phone } : {}),
      },
      receivedAt,
      ...(submission.message ? { text: submission.message } : {}),
      ...(submission.company ? { company: submission.company } : {}),
      ...(submission.product ? { product: submission.product } : {}),
      fields: submission.custom,
      attribution: { ...submission.utm, ...(submission.pageUrl ? { page_url: submission.pageUrl } : {}) },
      attachments: attachments ?? [],
      raw,
    };
  }

  /** A plain HTML form (no script) expects a page; everything else gets JSON. */
  private answer(req: Request, res: Response, settings: WebformSettings, results: { eventId: string; leadId: string | null }[], status: number): void {
    const contentType = (req.get('content-type') ?? '').toLowerCase();
    const fromHtmlForm =
      (contentType.startsWith('application/x-www-form-urlencoded') || contentType.startsWith('multipart/form-data')) &&
      (req.get('accept') ?? '').includes('text/html');
    if (fromHtmlForm && settings.thankYouUrl) {
      res.redirect(303, settings.thankYouUrl);
      return;
    }
    if (fromHtmlForm) {
      res
        .status(200)
        .type('html')
        .send('<!doctype html><meta charset="utf-8"><title>Thank you</title><p style="font-family:sans-serif">Thank you! Your message was received.</p>');
      return;
    }
    const json: { eventId?: string; leadId?: string; events?: { eventId: string; leadId: string | null }[] } = {};
    const [first] = results;
    if (first?.eventId) json.eventId = first.eventId;
    if (first?.leadId) json.leadId = first.leadId;
    // A post with several leads (RD Station) lists each of them.
    if (results.length > 1) json.events = results.map(({ eventId, leadId }) => ({ eventId, leadId }));
    res.status(status).json(json);
  }
}

/** `t=1700000000,v1=ab12…[,v1=…]`, or null when the header is not of that form. */
function parseTimedSignature(header: string): { t: number; v1: string[] } | null {
  const parts = header.split(',').map((part) => part.trim().split('='));
  if (!parts.some(([name]) => name === 't')) return null;
  let t: number | undefined;
  const v1: string[] = [];
  for (const [name, value = ''] of parts) {
    if (name === 't' && /^\d{1,12}$/.test(value)) t = Number(value);
    else if (name === 'v1' && /^[0-9a-f]{64}$/i.test(value)) v1.push(value.toLowerCase());
  }
  return t === undefined || v1.length === 0 ? { t: t ?? Number.NaN, v1 } : { t, v1 };
}
