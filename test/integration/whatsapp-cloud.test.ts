import { createHmac } from 'node:crypto';
import nock from 'nock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually, mainBackends, settle, type Stack, startStack } from '../support/stack.js';

const publicUrl = 'https://leads.acme.test';
const graph = 'https://graph.facebook.com';
const appSecret = 'f3c9a1b2d4e5f60718293a4b5c6d7e8f';
const accessToken = 'EAAGm0PX4ZCpsBAKZC7xZBZCtest0123456789abcdefghijkl';
const phoneNumberId = '106540352242922';
const wabaId = '102290129340398';

interface CloudSource {
  id: string;
  kind: string;
  webhookUrl: string;
  verifyToken: string;
  phoneNumberId: string;
  status: { state: string; lastError?: string };
}
interface Lead {
  id: string;
  contactId: string;
  phone: string | null;
  whatsappId: string | null;
  name: string | null;
  channel: string;
  customFields: Record<string, string>;
}
interface MessageView {
  id: string;
  direction: 'in' | 'out';
  channel: string;
  status: string;
  text: string | null;
  error?: string | null;
  errorCode?: string | null;
  fields?: Record<string, string> | null;
  attachments: { filename: string; contentType: string; size: number | null; url: string; status: string; error?: string | null }[];
}

/** Meta's JSON: "/" and every character past ASCII escaped, as the webhooks arrive. */
function asMetaSends(value: unknown): string {
  return JSON.stringify(value)
    .replace(/\//g, '\\/')
    .replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function sign(raw: string, secret = appSecret): string {
  return `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;
}

const unix = (date = new Date()) => String(Math.floor(date.getTime() / 1000));

/** A `messages` change as Meta documents it: the business number's metadata, who wrote, and what. */
function messagesChange(value: { contacts?: unknown[]; messages?: unknown[]; statuses?: unknown[] }) {
  return {
    field: 'messages',
    value: {
      messaging_product: 'whatsapp',
      metadata: { display_phone_number: '551140001234', phone_number_id: phoneNumberId },
      ...value,
    },
  };
}

function envelope(...changes: unknown[][]) {
  return { object: 'whatsapp_business_account', entry: changes.map((entryChanges) => ({ id: wabaId, changes: entryChanges })) };
}

const contact = (waId: string, name: string) => ({ profile: { name }, wa_id: waId });

describe.each(mainBackends)('WhatsApp Cloud API on $db with the $queue queue', ({ db, queue }) => {
  let stack: Stack;
  let source: CloudSource;

  async function post(raw: string, headers: Record<string, string> = { 'x-hub-signature-256': sign(raw) }) {
    const response = await fetch(`${stack.baseUrl}/hooks/meta/${source.id}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw });
    return { status: response.status, contentType: response.headers.get('content-type') ?? '', body: await response.text() };
  }
  async function leadOf(q: string): Promise<Lead> {
    return eventually(async () => {
      const { body } = await stack.api<{ data: Lead[] }>('GET', `/api/v1/leads?q=${encodeURIComponent(q)}`);
      expect(body.data).toHaveLength(1);
      return (await stack.api<Lead>('GET', `/api/v1/leads/${body.data[0]!.id}`)).body;
    });
  }
  async function messagesOf(leadId: string): Promise<MessageView[]> {
    return (await stack.api<{ data: MessageView[] }>('GET', `/api/v1/leads/${leadId}/messages`)).body.data;
  }
  async function eventCount(): Promise<number> {
    await settle(stack);
    const { body } = await stack.api<{ data: unknown[] }>('GET', '/api/v1/inbound-events?limit=200');
    const rejected = await stack.api<{ data: unknown[] }>('GET', '/api/v1/inbound-events?limit=200&status=rejected');
    return body.data.length + rejected.body.data.length;
  }
  /** The phone number lookup Meta answers when a source is saved. */
  function phoneNumberCheck() {
    return nock(graph)
      .get(`/v21.0/${phoneNumberId}`)
      .query({ fields: 'display_phone_number,verified_name' })
      .matchHeader('authorization', `Bearer ${accessToken}`)
      .reply(200, { verified_name: 'Acme Solar', display_phone_number: '+55 11 4000-1234', id: phoneNumberId });
  }

  beforeAll(async () => {
    nock.disableNetConnect();
    nock.enableNetConnect(/^(127\.0\.0\.1|localhost)(:\d+)?$/);
    stack = await startStack({ db, queue, env: { PUBLIC_URL: publicUrl } });
    const check = phoneNumberCheck();
    const { status, body } = await stack.api<CloudSource>('POST', '/api/v1/sources', {
      kind: 'whatsapp_cloud',
      name: 'WhatsApp oficial',
      appSecret,
      accessToken,
      phoneNumberId,
      businessAccountId: wabaId,
      autoReplyTemplate: null,
      templates: [{ template: 'follow_up', name: 'retomar_contato', language: 'pt_BR', variables: ['lead.firstName', 'workspace.name'] }],
    });
    expect(status).toBe(201);
    check.done();
    source = body;
  });

  afterEach(() => {
    expect(nock.pendingMocks()).toEqual([]);
    nock.cleanAll();
  });

  afterAll(async () => {
    await stack?.close();
    nock.enableNetConnect();
  });

  it('shows the callback URL and verify token to paste into Meta, never the app secret or the token', async () => {
    expect(source.webhookUrl).toBe(`${publicUrl}/hooks/meta/${source.id}`);
    expect(source.verifyToken).toMatch(/^lgv_/);
    const { body } = await stack.api<{ data: CloudSource[] }>('GET', '/api/v1/sources');
    const shown = JSON.stringify(body.data.find((candidate) => candidate.id === source.id));
    expect(shown).not.toContain(appSecret);
    expect(shown).not.toContain(accessToken);
  });

  it('refuses to save a source whose token Meta rejects, naming the field', async () => {
    const scope = nock(graph)
      .get(`/v21.0/${phoneNumberId}`)
      .query(true)
      .reply(401, { error: { message: 'Error validating access token: Session has expired on Tuesday, 01-Dec-26 10:00:00 PST.', type: 'OAuthException', code: 190, error_subcode: 463, fbtrace_id: 'AbCdEf' } });
    const { status, headers, body } = await stack.api<{ errors: { path: string; message: string }[] }>('POST', '/api/v1/sources', {
      kind: 'whatsapp_cloud',
      name: 'Expired',
      appSecret,
      accessToken: 'EAAexpiredexpiredexpiredexpired',
      phoneNumberId,
    });
    expect(status).toBe(422);
    expect(headers.get('content-type')).toMatch(/problem\+json/);
    expect(body.errors[0]!.path).toBe('accessToken');
    expect(body.errors[0]!.message).toMatch(/expired/i);
    scope.done();
  });

  it('answers the verification handshake with the challenge only for the source\'s verify token', async () => {
    const url = (token: string, mode = 'subscribe') =>
      `${stack.baseUrl}/hooks/meta/${source.id}?hub.mode=${mode}&hub.challenge=1158201444&hub.verify_token=${encodeURIComponent(token)}`;
    const ok = await fetch(url(source.verifyToken));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await ok.text()).toBe('1158201444');
    for (const wrong of [url('not-the-token'), url(source.verifyToken, 'unsubscribe')]) {
      const refused = await fetch(wrong);
      expect(refused.status).toBe(403);
      expect(refused.headers.get('content-type')).toMatch(/problem\+json/);
    }
    const unknown = await fetch(`${stack.baseUrl}/hooks/meta/src_unknown?hub.mode=subscribe&hub.challenge=1&hub.verify_token=x`);
    expect(unknown.status).toBe(404);
  });

  it('stores nothing from an unsigned or wrongly signed post', async () => {
    const before = await eventCount();
    const raw = asMetaSends(envelope([messagesChange({ contacts: [contact('5511911110000', 'Intruso')], messages: [{ from: '5511911110000', id: 'wamid.FORGED', timestamp: unix(), type: 'text', text: { body: 'oi' } }] })]));
    const unsigned = await post(raw, {});
    expect(unsigned.status).toBe(401);
    expect(unsigned.contentType).toMatch(/problem\+json/);
    const wrong = await post(raw, { 'x-hub-signature-256': sign(raw, 'another-apps-secret-0000000000') });
    expect(wrong.status).toBe(403);
    // Signed over the bytes, not the meaning: the same JSON written differently does not pass.
    const reformatted = await post(JSON.stringify(JSON.parse(raw), null, 1), { 'x-hub-signature-256': sign(raw) });
    expect(reformatted.status).toBe(403);
    expect(await eventCount()).toBe(before);
  });

  it('captures every message and status of a batched body, signed over escaped JSON, once however often Meta retries', async () => {
    const adClick = {
      from: '5511987650001',
      id: 'wamid.HBgNNTUxMTk4NzY1MDAwMRUCABIYFDNBMDFBRDAwMDAwMDAwMDAwMDAxAA==',
      timestamp: unix(),
      type: 'text',
      text: { body: 'Olá! Quero saber o preço do kit solar' },
      referral: {
        source_url: 'https://fb.me/3cr4Wqqkv',
        source_id: '120210000000000001',
        source_type: 'ad',
        body: 'Economize até 95% na conta de luz',
        headline: 'Energia solar em 12x',
        media_type: 'image',
        image_url: 'https://scontent.xx.fbcdn.net/v/t45.1600-4/ad.jpg',
        ctwa_clid: 'ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEkR7JwFF4XvnO2E4Nx0-eM-GABDLOPaOdRMv-_zfUQ2a',
      },
    };
    const location = {
      from: '5511987650002',
      id: 'wamid.HBgNNTUxMTk4NzY1MDAwMhUCABIYFDNBMDJMT0MwMDAwMDAwMDAwMDAyAA==',
      timestamp: unix(),
      type: 'location',
      location: { latitude: -23.5613, longitude: -46.6565, name: 'Escritório', address: 'Av. Paulista, 1000' },
    };
    const button = {
      context: { from: '551140001234', id: 'wamid.BUSINESS_TEMPLATE_0001' },
      from: '5511987650002',
      id: 'wamid.HBgNNTUxMTk4NzY1MDAwMhUCABIYFDNBMDJCVE4wMDAwMDAwMDAwMDAzAA==',
      timestamp: unix(),
      type: 'interactive',
      interactive: { type: 'button_reply', button_reply: { id: 'quero-orcamento', title: 'Quero um orçamento' } },
    };
    const body = envelope(
      [messagesChange({ contacts: [contact('5511987650001', 'Joana Prado')], messages: [adClick] })],
      [messagesChange({ contacts: [contact('5511987650002', 'Caio Lima')], messages: [location, button] }), { field: 'message_template_status_update', value: { event: 'APPROVED', message_template_id: 1, message_template_name: 'x', message_template_language: 'pt_BR' } }],
    );
    const raw = asMetaSends(body);
    expect(raw).toContain('\\u00e1');
    expect(raw).toContain('https:\\/\\/fb.me');
    const before = await eventCount();
    const first = await post(raw);
    expect(first.status).toBe(200);
    // Meta retries what it thinks was not received: nothing is captured twice.
    expect((await post(raw)).status).toBe(200);
    expect(await eventCount()).toBe(before + 3);

    const joana = await leadOf('+5511987650001');
    expect(joana).toMatchObject({ name: 'Joana Prado', phone: '+5511987650001', whatsappId: '5511987650001@s.whatsapp.net', channel: 'whatsapp' });
    expect(joana.customFields).toMatchObject({
      ad_id: '120210000000000001',
      ad_source_type: 'ad',
      ad_title: 'Energia solar em 12x',
      ad_body: 'Economize até 95% na conta de luz',
      ad_url: 'https://fb.me/3cr4Wqqkv',
      ctwa_clid: adClick.referral.ctwa_clid,
    });
    expect((await messagesOf(joana.id)).filter((m) => m.direction === 'in').map((m) => m.text)).toEqual(['Olá! Quero saber o preço do kit solar']);

    const caio = await leadOf('+5511987650002');
    const texts = (await messagesOf(caio.id)).filter((m) => m.direction === 'in').map((m) => m.text);
    expect(texts).toEqual(['Location: Escritório, Av. Paulista, 1000: https://maps.google.com/?q=-23.5613,-46.6565', 'Quero um orçamento']);
  });

  it('makes a Brazilian number without the ninth digit the same person as a form with it', async () => {
    const form = await stack.api<{ id: string; secret: string; webhookUrl: string }>('POST', '/api/v1/sources', { kind: 'webform', name: 'Site' });
    const submitted = await fetch(`${stack.baseUrl}/hooks/forms/${form.body.id}?token=${form.body.secret}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Bruna Reis', phone: '(21) 98877-6655', email: 'bruna@example.com' }),
    });
    expect(submitted.status).toBe(202);
    const fromForm = await leadOf('bruna@example.com');
    // Meta reports older Brazilian mobiles by their eight-digit number.
    const raw = asMetaSends(envelope([messagesChange({ contacts: [contact('552188776655', 'Bruna')], messages: [{ from: '552188776655', id: 'wamid.NINTH_DIGIT_0001', timestamp: unix(), type: 'text', text: { body: 'Oi, preenchi o formulário' } }] })]));
    expect((await post(raw)).status).toBe(200);
    await eventually(async () => {
      const messages = await messagesOf(fromForm.id);
      expect(messages.map((m) => m.text)).toContain('Oi, preenchi o formulário');
    });
  });

  it('downloads media through the Graph API and serves them as attachments', async () => {
    const mediaId = '1037543291543636';
    const bytes = Buffer.from('%PDF-1.4 proposta assinada');
    const lookup = nock(graph)
      .get(`/v21.0/${mediaId}`)
      .matchHeader('authorization', `Bearer ${accessToken}`)
      .reply(200, { messaging_product: 'whatsapp', url: `https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=${mediaId}&ext=1749416383&hash=ATtest`, mime_type: 'application/pdf', sha256: 'abc', file_size: bytes.length, id: mediaId });
    const download = nock('https://lookaside.fbsbx.com')
      .get('/whatsapp_business/attachments/')
      .query({ mid: mediaId, ext: '1749416383', hash: 'ATtest' })
      .matchHeader('authorization', `Bearer ${accessToken}`)
      .reply(200, bytes, { 'content-type': 'application/pdf', 'content-length': String(bytes.length) });
    const raw = asMetaSends(
      envelope([
        messagesChange({
          contacts: [contact('5511987650003', 'Davi Souza')],
          messages: [{ from: '5511987650003', id: 'wamid.DOCUMENT_0001', timestamp: unix(), type: 'document', document: { caption: 'Segue a conta de luz', filename: 'conta.pdf', mime_type: 'application/pdf', sha256: 'abc', id: mediaId } }],
        }),
      ]),
    );
    expect((await post(raw)).status).toBe(200);
    const lead = await leadOf('+5511987650003');
    const file = await eventually(async () => {
      const [message] = (await messagesOf(lead.id)).filter((m) => m.direction === 'in');
      expect(message!.text).toBe('Segue a conta de luz');
      expect(message!.attachments).toHaveLength(1);
      expect(message!.attachments[0]!.status).toBe('stored');
      return message!.attachments[0]!;
    });
    expect(file).toMatchObject({ filename: `${mediaId}-conta.pdf`, contentType: 'application/pdf', size: bytes.length });
    const served = await fetch(`${stack.baseUrl}${file.url}`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    expect(served.status).toBe(200);
    expect(Buffer.from(await served.arrayBuffer())).toEqual(bytes);
    lookup.done();
    download.done();
  });

  it('retries a media download Graph could not answer, on the backoff', async () => {
    const mediaId = '2048000000000001';
    const down = nock(graph).get(`/v21.0/${mediaId}`).reply(503, { error: { message: 'Service temporarily unavailable', type: 'OAuthException', code: 2, fbtrace_id: 'x' } });
    const lookup = nock(graph).get(`/v21.0/${mediaId}`).reply(200, { url: `https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=${mediaId}`, mime_type: 'image/jpeg', id: mediaId });
    const download = nock('https://lookaside.fbsbx.com').get('/whatsapp_business/attachments/').query({ mid: mediaId }).reply(200, Buffer.from([0xff, 0xd8, 0xff]), { 'content-type': 'image/jpeg' });
    const raw = asMetaSends(envelope([messagesChange({ contacts: [contact('5511987650004', 'Eva')], messages: [{ from: '5511987650004', id: 'wamid.IMAGE_0001', timestamp: unix(), type: 'image', image: { mime_type: 'image/jpeg', sha256: 'x', id: mediaId } }] })]));
    expect((await post(raw)).status).toBe(200);
    const lead = await leadOf('+5511987650004');
    await eventually(async () => {
      const [message] = (await messagesOf(lead.id)).filter((m) => m.direction === 'in');
      expect(message!.attachments[0]).toMatchObject({ filename: `${mediaId}.jpg`, status: 'stored', size: 3 });
    });
    down.done();
    lookup.done();
    download.done();
  });

  it('replies inside the window, and statuses move the message forward, never back', async () => {
    const raw = asMetaSends(envelope([messagesChange({ contacts: [contact('5511987650005', 'Fabio')], messages: [{ from: '5511987650005', id: 'wamid.INBOUND_0005', timestamp: unix(), type: 'text', text: { body: 'Vocês instalam em Campinas?' } }] })]));
    expect((await post(raw)).status).toBe(200);
    const lead = await leadOf('+5511987650005');
    const sentId = 'wamid.HBgNNTUxMTk4NzY1MDAwNRUCABEYEjBBQkNERUYwMTIzNDU2Nzg5AA==';
    const send = nock(graph)
      .post(`/v21.0/${phoneNumberId}/messages`, { messaging_product: 'whatsapp', recipient_type: 'individual', to: '5511987650005', type: 'text', text: { body: 'Instalamos sim!', preview_url: false } })
      .matchHeader('authorization', `Bearer ${accessToken}`)
      .reply(200, { messaging_product: 'whatsapp', contacts: [{ input: '5511987650005', wa_id: '5511987650005' }], messages: [{ id: sentId }] });
    const { status, body } = await stack.api<{ messageId: string }>('POST', `/api/v1/leads/${lead.id}/messages`, { text: 'Instalamos sim!' });
    expect(status).toBe(202);
    await eventually(async () => expect((await stack.api<MessageView>('GET', `/api/v1/messages/${body.messageId}`)).body.status).toBe('sent'));
    send.done();

    const statusOf = (value: string) => ({ id: sentId, status: value, timestamp: unix(), recipient_id: '5511987650005', conversation: { id: 'c1', origin: { type: 'service' } }, pricing: { billable: true, pricing_model: 'CBP', category: 'service' } });
    const statuses = asMetaSends(envelope([messagesChange({ statuses: [statusOf('delivered')] })], [messagesChange({ statuses: [statusOf('read')] })]));
    expect((await post(statuses)).status).toBe(200);
    await eventually(async () => expect((await stack.api<MessageView>('GET', `/api/v1/messages/${body.messageId}`)).body.status).toBe('read'));
    // A late "sent" arrives after "read": the message stays read.
    expect((await post(asMetaSends(envelope([messagesChange({ statuses: [statusOf('sent')] })])))).status).toBe(200);
    await settle(stack);
    expect((await stack.api<MessageView>('GET', `/api/v1/messages/${body.messageId}`)).body.status).toBe('read');
  });

  it('shows a failed status with Meta\'s error code, such as 131047 re-engagement', async () => {
    const raw = asMetaSends(envelope([messagesChange({ contacts: [contact('5511987650006', 'Gil')], messages: [{ from: '5511987650006', id: 'wamid.INBOUND_0006', timestamp: unix(), type: 'text', text: { body: 'Oi' } }] })]));
    expect((await post(raw)).status).toBe(200);
    const lead = await leadOf('+5511987650006');
    const sentId = 'wamid.OUT_0006';
    const send = nock(graph).post(`/v21.0/${phoneNumberId}/messages`).reply(200, { messaging_product: 'whatsapp', contacts: [{ input: '5511987650006', wa_id: '5511987650006' }], messages: [{ id: sentId }] });
    const { body } = await stack.api<{ messageId: string }>('POST', `/api/v1/leads/${lead.id}/messages`, { text: 'Tudo bem?' });
    await eventually(async () => expect((await stack.api<MessageView>('GET', `/api/v1/messages/${body.messageId}`)).body.status).toBe('sent'));
    send.done();
    const failed = {
      id: sentId,
      status: 'failed',
      timestamp: unix(),
      recipient_id: '5511987650006',
      errors: [{ code: 131047, title: 'Re-engagement message', message: 'Re-engagement message', error_data: { details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.' }, href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/' }],
    };
    expect((await post(asMetaSends(envelope([messagesChange({ statuses: [failed] })])))).status).toBe(200);
    await eventually(async () => {
      const message = (await stack.api<MessageView>('GET', `/api/v1/messages/${body.messageId}`)).body;
      expect(message.status).toBe('failed');
      expect(message.errorCode).toBe('meta_131047');
      expect(message.error).toMatch(/Re-engagement message.*24 hours/);
    });
  });

  it('outside the 24-hour window fails a free-form reply before sending, and sends a mapped template', async () => {
    const dayAndAHourAgo = new Date(Date.now() - 25 * 60 * 60_000);
    const raw = asMetaSends(envelope([messagesChange({ contacts: [contact('5511987650007', 'Helena Costa')], messages: [{ from: '5511987650007', id: 'wamid.INBOUND_0007', timestamp: unix(dayAndAHourAgo), type: 'text', text: { body: 'Me liga amanhã' } }] })]));
    expect((await post(raw)).status).toBe(200);
    const lead = await leadOf('+5511987650007');

    // No Graph call may happen: nock refuses anything not set up.
    const free = await stack.api<{ messageId: string }>('POST', `/api/v1/leads/${lead.id}/messages`, { text: 'Oi Helena, tudo certo?' });
    expect(free.status).toBe(202);
    await eventually(async () => {
      const message = (await stack.api<MessageView>('GET', `/api/v1/messages/${free.body.messageId}`)).body;
      expect(message.status).toBe('failed');
      expect(message.errorCode).toBe('outside_window');
      expect(message.error).toMatch(/24-hour window/);
    });

    const template = await stack.api<{ id: string }>('POST', '/api/v1/templates', { name: 'follow_up', locale: 'pt-BR', channel: 'whatsapp', body: 'Oi {{lead.firstName}}, aqui é da {{workspace.name}}. Podemos retomar?' });
    expect(template.status).toBe(201);
    const workspace = (await stack.api<{ name: string }>('GET', '/api/v1/workspace')).body;
    const send = nock(graph)
      .post(`/v21.0/${phoneNumberId}/messages`, {
        messaging_product: 'whatsapp',
        recipient_type: 'individual',
        to: '5511987650007',
        type: 'template',
        template: { name: 'retomar_contato', language: { code: 'pt_BR' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'Helena' }, { type: 'text', text: workspace.name }] }] },
      })
      .reply(200, { messaging_product: 'whatsapp', contacts: [{ input: '5511987650007', wa_id: '5511987650007' }], messages: [{ id: 'wamid.TEMPLATE_0007' }] });
    const templated = await stack.api<{ messageId: string }>('POST', `/api/v1/leads/${lead.id}/messages`, { templateId: 'pt-BR.follow_up.whatsapp' });
    expect(templated.status).toBe(202);
    await eventually(async () => expect((await stack.api<MessageView>('GET', `/api/v1/messages/${templated.body.messageId}`)).body.status).toBe('sent'));
    send.done();
  });

  it('ends a send visible when the token expired, and puts the source in error', async () => {
    const raw = asMetaSends(envelope([messagesChange({ contacts: [contact('5511987650008', 'Igor')], messages: [{ from: '5511987650008', id: 'wamid.INBOUND_0008', timestamp: unix(), type: 'text', text: { body: 'Oi' } }] })]));
    expect((await post(raw)).status).toBe(200);
    const lead = await leadOf('+5511987650008');
    const send = nock(graph)
      .post(`/v21.0/${phoneNumberId}/messages`)
      .reply(401, { error: { message: 'Error validating access token: Session has expired on Thursday, 03-Dec-26 09:00:00 PST.', type: 'OAuthException', code: 190, error_subcode: 463, fbtrace_id: 'Az' } });
    const { body } = await stack.api<{ messageId: string }>('POST', `/api/v1/leads/${lead.id}/messages`, { text: 'Oi Igor' });
    await eventually(async () => {
      const message = (await stack.api<MessageView>('GET', `/api/v1/messages/${body.messageId}`)).body;
      expect(message.status).toBe('failed');
      expect(message.errorCode).toBe('meta_190');
    });
    send.done();
    const shown = (await stack.api<CloudSource>('GET', `/api/v1/sources/${source.id}`)).body;
    expect(shown.status.state).toBe('error');
    expect(shown.status.lastError).toMatch(/expired/);
  });
});
