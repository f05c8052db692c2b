import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest, createWebform, eventually, defaultBackends, postForm, type Stack, startStack, type WebformSource } from '../support/stack.js';

interface Lead {
  id: string;
  score: number;
  routing: string | null;
  stage: string;
  owner: { id: string } | null;
  assignment: { ruleId: string | null; reason: string | null };
}
interface Activity {
  kind: string;
  data: Record<string, unknown>;
}
interface RoutingRule {
  id: string;
  name: string;
  priority: number;
  to: string;
  when: Record<string, unknown>;
  active: boolean;
}
interface Enrollment {
  sequenceId: string;
  status: string;
  stopReason: string | null;
  nextStep: number;
}

describe.each(defaultBackends)('routing between nurture and sales on $db with the $queue queue', ({ db, queue }) => {
  let stack: Stack;
  let form: WebformSource;
  let n = 0;
  const rules: Record<string, RoutingRule> = {};
  let nurtureSequence: string;
  let salesSequence: string;

  const lead = async (id: string) => (await stack.api<Lead>('GET', `/api/v1/leads/${id}`)).body;
  const patch = async (id: string, body: Record<string, unknown>) => {
    const { status, body: updated } = await stack.api<Lead>('PATCH', `/api/v1/leads/${id}`, body);
    expect(status, JSON.stringify(updated)).toBe(200);
    return updated;
  };
  const routed = async (id: string) =>
    (await stack.api<{ data: Activity[] }>('GET', `/api/v1/leads/${id}/activities?limit=200`)).body.data.filter((a) => a.kind === 'lead.routed').map((a) => a.data).reverse();
  const enrollments = async (id: string) => (await stack.api<{ data: Enrollment[] }>('GET', `/api/v1/leads/${id}/sequences`)).body.data;

  async function newLead(fields: Record<string, string>): Promise<Lead> {
    const key = `routed${++n}`;
    expect((await postForm(stack, form, { name: `Routed ${key}`, ...fields })).status).toBe(202);
    return eventually(async () => {
      const { body } = await stack.api<{ data: Lead[] }>('GET', `/api/v1/leads?q=${key}`);
      expect(body.data).toHaveLength(1);
      return body.data[0]!;
    });
  }
  const withEmail = () => newLead({ email: `routed${n + 1}@example.com` });

  beforeAll(async () => {
    stack = await startStack({ db, queue });
    form = await createWebform(stack, { autoReplyTemplate: null });
    const { body } = await stack.api<{ data: RoutingRule[] }>('GET', '/api/v1/routing-rules');
    for (const rule of body.data) rules[rule.name] = rule;
    // Long waits: the enrolments stay active while the tests look at them.
    const sequence = async (name: string, routing: string) => {
      const { status, body: created } = await stack.api<{ id: string; enrol: unknown }>('POST', '/api/v1/sequences', {
        name,
        steps: [{ waitMinutes: 600, templateId: 'product_introduction' }, { waitMinutes: 600, templateId: 'follow_up_reminder' }],
        enrol: { routing },
      });
      expect(status).toBe(201);
      expect(created.enrol).toEqual({ routing });
      return created.id;
    };
    nurtureSequence = await sequence('Keep warm', 'nurture');
    salesSequence = await sequence('Book a meeting', 'sales');
    await stack.api('POST', '/api/v1/scoring-rules', { name: 'Hot', points: 45, when: { type: 'tag', tag: 'hot' } });
  });
  afterAll(async () => stack?.close());

  it('starts a workspace with the default routing rules, in its language and priority order', () => {
    expect(Object.values(rules).map((r) => [r.name, r.priority, r.to, r.when])).toEqual([
      ['Pontuação de pronto para vendas', 10, 'sales', { minScore: 50 }],
      ['Marcado como qualificado', 20, 'sales', { stages: ['qualified', 'negotiation'] }],
      ['Movido para nutrição', 30, 'nurture', { stages: ['nurture'] }],
      ['Ainda não está pronto', 100, 'nurture', {}],
    ]);
  });

  it('sends a new lead that is not ready to nurture, into the nurture sequences', async () => {
    const created = await withEmail();
    expect(created).toMatchObject({ score: 10, routing: 'nurture' });
    expect(await routed(created.id)).toEqual([{ from: null, to: 'nurture', ruleId: rules['Ainda não está pronto']!.id, rule: 'Ainda não está pronto' }]);
    expect((await enrollments(created.id)).map((e) => [e.sequenceId, e.status])).toEqual([[nurtureSequence, 'active']]);
  });

  it('sends a lead to sales when its score crosses the threshold: nurture stops and someone gets it', async () => {
    const l = await withEmail();
    await patch(l.id, { ownerId: null });
    const hot = await patch(l.id, { tags: ['hot'] });
    expect(hot).toMatchObject({ score: 55, routing: 'sales' });
    expect(hot.owner).not.toBeNull();
    expect(hot.assignment.reason).toBe('no active reps: workspace owner or manager');
    expect((await routed(l.id)).at(-1)).toMatchObject({ from: 'nurture', to: 'sales', ruleId: rules['Pontuação de pronto para vendas']!.id, rule: 'Pontuação de pronto para vendas' });
    expect(await enrollments(l.id)).toEqual([
      expect.objectContaining({ sequenceId: nurtureSequence, status: 'stopped', stopReason: 'the lead went to sales' }),
      expect.objectContaining({ sequenceId: salesSequence, status: 'active' }),
    ]);
    // Still above the threshold, but it did not cross it again: nothing moves.
    await patch(l.id, { tags: ['hot', 'roof'] });
    expect(await routed(l.id)).toHaveLength(2);
  });

  it('lets sales send a lead back to nurture with a reason; it picks up its nurture where it stopped', async () => {
    const l = await withEmail();
    await patch(l.id, { tags: ['hot'] });
    expect((await lead(l.id)).routing).toBe('sales');
    const missing = await stack.api<{ errors: { path: string }[] }>('POST', `/api/v1/leads/${l.id}/recycle`, {});
    expect(missing.status).toBe(422);
    expect(missing.body.errors.map((e) => e.path)).toEqual(['reason']);
    expect((await stack.api('POST', '/api/v1/leads/lead_nobody/recycle', { reason: 'x' })).status).toBe(404);

    const { status, body } = await stack.api<Lead>('POST', `/api/v1/leads/${l.id}/recycle`, { reason: 'No budget until March' });
    expect(status).toBe(200);
    expect(body).toMatchObject({ routing: 'nurture', stage: 'nurture', score: 55 });
    expect((await routed(l.id)).at(-1)).toMatchObject({ from: 'sales', to: 'nurture', reason: 'No budget until March' });
    expect((await routed(l.id)).at(-1)).not.toHaveProperty('ruleId');
    const { body: timeline } = await stack.api<{ data: Activity[] }>('GET', `/api/v1/leads/${l.id}/activities`);
    expect(timeline.data.find((a) => a.kind === 'lead.stage_changed')!.data).toMatchObject({ before: 'open', after: 'nurture', reason: 'No budget until March' });
    expect(await enrollments(l.id)).toEqual([
      expect.objectContaining({ sequenceId: nurtureSequence, status: 'active', stopReason: null, nextStep: 0 }),
      expect.objectContaining({ sequenceId: salesSequence, status: 'stopped', stopReason: 'the lead went back to nurture' }),
    ]);
    // Above the threshold already: only a new crossing (or being marked qualified) brings it back.
    await patch(l.id, { tags: ['hot', 'again'] });
    expect((await lead(l.id)).routing).toBe('nurture');
  });

  it('sends a lead marked qualified to sales and one moved to nurture back, once per entry', async () => {
    // No email or phone: a score of 0, so the stage alone decides.
    const l = await newLead({ message: 'Só queria saber o preço' });
    expect(l).toMatchObject({ score: 0, routing: 'nurture' });
    const qualified = await patch(l.id, { stage: 'qualified' });
    expect(qualified).toMatchObject({ routing: 'sales', score: 40 });
    expect((await routed(l.id)).at(-1)).toMatchObject({ from: 'nurture', to: 'sales', ruleId: rules['Marcado como qualificado']!.id });
    // Entering negotiation fires the same rule; the lead is in sales already.
    await patch(l.id, { stage: 'negotiation' });
    expect(await routed(l.id)).toHaveLength(2);
    const back = await patch(l.id, { stage: 'nurture' });
    expect(back.routing).toBe('nurture');
    expect((await routed(l.id)).at(-1)).toMatchObject({ from: 'sales', to: 'nurture', ruleId: rules['Movido para nutrição']!.id });
  });

  it('follows workspace rules narrowed by product and channel, by priority, skipping inactive ones', async () => {
    const { body: product } = await stack.api<{ id: string }>('POST', '/api/v1/products', { name: 'Bomba de Calor' });
    const { status, body: byProduct } = await stack.api<RoutingRule>('POST', '/api/v1/routing-rules', {
      name: 'Heat pumps go straight to sales',
      priority: 5,
      to: 'sales',
      when: { productIds: [product.id], channels: ['webform'] },
    });
    expect(status).toBe(201);
    await stack.api('POST', '/api/v1/routing-rules', { name: 'Everything to nurture', priority: 1, to: 'nurture', when: {}, active: false });

    const pump = await newLead({ email: `routed${n + 1}@example.com`, produto: 'Bomba de Calor' });
    expect(pump.routing).toBe('sales');
    expect(await routed(pump.id)).toEqual([{ from: null, to: 'sales', ruleId: byProduct.id, rule: 'Heat pumps go straight to sales' }]);
    expect((await enrollments(pump.id)).map((e) => [e.sequenceId, e.status])).toEqual([[salesSequence, 'active']]);
    expect((await withEmail()).routing).toBe('nurture');

    const { body: changed } = await stack.api<RoutingRule>('PATCH', `/api/v1/routing-rules/${byProduct.id}`, { when: { productIds: [product.id], channels: ['whatsapp'] } });
    expect(changed.when).toEqual({ productIds: [product.id], channels: ['whatsapp'] });
    expect((await newLead({ email: `routed${n + 1}@example.com`, produto: 'Bomba de Calor' })).routing).toBe('nurture');
    expect((await stack.api('DELETE', `/api/v1/routing-rules/${byProduct.id}`)).status).toBe(204);
    expect((await stack.api('GET', `/api/v1/routing-rules/${byProduct.id}`)).status).toBe(404);
  });

  it('refuses routing rules that are not valid, naming the field', async () => {
    const { status, body } = await stack.api<{ errors: { path: string }[] }>('POST', '/api/v1/routing-rules', {
      name: 'Broken',
      priority: 1,
      to: 'marketing',
      when: { stages: ['won'], minScore: 'high' },
    });
    expect(status).toBe(422);
    expect(body.errors.map((e) => e.path).sort()).toEqual(['to', 'when.minScore', 'when.stages.0']);
    const unknown = await stack.api<{ errors: { path: string }[] }>('POST', '/api/v1/routing-rules', { name: 'Ghost', priority: 1, to: 'sales', when: { productIds: ['prd_nobody'] } });
    expect(unknown.status).toBe(422);
    expect(unknown.body.errors.map((e) => e.path)).toEqual(['when.productIds']);
  });

  it('leaves rule setup to owners and managers; a rep recycles only the leads they see', async () => {
    const { body: user } = await stack.api<{ id: string }>('POST', '/api/v1/users', { name: 'Rosa', email: 'rosa@acme.test', role: 'rep' });
    const { body: key } = await stack.api<{ key: string }>('POST', '/api/v1/api-keys', { name: 'Rosa', userId: user.id });
    const asRep = (method: string, path: string, body?: unknown) => apiRequest(stack.baseUrl, key.key, method, path, body);
    expect((await asRep('GET', '/api/v1/routing-rules')).status).toBe(200);
    expect((await asRep('GET', '/api/v1/scoring-rules')).status).toBe(200);
    expect((await asRep('POST', '/api/v1/routing-rules', { name: 'Mine', priority: 1, to: 'sales' })).status).toBe(403);
    expect((await asRep('PATCH', `/api/v1/routing-rules/${rules['Ainda não está pronto']!.id}`, { active: false })).status).toBe(403);
    expect((await asRep('POST', '/api/v1/scoring-rules', { name: 'Mine', points: 90, when: { type: 'has_email' } })).status).toBe(403);
    expect((await asRep('POST', '/api/v1/scoring-rules/rescore')).status).toBe(403);

    await stack.api('PATCH', '/api/v1/workspace', { visibility: 'own' });
    const mine = await withEmail();
    await patch(mine.id, { ownerId: user.id });
    const theirs = await withEmail();
    await patch(theirs.id, { ownerId: (await stack.api<{ data: { id: string; role: string }[] }>('GET', '/api/v1/users')).body.data.find((u) => u.role === 'owner')!.id });
    expect((await asRep('POST', `/api/v1/leads/${theirs.id}/recycle`, { reason: 'Not mine to judge' })).status).toBe(404);
    const recycled = await asRep('POST', `/api/v1/leads/${mine.id}/recycle`, { reason: 'Asked to talk next quarter' });
    expect(recycled.status).toBe(200);
    expect((await routed(mine.id)).at(-1)).toMatchObject({ from: 'nurture', to: 'nurture', reason: 'Asked to talk next quarter' });
    await stack.api('PATCH', '/api/v1/workspace', { visibility: 'all' });
  });
});
