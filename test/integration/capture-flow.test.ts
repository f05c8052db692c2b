import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestSmtpServer } from '../support/smtp.js';
import { allBackends, createWebform, eventually, postForm, type Stack, startStack, type WebformSource } from '../support/stack.js';

interface Lead {
  id: string;
  contactId: string;
  name: string;
  email: string | null;
  phone: string | null;
  owner: { id: string; name: string } | null;
  assignment: { reason: string };
  customFields: Record<string, string>;
  products: { name: string }[];
}
interface Activity {
  kind: string;
  data: Record<string, unknown>;
}

describe.each(allBackends)('a lead from a web form, on $db with the $queue queue', ({ db, queue }) => {
  let stack: Stack;
  let smtp: TestSmtpServer;
  let form: WebformSource;
  let repId: string;

  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    stack = await startStack({ db, queue, smtp: { url: smtp.url, from: 'Acme Vendas <vendas@acme.test>' } });
    await stack.api('PATCH', '/api/v1/workspace', { name: 'Acme Energia Solar' });
    const rep = await stack.api<{ id: string }>('POST', '/api/v1/users', { name: 'Rita Rep', email: 'rita@acme.test', role: 'rep' });
    repId = rep.body.id;
    await stack.api('POST', '/api/v1/products', { name: 'Painel Solar', keywords: ['painel', 'solar'] });
    form = await createWebform(stack);
  });

  afterAll(async () => {
    await stack?.close();
    await smtp?.stop();
  });

  it('captures the submission, builds the lead and emails the acknowledgement', async () => {
    const posted = await postForm(stack, form, {
      nome: 'Ana Souza',
      'E-mail': 'Ana.Souza@Example.com',
      telefone: '(11) 98765-4321',
      mensagem: 'Quero um orçamento para minha casa',
      produto: 'painel solar',
      utm_source: 'google',
      'Tamanho do telhado': '40 m2',
    });
    expect(posted.status).toBe(202);
    expect(posted.json?.eventId).toMatch(/^evt_/);

    const lead = await eventually(async () => {
      const { body } = await stack.api<{ data: Lead[] }>('GET', '/api/v1/leads');
      expect(body.data).toHaveLength(1);
      return body.data[0]!;
    });
    expect(lead.name).toBe('Ana Souza');
    expect(lead.phone).toBe('+5511987654321');
    expect(lead.email).toBe('ana.souza@example.com');
    expect(lead.owner?.id).toBe(repId);
    expect(lead.assignment.reason).toBe('round robin among reps');
    expect(lead.products.map((p) => p.name)).toEqual(['Painel Solar']);
    expect(lead.customFields).toMatchObject({ utm_source: 'google', 'Tamanho do telhado': '40 m2' });

    const mail = await eventually(() => {
      expect(smtp.received).toHaveLength(1);
      return smtp.received[0]!;
    });
    expect(mail.envelope.to).toEqual(['ana.souza@example.com']);
    expect(mail.mail.subject).toBe('Recebemos sua mensagem — Acme Energia Solar');
    expect(mail.mail.text).toContain('Olá Ana,');
    expect(mail.mail.text).toContain('sobre Painel Solar');
    expect(mail.mail.text).toContain('Rita Rep vai falar com você');
    expect(mail.mail.html).toContain('<p>Olá Ana,</p>');

    const timeline = await eventually(async () => {
      const { body } = await stack.api<{ data: Activity[] }>('GET', `/api/v1/leads/${lead.id}/activities`);
      expect(body.data.map((a) => a.kind)).toContain('message.sent');
      return body.data;
    });
    expect(timeline.map((a) => a.kind).reverse()).toEqual(['lead.created', 'message.received', 'lead.assigned', 'lead.scored', 'lead.routed', 'message.queued', 'message.sent']);

    const { body: conversation } = await stack.api<{ data: { direction: string; channel: string; status: string; text: string }[] }>(
      'GET',
      `/api/v1/leads/${lead.id}/messages`,
    );
    expect(conversation.data.map((m) => [m.direction, m.channel, m.status])).toEqual([
      ['in', 'webform', 'received'],
      ['out', 'email', 'sent'],
    ]);
    expect(conversation.data[0]!.text).toBe('Quero um orçamento para minha casa');
  });

  it('answers a replayed submission with the same ids and creates nothing', async () => {
    const submission = { name: 'Bruno Lima', email: 'bruno@example.com', message: 'Oi' };
    const first = await postForm(stack, form, submission);
    expect(first.status).toBe(202);
    const firstLead = await eventually(async () => {
      const { body } = await stack.api<{ data: Lead[] }>('GET', '/api/v1/leads?q=bruno');
      expect(body.data).toHaveLength(1);
      return body.data[0]!;
    });
    const replay = await postForm(stack, form, submission);
    expect(replay.status).toBe(200);
    expect(replay.json).toEqual({ eventId: first.json?.eventId, leadId: firstLead.id });

    const { body } = await stack.api<{ data: Lead[] }>('GET', '/api/v1/leads?q=bruno');
    expect(body.data).toHaveLength(1);
    const { body: messages } = await stack.api<{ data: unknown[] }>('GET', `/api/v1/leads/${firstLead.id}/messages`);
    expect(messages.data.filter((m) => (m as { direction: string }).direction === 'in')).toHaveLength(1);
  });

  it('makes one contact of one person writing through two forms with the phone written differently', async () => {
    const other = await createWebform(stack, { name: 'Landing page' });
    expect((await postForm(stack, form, { name: 'Carla Dias', phone: '11 91234-5678', email: 'carla@example.com' })).status).toBe(202);
    expect((await postForm(stack, other, { name: 'Carla Dias', whatsapp: '+55 (11) 9 1234 5678', email: 'carla.dias@work.example' })).status).toBe(202);

    const leads = await eventually(async () => {
      const { body: events } = await stack.api<{ data: { status: string }[] }>('GET', '/api/v1/inbound-events?status=pending');
      expect(events.data).toHaveLength(0);
      const { body } = await stack.api<{ data: Lead[] }>('GET', '/api/v1/leads?q=carla');
      return body.data;
    });
    expect(leads).toHaveLength(1);
    const { body: contact } = await stack.api<{ identities: { kind: string; value: string }[]; leads: string[] }>(
      'GET',
      `/api/v1/contacts/${leads[0]!.contactId}`,
    );
    expect(contact.identities.map((i) => `${i.kind}:${i.value}`).sort()).toEqual([
      'email:carla.dias@work.example',
      'email:carla@example.com',
      'phone:+5511912345678',
    ]);
    expect(contact.leads).toEqual([leads[0]!.id]);
  });

  it('merges two contacts that turn out to be one person', async () => {
    expect((await postForm(stack, form, { name: 'Davi', email: 'davi@example.com' })).status).toBe(202);
    expect((await postForm(stack, form, { name: 'Davi R.', phone: '+55 21 99876-5432' })).status).toBe(202);
    await eventually(async () => {
      const { body } = await stack.api<{ data: Lead[] }>('GET', '/api/v1/leads?q=davi');
      expect(body.data).toHaveLength(2);
    });
    expect((await postForm(stack, form, { name: 'Davi Rocha', email: 'davi@example.com', phone: '21 99876 5432' })).status).toBe(202);

    const merged = await eventually(async () => {
      const { body } = await stack.api<{ data: Lead[] }>('GET', '/api/v1/leads?q=davi');
      const contactIds = new Set(body.data.map((lead) => lead.contactId));
      expect(contactIds.size).toBe(1);
      return body.data;
    });
    const { body: contact } = await stack.api<{ id: string; identities: { value: string }[] }>('GET', `/api/v1/contacts/${merged[0]!.contactId}`);
    expect(contact.identities.map((i) => i.value).sort()).toEqual(['+5521998765432', 'davi@example.com']);
    const timelines = await Promise.all(
      merged.map(async (lead) => (await stack.api<{ data: Activity[] }>('GET', `/api/v1/leads/${lead.id}/activities`)).body.data),
    );
    expect(timelines.flat().some((a) => a.kind === 'contact.merged')).toBe(true);
  });
});
