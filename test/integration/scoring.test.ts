import nock from 'nock';
import twilio from 'twilio';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { computeScore, loadScoringFacts } from '../../src/leads/scoring.js';
import { createWebform, defaultBackends, eventually, postForm, settle, type Stack, startStack, type WebformSource } from '../support/stack.js';

const publicUrl = 'https://leads.acme.test';
const accountSid = `AC${'b2'.repeat(16)}`;
const authToken = 'scoring-auth-token-0123456789abcd';
const businessNumber = '+5511400067890';

interface Reason {
  rule: string;
  ruleId: string;
  points: number;
}
interface Lead {
  id: string;
  score: number;
  scoreReasons: Reason[];
  routing: string | null;
  stage: string;
}
interface Activity {
  kind: string;
  data: Record<string, unknown>;
}
interface Rule {
  id: string;
  name: string;
  points: number;
  when: Record<string, unknown>;
  active: boolean;
}

describe.each(defaultBackends)('lead scoring on $db with the $queue queue', ({ db, queue }) => {
  let stack: Stack;
  let form: WebformSource;
  let n = 0;

  async function rule(name: string, points: number, when: Record<string, unknown>): Promise<Rule> {
    const { status, body } = await stack.api<Rule>('POST', '/api/v1/scoring-rules', { name, points, when });
    expect(status, JSON.stringify(body)).toBe(201);
    return body;
  }
  const lead = async (id: string) => (await stack.api<Lead>('GET', `/api/v1/leads/${id}`)).body;
  const reasons = (l: Lead) => Object.fromEntries(l.scoreReasons.map((r) => [r.rule, r.points]));
  const timeline = async (id: string) => (await stack.api<{ data: Activity[] }>('GET', `/api/v1/leads/${id}/activities?limit=200`)).body.data;

  async function newLead(fields: Record<string, string> = {}): Promise<Lead> {
    const email = `scored${++n}@example.com`;
    expect((await postForm(stack, form, { name: `Scored ${n}`, email, ...fields })).status).toBe(202);
    return eventually(async () => {
      const { body } = await stack.api<{ data: Lead[] }>('GET', `/api/v1/leads?q=${encodeURIComponent(email)}`);
      expect(body.data).toHaveLength(1);
      return body.data[0]!;
    });
  }

  async function twilioPost(url: string, params: Record<string, string>) {
    const signature = twilio.getExpectedTwilioSignature(authToken, url, params);
    const response = await fetch(url.replace(publicUrl, stack.baseUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
      body: new URLSearchParams(params),
    });
    expect(response.status).toBeLessThan(300);
  }

  beforeAll(async () => {
    nock.disableNetConnect();
    nock.enableNetConnect(/^(127\.0\.0\.1|localhost)(:\d+)?$/);
    stack = await startStack({ db, queue, env: { PUBLIC_URL: publicUrl } });
    form = await createWebform(stack, { autoReplyTemplate: null });
  });
  afterEach(() => {
    expect(nock.pendingMocks()).toEqual([]);
    nock.cleanAll();
  });
  afterAll(async () => {
    await stack?.close();
    nock.enableNetConnect();
  });

  it('starts a new workspace with default rules named in its language, and scores new leads with them', async () => {
    const { body } = await stack.api<{ data: Rule[] }>('GET', '/api/v1/scoring-rules');
    expect(body.data.map((r) => [r.name, r.points, r.when.type])).toEqual([
      ['Tem e-mail', 10, 'has_email'],
      ['Tem telefone', 10, 'has_phone'],
      ['Respondeu', 20, 'replied'],
      ['Leu nossa mensagem', 5, 'opened'],
      ['Engajado: 3 ou mais mensagens em 7 dias', 15, 'recent_messages'],
      ['Chegou a Qualificado', 40, 'stage_reached'],
      ['Inativo há 30 dias', -20, 'inactive'],
    ]);
    const scored = await newLead({ telefone: '(11) 98888-0001' });
    expect(scored.score).toBe(20);
    expect(scored.scoreReasons).toEqual([
      { rule: 'Tem e-mail', ruleId: body.data[0]!.id, points: 10 },
      { rule: 'Tem telefone', ruleId: body.data[1]!.id, points: 10 },
    ]);
    const scoredActivities = (await timeline(scored.id)).filter((a) => a.kind === 'lead.scored');
    expect(scoredActivities.map((a) => a.data)).toEqual([{ from: 0, to: 20 }]);
    // From here on, each test sets up the rules it needs.
    for (const r of body.data) await stack.api('PATCH', `/api/v1/scoring-rules/${r.id}`, { active: false });
  });

  it('refuses rules that are not valid, naming the field', async () => {
    const bad = async (when: unknown, points: unknown = 5) => {
      const { status, body } = await stack.api<{ errors: { path: string }[] }>('POST', '/api/v1/scoring-rules', { name: 'Bad', points, when });
      expect(status).toBe(422);
      return body.errors.map((e) => e.path);
    };
    expect(await bad({ type: 'shoe_size' })).toEqual(['when.type']);
    expect(await bad({ type: 'inactive', days: 0 })).toEqual(['when.days']);
    expect(await bad({ type: 'recent_messages', days: 7 })).toEqual(['when.atLeast']);
    expect(await bad({ type: 'custom_field', field: 'budget', equals: 'x', gte: 3 })).toEqual(['when.equals']);
    expect(await bad({ type: 'stage_reached', stage: 'won' })).toEqual(['when.stage']);
    expect(await bad({ type: 'has_email' }, 1.5)).toEqual(['points']);
    expect(await bad({ type: 'product', productId: 'prd_nobody' })).toEqual(['when.productId']);
  });

  it('scores attributes: email, phone, product, channel, custom fields, segment, deal value and tags', async () => {
    const { body: product } = await stack.api<{ id: string }>('POST', '/api/v1/products', { name: 'Painel Solar' });
    await rule('email', 10, { type: 'has_email' });
    await rule('phone', 7, { type: 'has_phone' });
    await rule('product', 13, { type: 'product', productId: product.id });
    await rule('web form', 1, { type: 'channel', channel: 'webform' });
    await rule('whatsapp', 100, { type: 'channel', channel: 'whatsapp' });
    await rule('big roof', 2, { type: 'custom_field', field: 'Tamanho do telhado', contains: '40 M' });
    await rule('budget', 3, { type: 'custom_field', field: 'budget', gte: 5000 });
    await rule('city', 4, { type: 'custom_field', field: 'cidade', equals: 'sao paulo' });
    expect((await stack.api('POST', '/api/v1/segments', { name: 'Residencial' })).status).toBe(201);
    await rule('homes', 5, { type: 'segment', segment: 'Residencial' });
    await rule('big deal', 11, { type: 'deal_value', over: 10_000 });
    await rule('vip', 17, { type: 'tag', tag: 'vip' });

    const created = await newLead({ telefone: '(11) 98888-0002', produto: 'Painel Solar', 'Tamanho do telhado': '40 m2', budget: '8000', cidade: 'São Paulo' });
    expect(reasons(created)).toEqual({ email: 10, phone: 7, product: 13, 'web form': 1, 'big roof': 2, budget: 3, city: 4 });
    expect(created.score).toBe(40);

    const { status, body: patched } = await stack.api<Lead>('PATCH', `/api/v1/leads/${created.id}`, { segment: 'residencial', dealValue: 12_000, tags: ['VIP'] });
    expect(status).toBe(200);
    expect(patched.score).toBe(73);
    expect(reasons(patched)).toMatchObject({ homes: 5, 'big deal': 11, vip: 17 });

    const { body: smaller } = await stack.api<Lead>('PATCH', `/api/v1/leads/${created.id}`, { dealValue: 9_000, customFields: { budget: 'a lot' } });
    expect(smaller.score).toBe(73 - 11 - 3);
    expect(reasons(smaller)).not.toHaveProperty('big deal');
    expect(reasons(smaller)).not.toHaveProperty('budget');
    const changes = (await timeline(created.id)).filter((a) => a.kind === 'lead.scored').map((a) => a.data);
    expect(changes).toEqual([{ from: 73, to: 59 }, { from: 40, to: 73 }, { from: 0, to: 40 }]);
    for (const r of (await stack.api<{ data: Rule[] }>('GET', '/api/v1/scoring-rules')).body.data) await stack.api('PATCH', `/api/v1/scoring-rules/${r.id}`, { active: false });
  });

  it('scores the stage reached, now or before, counting later stages', async () => {
    await rule('reached contacted', 3, { type: 'stage_reached', stage: 'contacted' });
    await rule('reached qualified', 30, { type: 'stage_reached', stage: 'qualified' });
    await rule('was lost', -50, { type: 'stage_reached', stage: 'unqualified' });
    const l = await newLead();
    expect(l.score).toBe(0);
    expect((await stack.api<Lead>('PATCH', `/api/v1/leads/${l.id}`, { stage: 'negotiation' })).body.score).toBe(33);
    // Back to contacted: it has been in negotiation, which is past qualified.
    const back = (await stack.api<Lead>('PATCH', `/api/v1/leads/${l.id}`, { stage: 'contacted' })).body;
    expect(reasons(back)).toEqual({ 'reached contacted': 3, 'reached qualified': 30 });
    expect((await stack.api<Lead>('PATCH', `/api/v1/leads/${l.id}`, { stage: 'unqualified', lossReason: 'Went with a competitor' })).body.score).toBe(33 - 50);
    for (const r of (await stack.api<{ data: Rule[] }>('GET', '/api/v1/scoring-rules')).body.data) await stack.api('PATCH', `/api/v1/scoring-rules/${r.id}`, { active: false });
  });

  it('scores engagement: a message read, a reply after our message, and messages in the last days', async () => {
    await rule('phone', 1, { type: 'has_phone' });
    await rule('sms', 2, { type: 'channel', channel: 'sms' });
    await rule('read', 5, { type: 'opened' });
    await rule('replied', 20, { type: 'replied' });
    await rule('chatty', 15, { type: 'recent_messages', days: 7, atLeast: 2 });
    const { body: source } = await stack.api<{ webhooks: { sms: string; smsStatus: string } }>('POST', '/api/v1/sources', {
      kind: 'twilio',
      name: 'Line',
      accountSid,
      authToken,
      phoneNumber: businessNumber,
    });
    const texter = '+5521997776666';
    nock('https://api.twilio.com')
      .post(`/2010-04-01/Accounts/${accountSid}/Messages.json`, (body: Record<string, string>) => body.To === texter)
      .reply(201, { sid: 'SM10000000000000000000000000000001', status: 'queued' });
    const sms = (sid: string, text: string) => ({ MessageSid: sid, AccountSid: accountSid, From: texter, To: businessNumber, Body: text, NumMedia: '0' });
    await twilioPost(source.webhooks.sms, sms('SM20000000000000000000000000000001', 'Quanto custa?'));
    const first = await eventually(async () => {
      const { body } = await stack.api<{ data: Lead[] }>('GET', `/api/v1/leads?q=${encodeURIComponent(texter)}`);
      expect(body.data).toHaveLength(1);
      return body.data[0]!;
    });
    expect(reasons(first)).toEqual({ phone: 1, sms: 2 });
    // Our acknowledgement goes out, and Twilio reports it delivered, then read.
    await eventually(async () => {
      const { body } = await stack.api<{ data: { direction: string; status: string }[] }>('GET', `/api/v1/leads/${first.id}/messages`);
      expect(body.data.map((m) => [m.direction, m.status])).toEqual([['in', 'received'], ['out', 'sent']]);
    });
    const status = (value: string) => ({ MessageSid: 'SM10000000000000000000000000000001', MessageStatus: value, AccountSid: accountSid, From: businessNumber, To: texter });
    await twilioPost(source.webhooks.smsStatus, status('delivered'));
    await twilioPost(source.webhooks.smsStatus, status('read'));
    await eventually(async () => expect(reasons(await lead(first.id))).toEqual({ phone: 1, sms: 2, read: 5 }));

    await twilioPost(source.webhooks.sms, sms('SM20000000000000000000000000000002', 'Pode me ligar?'));
    await eventually(async () => expect(reasons(await lead(first.id))).toEqual({ phone: 1, sms: 2, read: 5, replied: 20, chatty: 15 }));
    expect((await lead(first.id)).score).toBe(43);

    // The history gives the same score again: from the stored rows, and through the API.
    const prisma = stack.gateway.deps.db.prisma;
    const rules = await prisma.scoringRule.findMany({ where: { active: true }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
    const again = computeScore(await loadScoringFacts(prisma, first.id), rules, new Date());
    expect(again.score).toBe(43);
    expect(again.reasons).toEqual((await lead(first.id)).scoreReasons);
    // Leads scored under the rules of earlier tests change; this one does not, and a second pass changes nothing.
    const rescore = async () => (await stack.api<{ rescored: number; changed: number }>('POST', '/api/v1/scoring-rules/rescore')).body;
    expect(await rescore()).toEqual({ rescored: 3, changed: 2 });
    expect((await lead(first.id)).score).toBe(43);
    expect(await rescore()).toEqual({ rescored: 3, changed: 0 });
    // Eight days later the two messages are out of the window: only the time changed.
    const later = computeScore(await loadScoringFacts(prisma, first.id), rules, new Date(Date.now() + 8 * 24 * 3600_000));
    expect(later.score).toBe(43 - 15);
  });

  it('takes points away from leads left alone, in a pass of its own, and gives them back when the lead is touched', async () => {
    const inactive = await rule('gone quiet', -20, { type: 'inactive', days: 30 });
    await rule('email', 10, { type: 'has_email' });
    const quiet = await newLead();
    const busy = await newLead();
    expect(quiet.score).toBe(10);
    const prisma = stack.gateway.deps.db.prisma;
    await prisma.lead.update({ where: { id: quiet.id }, data: { lastActivityAt: new Date(Date.now() - 31 * 24 * 3600_000) } });
    // The decay pass runs every few seconds; one runs now.
    await settle(stack);
    await eventually(async () => expect((await lead(quiet.id)).score).toBe(-10), 15_000, 200);
    expect((await lead(quiet.id)).scoreReasons).toContainEqual({ rule: 'gone quiet', ruleId: inactive.id, points: -20 });
    expect((await lead(busy.id)).score).toBe(10);
    expect((await timeline(quiet.id)).filter((a) => a.kind === 'lead.scored')[0]!.data).toEqual({ from: 10, to: -10 });
    // A note is activity: the next pass takes the decay back.
    await stack.api('POST', `/api/v1/leads/${quiet.id}/notes`, { text: 'Called, they are back' });
    await settle(stack);
    await eventually(async () => expect((await lead(quiet.id)).score).toBe(10), 15_000, 200);
  });

  it('changes and removes rules; a rescore applies them to open leads', async () => {
    const tagged = await rule('tagged', 9, { type: 'tag', tag: 'promo' });
    const l = await newLead();
    const { body: patched } = await stack.api<Lead>('PATCH', `/api/v1/leads/${l.id}`, { tags: ['promo'] });
    expect(reasons(patched)).toMatchObject({ tagged: 9 });
    const { body: changed } = await stack.api<Rule>('PATCH', `/api/v1/scoring-rules/${tagged.id}`, { points: 4, name: 'promo tag' });
    expect(changed).toMatchObject({ points: 4, name: 'promo tag', when: { type: 'tag', tag: 'promo' } });
    expect((await stack.api<{ changed: number }>('POST', '/api/v1/scoring-rules/rescore')).body.changed).toBeGreaterThanOrEqual(1);
    expect(reasons(await lead(l.id))).toMatchObject({ 'promo tag': 4 });
    expect((await stack.api('DELETE', `/api/v1/scoring-rules/${tagged.id}`)).status).toBe(204);
    expect((await stack.api('GET', `/api/v1/scoring-rules/${tagged.id}`)).status).toBe(404);
    await stack.api('POST', '/api/v1/scoring-rules/rescore');
    expect(reasons(await lead(l.id))).not.toHaveProperty('promo tag');
  });
});

describe('default rules of an English-speaking workspace', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ db: 'pglite', queue: 'embedded', env: { LEADGATE_DEFAULT_COUNTRY: 'US' } });
  });
  afterAll(async () => stack?.close());

  it('names them in English', async () => {
    const { body: scoring } = await stack.api<{ data: Rule[] }>('GET', '/api/v1/scoring-rules');
    expect(scoring.data.map((r) => r.name)).toEqual([
      'Has an email address',
      'Has a phone number',
      'Replied to us',
      'Read our message',
      'Engaged: 3 or more messages in 7 days',
      'Reached Qualified',
      'Inactive for 30 days',
    ]);
    const { body: routing } = await stack.api<{ data: { name: string; to: string; when: unknown }[] }>('GET', '/api/v1/routing-rules');
    expect(routing.data.map((r) => [r.name, r.to, r.when])).toEqual([
      ['Sales-ready score', 'sales', { minScore: 50 }],
      ['Marked qualified', 'sales', { stages: ['qualified', 'negotiation'] }],
      ['Moved to nurture', 'nurture', { stages: ['nurture'] }],
      ['Not ready yet', 'nurture', {}],
    ]);
  });
});
