import express, { type Request, type Response, type Router } from 'express';
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import type Twilio from 'twilio';
import { z } from 'zod';
import type {
  AdapterContext,
  CallStatus,
  ChannelAdapter,
  DueAttachment,
  InboundEvent,
  LaterAttachment,
  OutboundConnection,
  OutboundMessage,
  SourceKindSpec,
  SourceRecord,
} from '../../src/channels/contract.js';
import { ChannelError, ProblemError, errorMessage } from '../../src/errors.js';
import { AttachmentDownloads } from '../../src/channels/attachment-downloads.js';

/**
 * Twilio's SDK takes about a third of a second of CPU to load: it is loaded when a Twilio source
 * first needs it, so a gateway without one never pays it (and every gateway starts sooner).
 */
function twilioSdk(): Promise<typeof Twilio> {
  return import('twilio').then((module) => module.default);
}

/**
 * The voice that speaks each language: Amazon Polly voices Twilio offers for <Say>, one per
 * language the source accepts. A <Say> with a language but no voice uses Twilio's basic voice, which
 * reads Portuguese with an English accent.
 * @see https://www.twilio.com/docs/voice/twiml/say/text-speech#available-voices-and-languages
 */
export const sayVoices = {
  'pt-BR': 'Polly.Camila',
  'en-US': 'Polly.Joanna',
  'en-GB': 'Polly.Amy',
  'es-ES': 'Polly.Lucia',
  'es-MX': 'Polly.Mia',
} as const;
type VoiceLanguage = keyof typeof sayVoices;
const voiceLanguages = Object.keys(sayVoices) as [VoiceLanguage, ...VoiceLanguage[]];

const e164 = z.string().regex(/^\+[1-9]\d{7,14}$/, 'must be a phone number in E.164 form, such as +5511987654321');

