import express, { type Request, type Response, type Router } from 'express';
import twilio from 'twilio';
import { z } from 'zod';
import type {
  AdapterContext,
  CallStatus,
  ChannelAdapter,
  InboundEvent,
  OutboundConnection,
  OutboundMessage,
  SourceKindSpec,
  SourceRecord,
} from '../../src/channels/contract.js';
import { ChannelError, ProblemError } from '../../src/errors.js';

const e164 = z.string().regex(/^\+[1-9]\d{7,14}$/, 'must be a phone number in E.164 form, such as +5511987654321');

const createSchema = z
  .object({
    accountSid: z.string().regex(/^AC[0-9a-fA-F]{32}$/, 'must be a Twilio account SID (AC followed by 32 hex digits)'),
    authToken: z.string().min(16).max(200),
    phoneNumber: e164,
    greeting: z.string().trim().min(1).max(500).nullable().optional().describe('Said to every caller before ringing; null for none'),
    voiceLanguage: z.enum(['pt-BR', 'en-US', 'en-GB', 'es-ES', 'es-MX']).optional(),
    ringGroup: z.array(e164).max(10).optional().describe('Phones that ring when the caller has no owner with a phone'),
    dialTimeoutSeconds: z.number().int().min(5).max(60).optional(),
  })
  .strict();
type TwilioInput = z.infer<typeof createSchema>;

const storedSettings = z.object({
  accountSid: z.string(),
  phoneNumber: z.string(),
  greeting: z.string().nullable().default(null),
  voiceLanguage: z.string().default('pt-BR'),
  ringGroup: z.array(z.string()).default([]),
  dialTimeoutSeconds: z.number().default(20),
});
type TwilioSettings = z.infer<typeof storedSettings>;
const storedSecrets = z.object({ authToken: z.string() });

function hooks(publicUrl: string, sourceId: string) {
  const base = `${publicUrl}/hooks/twilio/${sourceId}`;
  return { voice: `${base}/voice`, voiceStatus: `${base}/voice/status`, recording: `${base}/voice/recording`, sms: `${base}/sms`, smsStatus: `${base}/sms/status` };
}

const spec: SourceKindSpec<TwilioInput> = {
  createSchema,
  updateSchema: createSchema.partial(),
  prepare(input, previous) {
    const { authToken, ...settings } = input;
    return {
      settings: storedSettings.parse({ ...(previous?.settings ?? {}), ...Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) }),
      secrets: authToken ? { authToken } : storedSecrets.parse(previous?.secrets ?? {}),
    };
  },
  present(source, publicUrl) {
    const { accountSid, phoneNumber, greeting, voiceLanguage, ringGroup, dialTimeoutSeconds } = storedSettings.parse(source.settings);
    return { accountSid, phoneNumber, greeting, voiceLanguage, ringGroup, dialTimeoutSeconds, webhooks: hooks(publicUrl, source.id) };
  },
};

/** Twilio's own opt-out words, which it enforces itself, and ours in Portuguese, which it does not. */
const optOutWords = new Set(['stop', 'stopall', 'unsubscribe', 'cancel', 'end', 'quit', 'sair', 'parar', 'cancelar', 'descadastrar', 'pare']);

export function isOptOut(text: string | undefined): boolean {
  const word = (text ?? '').normalize('NFD').replace(/\p{M}/gu, '').trim().toLowerCase().replace(/[.!]+$/, '');
  return optOutWords.has(word);
}

/**
 * How the <Dial> ended. A call whose TwiML ran ends "completed" even when nobody picked up, so
 * only DialCallStatus tells a missed call.
 * @see https://www.twilio.com/docs/voice/twiml/dial#dialcallstatus
 */
function dialOutcome(dialCallStatus: string | undefined): CallStatus {
  switch (dialCallStatus) {
    case 'completed':
    case 'answered':
      return 'answered';
    case 'busy':
      return 'busy';
    case 'failed':
      return 'failed';
    default:
      return 'missed';
  }
}

