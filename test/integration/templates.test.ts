import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestSmtpServer } from '../support/smtp.js';
import { createWebform, eventually, postForm, type Stack, startStack } from '../support/stack.js';

interface Preview {
  subject?: string;
  text: string;
  html?: string;
  smsSegments?: number;
}

describe('message templates', () => {
  let stack: Stack;
  let smtp: TestSmtpServer;
  let leadId: string;

  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    stack = await startStack({ db: 'pglite', queue: 'embedded', smtp: { url: smtp.url, from: 'Acme <vendas@acme.test>' } });
    await stack.api('PATCH', '/api/v1/workspace', { name: 'Acme Solar' });
    await stack.api('POST', '/api/v1/products', { name: 'Aquecedor Solar' });
    const form = await createWebform(stack, { autoReplyTemplate: null });
    await postForm(stack, form, { nome: 'Júlia Prado', email: 'julia@example.com', telefone: '(11) 98888-7777', produto: 'aquecedor solar' });
    leadId = await eventually(async () => {
      const { body } = await stack.api<{ data: { id: string }[] }>('GET', '/api/v1/leads');
      expect(body.data).toHaveLength(1);
      return body.data[0]!.id;
    });
  });
  afterAll(async () => {
    await stack?.close();
    await smtp?.stop();
  });

  it('lists every shipped template in both locales on every channel', async () => {
    const { body } = await stack.api<{ data: { id: string; name: string; locale: string; channel: string; subject?: string }[] }>('GET', '/api/v1/templates');
    const names = ['acknowledgement', 'missed_call', 'product_introduction', 'meeting_request', 'thank_you', 'product_launch', 'follow_up_reminder'];
    for (const locale of ['pt-BR', 'en']) {
      for (const channel of ['email', 'whatsapp', 'sms']) {
        for (const name of names) expect(body.data.map((t) => t.id)).toContain(`${locale}.${name}.${channel}`);
      }
    }
    expect(body.data.filter((t) => t.channel === 'email').every((t) => typeof t.subject === 'string' && t.subject.length > 0)).toBe(true);
    const sms = await stack.api<{ data: unknown[] }>('GET', '/api/v1/templates?locale=en&channel=sms');
    expect(sms.body.data).toHaveLength(names.length);
  });

  it('renders every shipped template for a real lead without sending it', async () => {
    const { body } = await stack.api<{ data: { id: string; channel: string }[] }>('GET', '/api/v1/templates');
    for (const template of body.data) {
      const { status, body: preview } = await stack.api<Preview>('POST', `/api/v1/templates/${template.id}/preview`, {
        leadId,
        variables: { meeting: { when: 'quinta-feira às 10h' }, launch: { name: 'Painel X2', details: 'mais eficiente' } },
      });
      expect(status, template.id).toBe(200);
      expect(preview.text, template.id).not.toMatch(/undefined|null|\{\{/);
      if (template.channel === 'email') expect(preview.html, template.id).toContain('<p>');
      if (template.channel === 'sms') expect(preview.smsSegments, template.id).toBeGreaterThanOrEqual(1);
    }
    const { body: intro } = await stack.api<Preview>('POST', '/api/v1/templates/pt-BR.product_introduction.whatsapp/preview', { leadId });
    expect(intro.text).toContain('Júlia');
    expect(intro.text).toContain('Aquecedor Solar');
  });

  it('names the variables a template needs that the request did not give', async () => {
    const { status, body } = await stack.api<{ type: string; errors: { path: string }[] }>('POST', '/api/v1/templates/en.meeting_request.email/preview', { leadId });
    expect(status).toBe(422);
    expect(body.type).toBe('https://leadgate.dev/problems/template-invalid');
    expect(body.errors.map((e) => e.path)).toEqual(['variables.meeting.when']);
    expect((await stack.api('POST', '/api/v1/templates/en.nothing.email/preview', { leadId })).status).toBe(404);
    expect((await stack.api('POST', '/api/v1/templates/en.thank_you.email/preview', { leadId: 'lead_missing' })).status).toBe(404);
  });

  it('sends a template by id, rendered for the lead, on the template\'s channel', async () => {
    const { status } = await stack.api('POST', `/api/v1/leads/${leadId}/messages`, { templateId: 'pt-BR.meeting_request.email', variables: { meeting: { when: 'sexta às 15h' } } });
    expect(status).toBe(202);
    const mail = await eventually(() => {
      expect(smtp.received).toHaveLength(1);
      return smtp.received[0]!;
    });
    expect(mail.envelope.to).toEqual(['julia@example.com']);
    expect(mail.mail.text).toContain('sexta às 15h');
    expect(mail.mail.text).toContain('Júlia');
  });

  it('lets a workspace override a shipped template, and go back to it', async () => {
    const created = await stack.api<{ id: string; shipped: boolean }>('POST', '/api/v1/templates', {
      name: 'acknowledgement',
      locale: 'pt-BR',
      channel: 'email',
      subject: 'Oi {{lead.firstName}}, aqui é a {{workspace.name}}',
      body: 'Recebemos! Em até 1 hora alguém da {{workspace.name}} fala com você.',
    });
    expect(created.status).toBe(201);
    expect(created.body.shipped).toBe(false);
    const { body: listed } = await stack.api<{ data: { id: string; shipped: boolean }[] }>('GET', '/api/v1/templates?name=acknowledgement&locale=pt-BR&channel=email');
    expect(listed.data.map((t) => [t.id, t.shipped])).toEqual([
      [created.body.id, false],
      ['pt-BR.acknowledgement.email', true],
    ]);

    const form = await createWebform(stack, { name: 'Override form' });
    await postForm(stack, form, { nome: 'Marcos Lima', email: 'marcos@example.com' });
    const mail = await eventually(() => {
      const found = smtp.received.find((m) => m.envelope.to.includes('marcos@example.com'));
      expect(found).toBeDefined();
      return found!;
    });
    expect(mail.mail.subject).toBe('Oi Marcos, aqui é a Acme Solar');
    expect(mail.mail.text?.trim()).toBe('Recebemos! Em até 1 hora alguém da Acme Solar fala com você.');

    expect((await stack.api('PATCH', '/api/v1/templates/pt-BR.acknowledgement.email', { body: 'x' })).status).toBe(409);
    expect((await stack.api('POST', '/api/v1/templates', { name: 'acknowledgement', locale: 'pt-BR', channel: 'email', body: 'again' })).status).toBe(409);
    const broken = await stack.api<{ errors: { path: string }[] }>('POST', '/api/v1/templates', { name: 'broken', locale: 'en', channel: 'sms', body: 'Hi {{#if lead.name}}' });
    expect(broken.status).toBe(422);
    expect(broken.body.errors.map((e) => e.path)).toEqual(['body']);

    expect((await stack.api('DELETE', `/api/v1/templates/${created.body.id}`)).status).toBe(204);
    await postForm(stack, form, { nome: 'Nina Reis', email: 'nina@example.com' });
    const shipped = await eventually(() => {
      const found = smtp.received.find((m) => m.envelope.to.includes('nina@example.com'));
      expect(found).toBeDefined();
      return found!;
    });
    expect(shipped.mail.subject).toBe('Recebemos sua mensagem — Acme Solar');
  });
});
