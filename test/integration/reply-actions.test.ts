import { randomBytes } from 'node:crypto';
import nock from 'nock';
import twilio from 'twilio';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { optOut } from '../../src/messaging/unsubscribe.js';
import { FakeWhatsApp, receivedMessage } from '../support/fake-whatsapp.js';
import { TestSmtpServer } from '../support/smtp.js';
import { clockPast, createWebform, defaultBackends, eventually, postForm, settle, type Stack, startStack, type WebformSource } from '../support/stack.js';

interface MessageView {
  id: string;
  direction: 'in' | 'out';
  channel: string;
  text: string | null;
  status: string;
  scheduledAt: string | null;
  sentAt: string | null;
  attempts: number;
  error?: string;
  errorCode?: string;
  attachments: { id: string; filename: string; contentType: string; size: number; url: string }[];
}
interface Problem {
  type: string;
  status: number;
  detail?: string;
  errors?: { path: string }[];
}
interface Activity {
  kind: string;
  actor: { type: string };
  data: Record<string, unknown>;
}

const pdf = () => Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(4096)]);
const png = () => Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(1024)]);

async function upload(stack: Stack, filename: string, contentType: string, data: Buffer) {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(data)], { type: contentType }), filename);
  const response = await fetch(`${stack.baseUrl}/api/v1/uploads`, { method: 'POST', headers: { authorization: `Bearer ${stack.apiKey}` }, body: form });
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', body: (await response.json()) as { id: string; size: number } & Problem };
}

const message = async (stack: Stack, id: string) => (await stack.api<MessageView>('GET', `/api/v1/messages/${id}`)).body;
const timeline = async (stack: Stack, leadId: string) => (await stack.api<{ data: Activity[] }>('GET', `/api/v1/leads/${leadId}/activities`)).body.data;

