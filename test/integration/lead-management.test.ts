import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import { hashApiKey } from '../../src/security/tokens.js';
import { TestSmtpServer } from '../support/smtp.js';
import { apiRequest, createWebform, eventually, defaultBackends, postForm, type Stack, startStack, type WebformSource } from '../support/stack.js';

interface Lead {
  id: string;
  stage: string;
  lossReason: string | null;
  segment: string | null;
  owner: { id: string } | null;
  products: { id: string; name: string }[];
  assignment: { ruleId: string | null; reason: string | null };
  conversation: { status: string; snoozedUntil: string | null; lastInboundAt: string | null };
  firstResponse: { dueAt: string | null; at: string | null; breached: boolean };
  createdAt: string;
}
interface Activity {
  kind: string;
  data: Record<string, unknown>;
}
interface Problem {
  type: string;
  errors?: { path: string; message: string }[];
}

const allDay = Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((day) => [day, [['00:00', '24:00']]]));

describe.each(defaultBackends)('lead management on $db with the $queue queue', ({ db, queue }) => {
  let stack: Stack;
  let smtp: TestSmtpServer;
  let form: WebformSource;
  let n = 0;

  async function newLead(fields: Record<string, string> = {}, source = form): Promise<Lead> {
    const email = fields.email ?? `lm${++n}@example.com`;
    expect((await postForm(stack, source, { name: `Person ${n}`, email, message: 'Olá', ...fields })).status).toBe(202);
    return eventually(async () => {
      const { body } = await stack.api<{ data: Lead[] }>('GET', `/api/v1/leads?q=${encodeURIComponent(email)}`);
      expect(body.data).toHaveLength(1);
      return body.data[0]!;
    });
  }
  const lead = async (id: string) => (await stack.api<Lead>('GET', `/api/v1/leads/${id}`)).body;
  const activities = async (id: string) => (await stack.api<{ data: Activity[] }>('GET', `/api/v1/leads/${id}/activities`)).body.data;

  async function rep(name: string): Promise<{ id: string; key: string }> {
    const { body: user } = await stack.api<{ id: string }>('POST', '/api/v1/users', { name, email: `${name.toLowerCase()}@acme.test`, role: 'rep' });
    const { status, body } = await stack.api<{ key: string; userId: string }>('POST', '/api/v1/api-keys', { name: `${name}'s key`, userId: user.id });
    expect(status).toBe(201);
    expect(body.userId).toBe(user.id);
    return { id: user.id, key: body.key };
  }

  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    stack = await startStack({ db, queue, smtp: { url: smtp.url, from: 'Acme <vendas@acme.test>' } });
    expect((await stack.api('PATCH', '/api/v1/workspace', { workingHours: allDay, firstResponseSlaMinutes: 5, timeZone: 'America/Sao_Paulo' })).status).toBe(200);
    form = await createWebform(stack, { name: 'Site' });
  });
  afterAll(async () => {
    await stack?.close();
    await smtp?.stop();
  });

  it('starts the first-response clock on arrival; the acknowledgement does not stop it, a rep reply does and marks the lead Contacted', async () => {
    const created = await newLead();
    expect(created.stage).toBe('open');
    expect(created.conversation.status).toBe('open');
    // Working all day: the target is five minutes after arrival.
    expect(new Date(created.firstResponse.dueAt!).getTime() - new Date(created.createdAt).getTime()).toBe(5 * 60_000);
    await eventually(() => expect(smtp.received.length).toBeGreaterThan(0));
    const acknowledged = await lead(created.id);
    expect(acknowledged.firstResponse.at).toBeNull();
    expect(acknowledged.stage).toBe('open');

    const { status } = await stack.api('POST', `/api/v1/leads/${created.id}/messages`, { text: 'Oi! Posso ajudar?' });
    expect(status).toBe(202);
    const answered = await lead(created.id);
    expect(answered.firstResponse.at).not.toBeNull();
    expect(answered.firstResponse.breached).toBe(false);
    expect(answered.stage).toBe('contacted');
    const moved = (await activities(created.id)).find((a) => a.kind === 'lead.stage_changed');
    expect(moved?.data).toMatchObject({ before: 'open', after: 'contacted', reason: 'first outbound touch' });
  });

  it('counts the target in working hours: a lead arriving at night is due after the next opening', async () => {
    // Open only 09:00-10:00 on Mondays in São Paulo (UTC-3): due at the next Monday 09:05 local.
    await stack.api('PATCH', '/api/v1/workspace', { workingHours: { mon: [['09:00', '10:00']] } });
    try {
      const created = await newLead();
      const due = new Date(created.firstResponse.dueAt!);
      expect(due.getUTCDay()).toBe(1);
      expect([due.getUTCHours(), due.getUTCMinutes()]).toEqual([12, 5]);
      expect(due.getTime()).toBeGreaterThan(new Date(created.createdAt).getTime());
      expect(due.getTime() - new Date(created.createdAt).getTime()).toBeLessThanOrEqual(7 * 86_400_000 + 5 * 60_000);
    } finally {
      await stack.api('PATCH', '/api/v1/workspace', { workingHours: allDay });
    }
  });

  it('lists SLA breaches: unanswered past due, and answered late', async () => {
    const waiting = await newLead();
    const late = await newLead();
    // Time passes: both windows were due a minute ago.
    await stack.gateway.deps.db.prisma.responseWindow.updateMany({
      where: { leadId: { in: [waiting.id, late.id] } },
      data: { openedAt: new Date(Date.now() - 10 * 60_000), dueAt: new Date(Date.now() - 60_000) },
    });
    await stack.gateway.deps.db.prisma.lead.updateMany({ where: { id: { in: [waiting.id, late.id] } }, data: { firstResponseDueAt: new Date(Date.now() - 60_000) } });
    await stack.api('POST', `/api/v1/leads/${late.id}/messages`, { text: 'Desculpe a demora!' });

    const { body } = await stack.api<{ data: { leadId: string; respondedAt: string | null; overdueSeconds: number }[] }>('GET', '/api/v1/sla/breaches');
    const byLead = new Map(body.data.map((row) => [row.leadId, row]));
    expect(byLead.get(waiting.id)?.respondedAt).toBeNull();
    expect(byLead.get(late.id)?.respondedAt).not.toBeNull();
    expect(byLead.get(late.id)!.overdueSeconds).toBeGreaterThanOrEqual(59);
    const { body: open } = await stack.api<{ data: { leadId: string }[] }>('GET', '/api/v1/sla/breaches?open=true');
    expect(open.data.map((row) => row.leadId)).toContain(waiting.id);
    expect(open.data.map((row) => row.leadId)).not.toContain(late.id);
    expect((await lead(late.id)).firstResponse.breached).toBe(true);
  });

  it('reopens a resolved conversation when the contact writes, with a new response window', async () => {
    const email = `reopen${++n}@example.com`;
    const created = await newLead({ email });
    await stack.api('POST', `/api/v1/leads/${created.id}/messages`, { text: 'Resolvido?' });
    const resolved = await stack.api<Lead>('POST', `/api/v1/leads/${created.id}/conversation`, { status: 'resolved' });
    expect(resolved.body.conversation.status).toBe('resolved');

    expect((await postForm(stack, form, { name: 'Again', email, message: 'Na verdade tenho outra dúvida' })).status).toBe(202);
    await eventually(async () => expect((await lead(created.id)).conversation.status).toBe('open'));
    const kinds = (await activities(created.id)).map((a) => a.kind);
    expect(kinds).toContain('conversation.reopened');
    const windows = await stack.gateway.deps.db.prisma.responseWindow.findMany({ where: { leadId: created.id }, orderBy: { openedAt: 'asc' } });
    expect(windows).toHaveLength(2);
    expect(windows[0]!.respondedAt).not.toBeNull();
    expect(windows[1]!.respondedAt).toBeNull();
  });

  it('snoozes until a time, then the conversation comes back open', async () => {
    const created = await newLead();
    const until = new Date(Date.now() + 1_500).toISOString();
    const { status, body } = await stack.api<Lead>('POST', `/api/v1/leads/${created.id}/conversation`, { status: 'snoozed', until });
    expect(status).toBe(200);
    expect(body.conversation).toMatchObject({ status: 'snoozed', snoozedUntil: until });
    await eventually(async () => expect((await lead(created.id)).conversation.status).toBe('open'), 10_000);
    const bad = await stack.api<Problem>('POST', `/api/v1/leads/${created.id}/conversation`, { status: 'resolved', until });
    expect(bad.status).toBe(422);
    expect(bad.body.errors?.[0]?.path).toBe('until');
  });

  it('needs a loss reason to mark a lead Unqualified, and keeps it', async () => {
    const created = await newLead();
    const refused = await stack.api<Problem>('PATCH', `/api/v1/leads/${created.id}`, { stage: 'unqualified' });
    expect(refused.status).toBe(422);
    expect(refused.body.errors?.[0]?.path).toBe('lossReason');
    const { body } = await stack.api<Lead>('PATCH', `/api/v1/leads/${created.id}`, { stage: 'unqualified', lossReason: 'no budget' });
    expect(body).toMatchObject({ stage: 'unqualified', lossReason: 'no budget' });
    const change = (await activities(created.id)).find((a) => a.kind === 'lead.stage_changed' && a.data.after === 'unqualified');
    expect(change?.data).toMatchObject({ before: 'open', reason: 'no budget' });
    expect(typeof change?.data.secondsInPreviousStage).toBe('number');
  });

  it('lets managers reword a stage; the slug stays', async () => {
    const { status } = await stack.api('PATCH', '/api/v1/stages/nurture', { label: 'Aquecendo', definition: 'Recebe conteúdo até estar pronto.' });
    expect(status).toBe(200);
    const { body } = await stack.api<{ data: { slug: string; label: string; definition: string }[] }>('GET', '/api/v1/stages');
    expect(body.data.map((s) => s.slug)).toEqual(['open', 'contacted', 'nurture', 'qualified', 'negotiation', 'customer', 'inactive', 'unqualified']);
    expect(body.data[2]).toEqual({ slug: 'nurture', label: 'Aquecendo', definition: 'Recebe conteúdo até estar pronto.' });
  });

  it('takes segments from the workspace list and assigns by segment on demand', async () => {
    const { body: segment } = await stack.api<{ id: string; name: string }>('POST', '/api/v1/segments', { name: 'Varejo' });
    expect((await stack.api('POST', '/api/v1/segments', { name: 'varejo' })).status).toBe(409);
    const retail = await rep('Varejista');
    await stack.api('POST', '/api/v1/assignment-rules', { name: 'Retail', priority: 0, match: { segmentId: segment.id }, strategy: 'fixed', userIds: [retail.id] });
    const created = await newLead();
    const unknown = await stack.api<Problem>('PATCH', `/api/v1/leads/${created.id}`, { segment: 'Atacado' });
    expect(unknown.status).toBe(422);
    expect(unknown.body.errors?.[0]?.path).toBe('segment');
    expect((await stack.api<Lead>('PATCH', `/api/v1/leads/${created.id}`, { segment: 'VAREJO' })).body.segment).toBe('Varejo');
    const { body: assigned } = await stack.api<Lead>('POST', `/api/v1/leads/${created.id}/assign`);
    expect(assigned.owner?.id).toBe(retail.id);
    expect(assigned.assignment.reason).toBe('rule "Retail" (fixed)');
    await stack.api('PATCH', `/api/v1/segments/${segment.id}`, { name: 'Varejo local' });
    expect((await lead(created.id)).segment).toBe('Varejo local');
  });

  it('validates custom fields against their definitions, naming the field', async () => {
    await stack.api('POST', '/api/v1/custom-fields', { key: 'budget', label: 'Orçamento', type: 'number' });
    await stack.api('POST', '/api/v1/custom-fields', { key: 'size', label: 'Porte', type: 'choice', choices: ['small', 'large'] });
    const created = await newLead();
    const bad = await stack.api<Problem>('PATCH', `/api/v1/leads/${created.id}`, { customFields: { budget: 'lots', size: 'huge' } });
    expect(bad.status).toBe(422);
    expect(bad.body.errors?.map((e) => e.path).sort()).toEqual(['customFields.budget', 'customFields.size']);
    const good = await stack.api<{ customFields: Record<string, unknown> }>('PATCH', `/api/v1/leads/${created.id}`, { customFields: { budget: 5000, size: 'large' } });
    expect(good.body.customFields).toMatchObject({ budget: 5000, size: 'large' });
  });

  it('finds the product in the first message by its keywords, ignoring accents, case and plural', async () => {
    const { body: card } = await stack.api<{ id: string }>('POST', '/api/v1/products', { name: 'Cartão Empresarial', keywords: ['cartão de crédito', 'credit card'] });
    await stack.api('POST', '/api/v1/products', { name: 'Seguro', keywords: ['seguro de vida'] });
    const pt = await newLead({ message: 'Queria saber dos CARTOES DE CREDITO para minha loja' });
    expect(pt.products.map((p) => p.id)).toEqual([card.id]);
    const en = await newLead({ message: 'Do you offer business credit cards?' });
    expect(en.products.map((p) => p.id)).toEqual([card.id]);
    const none = await newLead({ message: 'Só queria um orçamento' });
    expect(none.products).toEqual([]);
  });

  it('sets quotas per month or quarter and reports progress in the workspace time zone', async () => {
    const month = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Sao_Paulo', year: 'numeric', month: '2-digit' }).format(new Date()).slice(0, 7);
    const { body: product } = await stack.api<{ id: string }>('POST', '/api/v1/products', { name: 'Quota product' });
    const { status, body: overall } = await stack.api<{ id: string }>('POST', '/api/v1/quotas', { period: month, target: 4 });
    expect(status).toBe(201);
    const { body: perProduct } = await stack.api<{ id: string }>('POST', '/api/v1/quotas', { period: month, productId: product.id, target: 1 });
    const bad = await stack.api<Problem>('POST', '/api/v1/quotas', { period: '2026-13', target: 1 });
    expect(bad.status).toBe(422);
    expect(bad.body.errors?.[0]?.path).toBe('period');

    const before = (await stack.api<{ actual: number }>('GET', `/api/v1/quotas/${overall.id}/progress`)).body.actual;
    const first = await newLead();
    const second = await newLead();
    await stack.api('PATCH', `/api/v1/leads/${first.id}`, { stage: 'qualified', products: [product.id] });
    await stack.api('PATCH', `/api/v1/leads/${second.id}`, { stage: 'negotiation' });
    // Going on to a later stage counts once.
    await stack.api('PATCH', `/api/v1/leads/${first.id}`, { stage: 'customer' });
    const { body: progress } = await stack.api<{ target: number; actual: number; ratio: number; from: string; byRep: unknown[] }>('GET', `/api/v1/quotas/${overall.id}/progress`);
    expect(progress.actual).toBe(before + 2);
    expect(progress.ratio).toBeCloseTo((before + 2) / 4);
    // The month starts at local midnight: 03:00 UTC in São Paulo.
    expect(progress.from).toBe(`${month}-01T03:00:00.000Z`);
    const { body: productProgress } = await stack.api<{ actual: number; ratio: number }>('GET', `/api/v1/quotas/${perProduct.id}/progress`);
    expect(productProgress).toMatchObject({ actual: 1, ratio: 1 });
  });

  describe('roles and visibility', () => {
    let ana: { id: string; key: string };
    let bia: { id: string; key: string };
    let anasLead: Lead;
    let unassigned: Lead;
    const as = <T>(who: { key: string }, method: string, path: string, body?: unknown) => apiRequest<T>(stack.baseUrl, who.key, method, path, body);

    beforeAll(async () => {
      ana = await rep('Ana');
      bia = await rep('Bia');
      anasLead = await newLead({}, await createWebform(stack, { name: 'Ana form', ownerId: ana.id }));
      expect(anasLead.owner?.id).toBe(ana.id);
      const created = await newLead();
      await stack.api('PATCH', `/api/v1/leads/${created.id}`, { ownerId: null });
      unassigned = await lead(created.id);
      expect(unassigned.owner).toBeNull();
    });
    afterAll(async () => {
      await stack.api('PATCH', '/api/v1/workspace', { visibility: 'all', repsCanClaim: false });
    });

    it('keeps a rep out of another rep\'s leads when visibility is "own"', async () => {
      expect((await as(bia, 'GET', `/api/v1/leads/${anasLead.id}`)).status).toBe(200);
      await stack.api('PATCH', '/api/v1/workspace', { visibility: 'own', repsCanClaim: false });
      expect((await as<Problem>(bia, 'GET', `/api/v1/leads/${anasLead.id}`)).status).toBe(404);
      expect((await as(bia, 'GET', `/api/v1/leads/${anasLead.id}/messages`)).status).toBe(404);
      expect((await as(bia, 'GET', `/api/v1/leads/${anasLead.id}/activities`)).status).toBe(404);
      expect((await as(bia, 'POST', `/api/v1/leads/${anasLead.id}/notes`, { text: 'peek' })).status).toBe(404);
      const { body: list } = await as<{ data: Lead[] }>(bia, 'GET', '/api/v1/leads?limit=200');
      expect(list.data.map((l) => l.id)).not.toContain(anasLead.id);
      const { body: own } = await as<{ data: Lead[] }>(ana, 'GET', '/api/v1/leads?limit=200');
      expect(own.data.map((l) => l.id)).toContain(anasLead.id);
      expect(own.data.every((l) => l.owner?.id === ana.id)).toBe(true);
    });

    it('lets only owners and managers reassign and set up the workspace', async () => {
      const reassign = await as<Problem>(ana, 'PATCH', `/api/v1/leads/${anasLead.id}`, { ownerId: bia.id });
      expect(reassign.status).toBe(403);
      expect(reassign.body.type).toBe('https://leadgate.dev/problems/forbidden');
      expect((await as(ana, 'POST', '/api/v1/segments', { name: 'Mine' })).status).toBe(403);
      expect((await as(ana, 'PATCH', '/api/v1/workspace', { visibility: 'all' })).status).toBe(403);
      expect((await as(ana, 'POST', '/api/v1/api-keys', { name: 'x' })).status).toBe(403);
      // Reps still work their own leads.
      expect((await as(ana, 'PATCH', `/api/v1/leads/${anasLead.id}`, { tags: ['hot'] })).status).toBe(200);
      const { body: manager } = await stack.api<{ id: string }>('POST', '/api/v1/users', { name: 'Gerente', email: 'gerente@acme.test', role: 'manager' });
      const { body: managerKey } = await stack.api<{ key: string }>('POST', '/api/v1/api-keys', { name: 'manager', userId: manager.id });
      expect((await as(managerKey, 'PATCH', `/api/v1/leads/${anasLead.id}`, { ownerId: bia.id })).status).toBe(200);
      expect((await as(managerKey, 'POST', '/api/v1/users', { name: 'Boss', email: 'boss@acme.test', role: 'owner' })).status).toBe(403);
      await stack.api('PATCH', `/api/v1/leads/${anasLead.id}`, { ownerId: ana.id });
    });

    it('lets reps claim unassigned leads only when the workspace allows it, once', async () => {
      expect((await as(bia, 'GET', `/api/v1/leads/${unassigned.id}`)).status).toBe(404);
      await stack.api('PATCH', '/api/v1/workspace', { repsCanClaim: true });
      expect((await as(bia, 'GET', `/api/v1/leads/${unassigned.id}`)).status).toBe(200);
      const { status, body } = await as<Lead>(bia, 'POST', `/api/v1/leads/${unassigned.id}/claim`);
      expect(status).toBe(200);
      expect(body.owner?.id).toBe(bia.id);
      expect(body.assignment.reason).toBe('claimed');
      const again = await as<Problem>(ana, 'POST', `/api/v1/leads/${unassigned.id}/claim`);
      expect(again.status).toBe(404);
      expect((await stack.api<Problem>('POST', `/api/v1/leads/${unassigned.id}/claim`)).status).toBe(403);
      await stack.api('PATCH', '/api/v1/workspace', { repsCanClaim: false });
      const other = await newLead();
      await stack.api('PATCH', `/api/v1/leads/${other.id}`, { ownerId: null });
      await stack.api('PATCH', '/api/v1/workspace', { visibility: 'all' });
      expect((await as<Problem>(ana, 'POST', `/api/v1/leads/${other.id}/claim`)).status).toBe(403);
      await stack.api('PATCH', '/api/v1/workspace', { visibility: 'own' });
    });

    it("shows a rep only their own follow-ups and quota line when visibility is \"own\"", async () => {
      await as(ana, 'POST', `/api/v1/leads/${anasLead.id}/follow-ups`, { dueAt: new Date(Date.now() - 60_000).toISOString(), note: 'Call back' });
      await stack.api('POST', `/api/v1/leads/${unassigned.id}/follow-ups`, { dueAt: new Date(Date.now() - 60_000).toISOString(), note: 'Team item', ownerId: bia.id });
      const { body: anas } = await as<{ data: { ownerId: string }[] }>(ana, 'GET', '/api/v1/follow-ups?due=overdue');
      expect(anas.data.length).toBeGreaterThan(0);
      expect(anas.data.every((f) => f.ownerId === ana.id)).toBe(true);
      const { body: team } = await stack.api<{ data: { ownerId: string }[] }>('GET', '/api/v1/follow-ups?due=overdue');
      expect(new Set(team.data.map((f) => f.ownerId))).toEqual(new Set([ana.id, bia.id]));
    });

    it('never shows one workspace anything of another', async () => {
      const prisma = stack.gateway.deps.db.prisma;
      const workspaceId = newId('ws');
      await prisma.workspace.create({ data: { id: workspaceId, name: 'Other Co', workingHours: {} } });
      const key = `lg_other_${newId('k')}`;
      await prisma.apiKey.create({ data: { id: newId('key'), workspaceId, name: 'other', prefix: key.slice(0, 7), hash: hashApiKey(key) } });
      const other = { key };
      expect((await as(other, 'GET', `/api/v1/leads/${anasLead.id}`)).status).toBe(404);
      expect((await as<{ data: unknown[] }>(other, 'GET', '/api/v1/leads')).body.data).toEqual([]);
      expect((await as(other, 'GET', `/api/v1/contacts/${anasLead.id}`)).status).toBe(404);
      expect((await as<{ data: unknown[] }>(other, 'GET', '/api/v1/segments')).body.data).toEqual([]);
      expect((await as<{ data: unknown[] }>(other, 'GET', '/api/v1/quotas')).body.data).toEqual([]);
      expect((await as<{ data: unknown[] }>(other, 'GET', '/api/v1/sla/breaches')).body.data).toEqual([]);
      expect((await as(other, 'POST', `/api/v1/leads/${anasLead.id}/conversation`, { status: 'resolved' })).status).toBe(404);
      expect((await as(other, 'PATCH', `/api/v1/leads/${anasLead.id}`, { stage: 'qualified' })).status).toBe(404);
    });
  });
});
