import { createHmac } from 'node:crypto';
import nock from 'nock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defaultBackends, eventually, settle, type Stack, startStack } from '../support/stack.js';

const publicUrl = 'https://leads.acme.test';
const graph = 'https://graph.facebook.com';
const appSecret = '0a1b2c3d4e5f60718293a4b5c6d7e8f9';
const pageToken = 'EAAPageTokenForLeadsRetrieval0123456789';
const pageId = '109876543210987';
const formId = '1234567890123456';
const leadFields = 'id,created_time,field_data,ad_id,ad_name,adset_id,adset_name,campaign_id,campaign_name,form_id,platform,is_organic';

interface LeadsSource {
  id: string;
  webhookUrl: string;
  verifyToken: string;
  status: { state: string; lastError?: string; detail?: string };
}
interface Lead {
  id: string;
  name: string | null;
  email: string | null;
  phone: string | null;
  channel: string;
  sourceId: string;
  customFields: Record<string, string>;
}

function sign(raw: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(raw).digest('hex')}`;
}

/** A page's `leadgen` webhook as Meta documents it: ids only. */
function leadgen(leadgenId: string, adId = '120200000000000011') {
  return { field: 'leadgen', value: { ad_id: adId, form_id: formId, leadgen_id: leadgenId, created_time: Math.floor(Date.now() / 1000), page_id: pageId, adgroup_id: '120200000000000010' } };
}

/** The lead as Graph answers `GET /{leadgen-id}`. */
function leadAnswer(leadgenId: string, answers: [string, string][]) {
  return {
    created_time: new Date().toISOString().replace(/\.\d+Z$/, '+0000'),
    id: leadgenId,
    ad_id: '120200000000000011',
    ad_name: 'Kit solar - carrossel',
    adset_id: '120200000000000010',
    adset_name: 'São Paulo 25-55',
    campaign_id: '120200000000000009',
    campaign_name: 'Leads dezembro',
    form_id: formId,
    platform: 'ig',
    is_organic: false,
    field_data: answers.map(([name, value]) => ({ name, values: [value] })),
  };
}

describe.each(defaultBackends)('Meta Lead Ads on $db with the $queue queue', ({ db, queue }) => {
  let stack: Stack;
  let source: LeadsSource;

  async function post(body: unknown) {
    const raw = JSON.stringify(body).replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
    const response = await fetch(`${stack.baseUrl}/hooks/meta/${source.id}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(raw) }, body: raw });
    return response.status;
  }
  async function leadsOf(q: string): Promise<Lead[]> {
    const { body } = await stack.api<{ data: Lead[] }>('GET', `/api/v1/leads?q=${encodeURIComponent(q)}`);
    return Promise.all(body.data.map(async (lead) => (await stack.api<Lead>('GET', `/api/v1/leads/${lead.id}`)).body));
  }

  beforeAll(async () => {
    nock.disableNetConnect();
    nock.enableNetConnect(/^(127\.0\.0\.1|localhost)(:\d+)?$/);
    stack = await startStack({ db, queue, env: { PUBLIC_URL: publicUrl } });
    const check = nock(graph).get(`/v21.0/${pageId}`).query({ fields: 'id,name' }).matchHeader('authorization', `Bearer ${pageToken}`).reply(200, { id: pageId, name: 'Acme Solar' });
    const created = await stack.api<LeadsSource>('POST', '/api/v1/sources', { kind: 'meta_leads', name: 'Lead Ads', appSecret, accessToken: pageToken, pageId, autoReplyTemplate: null });
    expect(created.status).toBe(201);
    check.done();
    source = created.body;
  });

  afterEach(() => {
    expect(nock.pendingMocks()).toEqual([]);
    nock.cleanAll();
  });

  afterAll(async () => {
    await stack?.close();
    nock.enableNetConnect();
  });

  it('shows the callback URL and verify token, never the secret or the token, and answers the handshake', async () => {
    expect(source.webhookUrl).toBe(`${publicUrl}/hooks/meta/${source.id}`);
    const shown = JSON.stringify((await stack.api('GET', `/api/v1/sources/${source.id}`)).body);
    expect(shown).not.toContain(appSecret);
    expect(shown).not.toContain(pageToken);
    const ok = await fetch(`${stack.baseUrl}/hooks/meta/${source.id}?hub.mode=subscribe&hub.challenge=42&hub.verify_token=${source.verifyToken}`);
    expect(await ok.text()).toBe('42');
  });

  it('documents the create body of each Meta source kind in /openapi.json', async () => {
    const document = (await (await fetch(`${stack.baseUrl}/openapi.json`)).json()) as { paths: Record<string, Record<string, { requestBody: { content: Record<string, { schema: unknown }> } }>> };
    const schema = JSON.stringify(document.paths['/api/v1/sources']!.post!.requestBody.content['application/json']!.schema);
    for (const name of ['"whatsapp_cloud"', '"phoneNumberId"', '"templates"', '"meta_leads"', '"pageId"', '"instagram"', '"instagramAccountId"', '"appSecret"', '"accessToken"']) expect(schema).toContain(name);
  });

  it('refuses a page id the token cannot reach, naming it', async () => {
    const scope = nock(graph)
      .get('/v21.0/100000000000001')
      .query(true)
      .reply(400, { error: { message: "Unsupported get request. Object with ID '100000000000001' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", type: 'GraphMethodException', code: 100, error_subcode: 33, fbtrace_id: 'A1' } });
    const { status, body } = await stack.api<{ errors: { path: string }[] }>('POST', '/api/v1/sources', { kind: 'meta_leads', name: 'Other page', appSecret, accessToken: pageToken, pageId: '100000000000001' });
    expect(status).toBe(422);
    expect(body.errors[0]!.path).toBe('pageId');
    scope.done();
  });

  it('fetches every lead of a batched webhook and maps its answers like a form, with the ad as attribution', async () => {
    const form = nock(graph).get(`/v21.0/${formId}`).query({ fields: 'id,name' }).matchHeader('authorization', `Bearer ${pageToken}`).reply(200, { id: formId, name: 'Orçamento kit solar' });
    const first = nock(graph)
      .get('/v21.0/900000000000001')
      .query({ fields: leadFields })
      .matchHeader('authorization', `Bearer ${pageToken}`)
      .reply(200, leadAnswer('900000000000001', [['full_name', 'Ana Souza'], ['email', 'ana@example.com'], ['phone_number', '+5511912345678'], ['qual_o_valor_da_sua_conta_de_luz?', 'R$ 500 a R$ 1.000']]));
    const second = nock(graph)
      .get('/v21.0/900000000000002')
      .query({ fields: leadFields })
      .reply(200, leadAnswer('900000000000002', [['first_name', 'Bento'], ['last_name', 'Lima'], ['phone_number', '(11) 97777-8888'], ['city', 'Campinas']]));
    const status = await post({ object: 'page', entry: [{ id: pageId, time: Math.floor(Date.now() / 1000), changes: [leadgen('900000000000001')] }, { id: pageId, time: Math.floor(Date.now() / 1000), changes: [leadgen('900000000000002')] }] });
    expect(status).toBe(200);

    const [ana] = await eventually(async () => {
      const found = await leadsOf('ana@example.com');
      expect(found).toHaveLength(1);
      return found;
    });
    expect(ana).toMatchObject({ name: 'Ana Souza', email: 'ana@example.com', phone: '+5511912345678', sourceId: source.id });
    expect(ana!.customFields).toMatchObject({
      'qual o valor da sua conta de luz?': 'R$ 500 a R$ 1.000',
      leadgen_id: '900000000000001',
      form_id: formId,
      form_name: 'Orçamento kit solar',
      ad_id: '120200000000000011',
      ad_name: 'Kit solar - carrossel',
      adset_id: '120200000000000010',
      adset_name: 'São Paulo 25-55',
      campaign_id: '120200000000000009',
      campaign_name: 'Leads dezembro',
      ad_platform: 'ig',
    });
    const [bento] = await eventually(async () => {
      const found = await leadsOf('+5511977778888');
      expect(found).toHaveLength(1);
      return found;
    });
    expect(bento).toMatchObject({ name: 'Bento Lima', phone: '+5511977778888' });
    expect(bento!.customFields).toMatchObject({ city: 'Campinas' });
    form.done();
    first.done();
    second.done();
    expect((await stack.api<LeadsSource>('GET', `/api/v1/sources/${source.id}`)).body.status.state).toBe('connected');
  });

  it('keeps a lead Graph cannot give yet, shows why on the source, and fetches it on the backoff', async () => {
    // Graph keeps refusing until the token is renewed, however many retries come in meanwhile.
    const refusal = nock(graph).get('/v21.0/900000000000003').query({ fields: leadFields }).times(1000);
    refusal.reply(400, { error: { message: 'Error validating access token: The session has been invalidated because the user changed their password.', type: 'OAuthException', code: 190, error_subcode: 460, fbtrace_id: 'B2' } });
    expect(await post({ object: 'page', entry: [{ id: pageId, time: 1, changes: [leadgen('900000000000003')] }] })).toBe(200);
    const waiting = await eventually(async () => {
      const shown = (await stack.api<LeadsSource>('GET', `/api/v1/sources/${source.id}`)).body;
      expect(shown.status.state).toBe('error');
      return shown;
    });
    expect(waiting.status.lastError).toMatch(/900000000000003.*Meta 190/);
    expect(waiting.status.detail).toMatch(/token expired/);

    // The renewed answer waits behind the refusal, so no retry in between finds Graph unanswered.
    const answered = nock(graph)
      .get('/v21.0/900000000000003')
      .query({ fields: leadFields })
      .reply(200, leadAnswer('900000000000003', [['full_name', 'Caio Reis'], ['email', 'caio@example.com']]));
    nock.removeInterceptor(refusal);
    await eventually(async () => expect(await leadsOf('caio@example.com')).toHaveLength(1));
    answered.done();
    await eventually(async () => expect((await stack.api<LeadsSource>('GET', `/api/v1/sources/${source.id}`)).body.status.state).toBe('connected'));
  });

  it('makes one lead of a leadgen id however often Meta announces it', async () => {
    const fetchOnce = () =>
      nock(graph)
        .get('/v21.0/900000000000004')
        .query({ fields: leadFields })
        .reply(200, leadAnswer('900000000000004', [['full_name', 'Duda'], ['email', 'duda@example.com']]));
    const firstFetch = fetchOnce();
    const body = { object: 'page', entry: [{ id: pageId, time: 1, changes: [leadgen('900000000000004')] }] };
    expect(await post(body)).toBe(200);
    await eventually(async () => expect(await leadsOf('duda@example.com')).toHaveLength(1));
    firstFetch.done();
    const again = fetchOnce();
    expect(await post(body)).toBe(200);
    await eventually(() => again.done());
    await settle(stack);
    expect(await leadsOf('duda@example.com')).toHaveLength(1);
    const events = await stack.api<{ data: { externalId: string }[] }>('GET', `/api/v1/inbound-events?sourceId=${source.id}&limit=200`);
    expect(events.body.data.filter((event) => event.externalId === '900000000000004')).toHaveLength(1);
  });
});