describe.each(defaultBackends)('reply actions on $db with the $queue queue', ({ db, queue }) => {
  let stack: Stack;
  let smtp: TestSmtpServer;
  let form: WebformSource;

  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    stack = await startStack({ db, queue, smtp: { url: smtp.url, from: 'Acme <vendas@acme.test>' }, env: { LEADGATE_SEND_MAX_ATTEMPTS: '2', LEADGATE_MAX_UPLOAD_BYTES: '100000' } });
    form = await createWebform(stack, { autoReplyTemplate: null });
  });
  afterAll(async () => {
    await stack?.close();
    await smtp?.stop();
  });

  async function leadFor(email: string): Promise<{ id: string; contactId: string }> {
    await postForm(stack, form, { name: email.split('@')[0], email });
    return eventually(async () => {
      const { body } = await stack.api<{ data: { id: string; contactId: string }[] }>('GET', `/api/v1/leads?q=${encodeURIComponent(email)}`);
      expect(body.data).toHaveLength(1);
      return body.data[0]!;
    });
  }
  const mailTo = (address: string) => smtp.received.filter((mail) => mail.envelope.to.includes(address));

  it('sends files with an email reply: they reach the SMTP server byte for byte, and read back from the API', async () => {
    const lead = await leadFor('files@example.com');
    const proposal = pdf();
    const roof = png();
    const first = await upload(stack, 'proposta.pdf', 'application/pdf', proposal);
    const second = await upload(stack, 'telhado.png', 'image/png', roof);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ filename: 'proposta.pdf', contentType: 'application/pdf', size: proposal.length });

    const sent = await stack.api<{ messageId: string; status: string }>('POST', `/api/v1/leads/${lead.id}/messages`, {
      text: 'Segue a proposta e a foto do telhado.',
      attachmentIds: [first.body.id, second.body.id],
    });
    expect(sent).toMatchObject({ status: 202, body: { status: 'queued' } });
    const [mail] = await eventually(() => {
      const mails = mailTo('files@example.com');
      expect(mails).toHaveLength(1);
      return mails;
    });
    expect(mail!.mail.text?.trim()).toBe('Segue a proposta e a foto do telhado.');
    expect(mail!.mail.attachments.map((a) => [a.filename, a.contentType])).toEqual([
      ['proposta.pdf', 'application/pdf'],
      ['telhado.png', 'image/png'],
    ]);
    expect(Buffer.compare(mail!.mail.attachments[0]!.content, proposal)).toBe(0);
    expect(Buffer.compare(mail!.mail.attachments[1]!.content, roof)).toBe(0);

    const view = await eventually(async () => {
      const row = await message(stack, sent.body.messageId);
      expect(row.status).toBe('sent');
      return row;
    });
    expect(view.attachments.map(({ filename, contentType, size }) => ({ filename, contentType, size }))).toEqual([
      { filename: 'proposta.pdf', contentType: 'application/pdf', size: proposal.length },
      { filename: 'telhado.png', contentType: 'image/png', size: roof.length },
    ]);
    const download = await fetch(`${stack.baseUrl}${view.attachments[0]!.url}`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    expect(download.headers.get('content-type')).toBe('application/pdf');
    expect(Buffer.compare(Buffer.from(await download.arrayBuffer()), proposal)).toBe(0);
    // Not without credentials.
    expect((await fetch(`${stack.baseUrl}${view.attachments[0]!.url}`)).status).toBe(401);

    // An upload goes with one message only.
    const again = await stack.api<Problem>('POST', `/api/v1/leads/${lead.id}/messages`, { text: 'De novo', attachmentIds: [first.body.id] });
    expect(again.status).toBe(422);
    expect(again.body.errors?.[0]?.path).toBe('attachmentIds');
  });

  it('refuses files of types it does not send, whose bytes contradict their type, or past the size limit', async () => {
    const html = await upload(stack, 'page.html', 'text/html', Buffer.from('<script>alert(1)</script>'));
    expect(html.status).toBe(415);
    expect(html.contentType).toMatch(/^application\/problem\+json/);
    expect(html.body.type).toBe('https://leadgate.dev/problems/unsupported-media-type');
    const fake = await upload(stack, 'photo.png', 'image/png', Buffer.from('MZ this is not a picture'));
    expect(fake.status).toBe(415);
    expect(fake.body.detail).toMatch(/photo\.png.*not/);
    const big = await upload(stack, 'big.pdf', 'application/pdf', Buffer.concat([Buffer.from('%PDF-'), randomBytes(100_000)]));
    expect(big.status).toBe(413);
    expect(big.body.type).toBe('https://leadgate.dev/problems/payload-too-large');
  });

  it('schedules a message, shows it as scheduled, and sends it at its time, across a restart', async () => {
    const lead = await leadFor('later@example.com');
    const sendAt = new Date(Date.now() + 2500);
    const scheduled = await stack.api<{ messageId: string; status: string; scheduledAt: string }>('POST', `/api/v1/leads/${lead.id}/messages`, {
      text: 'Bom dia! Como combinado, retomando o contato.',
      sendAt: sendAt.toISOString(),
    });
    expect(scheduled).toMatchObject({ status: 202, body: { status: 'scheduled', scheduledAt: sendAt.toISOString() } });
    expect(await message(stack, scheduled.body.messageId)).toMatchObject({ status: 'scheduled', scheduledAt: sendAt.toISOString(), sentAt: null });
    expect((await timeline(stack, lead.id))[0]).toMatchObject({ kind: 'message.scheduled', data: { messageId: scheduled.body.messageId, sendAt: sendAt.toISOString() } });

    await stack.restart();
    expect(mailTo('later@example.com')).toHaveLength(0);
    const sent = await eventually(async () => {
      const row = await message(stack, scheduled.body.messageId);
      expect(row.status).toBe('sent');
      return row;
    });
    expect(new Date(sent.sentAt!).getTime()).toBeGreaterThanOrEqual(sendAt.getTime());
    expect(mailTo('later@example.com')).toHaveLength(1);
    expect(mailTo('later@example.com')[0]!.mail.text?.trim()).toBe('Bom dia! Como combinado, retomando o contato.');

    const past = await stack.api<Problem>('POST', `/api/v1/leads/${lead.id}/messages`, { text: 'Ontem', sendAt: new Date(Date.now() - 3600_000).toISOString() });
    expect(past.status).toBe(422);
    expect(past.body.errors?.[0]?.path).toBe('sendAt');
  });

  it('cancels a scheduled message, which is then never sent; only a scheduled one can be canceled', async () => {
    const lead = await leadFor('cancel@example.com');
    const sendAt = new Date(Date.now() + 1500);
    const { body } = await stack.api<{ messageId: string }>('POST', `/api/v1/leads/${lead.id}/messages`, { text: 'Lembrete da visita', sendAt: sendAt.toISOString() });
    const canceled = await stack.api<MessageView>('DELETE', `/api/v1/messages/${body.messageId}`);
    expect(canceled).toMatchObject({ status: 200, body: { id: body.messageId, status: 'canceled' } });
    expect((await timeline(stack, lead.id))[0]).toMatchObject({ kind: 'message.canceled', actor: { type: 'api_key' }, data: { messageId: body.messageId } });
    const twice = await stack.api<Problem>('DELETE', `/api/v1/messages/${body.messageId}`);
    expect(twice.status).toBe(409);
    expect(twice.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(twice.body.detail).toMatch(/canceled/);

    // Past its time and a few sweeps later, still canceled and never mailed.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, sendAt.getTime() - Date.now()) + 1000));
    expect((await message(stack, body.messageId)).status).toBe('canceled');
    expect(mailTo('cancel@example.com')).toHaveLength(0);
  });

  it('does not send a scheduled message to a contact who opted out before its time', async () => {
    const lead = await leadFor('optout@example.com');
    const { body } = await stack.api<{ messageId: string }>('POST', `/api/v1/leads/${lead.id}/messages`, { text: 'Oferta especial', sendAt: new Date(Date.now() + 1500).toISOString() });
    await optOut(stack.gateway.deps.db.prisma, lead.contactId, 'email', 'unsubscribe link');
    const failed = await eventually(async () => {
      const row = await message(stack, body.messageId);
      expect(row.status).toBe('failed');
      return row;
    });
    expect(failed.errorCode).toBe('opted_out');
    expect(failed.error).toMatch(/opted out of email/);
    expect(mailTo('optout@example.com')).toHaveLength(0);
  });

  it('retries the same failed message on request; 409 for one that did not fail', async () => {
    const lead = await leadFor('retry@example.com');
    smtp.failNext(1, 550, 'Mailbox unavailable');
    const { body } = await stack.api<{ messageId: string }>('POST', `/api/v1/leads/${lead.id}/messages`, { text: 'Primeira tentativa' });
    await eventually(async () => expect(await message(stack, body.messageId)).toMatchObject({ status: 'failed', errorCode: 'smtp_rejected' }));

    const retried = await stack.api<{ messageId: string; status: string }>('POST', `/api/v1/messages/${body.messageId}/retry`);
    expect(retried).toMatchObject({ status: 202, body: { messageId: body.messageId, status: 'queued' } });
    const sent = await eventually(async () => {
      const row = await message(stack, body.messageId);
      expect(row.status).toBe('sent');
      return row;
    });
    expect(sent.error).toBeUndefined();
    expect(mailTo('retry@example.com').map((mail) => mail.mail.text?.trim())).toEqual(['Primeira tentativa']);
    const outbound = (await stack.api<{ data: MessageView[] }>('GET', `/api/v1/leads/${lead.id}/messages`)).body.data.filter((m) => m.direction === 'out');
    expect(outbound.map((m) => m.id)).toEqual([body.messageId]);
    expect((await timeline(stack, lead.id)).map((a) => a.kind)).toContain('message.retried');

    const notFailed = await stack.api<Problem>('POST', `/api/v1/messages/${body.messageId}/retry`);
    expect(notFailed.status).toBe(409);
    expect(notFailed.body.type).toBe('https://leadgate.dev/problems/conflict');
  });

  it('stops a lead\'s sequence by hand: on the timeline, and no further step is sent', async () => {
    const lead = await leadFor('nurture@example.com');
    const sequence = await stack.api<{ id: string }>('POST', '/api/v1/sequences', {
      name: 'Nutrição',
      steps: [
        { waitMinutes: 0, templateId: 'en.thank_you.email' },
        { waitMinutes: 0.03, templateId: 'en.thank_you.email' },
      ],
    });
    expect(sequence.status).toBe(201);
    expect((await stack.api('POST', `/api/v1/leads/${lead.id}/sequences`, { sequenceId: sequence.body.id })).status).toBe(201);
    await eventually(() => expect(mailTo('nurture@example.com')).toHaveLength(1));
    const secondDue = await eventually(async () => {
      const { body: enrolments } = await stack.api<{ data: { status: string; nextStep: number; nextStepAt: string | null }[] }>('GET', `/api/v1/leads/${lead.id}/sequences`);
      expect(enrolments.data[0]).toMatchObject({ status: 'active', nextStep: 1 });
      return new Date(enrolments.data[0]!.nextStepAt!);
    });

    const stopped = await stack.api<{ status: string; stopReason: string }>('DELETE', `/api/v1/leads/${lead.id}/sequences/${sequence.body.id}`);
    expect(stopped).toMatchObject({ status: 200, body: { status: 'stopped', stopReason: 'stopped by hand' } });
    expect((await timeline(stack, lead.id))[0]).toMatchObject({ kind: 'sequence.stopped', actor: { type: 'api_key' }, data: { sequenceId: sequence.body.id } });
    expect((await stack.api('DELETE', `/api/v1/leads/${lead.id}/sequences/${sequence.body.id}`)).status).toBe(409);
    expect((await stack.api('DELETE', `/api/v1/leads/${lead.id}/sequences/seq_unknown`)).status).toBe(404);

    // Past the moment the second step was due (1.8 s after the first), and everything due then done.
    await clockPast(secondDue);
    await settle(stack);
    expect(mailTo('nurture@example.com')).toHaveLength(1);
  });

  it('holds a scheduled message through quiet hours', async () => {
    const lead = await leadFor('quiet@example.com');
    const { body: workspace } = await stack.api<{ timeZone: string }>('GET', '/api/v1/workspace');
    const local = (offsetMinutes: number) =>
      new Intl.DateTimeFormat('en-GB', { timeZone: workspace.timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(Date.now() + offsetMinutes * 60_000));
    expect((await stack.api('PATCH', '/api/v1/workspace', { quietHours: { start: local(-30), end: local(30) } })).status).toBe(200);
    const sendAt = new Date(Date.now() + 1000);
    const { body } = await stack.api<{ messageId: string }>('POST', `/api/v1/leads/${lead.id}/messages`, { text: 'Boa noite', sendAt: sendAt.toISOString() });
    const prisma = stack.gateway.deps.db.prisma;
    const held = await eventually(async () => {
      const row = await prisma.message.findUniqueOrThrow({ where: { id: body.messageId } });
      expect(row.nextAttemptAt!.getTime()).toBeGreaterThan(Date.now() + 20 * 60_000);
      return row;
    });
    expect(held.status).toBe('scheduled');
    expect(mailTo('quiet@example.com')).toHaveLength(0);
  });

  it('answers 422 for files on SMS when the gateway has no public URL for Twilio to fetch them from', async () => {
    const accountSid = `AC${'b2'.repeat(16)}`;
    const authToken = 'reply-actions-auth-token-0123456';
    const source = await stack.api<{ id: string; webhooks: { sms: string } }>('POST', '/api/v1/sources', {
      kind: 'twilio',
      name: 'SMS line',
      accountSid,
      authToken,
      phoneNumber: '+5511400099999',
      autoReplyTemplate: null,
    });
    expect(source.status).toBe(201);
    const params = { MessageSid: `SM${'c3'.repeat(16)}`, AccountSid: accountSid, From: '+5511987650001', To: '+5511400099999', Body: 'Oi, quero saber mais', NumMedia: '0' };
    const response = await fetch(`${stack.baseUrl}${new URL(source.body.webhooks.sms).pathname}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(authToken, source.body.webhooks.sms, params) },
      body: new URLSearchParams(params),
    });
    expect(response.status).toBe(200);
    const lead = await eventually(async () => {
      const { body } = await stack.api<{ data: { id: string }[] }>('GET', `/api/v1/leads?q=${encodeURIComponent('5511987650001')}`);
      expect(body.data).toHaveLength(1);
      return body.data[0]!;
    });
    const file = await upload(stack, 'foto.png', 'image/png', png());
    const refused = await stack.api<Problem>('POST', `/api/v1/leads/${lead.id}/messages`, { text: 'Segue a foto', channel: 'sms', attachmentIds: [file.body.id] });
    expect(refused.status).toBe(422);
    expect(refused.body.type).toBe('https://leadgate.dev/problems/attachments-not-supported');
    expect(refused.body.detail).toMatch(/PUBLIC_URL/);
  });
});

describe('files over WhatsApp and MMS', () => {
  const publicUrl = 'https://leads.acme.test';
  const fake = new FakeWhatsApp();
  const timing = { typingMs: 5, sendGapMs: 5, retryBaseMs: 50, retryMaxMs: 200, pairingPollMs: 50, watchdogMs: 400, pingTimeoutMs: 200 };
  let stack: Stack;

  beforeAll(async () => {
    nock.disableNetConnect();
    nock.enableNetConnect(/^(127\.0\.0\.1|localhost)(:\d+)?$/);
    stack = await startStack({ db: 'pglite', queue: 'embedded', env: { PUBLIC_URL: publicUrl }, adapterOptions: { whatsapp: { driver: fake, timing } } });
  });
  afterEach(() => {
    expect(nock.pendingMocks()).toEqual([]);
    nock.cleanAll();
  });
  afterAll(async () => {
    await stack?.close();
    nock.enableNetConnect();
  });

  async function leadWith(phoneDigits: string): Promise<string> {
    return eventually(async () => {
      const { body } = await stack.api<{ data: { id: string }[] }>('GET', `/api/v1/leads?q=${phoneDigits}`);
      expect(body.data).toHaveLength(1);
      return body.data[0]!.id;
    });
  }

  it('documents the upload, send, cancel, retry and stop endpoints in the OpenAPI document', async () => {
    type Operation = { requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> } };
    const document = (await (await fetch(`${stack.baseUrl}/openapi.json`)).json()) as { paths: Record<string, Record<string, Operation>> };
    expect(Object.keys(document.paths['/api/v1/uploads']!.post!.requestBody!.content)).toEqual(['multipart/form-data']);
    expect(Object.keys(document.paths['/api/v1/leads/{id}/messages']!.post!.requestBody!.content['application/json']!.schema.properties!)).toEqual(
      expect.arrayContaining(['text', 'templateId', 'attachmentIds', 'sendAt']),
    );
    expect(document.paths['/api/v1/messages/{id}']!.delete).toBeDefined();
    expect(document.paths['/api/v1/messages/{id}/retry']!.post).toBeDefined();
    expect(document.paths['/api/v1/leads/{id}/sequences/{sequenceId}']!.delete).toBeDefined();
    expect(document.paths['/media/{token}']!.get).toBeDefined();
  });

  it('sends an image and a document through the WhatsApp socket, the text as the image\'s caption', async () => {
    const created = await stack.api<{ id: string }>('POST', '/api/v1/sources', { kind: 'whatsapp', name: 'Vendas', autoReplyTemplate: null });
    expect(created.status).toBe(201);
    await eventually(() => expect(fake.live).toBeDefined());
    await fake.live!.link('5511955550000');
    const socket = await eventually(async () => {
      expect(fake.live?.opened).toBe(true);
      const { body } = await stack.api<{ status: { state: string } }>('GET', `/api/v1/sources/${created.body.id}`);
      expect(body.status.state).toBe('connected');
      return fake.live!;
    });
    const jid = '5511987651234@s.whatsapp.net';
    fake.accounts.set('5511987651234', jid);
    socket.receive([receivedMessage({ from: jid, pushName: 'Bia', message: { conversation: 'Me manda a proposta?' } })]);
    const leadId = await leadWith('5511987651234');

    const photo = png();
    const proposal = pdf();
    const image = await upload(stack, 'telhado.png', 'image/png', photo);
    expect(`${image.status} ${JSON.stringify(image.body)}`).toMatch(/^201/);
    const document = await upload(stack, 'proposta.pdf', 'application/pdf', proposal);
    const mark = fake.sent.length;
    const { status, body } = await stack.api<{ messageId: string }>('POST', `/api/v1/leads/${leadId}/messages`, { text: 'Aqui está, Bia', attachmentIds: [image.body.id, document.body.id] });
    expect(`${status} ${JSON.stringify(body)}`).toMatch(/^202/);
    await eventually(async () => expect((await message(stack, body.messageId)).status).toBe('sent'));
    expect(fake.sent.slice(mark).map(({ jid: to, content }) => ({ to, content }))).toEqual([
      { to: jid, content: { image: photo, mimetype: 'image/png', caption: 'Aqui está, Bia' } },
      { to: jid, content: { document: proposal, mimetype: 'application/pdf', fileName: 'proposta.pdf' } },
    ]);
  });

  it('sends files by SMS as MMS media URLs that Twilio can fetch without credentials', async () => {
    const accountSid = `AC${'d4'.repeat(16)}`;
    const authToken = 'mms-auth-token-0123456789abcdef';
    const source = await stack.api<{ id: string; webhooks: { sms: string } }>('POST', '/api/v1/sources', {
      kind: 'twilio',
      name: 'MMS line',
      accountSid,
      authToken,
      phoneNumber: '+14155550100',
      autoReplyTemplate: null,
    });
    const params = { MessageSid: `SM${'e5'.repeat(16)}`, AccountSid: accountSid, From: '+14155550199', To: '+14155550100', Body: 'Send me the flyer', NumMedia: '0' };
    const inbound = await fetch(source.body.webhooks.sms.replace(publicUrl, stack.baseUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(authToken, source.body.webhooks.sms, params) },
      body: new URLSearchParams(params),
    });
    expect(inbound.status).toBe(200);
    const leadId = await leadWith('14155550199');
    const flyer = png();
    const file = await upload(stack, 'flyer.png', 'image/png', flyer);

    let mediaUrl = '';
    const scope = nock('https://api.twilio.com')
      .post(`/2010-04-01/Accounts/${accountSid}/Messages.json`, (body: Record<string, string>) => {
        expect(body).toMatchObject({ To: '+14155550199', From: '+14155550100', Body: 'Here it is' });
        mediaUrl = body.MediaUrl!;
        return true;
      })
      .reply(201, { sid: `SM${'f6'.repeat(16)}`, status: 'queued' });
    const { status, body } = await stack.api<{ messageId: string }>('POST', `/api/v1/leads/${leadId}/messages`, { text: 'Here it is', channel: 'sms', attachmentIds: [file.body.id] });
    expect(`${status} ${JSON.stringify(body)}`).toMatch(/^202/);
    await eventually(async () => expect((await message(stack, body.messageId)).status).toBe('sent'));
    scope.done();
    expect(mediaUrl.startsWith(`${publicUrl}/media/`)).toBe(true);
    const fetched = await fetch(mediaUrl.replace(publicUrl, stack.baseUrl));
    expect(fetched.headers.get('content-type')).toBe('image/png');
    expect(Buffer.compare(Buffer.from(await fetched.arrayBuffer()), flyer)).toBe(0);
    // A forged link reaches nothing.
    expect((await fetch(`${stack.baseUrl}/media/${file.body.id}.forged`)).status).toBe(404);
  });
});
