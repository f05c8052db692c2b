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
}

const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', parseTagValue: false, isArray: (name) => name === 'Number' || name === 'Say' });

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
    expect(twiml.Say[0]).toMatchObject({ '#text': 'Olá! Você ligou para a Acme Solar.', language: 'pt-BR' });
    expect(twiml.Dial).toMatchObject({ action: `${hooks.voiceStatus}?answeredBy=${repId}`, method: 'POST', timeout: '20', callerId: caller });
    expect(twiml.Dial.Number).toEqual([repPhone]);

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
    expect(voicemail.Say[0]['#text']).toMatch(/Deixe sua mensagem/);
    expect(voicemail.Record).toMatchObject({ action: hooks.recording, transcribe: 'true', transcribeCallback: hooks.recording, recordingStatusCallback: hooks.recording });

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
    const transcript = { ...callParams(callSid), RecordingSid: recording.RecordingSid, TranscriptionSid: 'TR44444444444444444444444444444444', TranscriptionStatus: 'completed', TranscriptionText: 'Oi, quero um orçamento de energia solar.' };
    expect((await twilioPost(hooks.recording, transcript)).status).toBe(200);

    // Twilio's callbacks may arrive, and be processed, in any order.
    await eventually(async () => {
      const call = (await messagesOf(lead.id)).find((m) => m.channel === 'voice')!;
      expect(call.text).toBe('Oi, quero um orçamento de energia solar.');
      expect(call.fields).toMatchObject({ callStatus: 'voicemail', recordingUrl: recording.RecordingUrl });
    });
    const { body: timeline } = await stack.api<{ data: { kind: string }[] }>('GET', `/api/v1/leads/${lead.id}/activities`);
    const kinds = timeline.data.map((a) => a.kind);
    expect(kinds.filter((k) => k === 'call.voicemail')).toHaveLength(1);
    expect(kinds).toEqual(expect.arrayContaining(['call.missed', 'follow_up.created', 'call.transcribed', 'message.sent']));
    expect(kinds.filter((k) => k === 'follow_up.created')).toHaveLength(1);

    const delivered = await twilioPost(hooks.smsStatus, { MessageSid: 'SM22222222222222222222222222222222', MessageStatus: 'delivered', AccountSid: accountSid, From: businessNumber, To: caller });
    expect(delivered.status).toBe(204);
    await eventually(async () => expect((await messagesOf(lead.id)).find((m) => m.direction === 'out')!.status).toBe('delivered'));
  });

  it('keeps a repeat caller on the same lead and rings the same rep; an answered call gets no call-back', async () => {
    const lead = await leadOf(caller);
    const answer = await twilioPost(hooks.voice, callParams('CA55555555555555555555555555555555', '11 98765-4321'));
    expect(xml.parse(answer.text).Response.Dial.Number).toEqual([repPhone]);
    const action = xml.parse(answer.text).Response.Dial.action as string;
    const hangup = await twilioPost(action, { ...callParams('CA55555555555555555555555555555555', '11 98765-4321'), DialCallStatus: 'completed', DialCallDuration: '95' });
    expect(xml.parse(hangup.text).Response).toHaveProperty('Hangup');
    await eventually(async () => {
      const calls = (await messagesOf(lead.id)).filter((m) => m.channel === 'voice');
      expect(calls.map((m) => m.fields?.callStatus)).toEqual(['voicemail', 'answered']);
      expect(calls[1]!.fields).toMatchObject({ durationSeconds: 95, answeredBy: repId });
    });
    expect((await leadOf(caller)).id).toBe(lead.id);
    const { body: followUps } = await stack.api<{ data: unknown[] }>('GET', `/api/v1/follow-ups?leadId=${lead.id}`);
    expect(followUps.data).toHaveLength(1);
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
      NumMedia: '1',
      MediaUrl0: `https://api.twilio.com/2010-04-01/Accounts/${accountSid}/Messages/SM777/Media/ME1`,
      MediaContentType0: 'image/jpeg',
    };
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
    expect(Object.values(inbound.fields ?? {}).join(' ')).toContain(`${sms.MediaUrl0} (image/jpeg)`);

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
