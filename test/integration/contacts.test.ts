import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import { hashApiKey } from '../../src/security/tokens.js';
import { signIn } from '../support/session.js';
import { TestSmtpServer } from '../support/smtp.js';
import { apiRequest, createWebform, eventually, postForm, type Stack, startStack, type WebformSource } from '../support/stack.js';

interface Problem {
  type: string;
  status: number;
  detail?: string;
}
interface Lead {
  id: string;
  contactId: string;
  name: string | null;
  source: { id: string; name: string; kind: string } | null;
}
interface Contact {
  id: string;
  name: string | null;
  identities: { kind: string; value: string }[];
  optOuts: string[];
  leads: string[];
  conversations: { id: string; channel: string; stage: string; status: string }[];
  merges: { id: string; fromContactId: string; name: string | null; identities: string[]; leads: number; automatic: boolean; undoneAt: string | null }[];
}
interface Merge {
  id: string;
  fromContactId: string;
  intoContactId: string;
  automatic: boolean;
  undoneAt: string | null;
}

/** Contacts through the API: search, a contact's conversations, merging by hand and undoing merges; and where a reply goes. */
describe('contacts and reply routes on PGlite', () => {
  let stack: Stack;
  let smtp: TestSmtpServer;
  let form: WebformSource;
  const rep = { email: 'rita@acme.test', password: 'rita long password', id: '' };

  const leadsOf = async (q: string, count: number) =>
    eventually(async () => {
      const { body } = await stack.api<{ data: Lead[] }>('GET', `/api/v1/leads?q=${encodeURIComponent(q)}`);
      expect(body.data).toHaveLength(count);
      return body.data;
    });
  const contact = async (id: string) => (await stack.api<Contact>('GET', `/api/v1/contacts/${id}`)).body;
  const timeline = async (leadId: string) => (await stack.api<{ data: { kind: string }[] }>('GET', `/api/v1/leads/${leadId}/activities`)).body.data.map((a) => a.kind);

  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    stack = await startStack({ db: 'pglite', queue: 'embedded', smtp: { url: smtp.url, from: 'Acme <vendas@acme.test>' } });
    form = await createWebform(stack, { name: 'Site', autoReplyTemplate: null });
    const created = await stack.api<{ id: string }>('POST', '/api/v1/users', { name: 'Rita', email: rep.email, role: 'rep', password: rep.password });
    expect(created.status).toBe(201);
    rep.id = created.body.id;
  });
  afterAll(async () => {
    await stack?.close();
    await smtp?.stop();
  });

  it('finds contacts by name, address or number, with their identities and the leads the caller may see', async () => {
    expect((await postForm(stack, form, { name: 'Helena Prado', email: 'helena@example.com', phone: '+55 11 98888-1234' })).status).toBe(202);
    const [lead] = await leadsOf('helena@example.com', 1);
    expect(lead!.source).toEqual({ id: form.id, name: 'Site', kind: 'webform' });

    for (const q of ['helena', 'HELENA@EXAMPLE', '98888-1234']) {
      const { status, body } = await stack.api<{ data: { id: string; identities: { value: string }[]; leads: number }[] }>('GET', `/api/v1/contacts?q=${encodeURIComponent(q)}`);
      expect(status, q).toBe(200);
      expect(body.data.map((row) => row.id), q).toEqual([lead!.contactId]);
      expect(body.data[0]!.identities.map((i) => i.value).sort()).toEqual(['+5511988881234', 'helena@example.com']);
      expect(body.data[0]!.leads).toBe(1);
    }
    const detail = await contact(lead!.contactId);
    expect(detail.conversations).toMatchObject([{ id: lead!.id, channel: 'webform', stage: 'open', status: 'open' }]);

    // A rep who sees only their own leads finds neither the contact nor, by id, its detail.
    expect((await stack.api('PATCH', `/api/v1/leads/${lead!.id}`, { ownerId: null })).status).toBe(200);
    expect((await stack.api('PATCH', '/api/v1/workspace', { visibility: 'own', repsCanClaim: false })).status).toBe(200);
    try {
      const rita = await signIn(stack.baseUrl, rep.email, rep.password);
      expect((await rita.request<{ data: unknown[] }>('GET', '/api/v1/contacts?q=helena')).body.data).toEqual([]);
      const hidden = await rita.request<Problem>('GET', `/api/v1/contacts/${lead!.contactId}`);
      expect(hidden.status).toBe(404);
      expect(hidden.headers.get('content-type')).toContain('application/problem+json');
    } finally {
      expect((await stack.api('PATCH', '/api/v1/workspace', { visibility: 'all' })).status).toBe(200);
    }
  });

  it('merges two contacts by hand, keeping each lead\'s timeline, and undoes it back to where each was', async () => {
    expect((await postForm(stack, form, { name: 'Igor Lima', email: 'igor@example.com' })).status).toBe(202);
    expect((await postForm(stack, form, { name: 'Igor L.', phone: '+55 21 97777-0001' })).status).toBe(202);
    const leads = await leadsOf('igor', 2);
    const byEmail = leads.find((lead) => lead.name === 'Igor Lima')!;
    const byPhone = leads.find((lead) => lead.name === 'Igor L.')!;
    expect(byEmail.contactId).not.toBe(byPhone.contactId);
    await stack.api('POST', `/api/v1/leads/${byPhone.id}/notes`, { text: 'Ligou pedindo orçamento' });
    const before = await timeline(byPhone.id);

    // A rep may not merge; a contact cannot be merged into itself; an unknown one is not found.
    const rita = await signIn(stack.baseUrl, rep.email, rep.password);
    const refused = await rita.request<Problem>('POST', `/api/v1/contacts/${byEmail.contactId}/merge`, { contactId: byPhone.contactId });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    const self = await stack.api<Problem>('POST', `/api/v1/contacts/${byEmail.contactId}/merge`, { contactId: byEmail.contactId });
    expect(self.status).toBe(409);
    expect(self.headers.get('content-type')).toContain('application/problem+json');
    expect((await stack.api<Problem>('POST', `/api/v1/contacts/${byEmail.contactId}/merge`, { contactId: 'con_nobody' })).status).toBe(404);
    const invalid = await stack.api<Problem>('POST', `/api/v1/contacts/${byEmail.contactId}/merge`, { other: byPhone.contactId });
    expect(invalid.status).toBe(422);

    const merged = await stack.api<Merge>('POST', `/api/v1/contacts/${byEmail.contactId}/merge`, { contactId: byPhone.contactId });
    expect(merged.status).toBe(201);
    expect(merged.body).toMatchObject({ fromContactId: byPhone.contactId, intoContactId: byEmail.contactId, automatic: false, undoneAt: null });
    const kept = await contact(byEmail.contactId);
    expect(kept.identities.map((i) => i.value).sort()).toEqual(['+5521977770001', 'igor@example.com']);
    expect(kept.conversations.map((c) => c.id).sort()).toEqual([byEmail.id, byPhone.id].sort());
    expect(kept.merges).toMatchObject([{ id: merged.body.id, name: 'Igor L.', identities: ['+5521977770001'], leads: 1, automatic: false, undoneAt: null }]);
    // The merged contact answers as the kept one; the lead keeps its whole timeline.
    expect((await contact(byPhone.contactId)).id).toBe(byEmail.contactId);
    const afterMerge = await timeline(byPhone.id);
    expect(afterMerge).toEqual(expect.arrayContaining(before));
    expect(afterMerge).toContain('contact.merged');
    expect((await stack.api<Problem>('POST', `/api/v1/contacts/${byEmail.contactId}/merge`, { contactId: byPhone.contactId })).status).toBe(409);

    expect((await rita.request<Problem>('POST', `/api/v1/contact-merges/${merged.body.id}/undo`)).status).toBe(403);
    const undone = await stack.api<Merge>('POST', `/api/v1/contact-merges/${merged.body.id}/undo`);
    expect(undone.status).toBe(200);
    expect(undone.body.undoneAt).not.toBeNull();
    const back = await contact(byPhone.contactId);
    expect(back.id).toBe(byPhone.contactId);
    expect(back.identities.map((i) => i.value)).toEqual(['+5521977770001']);
    expect(back.conversations.map((c) => c.id)).toEqual([byPhone.id]);
    expect((await contact(byEmail.contactId)).identities.map((i) => i.value)).toEqual(['igor@example.com']);
    expect((await stack.api<Lead>('GET', `/api/v1/leads/${byPhone.id}`)).body.contactId).toBe(byPhone.contactId);
    expect(await timeline(byPhone.id)).toEqual(expect.arrayContaining([...before, 'contact.merged', 'contact.unmerged']));
    const again = await stack.api<Problem>('POST', `/api/v1/contact-merges/${merged.body.id}/undo`);
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toContain('application/problem+json');
  });

  it('undoes a wrong automatic merge: each contact gets back its identities, leads and opt-outs', async () => {
    expect((await postForm(stack, form, { name: 'Joana', email: 'joana@example.com' })).status).toBe(202);
    expect((await postForm(stack, form, { name: 'Jonas', phone: '+55 31 96666-0002' })).status).toBe(202);
    const [joana, jonas] = await Promise.all([leadsOf('joana', 1), leadsOf('Jonas', 1)]);
    await stack.gateway.deps.db.prisma.contactOptOut.create({ data: { workspaceId: (await stack.api<{ id: string }>('GET', '/api/v1/workspace')).body.id, contactId: jonas[0]!.contactId, channel: 'sms', reason: 'PARE' } });
    // A form filled in with Joana's email and Jonas's phone: the gateway takes them for one person.
    expect((await postForm(stack, form, { name: 'Joana', email: 'joana@example.com', phone: '31 96666 0002' })).status).toBe(202);
    const kept = await eventually(async () => {
      const detail = await contact(joana[0]!.contactId);
      expect(detail.merges).toHaveLength(1);
      return detail;
    });
    expect(kept.merges[0]).toMatchObject({ automatic: true, undoneAt: null });
    const mergedAway = kept.merges[0]!.fromContactId === joana[0]!.contactId ? joana[0]!.contactId : jonas[0]!.contactId;
    const keptId = kept.id;
    expect(kept.optOuts).toContain('sms');

    const undone = await stack.api<Merge>('POST', `/api/v1/contact-merges/${kept.merges[0]!.id}/undo`);
    expect(undone.status).toBe(200);
    const jonasContact = await contact(jonas[0]!.contactId);
    const joanaContact = await contact(joana[0]!.contactId);
    expect(jonasContact.id).toBe(jonas[0]!.contactId);
    expect(joanaContact.id).toBe(joana[0]!.contactId);
    expect(jonasContact.optOuts).toEqual(['sms']);
    expect(jonasContact.conversations.map((c) => c.id)).toContain(jonas[0]!.id);
    expect(joanaContact.conversations.map((c) => c.id)).toContain(joana[0]!.id);
    expect(joanaContact.optOuts).toEqual([]);
    expect(jonasContact.identities.map((i) => i.value)).toContain('+5531966660002');
    expect(joanaContact.identities.map((i) => i.value)).toContain('joana@example.com');
    expect([mergedAway, keptId].sort()).toEqual([joana[0]!.contactId, jonas[0]!.contactId].sort());
  });

  it('keeps contacts and merges to their workspace', async () => {
    const prisma = stack.gateway.deps.db.prisma;
    const otherKey = `lg_other_${newId('k')}`;
    const workspaceId = newId('ws');
    await prisma.workspace.create({ data: { id: workspaceId, name: 'Other business', workingHours: {} } });
    await prisma.apiKey.create({ data: { id: newId('key'), workspaceId, name: 'other', prefix: 'lg_othe', hash: hashApiKey(otherKey) } });
    const other = <T,>(method: string, path: string, body?: unknown) => apiRequest<T>(stack.baseUrl, otherKey, method, path, body);
    const [helena] = await leadsOf('helena@example.com', 1);
    const [igor] = await leadsOf('igor@example.com', 1);
    expect((await other<{ data: unknown[] }>('GET', '/api/v1/contacts?q=helena')).body.data).toEqual([]);
    expect((await other('GET', `/api/v1/contacts/${helena!.contactId}`)).status).toBe(404);
    expect((await other('POST', `/api/v1/contacts/${helena!.contactId}/merge`, { contactId: igor!.contactId })).status).toBe(404);
    const merges = await prisma.contactMerge.findMany({ where: { intoContactId: igor!.contactId } });
    expect(merges.length).toBeGreaterThan(0);
    expect((await other('POST', `/api/v1/contact-merges/${merges[0]!.id}/undo`)).status).toBe(404);
  });

  it('says where a reply goes on each channel, and an email reply\'s subject', async () => {
    const [helena] = await leadsOf('helena@example.com', 1);
    const { status, body } = await stack.api<{ data: { channel: string; to: string; subject?: string }[] }>('GET', `/api/v1/leads/${helena!.id}/reply-options`);
    expect(status).toBe(200);
    // The web form sends nothing itself: email goes over SMTP; the phone has no channel here to send SMS on.
    expect(body.data).toEqual([{ channel: 'email', to: 'helena@example.com', subject: (await stack.api<{ name: string }>('GET', '/api/v1/workspace')).body.name }]);

    const sent = await stack.api<{ messageId: string }>('POST', `/api/v1/leads/${helena!.id}/messages`, { text: 'Segue a proposta.', subject: 'Proposta do plano anual' });
    expect(sent.status).toBe(202);
    await eventually(() => expect(smtp.received.find((mail) => mail.envelope.to.includes('helena@example.com'))?.mail.subject).toBe('Proposta do plano anual'));

    expect((await stack.api<Problem>('GET', '/api/v1/leads/lead_nobody/reply-options')).status).toBe(404);
  });
});