/** @see https://www.twilio.com/docs/messaging/guides/track-outbound-message-status */
function deliveryStatus(messageStatus: string | undefined): 'sent' | 'delivered' | 'read' | 'failed' | null {
  switch (messageStatus) {
    case 'sent':
      return 'sent';
    case 'delivered':
      return 'delivered';
    case 'read':
      return 'read';
    case 'failed':
    case 'undelivered':
      return 'failed';
    default:
      return null;
  }
}

/** Twilio error codes that no retry can fix. @see https://www.twilio.com/docs/api/errors */
const permanentTwilioCodes = new Set([21211, 21408, 21601, 21602, 21604, 21606, 21610, 21612, 21614, 21617, 20003, 20404]);

export function classifyTwilioError(error: unknown): ChannelError {
  const details = (error ?? {}) as { status?: number; code?: number | string; message?: string };
  const message = details.message ?? String(error);
  if (typeof details.code === 'number' && permanentTwilioCodes.has(details.code)) {
    return new ChannelError(details.code === 21610 ? 'opted_out' : `twilio_${details.code}`, `Twilio ${details.code}: ${message}`, false, { cause: error });
  }
  if (typeof details.status === 'number') {
    const retryable = details.status === 429 || details.status >= 500;
    return new ChannelError(retryable ? 'twilio_unavailable' : `twilio_${details.code ?? details.status}`, `Twilio ${details.status}: ${message}`, retryable, { cause: error });
  }
  return new ChannelError('twilio_unreachable', `Twilio could not be reached: ${message}`, true, { cause: error });
}

type Params = Record<string, string>;

/** Voice calls and SMS through a Twilio number: webhooks in, the REST API out. */
export class TwilioAdapter implements ChannelAdapter {
  readonly kind = 'twilio';
  readonly sends = ['sms'] as const;
  readonly source = spec as unknown as SourceKindSpec;

  routes(ctx: AdapterContext): Router {
    const router = express.Router();
    const form = express.urlencoded({ extended: false, limit: '256kb' });
    const hook = (path: string, handle: (ctx: AdapterContext, source: SourceRecord, params: Params, req: Request, res: Response) => Promise<void>) =>
      router.post(`/twilio/:sourceId${path}`, form, async (req, res) => {
        const source = await this.authenticate(ctx, req);
        await handle(ctx, source, (req.body ?? {}) as Params, req, res);
      });
    hook('/voice', (c, s, p, _q, r) => this.incomingCall(c, s, p, r));
    hook('/voice/status', (c, s, p, q, r) => this.dialEnded(c, s, p, r, typeof q.query.answeredBy === 'string' ? q.query.answeredBy : undefined));
    hook('/voice/recording', (c, s, p, _q, r) => this.recording(c, s, p, r));
    hook('/sms', (c, s, p, _q, r) => this.incomingSms(c, s, p, r));
    hook('/sms/status', (c, s, p, _q, r) => this.smsStatus(c, s, p, r));
    return router;
  }

  /**
   * Twilio signs the URL it called plus the POST parameters with the account's auth token. Behind a
   * proxy the URL this server sees is not that one, so PUBLIC_URL rebuilds it.
   * @see https://www.twilio.com/docs/usage/security#validating-requests
   */
  private async authenticate(ctx: AdapterContext, req: Request): Promise<SourceRecord> {
    const source = await ctx.findSource(String(req.params.sourceId));
    if (!source || source.kind !== this.kind) throw new ProblemError('not_found', 'no Twilio source with this id');
    const signature = req.get('x-twilio-signature');
    const { authToken } = storedSecrets.parse(source.secrets);
    const url = `${ctx.publicUrl}${req.originalUrl}`;
    const params = (req.body ?? {}) as Params;
    if (!signature || !twilio.validateRequest(authToken, signature, url, params)) {
      throw new ProblemError('forbidden', 'X-Twilio-Signature is missing or does not match this source\'s auth token and PUBLIC_URL');
    }
    // Twilio sends each parameter once; a repeated one (read as a list) is not Twilio's.
    const repeated = Object.entries(params as Record<string, unknown>).filter(([, value]) => typeof value !== 'string');
    if (repeated.length > 0) {
      throw new ProblemError('validation_failed', 'A parameter is repeated', repeated.map(([name]) => ({ path: name, message: 'is sent more than once' })));
    }
    return source;
  }

