import { XMLParser } from 'fast-xml-parser';
import nock from 'nock';
import twilio from 'twilio';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually, defaultBackends, type Stack, startStack } from '../support/stack.js';

const publicUrl = 'https://leads.acme.test';
const accountSid = `AC${'a1'.repeat(16)}`;
const authToken = 'test-auth-token-0123456789abcdef';
const businessNumber = '+5511400012345';
const repPhone = '+5511911112222';
const caller = '+5511987654321';

interface Webhooks {
  voice: string;
  voiceStatus: string;
  callStatus: string;
  recording: string;
  sms: string;
  smsStatus: string;
}
interface Lead {
  id: string;
  contactId: string;
  phone: string | null;
  channel: string;
  owner: { id: string } | null;
}
interface MessageView {
  id: string;
  direction: string;
  channel: string;
  status: string;
  text: string | null;
  fields: Record<string, unknown> | null;
  to: string | null;
  automatic: boolean;
  attachments: { filename: string; contentType: string; size: number | null; url: string; status: string }[];
}

const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', parseTagValue: false, isArray: (name) => name === 'Number' || name === 'Say' });

/**
 * Amazon Polly voices and their languages, as Twilio lists them for <Say>.
 * @see https://www.twilio.com/docs/voice/twiml/say/text-speech#available-voices-and-languages
 */
const documentedVoices: Record<string, string[]> = {
  'pt-BR': ['Polly.Camila', 'Polly.Vitoria', 'Polly.Ricardo', 'Polly.Thiago-Neural', 'Polly.Camila-Neural', 'Polly.Vitoria-Neural'],
  'en-US': ['Polly.Joanna', 'Polly.Matthew', 'Polly.Kendra', 'Polly.Kimberly', 'Polly.Salli', 'Polly.Joey', 'Polly.Justin', 'Polly.Ivy'],
  'en-GB': ['Polly.Amy', 'Polly.Brian', 'Polly.Emma'],
  'es-ES': ['Polly.Lucia', 'Polly.Conchita', 'Polly.Enrique'],
  'es-MX': ['Polly.Mia'],
};

