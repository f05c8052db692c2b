import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestSmtpServer } from '../support/smtp.js';
import { createWebform, eventually, mainBackends, postForm, type Stack, startStack, type WebformSource } from '../support/stack.js';

interface MessageView {
  id: string;
  status: string;
  attempts: number;
  error?: string;
  errorCode?: string;
  direction: string;
  channel: string;
  to: string | null;
  automatic: boolean;
}

describe.each(mainBackends)('sending on $db with the $queue queue', ({ db, queue }) => {
  let stack: Stack;
  let smtp: TestSmtpServer;
  let form: WebformSource;

  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    stack = await startStack({ db, queue, smtp: { url: smtp.url, from: 'Acme <vendas@acme.test>' }, env: { LEADGATE_SEND_MAX_ATTEMPTS: '3' } });
    form = await createWebform(stack);
  });
  afterAll(async () => {
    await stack?.close();
    await smtp?.stop();
  });

  async function leadFor(email: string) {
    return eventually(async () => {
      const { body } = await stack.api<{ data: { id: string }[] }>('GET', `/api/v1/leads?q=${encodeURIComponent(email)}`);
      expect(body.data).toHaveLength(1);
      return body.data[0]!;
    });
  }

  async function outboundOf(leadId: string): Promise<MessageView[]> {
    const { body } = await stack.api<{ data: MessageView[] }>('GET', `/api/v1/leads/${leadId}/messages`);
    return body.data.filter((m) => m.direction === 'out');
  }

  it('retries a transient SMTP failure with backoff until the mail goes through', async () => {
    smtp.failNext(2, 451, 'Try again later');
    const before = smtp.received.length;
    await postForm(stack, form, { name: 'Retry Lead', email: 'retry@example.com' });
    const lead = await leadFor('retry@example.com');
    const [sent] = await eventually(async () => {
      const messages = await outboundOf(lead.id);
      expect(messages.map((m) => m.status)).toEqual(['sent']);
      return messages;
    });
    expect(sent!.attempts).toBe(3);
    expect(smtp.received.length - before).toBe(1);
    expect(smtp.received.at(-1)!.envelope.to).toEqual(['retry@example.com']);
  });

  it('fails a permanent SMTP rejection at once, with the server\'s reason visible', async () => {
    smtp.failNext(1, 550, 'Mailbox unavailable');
    await postForm(stack, form, { name: 'Rejected Lead', email: 'rejected@example.com' });
    const lead = await leadFor('rejected@example.com');
    const [failed] = await eventually(async () => {
      const messages = await outboundOf(lead.id);
      expect(messages.map((m) => m.status)).toEqual(['failed']);
      return messages;
    });
    expect(failed!.attempts).toBe(1);
    expect(failed!.errorCode).toBe('smtp_rejected');
    expect(failed!.error).toMatch(/550.*Mailbox unavailable/);
    const { body: one } = await stack.api<MessageView>('GET', `/api/v1/messages/${failed!.id}`);
    expect(one).toMatchObject({ status: 'failed', errorCode: 'smtp_rejected' });
    const { body: timeline } = await stack.api<{ data: { kind: string; data: { code?: string } }[] }>('GET', `/api/v1/leads/${lead.id}/activities`);
    expect(timeline.data[0]).toMatchObject({ kind: 'message.failed', data: { code: 'smtp_rejected' } });
  });

  it('gives up after the configured attempts when the failure persists, and says why', async () => {
    smtp.failNext(5, 421, 'Service not available, closing channel');
    await postForm(stack, form, { name: 'Down Lead', email: 'down@example.com' });
    const lead = await leadFor('down@example.com');
    const [failed] = await eventually(async () => {
      const messages = await outboundOf(lead.id);
      expect(messages.map((m) => m.status)).toEqual(['failed']);
      return messages;
    });
    expect(failed!.attempts).toBe(3);
    expect(failed!.errorCode).toBe('smtp_transient');
    smtp.clearFailures();
  });

  it('sends a rep\'s reply on the lead\'s channel and shows its status', async () => {
    await postForm(stack, form, { name: 'Reply Lead', email: 'reply@example.com' });
    const lead = await leadFor('reply@example.com');
    await eventually(async () => expect((await outboundOf(lead.id)).map((m) => m.status)).toEqual(['sent']));
    const { status, body } = await stack.api<{ messageId: string; status: string; channel: string }>('POST', `/api/v1/leads/${lead.id}/messages`, {
      text: 'Olá! Podemos marcar uma visita técnica na quinta?',
      subject: 'Visita técnica',
    });
    expect(status).toBe(202);
    expect(body).toMatchObject({ status: 'queued', channel: 'email' });
    const mail = await eventually(() => {
      const found = smtp.received.find((m) => m.mail.subject === 'Visita técnica');
      expect(found).toBeDefined();
      return found!;
    });
    expect(mail.envelope.to).toEqual(['reply@example.com']);
    expect(mail.mail.text?.trim()).toBe('Olá! Podemos marcar uma visita técnica na quinta?');
    await eventually(async () => {
      const { body: message } = await stack.api<MessageView>('GET', `/api/v1/messages/${body.messageId}`);
      expect(message).toMatchObject({ status: 'sent', automatic: false, to: 'reply@example.com' });
    });
  });

  it('refuses a reply when the contact has no channel the workspace can send on', async () => {
    await postForm(stack, form, { name: 'Phone Only', telefone: '(11) 3456-7890' });
    const lead = await eventually(async () => {
      const { body } = await stack.api<{ data: { id: string }[] }>('GET', '/api/v1/leads?q=phone%20only');
      expect(body.data).toHaveLength(1);
      return body.data[0]!;
    });
    const { status, body, headers } = await stack.api<{ type: string }>('POST', `/api/v1/leads/${lead.id}/messages`, { text: 'Oi' });
    expect(status).toBe(422);
    expect(headers.get('content-type')).toMatch(/problem\+json/);
    expect(body.type).toBe('https://leadgate.dev/problems/no-reply-channel');
    const { body: timeline } = await stack.api<{ data: { kind: string }[] }>('GET', `/api/v1/leads/${lead.id}/activities`);
    expect(timeline.data.map((a) => a.kind)).toContain('auto_reply.skipped');
  });

  it('marks a send interrupted by a dead worker as failed instead of sending it twice', async () => {
    await postForm(stack, form, { name: 'Interrupted', email: 'interrupted@example.com' });
    const lead = await leadFor('interrupted@example.com');
    await eventually(async () => expect((await outboundOf(lead.id)).map((m) => m.status)).toEqual(['sent']));
    const delivered = smtp.received.length;
    const prisma = stack.gateway.deps.db.prisma;
    // The state a worker leaves when it dies between the SMTP call and recording the result.
    const { body } = await stack.api<{ messageId: string }>('POST', `/api/v1/leads/${lead.id}/messages`, { text: 'second', subject: 'second' });
    await eventually(async () => expect((await stack.api<MessageView>('GET', `/api/v1/messages/${body.messageId}`)).body.status).toBe('sent'));
    await prisma.message.update({ where: { id: body.messageId }, data: { status: 'sending', lockedUntil: new Date(Date.now() - 1000) } });
    const failed = await eventually(async () => {
      const { body: message } = await stack.api<MessageView>('GET', `/api/v1/messages/${body.messageId}`);
      expect(message.status).toBe('failed');
      return message;
    });
    expect(failed.errorCode).toBe('send_interrupted');
    expect(smtp.received.length).toBe(delivered + 1);
  });
});

