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
});
