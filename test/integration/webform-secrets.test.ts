import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clockPast, createWebform, postForm, type Stack, startStack } from '../support/stack.js';

/** A web form's secret rotated with a grace period, and signatures that carry their time. */
describe('web form secrets', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ db: 'pglite', queue: 'embedded', env: { LEADGATE_FORM_SECRET_GRACE_HOURS: '12' } });
  });
  afterAll(async () => stack?.close());

  const post = (sourceId: string, body: string, headers: Record<string, string>) =>
    fetch(`${stack.baseUrl}/hooks/forms/${sourceId}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const hmac = (secret: string, text: string) => createHmac('sha256', secret).update(text).digest('hex');
  const timed = (secret: string, body: string, t = Math.floor(Date.now() / 1000)) => ({ 'x-leadgate-signature': `t=${t},v1=${hmac(secret, `${t}.${body}`)}` });
  let n = 0;
  const submission = () => JSON.stringify({ name: `Pessoa ${++n}`, email: `pessoa${n}@secrets.example` });

  it('rotates a web form\'s secret: the new one works at once, the old one until its grace period ends', async () => {
    const form = await createWebform(stack);
    const rotated = await stack.api<{ secret: string; previousSecretValidUntil: string }>('POST', `/api/v1/sources/${form.id}/rotate-secret`, {});
    expect(rotated.status).toBe(200);
    const { secret, previousSecretValidUntil } = rotated.body;
    expect(secret).toMatch(/^wfs_/);
    expect(secret).not.toBe(form.secret);
    // LEADGATE_FORM_SECRET_GRACE_HOURS of this gateway: 12.
    expect(Math.abs(Date.parse(previousSecretValidUntil) - Date.now() - 12 * 3600_000)).toBeLessThan(120_000);

    const shown = await stack.api<{ secret: string; previousSecretValidUntil: string | null }>('GET', `/api/v1/sources/${form.id}`);
    expect(shown.body).toMatchObject({ secret, previousSecretValidUntil });
    // Neither secret is stored as it is.
    const row = await stack.gateway.deps.db.prisma.source.findUniqueOrThrow({ where: { id: form.id } });
    expect(JSON.stringify(row)).not.toContain(secret);
    expect(JSON.stringify(row)).not.toContain(form.secret);

    expect((await postForm(stack, form, JSON.parse(submission()), { token: form.secret })).status).toBe(202);
    expect((await postForm(stack, { ...form, secret }, JSON.parse(submission()))).status).toBe(202);
    const oldSigned = submission();
    expect((await post(form.id, oldSigned, { 'x-leadgate-signature': `sha256=${hmac(form.secret, oldSigned)}` })).status).toBe(202);


    // Rotated again with a short grace: the first secret stops at once, the second when its grace ends.
    const again = await stack.api<{ secret: string; previousSecretValidUntil: string }>('POST', `/api/v1/sources/${form.id}/rotate-secret`, { graceHours: 0.0005 });
    expect((await postForm(stack, form, JSON.parse(submission()), { token: form.secret })).status).toBe(401);
    await clockPast(Date.parse(again.body.previousSecretValidUntil));
    const late = await postForm(stack, { ...form, secret }, JSON.parse(submission()));
    expect(late.status).toBe(401);
    expect(late.json?.type).toBe('https://leadgate.dev/problems/unauthorized');
    const lateSigned = submission();
    expect((await post(form.id, lateSigned, timed(secret, lateSigned))).status).toBe(401);
    expect((await postForm(stack, { ...form, secret: again.body.secret }, JSON.parse(submission()))).status).toBe(202);
    expect((await stack.api<{ previousSecretValidUntil: string | null }>('GET', `/api/v1/sources/${form.id}`)).body.previousSecretValidUntil).toBeNull();
  });

  it('answers 409 for a source without a secret of its own', async () => {
    const { body: line } = await stack.api<{ id: string }>('POST', '/api/v1/sources', {
      kind: 'twilio',
      name: 'Line',
      accountSid: `AC${'1'.repeat(32)}`,
      authToken: 'a'.repeat(32),
      phoneNumber: '+5511400012345',
    });
    const answer = await stack.api<{ type: string }>('POST', `/api/v1/sources/${line.id}/rotate-secret`, {});
    expect(answer.status).toBe(409);
    expect(answer.body.type).toBe('https://leadgate.dev/problems/conflict');
  });

  it('accepts a signature with its time (t=, v1=) within five minutes, and refuses an older or a future one with its own type', async () => {
    const form = await createWebform(stack, { rateLimitPerMinute: 1 });
    const now = Math.floor(Date.now() / 1000);
    for (const t of [now, now - 290, now + 60]) {
      const body = submission();
      expect((await post(form.id, body, timed(form.secret, body, t))).status, `t=${t - now}`).toBe(202);
    }
    for (const t of [now - 301, now + 400]) {
      const body = submission();
      const answer = await post(form.id, body, timed(form.secret, body, t));
      expect(answer.status).toBe(401);
      expect(((await answer.json()) as { type: string }).type).toBe('https://leadgate.dev/problems/signature-expired');
    }
    // A wrong signature says nothing about its time.
    const body = submission();
    const forged = await post(form.id, body, { 'x-leadgate-signature': `t=${now - 1000},v1=${hmac('another secret', `${now - 1000}.${body}`)}` });
    expect(((await forged.json()) as { type: string }).type).toBe('https://leadgate.dev/problems/unauthorized');
    // Signed with another time than the one it says.
    const shifted = submission();
    expect((await post(form.id, shifted, { 'x-leadgate-signature': `t=${now},v1=${hmac(form.secret, `${now - 1}.${shifted}`)}` })).status).toBe(401);
    // The plain signature keeps working, and signed posts are not rate limited.
    const plain = submission();
    expect((await post(form.id, plain, { 'x-leadgate-signature': `sha256=${hmac(form.secret, plain)}` })).status).toBe(202);
  });
});