describe.each(defaultBackends)('calls and SMS through Twilio on $db with the $queue queue', ({ db, queue }) => {
  let stack: Stack;
  let hooks: Webhooks;
  let repId: string;

  /** Posts a webhook signed exactly as Twilio signs it: the public URL it called plus the parameters. */
  async function twilioPost(url: string, params: Record<string, string>, options: { signWith?: string; signUrl?: string; tamper?: boolean } = {}) {
    const signature = twilio.getExpectedTwilioSignature(options.signWith ?? authToken, options.signUrl ?? url, params);
    const body = new URLSearchParams(options.tamper ? { ...params, From: '+5511900000000' } : params);
    const response = await fetch(url.replace(publicUrl, stack.baseUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
      body,
    });
    return { status: response.status, contentType: response.headers.get('content-type') ?? '', text: await response.text() };
  }

  const callParams = (callSid: string, from = caller) => ({
    CallSid: callSid,
    AccountSid: accountSid,
    From: from,
    To: businessNumber,
    CallStatus: 'ringing',
    Direction: 'inbound',
    ApiVersion: '2010-04-01',
    FromCity: 'SAO PAULO',
    FromState: 'SP',
    FromCountry: 'BR',
  });

  async function leadOf(phone: string): Promise<Lead> {
    return eventually(async () => {
      const { body } = await stack.api<{ data: Lead[] }>('GET', `/api/v1/leads?q=${encodeURIComponent(phone)}`);
      expect(body.data).toHaveLength(1);
      return body.data[0]!;
    });
  }
  async function messagesOf(leadId: string): Promise<MessageView[]> {
    return (await stack.api<{ data: MessageView[] }>('GET', `/api/v1/leads/${leadId}/messages`)).body.data;
  }

  beforeAll(async () => {
    nock.disableNetConnect();
    nock.enableNetConnect(/^(127\.0\.0\.1|localhost)(:\d+)?$/);
    stack = await startStack({ db, queue, env: { PUBLIC_URL: publicUrl } });
    const rep = await stack.api<{ id: string }>('POST', '/api/v1/users', { name: 'Rita', email: 'rita@acme.test', role: 'rep', phone: repPhone });
    repId = rep.body.id;
    const { status, body } = await stack.api<{ id: string; webhooks: Webhooks }>('POST', '/api/v1/sources', {
      kind: 'twilio',
      name: 'Main line',
      accountSid,
      authToken,
      phoneNumber: businessNumber,
      ownerId: repId,
      greeting: 'Olá! Você ligou para a Acme Solar.',
    });
    expect(status).toBe(201);
    hooks = body.webhooks;
  });

  afterEach(() => {
    expect(nock.pendingMocks()).toEqual([]);
    nock.cleanAll();
  });

  afterAll(async () => {
    await stack?.close();
    nock.enableNetConnect();
  });

  it('shows the webhook URLs to paste into Twilio, under PUBLIC_URL, and never the auth token', async () => {
    const { body } = await stack.api<Record<string, unknown>>('GET', '/api/v1/sources');
    const source = (body.data as Record<string, unknown>[])[0]!;
    expect(source.webhooks).toMatchObject({ voice: `${publicUrl}/hooks/twilio/${source.id}/voice`, sms: `${publicUrl}/hooks/twilio/${source.id}/sms` });
    expect(JSON.stringify(source)).not.toContain(authToken);
  });

  it('refuses unsigned, tampered and wrongly signed webhooks, capturing nothing', async () => {
    const params = callParams('CA00000000000000000000000000000bad');
    const unsigned = await fetch(hooks.voice.replace(publicUrl, stack.baseUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params),
    });
    expect(unsigned.status).toBe(403);
    expect(unsigned.headers.get('content-type')).toMatch(/problem\+json/);
    expect((await twilioPost(hooks.voice, params, { tamper: true })).status).toBe(403);
    expect((await twilioPost(hooks.voice, params, { signWith: 'another-auth-token-0123456789' })).status).toBe(403);
    // Signed for the URL this server sees rather than the one Twilio called.
    expect((await twilioPost(hooks.voice, params, { signUrl: hooks.voice.replace(publicUrl, stack.baseUrl) })).status).toBe(403);
    const { body } = await stack.api<{ data: unknown[] }>('GET', '/api/v1/inbound-events');
    expect(body.data).toHaveLength(0);
  });

  it('rings the owner for a new call, and on no answer takes a voicemail, schedules a call-back and texts the caller', async () => {
    const callSid = 'CA11111111111111111111111111111111';
    const answer = await twilioPost(hooks.voice, callParams(callSid));
    expect(answer.status).toBe(200);
    expect(answer.contentType).toMatch(/^text\/xml/);
    const twiml = xml.parse(answer.text).Response;
    expect(twiml.Say[0]).toMatchObject({ '#text': 'Olá! Você ligou para a Acme Solar.', language: 'pt-BR', voice: 'Polly.Camila' });
    // Brazil: the rep's phone shows the business's Twilio number, never the caller's.
    expect(twiml.Dial).toMatchObject({ action: `${hooks.voiceStatus}?answeredBy=${repId}`, method: 'POST', timeout: '20', callerId: businessNumber });
    expect(twiml.Dial.Number.map((n: { '#text': string }) => n['#text'])).toEqual([repPhone]);

    // The rep hears who is calling before the call is put through.
    const whisperUrl = twiml.Dial.Number[0].url as string;
    const whisper = await twilioPost(whisperUrl, { CallSid: 'CA99', AccountSid: accountSid, From: businessNumber, To: repPhone, CallStatus: 'in-progress', Direction: 'outbound-api' });
    expect(whisper.status).toBe(200);
    expect(xml.parse(whisper.text).Response.Say[0]).toMatchObject({ '#text': 'Ligação de 1 1, 9 8 7 6 5, 4 3 2 1.', language: 'pt-BR', voice: 'Polly.Camila' });

    const lead = await leadOf(caller);
    expect(lead).toMatchObject({ phone: caller, channel: 'voice', owner: { id: repId } });

    const sms = nock('https://api.twilio.com')
      .post(`/2010-04-01/Accounts/${accountSid}/Messages.json`, (body: Record<string, string>) => {
        expect(body).toMatchObject({ To: caller, From: businessNumber, StatusCallback: hooks.smsStatus });
        expect(body.Body).toContain('Vimos sua ligação para');
        return true;
      })
      .reply(201, { sid: 'SM22222222222222222222222222222222', status: 'queued', to: caller, from: businessNumber, account_sid: accountSid });

    const dialed = await twilioPost(hooks.voiceStatus, { ...callParams(callSid), CallStatus: 'in-progress', DialCallStatus: 'no-answer', DialCallSid: 'CA99', DialCallDuration: '0' });
    const voicemail = xml.parse(dialed.text).Response;
    expect(voicemail.Say[0]).toMatchObject({ voice: 'Polly.Camila', language: 'pt-BR' });
    expect(voicemail.Say[0]['#text']).toMatch(/Deixe sua mensagem/);
    expect(voicemail.Record).toMatchObject({ action: hooks.recording, recordingStatusCallback: hooks.recording });
    // Twilio transcribes English only: a Portuguese voicemail is not sent to it.
    expect(voicemail.Record).not.toHaveProperty('transcribe');
    expect(voicemail.Record).not.toHaveProperty('transcribeCallback');

    const texted = await eventually(async () => {
      const outbound = (await messagesOf(lead.id)).filter((m) => m.direction === 'out');
      expect(outbound.map((m) => [m.channel, m.status])).toEqual([['sms', 'sent']]);
      return outbound[0]!;
    });
    expect(sms.isDone()).toBe(true);
    expect(texted).toMatchObject({ to: caller, automatic: true });

    const { body: followUps } = await stack.api<{ data: { ownerId: string; note: string; leadId: string }[] }>('GET', `/api/v1/follow-ups?leadId=${lead.id}`);
    expect(followUps.data).toHaveLength(1);
    expect(followUps.data[0]).toMatchObject({ ownerId: repId, leadId: lead.id });
    expect(followUps.data[0]!.note).toContain(caller);

    const recording = { ...callParams(callSid), RecordingSid: 'RE33333333333333333333333333333333', RecordingUrl: `https://api.twilio.com/2010-04-01/Accounts/${accountSid}/Recordings/RE33`, RecordingDuration: '14', RecordingStatus: 'completed' };
    expect((await twilioPost(hooks.recording, recording)).status).toBe(200);
    expect((await twilioPost(hooks.recording, recording)).status).toBe(200);

    // Twilio's callbacks may arrive, and be processed, in any order.
    await eventually(async () => {
      const call = (await messagesOf(lead.id)).find((m) => m.channel === 'voice')!;
      expect(call.text).toBeNull();
      expect(call.fields).toMatchObject({ callStatus: 'voicemail', recordingUrl: recording.RecordingUrl, transcription: 'transcript unavailable' });
    });
    const { body: timeline } = await stack.api<{ data: { kind: string }[] }>('GET', `/api/v1/leads/${lead.id}/activities`);
    const kinds = timeline.data.map((a) => a.kind);
    expect(kinds.filter((k) => k === 'call.voicemail')).toHaveLength(1);
    expect(kinds).toEqual(expect.arrayContaining(['call.missed', 'follow_up.created', 'message.sent']));
    expect(kinds).not.toContain('call.transcribed');
    expect(kinds.filter((k) => k === 'follow_up.created')).toHaveLength(1);

    const delivered = await twilioPost(hooks.smsStatus, { MessageSid: 'SM22222222222222222222222222222222', MessageStatus: 'delivered', AccountSid: accountSid, From: businessNumber, To: caller });
    expect(delivered.status).toBe(204);
    await eventually(async () => expect((await messagesOf(lead.id)).find((m) => m.direction === 'out')!.status).toBe('delivered'));
  });

  it('keeps a repeat caller on the same lead and rings the same rep; an answered call gets no call-back', async () => {
    const lead = await leadOf(caller);
    const answer = await twilioPost(hooks.voice, callParams('CA55555555555555555555555555555555', '11 98765-4321'));
    expect(xml.parse(answer.text).Response.Dial.Number.map((n: { '#text': string }) => n['#text'])).toEqual([repPhone]);
    const action = xml.parse(answer.text).Response.Dial.action as string;
    const hangup = await twilioPost(action, { ...callParams('CA55555555555555555555555555555555', '11 98765-4321'), DialCallStatus: 'completed', DialCallDuration: '95' });
    expect(xml.parse(hangup.text).Response).toHaveProperty('Hangup');
    await eventually(async () => {
      const calls = (await messagesOf(lead.id)).filter((m) => m.channel === 'voice');
      expect(calls.map((m) => m.fields?.callStatus)).toEqual(['voicemail', 'answered']);
      expect(calls[1]!.fields).toMatchObject({ durationSeconds: 95, answeredBy: repId });
    });
    expect((await leadOf(caller)).id).toBe(lead.id);
    // The call's end, reported after its dial result, changes nothing.
    expect((await twilioPost(hooks.callStatus, { ...callParams('CA55555555555555555555555555555555', '11 98765-4321'), CallStatus: 'completed', CallDuration: '101' })).status).toBe(204);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const calls = (await messagesOf(lead.id)).filter((m) => m.channel === 'voice');
    expect(calls[1]!.fields).toMatchObject({ callStatus: 'answered', durationSeconds: 95 });
    const { body: followUps } = await stack.api<{ data: unknown[] }>('GET', `/api/v1/follow-ups?leadId=${lead.id}`);
    expect(followUps.data).toHaveLength(1);

    // The rep picked up: a response, like a reply, credited to them (the missed call and the
    // automatic text before it were not).
    const { body: answered } = await stack.api<{ stage: string; firstResponse: { at: string | null } }>('GET', `/api/v1/leads/${lead.id}`);
    expect(answered.stage).toBe('contacted');
    expect(answered.firstResponse.at).not.toBeNull();
    const { body: speed } = await stack.api<{ data: { key: string; windows: number; answered: number; unanswered: number }[] }>('GET', '/api/v1/insights/speed-to-lead?by=rep&channel=voice');
    expect(speed.data.map(({ key, windows, answered, unanswered }) => ({ key, windows, answered, unanswered }))).toEqual([{ key: repId, windows: 1, answered: 1, unanswered: 0 }]);
  });

  it('makes a missed call, with its call-back and text, of a caller who hangs up during the greeting', async () => {
    const early = '+5511976543210';
    const callSid = 'CA12121212121212121212121212121212';
    expect((await twilioPost(hooks.voice, callParams(callSid, early))).status).toBe(200);
    const lead = await leadOf(early);
    const sms = nock('https://api.twilio.com')
      .post(`/2010-04-01/Accounts/${accountSid}/Messages.json`, (body: Record<string, string>) => body.To === early && body.Body.includes('Vimos sua ligação para'))
      .reply(201, { sid: 'SM12121212121212121212121212121212', status: 'queued' });
    // No <Dial> ran, so no dial result comes: only the number's call status callback.
    const ended = await twilioPost(hooks.callStatus, { ...callParams(callSid, early), CallStatus: 'completed', CallDuration: '3' });
    expect(ended.status).toBe(204);
    await eventually(async () => {
      const [call] = (await messagesOf(lead.id)).filter((m) => m.channel === 'voice');
      expect(call!.fields).toMatchObject({ callStatus: 'missed' });
      expect(sms.isDone()).toBe(true);
    });
    const { body: followUps } = await stack.api<{ data: { note: string }[] }>('GET', `/api/v1/follow-ups?leadId=${lead.id}`);
    expect(followUps.data).toHaveLength(1);
    expect(followUps.data[0]!.note).toContain('missed call');
    // Twilio retries the callback: still one missed call.
    await twilioPost(hooks.callStatus, { ...callParams(callSid, early), CallStatus: 'completed', CallDuration: '3' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await stack.api<{ data: unknown[] }>('GET', `/api/v1/follow-ups?leadId=${lead.id}`)).body.data).toHaveLength(1);
  });

  it('speaks every voice language with a voice Twilio documents for it', async () => {
    for (const [index, voiceLanguage] of ['pt-BR', 'en-US', 'en-GB', 'es-ES', 'es-MX'].entries()) {
      const { status, body } = await stack.api<{ id: string; webhooks: Webhooks }>('POST', '/api/v1/sources', {
        kind: 'twilio',
        name: `Line ${voiceLanguage}`,
        accountSid,
        authToken,
        phoneNumber: `+5511400099${String(index).padStart(3, '0')}`,
        greeting: 'Hello',
        voiceLanguage,
      });
      expect(status).toBe(201);
      const answer = await twilioPost(body.webhooks.voice, callParams(`CA${String(index).repeat(32)}`, '+5511955554444'));
      const says = xml.parse(answer.text).Response.Say as { voice: string; language: string }[];
      expect(says.length).toBeGreaterThan(0);
      for (const say of says) {
        expect(say.language).toBe(voiceLanguage);
        expect(documentedVoices[voiceLanguage]).toContain(say.voice);
      }
      await stack.api('DELETE', `/api/v1/sources/${body.id}`);
    }
  });

  it('asks Twilio for a transcript only in English, and keeps it beside the call', async () => {
    const { body: line } = await stack.api<{ id: string; webhooks: Webhooks }>('POST', '/api/v1/sources', {
      kind: 'twilio',
      name: 'US line',
      accountSid,
      authToken,
      phoneNumber: '+14155550100',
      voiceLanguage: 'en-US',
    });
    const usCaller = '+14155550123';
    const callSid = 'CA34343434343434343434343434343434';
    const params = { ...callParams(callSid, usCaller), To: '+14155550100', FromCountry: 'US' };
    await twilioPost(line.webhooks.voice, params);
    const lead = await leadOf(usCaller);
    nock('https://api.twilio.com').post(`/2010-04-01/Accounts/${accountSid}/Messages.json`).reply(201, { sid: 'SM34343434343434343434343434343434', status: 'queued' });
    const dialed = await twilioPost(line.webhooks.voiceStatus, { ...params, DialCallStatus: 'no-answer', DialCallDuration: '0' });
    const record = xml.parse(dialed.text).Response.Record;
    expect(record).toMatchObject({ transcribe: 'true', transcribeCallback: line.webhooks.recording });
    const recordingUrl = `https://api.twilio.com/2010-04-01/Accounts/${accountSid}/Recordings/RE34`;
    await twilioPost(line.webhooks.recording, { ...params, RecordingSid: 'RE34343434343434343434343434343434', RecordingUrl: recordingUrl, RecordingDuration: '9', RecordingStatus: 'completed' });
    await twilioPost(line.webhooks.recording, {
      ...params,
      RecordingSid: 'RE34343434343434343434343434343434',
      RecordingUrl: recordingUrl,
      TranscriptionSid: 'TR34343434343434343434343434343434',
      TranscriptionStatus: 'completed',
      TranscriptionText: 'Hi, I would like a quote for solar panels.',
    });
    await eventually(async () => {
      const call = (await messagesOf(lead.id)).find((m) => m.channel === 'voice')!;
      expect(call.fields).toMatchObject({ callStatus: 'voicemail', recordingUrl, transcription: 'Hi, I would like a quote for solar panels.' });
      expect(call.text).toBe('Hi, I would like a quote for solar panels.');
    });
    const { body: timeline } = await stack.api<{ data: { kind: string }[] }>('GET', `/api/v1/leads/${lead.id}/activities`);
    expect(timeline.data.map((a) => a.kind)).toContain('call.transcribed');
    await eventually(async () => expect((await messagesOf(lead.id)).some((m) => m.direction === 'out')).toBe(true));
    await stack.api('DELETE', `/api/v1/sources/${line.id}`);
  });

  it('takes an SMS with media into the conversation, and honours an opt-out in Portuguese', async () => {
    const texter = '+5521998887777';
    nock('https://api.twilio.com')
      .post(`/2010-04-01/Accounts/${accountSid}/Messages.json`, (body: Record<string, string>) => body.To === texter && body.Body.includes('Recebemos sua mensagem'))
      .reply(201, { sid: 'SM66666666666666666666666666666666', status: 'queued' });
    const sms = {
      MessageSid: 'SM77777777777777777777777777777777',
      AccountSid: accountSid,
      From: texter,
      To: businessNumber,
      Body: 'Vocês instalam em Niterói? Segue foto do telhado.',
      NumMedia: '2',
      MediaUrl0: `https://api.twilio.com/2010-04-01/Accounts/${accountSid}/Messages/SM77777777777777777777777777777777/Media/ME0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a`,
      MediaContentType0: 'image/jpeg',
      MediaUrl1: `https://api.twilio.com/2010-04-01/Accounts/${accountSid}/Messages/SM77777777777777777777777777777777/Media/ME1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b`,
      MediaContentType1: 'application/pdf',
    };
    const photo = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from('telhado')]);
    // Twilio's media URLs open only with the account's credentials.
    const media = nock('https://api.twilio.com')
      .get(`/2010-04-01/Accounts/${accountSid}/Messages/SM77777777777777777777777777777777/Media/ME0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a`)
      .basicAuth({ user: accountSid, pass: authToken })
      .reply(200, photo, { 'content-type': 'image/jpeg' })
      .get(`/2010-04-01/Accounts/${accountSid}/Messages/SM77777777777777777777777777777777/Media/ME1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b`)
      .basicAuth({ user: accountSid, pass: authToken })
      .reply(200, '%PDF-1.4 planta', { 'content-type': 'application/pdf' });
    const received = await twilioPost(hooks.sms, sms);
    expect(received.status).toBe(200);
    expect(xml.parse(received.text)).toHaveProperty('Response');
    expect((await twilioPost(hooks.sms, sms)).status).toBe(200);
    const lead = await leadOf(texter);
    const inbound = await eventually(async () => {
      const messages = await messagesOf(lead.id);
      expect(messages.map((m) => [m.direction, m.status])).toEqual([
        ['in', 'received'],
        ['out', 'sent'],
      ]);
      return messages[0]!;
    });
    expect(inbound).toMatchObject({ channel: 'sms', text: sms.Body });
    const files = await eventually(async () => {
      const [message] = await messagesOf(lead.id);
      expect(message!.attachments.map((a) => a.status)).toEqual(['stored', 'stored']);
      return message!.attachments;
    });
    expect(media.isDone()).toBe(true);
    expect(files.map(({ filename, contentType, size }) => ({ filename, contentType, size }))).toEqual([
      { filename: 'ME0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a.jpg', contentType: 'image/jpeg', size: photo.length },
      { filename: 'ME1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b.pdf', contentType: 'application/pdf', size: 15 },
    ]);
    const download = await fetch(`${stack.baseUrl}${files[0]!.url}`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    expect(Buffer.from(await download.arrayBuffer()).equals(photo)).toBe(true);

    await twilioPost(hooks.sms, { ...sms, MessageSid: 'SM88888888888888888888888888888888', Body: 'SAIR', NumMedia: '0' });
    await eventually(async () => {
      const { body } = await stack.api<{ optOuts: string[] }>('GET', `/api/v1/contacts/${lead.contactId}`);
      expect(body.optOuts).toEqual(['sms']);
    });
  });

  it('fails an SMS that Twilio refuses for good, with its reason', async () => {
    const lead = await leadOf(caller);
    nock('https://api.twilio.com')
      .post(`/2010-04-01/Accounts/${accountSid}/Messages.json`)
      .reply(400, { code: 21211, message: "The 'To' number is not a valid phone number.", status: 400, more_info: 'https://www.twilio.com/docs/errors/21211' });
    const { status, body } = await stack.api<{ messageId: string; channel: string }>('POST', `/api/v1/leads/${lead.id}/messages`, { text: 'Podemos ligar amanhã?', channel: 'sms' });
    expect(status).toBe(202);
    expect(body.channel).toBe('sms');
    const failed = await eventually(async () => {
      const { body: message } = await stack.api<{ status: string; errorCode?: string; error?: string; attempts: number }>('GET', `/api/v1/messages/${body.messageId}`);
      expect(message.status).toBe('failed');
      return message;
    });
    expect(failed).toMatchObject({ errorCode: 'twilio_21211', attempts: 1 });
    expect(failed.error).toContain('not a valid phone number');
  });
});