  private event(source: SourceRecord, params: Params, channel: 'voice' | 'sms', externalId: string): InboundEvent {
    return {
      channel,
      sourceId: source.id,
      externalId,
      from: params.From ? { phone: params.From } : {},
      receivedAt: new Date(),
      fields: Object.fromEntries(
        Object.entries({ to: params.To, callerCity: params.FromCity, callerState: params.FromState, callerCountry: params.FromCountry, callerName: params.CallerName }).filter(
          (entry): entry is [string, string] => Boolean(entry[1]),
        ),
      ),
      raw: params,
    };
  }

  private async incomingCall(ctx: AdapterContext, source: SourceRecord, params: Params, res: Response): Promise<void> {
    const settings = storedSettings.parse(source.settings);
    const callId = required(params, 'CallSid');
    await ctx.capture({ ...this.event(source, params, 'voice', callId), call: { callId, status: 'ringing' } });
    const owner = params.From ? await ctx.ownerFor(source.id, { phone: params.From }) : null;
    const targets = owner?.phone ? [owner.phone] : settings.ringGroup;
    const response = new twilio.twiml.VoiceResponse();
    const language = settings.voiceLanguage as 'pt-BR';
    if (settings.greeting) response.say({ language }, settings.greeting);
    if (targets.length === 0) {
      this.voicemail(response, ctx, source, settings);
    } else {
      // Without an action Twilio goes on to the next verb and never says how the dial ended.
      // The owner rides along in the action URL (Twilio signs it too): the dial result then says who answered.
      const action = owner?.phone ? `${hooks(ctx.publicUrl, source.id).voiceStatus}?answeredBy=${encodeURIComponent(owner.userId)}` : hooks(ctx.publicUrl, source.id).voiceStatus;
      const dial = response.dial({
        action,
        method: 'POST',
        timeout: settings.dialTimeoutSeconds,
        ...(params.From ? { callerId: params.From } : {}),
      });
      for (const target of targets) dial.number(target);
    }
    sendTwiml(res, response.toString());
  }

  private async dialEnded(ctx: AdapterContext, source: SourceRecord, params: Params, res: Response, dialedUser?: string): Promise<void> {
    const callId = required(params, 'CallSid');
    const status = dialOutcome(params.DialCallStatus);
    const duration = Number(params.DialCallDuration);
    await ctx.capture({
      ...this.event(source, params, 'voice', `${callId}:dial`),
      call: {
        callId,
        status,
        ...(Number.isFinite(duration) ? { durationSeconds: duration } : {}),
        ...(status === 'answered' && dialedUser ? { answeredBy: dialedUser } : {}),
      },
    });
    const response = new twilio.twiml.VoiceResponse();
    if (status === 'answered') response.hangup();
    else this.voicemail(response, ctx, source, storedSettings.parse(source.settings));
    sendTwiml(res, response.toString());
  }

  private voicemail(response: twilio.twiml.VoiceResponse, ctx: AdapterContext, source: SourceRecord, settings: TwilioSettings): void {
    const portuguese = settings.voiceLanguage.startsWith('pt');
    const prompt = portuguese ? 'Não conseguimos atender agora. Deixe sua mensagem após o sinal.' : 'We cannot take your call right now. Please leave a message after the tone.';
    response.say({ language: settings.voiceLanguage as 'pt-BR' }, prompt);
    const recording = hooks(ctx.publicUrl, source.id).recording;
    // Transcripts only ever arrive at transcribeCallback, and the recording's URL at its status callback.
    response.record({
      action: recording,
      method: 'POST',
      maxLength: 120,
      playBeep: true,
      recordingStatusCallback: recording,
      recordingStatusCallbackMethod: 'POST',
      transcribe: true,
      transcribeCallback: recording,
    });
  }

