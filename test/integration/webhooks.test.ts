import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebform, defaultBackends, eventually, postForm, settle, type Stack, startStack } from '../support/stack.js';

interface Received {
  headers: http.IncomingHttpHeaders;
  raw: string;
  body: { id: string; event: string; createdAt: string; data: Record<string, unknown> };
}

describe.each(defaultBackends)('outbound webhooks on $db with the $queue queue', ({ db, queue }) => {
  let stack: Stack;
  let receiver: http.Server;
  let url: string;
  const received: Received[] = [];
  /** Answers 500 to this many deliveries of stage changes before accepting them. */
  let failStageChanges = 0;

  beforeAll(async () => {
    receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const body = JSON.parse(raw) as Received['body'];
        received.push({ headers: req.headers, raw, body });
        if (body.event === 'lead.stage_changed' && failStageChanges > 0) {
          failStageChanges--;
          res.writeHead(500).end('busy');
          return;
        }
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
    url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/leadgate`;
    stack = await startStack({ db, queue, env: { LEADGATE_WEBHOOKS_ALLOW_PRIVATE: 'true', LEADGATE_WEBHOOK_RETRY_BASE_MS: '50' } });
  });
  afterAll(async () => {
    await stack?.close();
    await new Promise((resolve) => receiver?.close(resolve));
  });

  it('posts subscribed events, signed with the secret shown once', async () => {
    const { status, body: hook } = await stack.api<{ id: string; secret: string }>('POST', '/api/v1/webhooks', {
      url,
      events: ['lead.created', 'message.received', 'lead.stage_changed'],
    });
    expect(status).toBe(201);
    expect(hook.secret).toMatch(/^whsec_/);
    expect((await stack.api<Record<string, unknown>>('GET', `/api/v1/webhooks/${hook.id}`)).body).not.toHaveProperty('secret');

    const form = await createWebform(stack);
    await postForm(stack, form, { name: 'Ana Souza', email: 'ana@example.com', message: 'Olá' });
    const created = await eventually(() => {
      const found = received.find((r) => r.body.event === 'lead.created');
      expect(found).toBeDefined();
      expect(received.some((r) => r.body.event === 'message.received')).toBe(true);
      return found!;
    });
    expect(created.headers['x-leadgate-event']).toBe('lead.created');
    expect(created.headers['x-leadgate-delivery']).toBe(created.body.id);
    expect(created.headers['x-leadgate-signature']).toBe(`sha256=${createHmac('sha256', hook.secret).update(created.raw).digest('hex')}`);
    expect(created.body.data.leadId).toMatch(/^lead_/);
    expect(received.map((r) => r.body.event)).not.toContain('lead.assigned');

    const { body: log } = await stack.api<{ data: { event: string; status: string; responseCode: number; attempts: number }[] }>('GET', `/api/v1/webhooks/${hook.id}/deliveries`);
    expect(log.data.map((d) => [d.event, d.status, d.responseCode, d.attempts]).sort()).toEqual([
      ['lead.created', 'delivered', 200, 1],
      ['message.received', 'delivered', 200, 1],
    ]);
  });

  it('retries a failed delivery with the same delivery id until the endpoint takes it', async () => {
    failStageChanges = 2;
    const { body: leads } = await stack.api<{ data: { id: string }[] }>('GET', '/api/v1/leads');
    await stack.api('PATCH', `/api/v1/leads/${leads.data[0]!.id}`, { stage: 'contacted' });
    const attempts = await eventually(() => {
      const found = received.filter((r) => r.body.event === 'lead.stage_changed');
      expect(found).toHaveLength(3);
      return found;
    });
    expect(new Set(attempts.map((r) => r.headers['x-leadgate-delivery'])).size).toBe(1);
    expect(attempts[0]!.body.data).toMatchObject({ before: 'open', after: 'contacted' });
    const { body: hooks } = await stack.api<{ data: { id: string }[] }>('GET', '/api/v1/webhooks');
    const delivery = await eventually(async () => {
      const { body } = await stack.api<{ data: { id: string; event: string; status: string; attempts: number; responseCode: number }[] }>(
        'GET',
        `/api/v1/webhooks/${hooks.data[0]!.id}/deliveries`,
      );
      const stageChange = body.data.find((d) => d.event === 'lead.stage_changed')!;
      expect(stageChange).toMatchObject({ status: 'delivered', attempts: 3, responseCode: 200 });
      return stageChange;
    });

    const again = await stack.api('POST', `/api/v1/webhooks/${hooks.data[0]!.id}/deliveries/${delivery.id}/redeliver`);
    expect(again.status).toBe(202);
    await eventually(() => expect(received.filter((r) => r.headers['x-leadgate-delivery'] === delivery.id)).toHaveLength(4));
  });

  it('announces a follow-up when it falls due, once', async () => {
    const { body: hook } = await stack.api<{ id: string }>('POST', '/api/v1/webhooks', { url, events: ['follow_up.due'] });
    const { body: leads } = await stack.api<{ data: { id: string }[] }>('GET', '/api/v1/leads');
    const { body: followUp } = await stack.api<{ id: string }>('POST', `/api/v1/leads/${leads.data[0]!.id}/follow-ups`, {
      dueAt: new Date(Date.now() + 1_000).toISOString(),
      note: 'Call back about the quote',
    });
    const due = await eventually(() => {
      const found = received.filter((r) => r.body.event === 'follow_up.due');
      expect(found).toHaveLength(1);
      return found[0]!;
    }, 15_000);
    expect(due.body.data).toMatchObject({ followUpId: followUp.id, note: 'Call back about the quote', leadId: leads.data[0]!.id });
    // Another round of the timers and of the deliveries announces nothing again.
    await settle(stack);
    expect(received.filter((r) => r.body.event === 'follow_up.due')).toHaveLength(1);
    const { body: log } = await stack.api<{ data: unknown[] }>('GET', `/api/v1/webhooks/${hook.id}/deliveries`);
    expect(log.data).toHaveLength(1);
  });

  it('keeps announcing events after another gateway in the same process closes', async () => {
    // Gateways register what an activity causes in the process: one closing (a test's second
    // gateway, a worker stopped beside the HTTP server) must not silence the others.
    const other = await startStack({ db, queue });
    await other.close();
    const { body: hook } = await stack.api<{ id: string }>('POST', '/api/v1/webhooks', { url, events: ['lead.stage_changed'] });
    expect((await postForm(stack, await createWebform(stack), { name: 'Bia Lima', email: 'bia@example.com', message: 'Oi' })).status).toBe(202);
    const leadId = await eventually(async () => {
      const { body } = await stack.api<{ data: { id: string }[] }>('GET', '/api/v1/leads?q=bia%40example.com');
      expect(body.data).toHaveLength(1);
      return body.data[0]!.id;
    });
    await stack.api('PATCH', `/api/v1/leads/${leadId}`, { stage: 'qualified' });
    await eventually(async () => {
      const { body: log } = await stack.api<{ data: { event: string; status: string }[] }>('GET', `/api/v1/webhooks/${hook.id}/deliveries`);
      expect(log.data).toEqual([expect.objectContaining({ event: 'lead.stage_changed', status: 'delivered' })]);
    });
  });
});
