import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { apiRequest, createWebform, eventually, postForm, type Stack, startStack, type WebformSource } from '../support/stack.js';
import { signIn, signInRaw } from '../support/session.js';

const ownerEmail = 'owner@acme.test';
const ownerPassword = 'correct horse battery';

interface Problem {
  type: string;
  detail: string;
  errors?: { path: string; message: string }[];
}

/**
 * What each role may reach, and how soon a security event (a password set, a sign-out
 * everywhere, a key revoked) takes effect: probed through the API as each role would.
 */
describe('access control on PGlite', () => {
  let stack: Stack;
  let form: WebformSource;
  const users: Record<'rita' | 'otto' | 'mara', { id: string; email: string; password: string }> = {
    rita: { id: '', email: 'rita@acme.test', password: 'rita long password' },
    otto: { id: '', email: 'otto@acme.test', password: 'otto long password' },
    mara: { id: '', email: 'mara@acme.test', password: 'mara long password' },
  };

  const leadNamed = async (name: string) =>
    eventually(async () => {
      const { body } = await stack.api<{ data: { id: string; contactId: string; name: string }[] }>('GET', `/api/v1/leads?q=${encodeURIComponent(name)}`);
      expect(body.data).toHaveLength(1);
      return body.data[0]!;
    });

  beforeAll(async () => {
    stack = await startStack({ db: 'pglite', queue: 'embedded' });
    form = await createWebform(stack);
    for (const [key, role] of [['rita', 'rep'], ['otto', 'rep'], ['mara', 'manager']] as const) {
      const created = await stack.api<{ id: string }>('POST', '/api/v1/users', { name: key, email: users[key].email, role, password: users[key].password });
      expect(created.status).toBe(201);
      users[key].id = created.body.id;
    }
  });
  afterAll(async () => stack?.close());
  beforeEach(async () => {
    await stack.gateway.deps.db.prisma.signInThrottle.deleteMany({});
  });

  it('keeps a rep from reading, through a template preview or a contact, a lead they cannot see', async () => {
    await postForm(stack, form, { name: 'Sara Sigilo', email: 'sara@example.com' });
    await postForm(stack, form, { name: 'Rui Proprio', email: 'rui@example.com' });
    const theirs = await leadNamed('Sara Sigilo');
    const mine = await leadNamed('Rui Proprio');
    await stack.api('PATCH', `/api/v1/leads/${theirs.id}`, { ownerId: users.otto.id });
    await stack.api('PATCH', `/api/v1/leads/${mine.id}`, { ownerId: users.rita.id });
    await stack.api('PATCH', '/api/v1/workspace', { visibility: 'own' });
    try {
      const rita = await signIn(stack.baseUrl, users.rita.email, users.rita.password);
      const other = await rita.request<Problem>('POST', '/api/v1/templates/pt-BR.acknowledgement.email/preview', { leadId: theirs.id });
      expect(other.status).toBe(404);
      expect(JSON.stringify(other.body)).not.toContain('Sara');
      const own = await rita.request<{ text: string }>('POST', '/api/v1/templates/pt-BR.acknowledgement.email/preview', { leadId: mine.id });
      expect(own.status).toBe(200);
      expect(own.body.text).toContain('Rui');

      // The same person enquires again after becoming a customer: a second lead, given to Rita.
      // Her view of the contact lists her lead, not Otto's.
      await stack.api('PATCH', `/api/v1/leads/${theirs.id}`, { stage: 'customer' });
      await postForm(stack, form, { name: 'Sara Sigilo', email: 'sara@example.com', message: 'de novo' });
      const second = await eventually(async () => {
        const { body } = await stack.api<{ data: { id: string }[] }>('GET', `/api/v1/leads?q=sara`);
        expect(body.data).toHaveLength(2);
        return body.data.find((lead) => lead.id !== theirs.id)!;
      });
      await stack.api('PATCH', `/api/v1/leads/${second.id}`, { ownerId: users.rita.id });
      const contact = await rita.request<{ leads: string[] }>('GET', `/api/v1/contacts/${theirs.contactId}`);
      expect(contact.status).toBe(200);
      expect(contact.body.leads).toEqual([second.id]);
      // Otto's follow-up on his lead is not listed to Rita either, whatever she filters on.
      await stack.api('POST', `/api/v1/leads/${theirs.id}/follow-ups`, { dueAt: new Date(Date.now() + 3600_000).toISOString(), note: 'ligar', ownerId: users.rita.id });
      const followUps = await rita.request<{ data: { leadId: string }[] }>('GET', `/api/v1/follow-ups?leadId=${theirs.id}`);
      expect(followUps.status).toBe(200);
      expect(followUps.body.data).toEqual([]);
    } finally {
      await stack.api('PATCH', '/api/v1/workspace', { visibility: 'all' });
    }
  });

  it('answers a rep 403 for a route of another role before looking at the body', async () => {
    const rita = await signIn(stack.baseUrl, users.rita.email, users.rita.password);
    const answer = await rita.request<Problem>('POST', '/api/v1/templates', { name: '', channel: 'fax' });
    expect(answer.status).toBe(403);
    expect(answer.body.type).toBe('https://leadgate.dev/problems/forbidden');
    expect(answer.body.errors).toBeUndefined();
  });

  it('keeps a deactivated user deactivated when another field of theirs changes', async () => {
    const created = await stack.api<{ id: string }>('POST', '/api/v1/users', { name: 'Ida', email: 'ida@acme.test', role: 'rep' });
    await stack.api('PATCH', `/api/v1/users/${created.body.id}`, { active: false });
    const renamed = await stack.api<{ name: string; active: boolean }>('PATCH', `/api/v1/users/${created.body.id}`, { name: 'Ida Souza' });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ name: 'Ida Souza', active: false });
    // Created without saying, a user is active.
    expect(created.status).toBe(201);
    expect((await stack.api<{ active: boolean }>('GET', `/api/v1/users/${created.body.id}`)).body.active).toBe(false);
    const fresh = await stack.api<{ active: boolean }>('POST', '/api/v1/users', { name: 'Ivo', email: 'ivo@acme.test', role: 'rep' });
    expect(fresh.body.active).toBe(true);
  });

  it('lets a manager neither remove nor demote an owner, though another owner exists', async () => {
    const second = await stack.api<{ id: string }>('POST', '/api/v1/users', { name: 'Second Owner', email: 'second-owner@acme.test', role: 'owner' });
    expect(second.status).toBe(201);
    const mara = await signIn(stack.baseUrl, users.mara.email, users.mara.password);
    const removed = await mara.request<Problem>('DELETE', `/api/v1/users/${second.body.id}`);
    expect(removed.status).toBe(403);
    const demoted = await mara.request<Problem>('PATCH', `/api/v1/users/${second.body.id}`, { role: 'rep' });
    expect(demoted.status).toBe(403);
    expect((await stack.api<{ role: string }>('GET', `/api/v1/users/${second.body.id}`)).body.role).toBe('owner');
    // An owner may remove another owner.
    expect((await stack.api('DELETE', `/api/v1/users/${second.body.id}`)).status).toBe(204);
  });

  it('refuses passwords shorter than 12 characters', async () => {
    const short = await stack.api<Problem>('POST', '/api/v1/users', { name: 'Curta', email: 'curta@acme.test', role: 'rep', password: 'elevenchars' });
    expect(short.status).toBe(422);
    expect(short.body.errors?.map((e) => e.path)).toEqual(['password']);
  });

  it('ends every session of a user whose password an owner sets', async () => {
    const otto = await signIn(stack.baseUrl, users.otto.email, users.otto.password);
    expect((await otto.request('GET', '/api/v1/session')).status).toBe(200);
    users.otto.password = 'otto reset password';
    expect((await stack.api('PATCH', `/api/v1/users/${users.otto.id}`, { password: users.otto.password })).status).toBe(200);
    expect((await otto.request('GET', '/api/v1/session')).status).toBe(401);
    expect((await signIn(stack.baseUrl, users.otto.email, users.otto.password)).user.id).toBe(users.otto.id);
  });

  it('lets a user change their own password with the current one, ending their other sessions', async () => {
    const laptop = await signIn(stack.baseUrl, users.rita.email, users.rita.password);
    const phone = await signIn(stack.baseUrl, users.rita.email, users.rita.password);
    const wrong = await laptop.request<Problem>('POST', '/api/v1/me/password', { currentPassword: 'not my password', newPassword: 'rita brand new password' });
    expect(wrong.status).toBe(422);
    expect(wrong.body.errors?.map((e) => e.path)).toEqual(['currentPassword']);
    const short = await laptop.request<Problem>('POST', '/api/v1/me/password', { currentPassword: users.rita.password, newPassword: 'short' });
    expect(short.status).toBe(422);
    expect(short.body.errors?.map((e) => e.path)).toEqual(['newPassword']);

    const changed = await laptop.request('POST', '/api/v1/me/password', { currentPassword: users.rita.password, newPassword: 'rita brand new password' });
    expect(changed.status).toBe(204);
    expect((await laptop.request('GET', '/api/v1/session')).status).toBe(200);
    expect((await phone.request('GET', '/api/v1/session')).status).toBe(401);
    expect((await signInRaw(stack.baseUrl, users.rita.email, users.rita.password)).status).toBe(401);
    users.rita.password = 'rita brand new password';
    expect((await signInRaw(stack.baseUrl, users.rita.email, users.rita.password)).status).toBe(201);
  });

  it('stops the live stream within a second or two of signing out everywhere', async () => {
    const client = await signIn(stack.baseUrl, ownerEmail, ownerPassword);
    const other = await signIn(stack.baseUrl, ownerEmail, ownerPassword);
    const response = await fetch(`${stack.baseUrl}/api/v1/events`, { headers: { cookie: client.cookie } });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    await reader.read();
    expect((await other.request('DELETE', '/api/v1/sessions')).status).toBe(200);
    const ended = await readUntilDone(reader, 3_000);
    expect(ended).toBe(true);
  });

  it('refuses a revoked key, and the personal key of a deactivated user, at once', async () => {
    const made = await stack.api<{ id: string; key: string }>('POST', '/api/v1/api-keys', { name: 'integration' });
    const personal = await stack.api<{ id: string; key: string }>('POST', '/api/v1/api-keys', { name: 'mara', userId: users.mara.id });
    expect((await apiRequest(stack.baseUrl, made.body.key, 'GET', '/api/v1/leads')).status).toBe(200);
    expect((await apiRequest(stack.baseUrl, personal.body.key, 'GET', '/api/v1/leads')).status).toBe(200);
    expect((await stack.api('DELETE', `/api/v1/api-keys/${made.body.id}`)).status).toBe(204);
    expect((await stack.api('PATCH', `/api/v1/users/${users.mara.id}`, { active: false })).status).toBe(200);
    expect((await apiRequest(stack.baseUrl, made.body.key, 'GET', '/api/v1/leads')).status).toBe(401);
    expect((await apiRequest(stack.baseUrl, personal.body.key, 'GET', '/api/v1/leads')).status).toBe(401);
  });

  it('stops the live stream of a revoked key', async () => {
    const made = await stack.api<{ id: string; key: string }>('POST', '/api/v1/api-keys', { name: 'dashboard' });
    const response = await fetch(`${stack.baseUrl}/api/v1/events`, { headers: { authorization: `Bearer ${made.body.key}` } });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    await reader.read();
    await stack.api('DELETE', `/api/v1/api-keys/${made.body.id}`);
    expect(await readUntilDone(reader, 3_000)).toBe(true);
  });
});

/** Reads a stream until it ends (true) or until timeoutMs pass with it still open (false). */
async function readUntilDone(reader: ReadableStreamDefaultReader<Uint8Array>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const ended = (async () => {
    for (;;) {
      const { done } = await reader.read().catch(() => ({ done: true }));
      if (done) return true;
    }
  })();
  const result = await Promise.race([ended, timeout]);
  clearTimeout(timer);
  if (!result) await reader.cancel();
  return result;
}