const createSchema = z
  .object({
    accountSid: z.string().regex(/^AC[0-9a-fA-F]{32}$/, 'must be a Twilio account SID (AC followed by 32 hex digits)'),
    authToken: z.string().min(16).max(200),
    phoneNumber: e164,
    greeting: z.string().trim().min(1).max(500).nullable().optional().describe('Said to every caller before ringing; null for none'),
    voiceLanguage: z.enum(voiceLanguages).optional(),
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
  return {
    voice: `${base}/voice`,
    voiceStatus: `${base}/voice/status`,
    callStatus: `${base}/voice/ended`,
    whisper: `${base}/voice/whisper`,
    recording: `${base}/voice/recording`,
    sms: `${base}/sms`,
    smsStatus: `${base}/sms/status`,
  };
}

function sayIn(language: string): { voice: (typeof sayVoices)[VoiceLanguage]; language: VoiceLanguage } {
  const known = (Object.hasOwn(sayVoices, language) ? language : 'pt-BR') as VoiceLanguage;
  return { voice: sayVoices[known], language: known };
}

/** What the gateway says itself, in the source's language. */
const phrases: Record<'pt' | 'es' | 'en', { voicemail: string; whisper: (caller: string) => string }> = {
  pt: { voicemail: 'Não conseguimos atender agora. Deixe sua mensagem após o sinal.', whisper: (caller) => `Ligação de ${caller}.` },
  es: { voicemail: 'No podemos atenderle ahora. Deje su mensaje después de la señal.', whisper: (caller) => `Llamada de ${caller}.` },
  en: { voicemail: 'We cannot take your call right now. Please leave a message after the tone.', whisper: (caller) => `Call from ${caller}.` },
};

function phrasesFor(language: string) {
  return phrases[language.startsWith('pt') ? 'pt' : language.startsWith('es') ? 'es' : 'en'];
}

/** A number read digit by digit in its national groups ("1 1, 9 8 7 6 5, 4 3 2 1"), not as one huge number. */
function spokenNumber(phone: string): string {
  const national = parsePhoneNumberFromString(phone)?.formatNational() ?? phone;
  return national
    .split(/[^\d]+/)
    .filter(Boolean)
    .map((group) => group.split('').join(' '))
    .join(', ');
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
    const { whisper: _whisper, ...webhooks } = hooks(publicUrl, source.id);
    return { accountSid, phoneNumber, greeting, voiceLanguage, ringGroup, dialTimeoutSeconds, webhooks };
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
  /** Sources whose pending media this process is looking at now. */
  private readonly downloads = new AttachmentDownloads(this.kind, 'MMS media', (ctx, source, file) => this.fetchOne(ctx, source, file));
  private sweep: NodeJS.Timeout | undefined;

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
    hook('/voice/ended', (c, s, p, _q, r) => this.callEnded(c, s, p, r));
    hook('/voice/whisper', (c, s, _p, q, r) => this.whisper(c, s, r, typeof q.query.caller === 'string' ? q.query.caller : undefined));
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
    const twilio = await twilioSdk();
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
    const twilio = await twilioSdk();
    const response = new twilio.twiml.VoiceResponse();
    if (settings.greeting) response.say(sayIn(settings.voiceLanguage), settings.greeting);
    if (targets.length === 0) {
      this.voicemail(response, ctx, source, settings);
    } else {
      const urls = hooks(ctx.publicUrl, source.id);
      // Without an action Twilio goes on to the next verb and never says how the dial ended.
      // The owner rides along in the action URL (Twilio signs it too): the dial result then says who answered.
      const action = owner?.phone ? `${urls.voiceStatus}?answeredBy=${encodeURIComponent(owner.userId)}` : urls.voiceStatus;
      // The rep's phone shows the business's Twilio number: Twilio refuses to present a caller's
      // Brazilian number it does not own, and such a dial fails. The whisper tells the rep who it is.
      const dial = response.dial({ action, method: 'POST', timeout: settings.dialTimeoutSeconds, callerId: settings.phoneNumber });
      const whisper = params.From ? `${urls.whisper}?caller=${encodeURIComponent(params.From)}` : undefined;
      for (const target of targets) dial.number(whisper ? { url: whisper, method: 'POST' } : {}, target);
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
    const twilio = await twilioSdk();
    const response = new twilio.twiml.VoiceResponse();
    if (status === 'answered') response.hangup();
    else this.voicemail(response, ctx, source, storedSettings.parse(source.settings));
    sendTwiml(res, response.toString());
  }

  /**
   * The end of the call, from the number's "call status changes" callback: the backstop for a
   * caller who hangs up before the <Dial> (during the greeting), whose call no dial result reports.
   * @see https://www.twilio.com/docs/voice/api/call-resource#statuscallback
   */
  private async callEnded(ctx: AdapterContext, source: SourceRecord, params: Params, res: Response): Promise<void> {
    const callId = required(params, 'CallSid');
    if (['completed', 'busy', 'no-answer', 'failed', 'canceled'].includes(params.CallStatus ?? '')) {
      const duration = Number(params.CallDuration);
      await ctx.capture({
        ...this.event(source, params, 'voice', `${callId}:ended`),
        call: { callId, status: 'missed', ended: true, ...(Number.isFinite(duration) ? { durationSeconds: duration } : {}) },
      });
    }
    res.status(204).end();
  }

  /** Played to the rep who picks up, before the caller is connected: who is calling. */
  private async whisper(_ctx: AdapterContext, source: SourceRecord, res: Response, caller: string | undefined): Promise<void> {
    const settings = storedSettings.parse(source.settings);
    const twilio = await twilioSdk();
    const response = new twilio.twiml.VoiceResponse();
    if (caller) response.say(sayIn(settings.voiceLanguage), phrasesFor(settings.voiceLanguage).whisper(spokenNumber(caller)));
    sendTwiml(res, response.toString());
  }

  private voicemail(response: Twilio.twiml.VoiceResponse, ctx: AdapterContext, source: SourceRecord, settings: TwilioSettings): void {
    response.say(sayIn(settings.voiceLanguage), phrasesFor(settings.voiceLanguage).voicemail);
    const recording = hooks(ctx.publicUrl, source.id).recording;
    response.record({
      action: recording,
      method: 'POST',
      maxLength: 120,
      playBeep: true,
      recordingStatusCallback: recording,
      recordingStatusCallbackMethod: 'POST',
      // Twilio transcribes English only: a Portuguese voicemail would come back as English nonsense.
      // Transcripts only ever arrive at transcribeCallback, and the recording's URL at its status callback.
      ...(transcribes(settings.voiceLanguage) ? { transcribe: true, transcribeCallback: recording } : {}),
    });
  }

  private async recording(ctx: AdapterContext, source: SourceRecord, params: Params, res: Response): Promise<void> {
    const settings = storedSettings.parse(source.settings);
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
        call: {
          callId,
          status: 'voicemail',
          recordingUrl: params.RecordingUrl,
          ...(Number.isFinite(duration) ? { durationSeconds: duration } : {}),
          ...(transcribes(settings.voiceLanguage) ? {} : { transcriptUnavailable: true }),
        },
      });
    }
    const twilio = await twilioSdk();
    const response = new twilio.twiml.VoiceResponse();
    response.hangup();
    sendTwiml(res, response.toString());
  }

  private async incomingSms(ctx: AdapterContext, source: SourceRecord, params: Params, res: Response): Promise<void> {
    const messageSid = required(params, 'MessageSid');
    // The files are fetched after the message is stored (they need the account's credentials),
    // so a slow or failing download never holds up or loses the message.
    const attachments: LaterAttachment[] = mmsMedia(params).map((media) => ({ filename: media.filename, contentType: media.contentType, later: { status: 'pending' } }));
    await ctx.capture({
      ...this.event(source, params, 'sms', messageSid),
      ...(params.Body ? { text: params.Body } : {}),
      attachments,
      ...(isOptOut(params.Body) ? { optOut: true } : {}),
    });
    const twilio = await twilioSdk();
    sendTwiml(res, new twilio.twiml.MessagingResponse().toString());
    if (attachments.length > 0) this.downloads.look(ctx, source.id);
  }

  /** Retries media downloads that failed for a while (Twilio briefly unreachable) on every source. */
  async start(ctx: AdapterContext): Promise<void> {
    if (this.sweep) throw new Error('the twilio adapter is already started');
    this.sweep = setInterval(() => {
      ctx.listSources(this.kind).then(
        (sources) => sources.forEach((source) => this.downloads.look(ctx, source.id)),
        (error: unknown) => ctx.logger.warn({ err: error }, 'could not list Twilio sources for media downloads'),
      );
    }, mediaSweepMs);
    this.sweep.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweep);
    this.sweep = undefined;
  }


  private async fetchOne(ctx: AdapterContext, source: SourceRecord, file: DueAttachment): Promise<void> {
    const raw = (file.raw ?? {}) as Params;
    const media = mmsMedia(raw).find((candidate) => candidate.filename === file.filename);
    if (!media) {
      await ctx.attachments.failed(file.id, 'the stored message names no file to download');
      return;
    }
    const { accountSid } = storedSettings.parse(source.settings);
    const { authToken } = storedSecrets.parse(source.secrets);
    let data: Buffer;
    try {
      // Media URLs answer with a redirect to the file; fetch drops the credentials on the way there.
      const response = await fetch(media.url, {
        headers: { authorization: `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}` },
        signal: AbortSignal.timeout(mediaTimeoutMs),
      });
      if (!response.ok) throw new Error(`Twilio answered ${response.status}`);
      const length = Number(response.headers.get('content-length'));
      if (Number.isFinite(length) && length > ctx.maxUploadBytes) {
        await response.body?.cancel();
        await ctx.attachments.failed(file.id, `too large (${length} bytes; the limit is ${ctx.maxUploadBytes})`);
        return;
      }
      data = Buffer.from(await response.arrayBuffer());
    } catch (error) {
      const tries = file.attempts + 1;
      const reason = `could not be downloaded: ${errorMessage(error)}`;
      ctx.logger.warn({ err: error, attachmentId: file.id, tries }, 'could not download MMS media');
      if (tries >= mediaAttempts) await ctx.attachments.failed(file.id, `${reason} (gave up after ${tries} tries)`);
      else await ctx.attachments.failed(file.id, reason, new Date(Date.now() + Math.min(60 * 60_000, 30_000 * 2 ** (tries - 1))));
      return;
    }
    if (data.length > ctx.maxUploadBytes) {
      await ctx.attachments.failed(file.id, `too large (${data.length} bytes; the limit is ${ctx.maxUploadBytes})`);
      return;
    }
    await ctx.attachments.store(file.id, data);
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
    const twilio = await twilioSdk();
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

const mediaSweepMs = 60_000;
const mediaTimeoutMs = 30_000;
const mediaAttempts = 5;

/** Twilio transcribes recordings in English only. @see https://www.twilio.com/docs/voice/twiml/record#transcribe */
function transcribes(language: string): boolean {
  return language.startsWith('en');
}

const mediaExtensions: Record<string, string> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'video/mp4': 'mp4',
  'video/3gpp': '3gp',
  'audio/amr': 'amr',
  'audio/mpeg': 'mp3',
  'audio/ogg': 'ogg',
  'application/pdf': 'pdf',
  'text/vcard': 'vcf',
  'text/x-vcard': 'vcf',
};

/**
 * The files of an MMS: `MediaUrl0..N` with `MediaContentType0..N`, named after the media SID that
 * ends each URL, so a stored message says again which file is which.
 * @see https://www.twilio.com/docs/messaging/guides/webhook-request#media-related-parameters
 */
function mmsMedia(params: Params): { url: string; contentType: string; filename: string }[] {
  const count = Math.min(10, Number(params.NumMedia) || 0);
  const media = [];
  for (let i = 0; i < count; i++) {
    const url = params[`MediaUrl${i}`];
    if (!url || !/^https:\/\//.test(url)) continue;
    const contentType = (params[`MediaContentType${i}`] || 'application/octet-stream').toLowerCase();
    const sid = /\/(ME[0-9a-zA-Z]+)\/?$/.exec(url)?.[1] ?? `media-${i + 1}`;
    media.push({ url, contentType, filename: `${sid}${mediaExtensions[contentType] ? `.${mediaExtensions[contentType]}` : ''}` });
  }
  return media;
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
