import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, type GatewayProcess, spawnGateway } from '../support/process.js';
import { createTestDatabase, type TestDatabase } from '../support/services.js';
import { TestSmtpServer } from '../support/smtp.js';
import { apiRequest, eventually, mainBackends, stackEnv } from '../support/stack.js';

interface MessageView {
  id: string;
  direction: string;
  status: string;
  errorCode?: string;
  to: string | null;
}

describe.each(mainBackends)('a worker killed with SIGKILL in the middle of an outbound batch on $db with the $queue queue', ({ db, queue }) => {
  let gateway: GatewayProcess | undefined;
  let database: TestDatabase | undefined;
  let dataDir: string | undefined;
  let smtp: TestSmtpServer | undefined;

  afterEach(async () => {
    await gateway?.kill();
    await database?.drop();
    await smtp?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('sends nothing twice, and leaves every message sent or visibly failed', async () => {
    smtp = await new TestSmtpServer().start();
    database = db === 'postgres' ? await createTestDatabase() : undefined;
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leadgate-batch-crash-'));
    const env: Record<string, string> = {
      ...stackEnv({ db, queue, smtp: { url: smtp.url, from: 'Acme <vendas@acme.test>' } }, dataDir, database),
      LEADGATE_QUEUE_PREFIX: `lgbatch-${randomBytes(4).toString('hex')}`,
      LEADGATE_SEND_LEASE_MS: '1500',
      LOG_LEVEL: 'warn',
    };
    const port = await freePort();
    gateway = await spawnGateway(env, port);
    const api = <T>(method: string, urlPath: string, body?: unknown) => apiRequest<T>(gateway!.baseUrl, env.LEADGATE_API_KEY!, method, urlPath, body);
    const { body: form } = await api<{ id: string; secret: string }>('POST', '/api/v1/sources', { kind: 'webform', name: 'Site', autoReplyTemplate: null, rateLimitPerMinute: 10_000 });
    const leadIds: string[] = [];
    for (let n = 0; n < 10; n++) {
      await fetch(`${gateway.baseUrl}/hooks/forms/${form.id}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-leadgate-token': form.secret },
        body: JSON.stringify({ name: `Person ${n}`, email: `person${n}@example.com` }),
      });
    }
    await eventually(async () => {
      const { body } = await api<{ data: { id: string }[] }>('GET', '/api/v1/leads?limit=50');
      expect(body.data).toHaveLength(10);
      leadIds.splice(0, leadIds.length, ...body.data.map((lead) => lead.id));
    }, 30_000);

    // Three of them will reach the SMTP server whole but never be answered: the worker is in
    // the middle of the batch, with some sends answered and some not, when it is killed.
    const held = [smtp.holdNext(), smtp.holdNext(), smtp.holdNext()];
    // Ten replies due at the same moment: one round claims them together and sends them at once.
    const sendAt = new Date(Date.now() + 3_000).toISOString();
    for (const leadId of leadIds) {
      const { status } = await api('POST', `/api/v1/leads/${leadId}/messages`, { text: 'Sua proposta está pronta', subject: 'Proposta', sendAt });
      expect(status).toBe(202);
    }
    await Promise.all(held);
    await eventually(() => expect(smtp!.received.length).toBe(10), 20_000);
    await gateway.kill();

    gateway = await spawnGateway(env, port);
    const outbound = async () => {
      const all = await Promise.all(leadIds.map(async (leadId) => (await api<{ data: MessageView[] }>('GET', `/api/v1/leads/${leadId}/messages`)).body.data));
      return all.flat().filter((message) => message.direction === 'out');
    };
    const final = await eventually(async () => {
      const messages = await outbound();
      expect(messages).toHaveLength(10);
      expect(messages.filter((m) => m.status !== 'sent' && m.status !== 'failed')).toEqual([]);
      return messages;
    }, 30_000);
    // The unanswered ones may or may not have been delivered: failed, saying so, not sent again.
    const failed = final.filter((m) => m.status === 'failed');
    expect(failed.length).toBeGreaterThanOrEqual(3);
    for (const message of failed) expect(message.errorCode).toBe('send_interrupted');
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    for (let n = 0; n < 10; n++) {
      expect(smtp.received.filter((mail) => mail.envelope.to.includes(`person${n}@example.com`))).toHaveLength(1);
    }
  }, 120_000);
});