  private async recording(ctx: AdapterContext, source: SourceRecord, params: Params, res: Response): Promise<void> {
    const callId = required(params, 'CallSid');
    if (params.TranscriptionSid) {
      if (params.TranscriptionStatus === 'completed' && params.TranscriptionText) {
        await ctx.capture({
          ...this.event(source, params, 'voice', `transcription:${params.TranscriptionSid}`),
          call: { callId, status: 'voicemail', transcription: params.TranscriptionText, ...(params.RecordingUrl ? { recordingUrl: params.RecordingUrl } : {}) },
        });
      }
    } else if (params.RecordingSid && params.RecordingUrl) {
      const duration = Number(params.RecordingDuration);
      await ctx.capture({
        ...this.event(source, params, 'voice', `recording:${params.RecordingSid}`),
        call: { callId, status: 'voicemail', recordingUrl: params.RecordingUrl, ...(Number.isFinite(duration) ? { durationSeconds: duration } : {}) },
      });
    }
    const response = new twilio.twiml.VoiceResponse();
    response.hangup();
    sendTwiml(res, response.toString());
  }

  private async incomingSms(ctx: AdapterContext, source: SourceRecord, params: Params, res: Response): Promise<void> {
    const messageSid = required(params, 'MessageSid');
    const media: Record<string, string> = {};
    const count = Math.min(10, Number(params.NumMedia) || 0);
    // The media URLs need the account's credentials to open; they are kept as references.
    for (let i = 0; i < count; i++) {
      if (params[`MediaUrl${i}`]) media[`media ${i + 1}`] = `${params[`MediaUrl${i}`]} (${params[`MediaContentType${i}`] ?? 'unknown type'})`;
    }
    const base = this.event(source, params, 'sms', messageSid);
    await ctx.capture({
      ...base,
      ...(params.Body ? { text: params.Body } : {}),
      fields: { ...base.fields, ...media },
      ...(isOptOut(params.Body) ? { optOut: true } : {}),
    });
    sendTwiml(res, new twilio.twiml.MessagingResponse().toString());
  }

  private async smsStatus(ctx: AdapterContext, source: SourceRecord, params: Params, res: Response): Promise<void> {
    const messageSid = required(params, 'MessageSid');
    const status = deliveryStatus(params.MessageStatus);
    if (status) {
      await ctx.capture({
        ...this.event(source, params, 'sms', `${messageSid}:${params.MessageStatus}`),
        from: {},
        delivery: {
          externalId: messageSid,
          status,
          ...(params.ErrorCode ? { errorCode: `twilio_${params.ErrorCode}`, error: `Twilio error ${params.ErrorCode}` } : {}),
        },
      });
    }
    res.status(204).end();
  }

  async send(connection: OutboundConnection, message: OutboundMessage): Promise<{ externalId: string }> {
    const settings = storedSettings.parse(connection.settings);
    const { authToken } = storedSecrets.parse(connection.secrets);
    // No keep-alive: SMS are few, and a pooled socket outliving its server is a hang, not a speed-up.
    const files = message.attachments ?? [];
    const mediaUrl = files.flatMap((file) => (file.url ? [file.url] : []));
    if (mediaUrl.length < files.length) {
      // Twilio fetches MMS media by URL; without a public one it cannot reach the files.
      throw new ChannelError('attachments_need_public_url', 'an SMS can carry files only when the gateway has a public URL (PUBLIC_URL) for Twilio to fetch them from', false);
    }
    const client = twilio(settings.accountSid, authToken, { keepAlive: false });
    try {
      const sent = await client.messages.create({
        to: message.to,
        from: settings.phoneNumber,
        body: message.text,
        ...(mediaUrl.length > 0 ? { mediaUrl } : {}),
        statusCallback: hooks(connection.publicUrl, connection.id).smsStatus,
      });
      return { externalId: sent.sid };
    } catch (error) {
      throw classifyTwilioError(error);
    }
  }
}

function required(params: Params, name: string): string {
  const value = params[name];
  if (!value) throw new ProblemError('validation_failed', `the Twilio request has no ${name}`, [{ path: name, message: 'is required' }]);
  return value;
}

/** A wrong content type makes Twilio play an application error to the caller. */
function sendTwiml(res: Response, xml: string): void {
  res.status(200).type('text/xml').send(xml);
}