describe('sending rate per connection', () => {
  it('spreads a burst on one connection out over time instead of sending it at once', async () => {
    const smtp = await new TestSmtpServer().start();
    // 3 a minute: a burst of 3, then one every 20 seconds, far longer than queueing five takes
    // even on a loaded machine.
    const stack = await startStack({ db: 'pglite', queue: 'embedded', smtp: { url: smtp.url, from: 'Acme <vendas@acme.test>' }, env: { LEADGATE_SEND_RATE_PER_MINUTE: '3' } });
    try {
      const form = await createWebform(stack, { autoReplyTemplate: null });
      await postForm(stack, form, { name: 'Burst', email: 'burst@example.com', message: 'x' });
      const leadId = await eventually(async () => {
        const { body } = await stack.api<{ data: { id: string }[] }>('GET', '/api/v1/leads');
        expect(body.data).toHaveLength(1);
        return body.data[0]!.id;
      });
      const ids = await Promise.all(
        Array.from({ length: 5 }, async (_, i) => (await stack.api<{ messageId: string }>('POST', `/api/v1/leads/${leadId}/messages`, { text: `update ${i}`, subject: `update ${i}` })).body.messageId),
      );
      await eventually(() => expect(smtp.received.length).toBeGreaterThanOrEqual(3));
      const statuses = await Promise.all(ids.map(async (id) => (await stack.api<{ status: string; attempts: number }>('GET', `/api/v1/messages/${id}`)).body));
      const waiting = statuses.filter((m) => m.status === 'queued');
      expect(waiting.length).toBeGreaterThanOrEqual(2);
      // Waiting their turn is not a failed attempt.
      expect(waiting.every((m) => m.attempts === 0)).toBe(true);
      // The next one goes out when its turn comes: 20 seconds on, plus up to one interval of
      // jitter, so that workers do not all wake at once.
      await eventually(() => expect(smtp.received.length).toBe(4), 55_000);
    } finally {
      await stack.close();
      await smtp.stop();
    }
  }, 100_000);
});
