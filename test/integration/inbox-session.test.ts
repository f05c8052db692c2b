import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createWebform, eventually, postForm, type Stack, startStack, type WebformSource } from '../support/stack.js';
import { signIn, signInRaw } from '../support/session.js';
import { newId } from '../../src/ids.js';

const ownerEmail = 'owner@acme.test';
const ownerPassword = 'correct horse battery';

interface Conversation {
  id: string;
  name: string | null;
  unread: number;
  owner: { id: string } | null;
  channels: string[];
  lastMessage: { preview: string | null; direction: string } | null;
  sla: { dueAt: string; breached: boolean; workingSecondsLeft: number } | null;
}

describe('inbox sign-in and sessions on PGlite', () => {
  let stack: Stack;
  let form: WebformSource;

  beforeAll(async () => {
    stack = await startStack({ db: 'pglite', queue: 'embedded' });
    form = await createWebform(stack);
  });
  afterAll(async () => stack?.close());
  beforeEach(async () => {
    await stack.gateway.deps.db.prisma.signInThrottle.deleteMany({});
  });

  it('signs the owner in with an httpOnly SameSite cookie that authenticates the API like a key', async () => {
    const answer = await signInRaw(stack.baseUrl, ownerEmail, ownerPassword);
    expect(answer.status).toBe(201);
    const cookie = answer.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^lg_session=[\w-]{40,};/);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    expect(answer.body).toMatchObject({ user: { email: ownerEmail, role: 'owner' }, workspace: { locale: 'pt-BR' } });

    const client = await signIn(stack.baseUrl, ownerEmail.toUpperCase(), ownerPassword);
    const me = await client.request<{ user: { email: string }; csrfToken: string }>('GET', '/api/v1/session');
    expect(me.status).toBe(200);
    expect(me.body.user.email).toBe(ownerEmail);
    expect(me.body.csrfToken).toBe(client.csrfToken);
    const leads = await client.request('GET', '/api/v1/leads');
    expect(leads.status).toBe(200);
    // No cookie, a made-up cookie: both refused.
    expect((await fetch(`${stack.baseUrl}/api/v1/leads`)).status).toBe(401);
    expect((await fetch(`${stack.baseUrl}/api/v1/leads`, { headers: { cookie: 'lg_session=forged' } })).status).toBe(401);
  });

  it('refuses a state change made with the cookie but without the CSRF token', async () => {
    const client = await signIn(stack.baseUrl, ownerEmail, ownerPassword);
    const without = await client.request<{ type: string; detail: string }>('PATCH', '/api/v1/me', { locale: 'en' }, { csrf: false });
    expect(without.status).toBe(403);
    expect(without.body.detail).toMatch(/CSRF/);
    const wrong = await fetch(`${stack.baseUrl}/api/v1/me`, {
      method: 'PATCH',
      headers: { cookie: client.cookie, 'x-csrf-token': 'guess', 'content-type': 'application/json' },
      body: JSON.stringify({ locale: 'en' }),
    });
    expect(wrong.status).toBe(403);
    const right = await client.request<{ locale: string }>('PATCH', '/api/v1/me', { locale: 'en' });
    expect(right.status).toBe(200);
    expect(right.body.locale).toBe('en');
    // An API key needs no CSRF token: it is not sent by browsers on their own.
    expect((await stack.api('GET', '/api/v1/leads')).status).toBe(200);
  });

  it('locks an email out after five failures, with a wait that doubles, even for the right password', async () => {
    for (let i = 0; i < 4; i++) expect((await signInRaw(stack.baseUrl, ownerEmail, `wrong ${i}`)).status).toBe(401);
    const fifth = await signInRaw(stack.baseUrl, ownerEmail, 'wrong 5');
    expect(fifth.status).toBe(429);
    expect(Number(fifth.headers.get('retry-after'))).toBe(30);
    const right = await signInRaw(stack.baseUrl, ownerEmail, ownerPassword);
    expect(right.status).toBe(429);
    expect(right.body.detail).toMatch(/try again in \d+ s/);

    // The wait passes; one more failure locks for twice as long.
    await stack.gateway.deps.db.prisma.signInThrottle.updateMany({ where: { key: `email:${ownerEmail}` }, data: { lockedUntil: new Date(Date.now() - 1000) } });
    const again = await signInRaw(stack.baseUrl, ownerEmail, 'wrong 6');
    expect(again.status).toBe(429);
    expect(Number(again.headers.get('retry-after'))).toBe(60);

    // After the wait, the right password works and the count starts over.
    await stack.gateway.deps.db.prisma.signInThrottle.updateMany({ where: { key: `email:${ownerEmail}` }, data: { lockedUntil: new Date(Date.now() - 1000) } });
    expect((await signInRaw(stack.baseUrl, ownerEmail, ownerPassword)).status).toBe(201);
    expect((await signInRaw(stack.baseUrl, ownerEmail, 'wrong again')).status).toBe(401);
  });

  it('locks a client address out after twenty failures across emails', async () => {
    for (let i = 0; i < 19; i++) expect((await signInRaw(stack.baseUrl, `nobody${i}@acme.test`, 'x')).status).toBe(401);
    expect((await signInRaw(stack.baseUrl, 'nobody19@acme.test', 'x')).status).toBe(429);
    expect((await signInRaw(stack.baseUrl, ownerEmail, ownerPassword)).status).toBe(429);
  });

  it('forgets failures older than the window, but not a lock still running', async () => {
    const prisma = stack.gateway.deps.db.prisma;
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await prisma.signInThrottle.createMany({
      data: [
        { key: 'ip:198.51.100.7', failures: 3, lastFailedAt: twoHoursAgo },
        { key: 'email:locked@acme.test', failures: 9, lastFailedAt: twoHoursAgo, lockedUntil: new Date(Date.now() + 3600_000) },
      ],
    });
    expect((await signInRaw(stack.baseUrl, ownerEmail, 'wrong')).status).toBe(401);
    const left = await prisma.signInThrottle.findMany({ orderBy: { key: 'asc' } });
    expect(left.map((row) => row.key)).toEqual(['email:locked@acme.test', `email:${ownerEmail}`, 'ip:127.0.0.1']);
  });

  it('signs out one browser, or every browser of the user', async () => {
    const first = await signIn(stack.baseUrl, ownerEmail, ownerPassword);
    const second = await signIn(stack.baseUrl, ownerEmail, ownerPassword);
    const third = await signIn(stack.baseUrl, ownerEmail, ownerPassword);
    expect((await first.request('DELETE', '/api/v1/session')).status).toBe(204);
    expect((await first.request('GET', '/api/v1/session')).status).toBe(401);
    expect((await second.request('GET', '/api/v1/session')).status).toBe(200);
    const everywhere = await second.request<{ ended: number }>('DELETE', '/api/v1/sessions');
    expect(everywhere.status).toBe(200);
    expect(everywhere.body.ended).toBeGreaterThanOrEqual(2);
    expect((await second.request('GET', '/api/v1/session')).status).toBe(401);
    expect((await third.request('GET', '/api/v1/leads')).status).toBe(401);
  });

  it('ends the session of a deactivated user at once', async () => {
    const created = await stack.api<{ id: string }>('POST', '/api/v1/users', { name: 'Temp', email: 'temp@acme.test', role: 'rep', password: 'temporary pass' });
    expect(created.status).toBe(201);
    const client = await signIn(stack.baseUrl, 'temp@acme.test', 'temporary pass');
    expect((await client.request('GET', '/api/v1/session')).status).toBe(200);
    await stack.api('PATCH', `/api/v1/users/${created.body.id}`, { active: false });
    expect((await client.request('GET', '/api/v1/session')).status).toBe(401);
  });

  it('lists conversations with unread counts per user, and keeps reps to their own when visibility is "own"', async () => {
    const rep = await stack.api<{ id: string }>('POST', '/api/v1/users', { name: 'Rita Rep', email: 'rita@acme.test', role: 'rep', password: 'rita password' });
    const other = await stack.api<{ id: string }>('POST', '/api/v1/users', { name: 'Otto Rep', email: 'otto@acme.test', role: 'rep', password: 'otto password' });
    const names = ['Lia Souza', 'Mara Dias', 'Nina Lopes'];
    const owner = await signIn(stack.baseUrl, ownerEmail, ownerPassword);
    for (const name of names) {
      await postForm(stack, form, { name, email: `${name.split(' ')[0]!.toLowerCase()}@example.com`, message: `Olá, sou ${name} e quero um orçamento` });
      // One after the other, so that the newest-first order is known.
      await eventually(async () => {
        const answer = await owner.request<{ data: Conversation[] }>('GET', '/api/v1/conversations?limit=200');
        expect(answer.body.data.map((row) => row.name)).toContain(name);
      });
    }
    const all = (await owner.request<{ data: Conversation[] }>('GET', '/api/v1/conversations?limit=200')).body.data;
    const posted = names.map((name) => all.find((row) => row.name === name)!.id);
    expect(all.slice(0, 3).map((row) => row.name)).toEqual(['Nina Lopes', 'Mara Dias', 'Lia Souza']);
    const nina = all[0]!;
    expect(nina.unread).toBe(1);
    expect(nina.channels).toContain('webform');
    expect(nina.lastMessage?.direction).toBeDefined();
    // A new lead waits for its first human answer: the timer runs, not yet late.
    expect(nina.sla).toMatchObject({ breached: false });
    expect(new Date(nina.sla!.dueAt).getTime()).toBeGreaterThan(Date.now() - 60_000);
    // Counted in working time: at most the workspace's 15-minute target, whatever the hour now.
    expect(nina.sla!.workingSecondsLeft).toBeGreaterThan(0);
    expect(nina.sla!.workingSecondsLeft).toBeLessThanOrEqual(15 * 60);

    // Pages by keyset, without repeats.
    const firstPage = await owner.request<{ data: Conversation[]; nextCursor: string }>('GET', '/api/v1/conversations?limit=2');
    expect(firstPage.body.data).toHaveLength(2);
    const secondPage = await owner.request<{ data: Conversation[] }>('GET', `/api/v1/conversations?limit=2&cursor=${firstPage.body.nextCursor}`);
    expect(secondPage.body.data[0]!.id).not.toBe(firstPage.body.data[1]!.id);
    expect(secondPage.body.data[0]!.name).toBe('Lia Souza');

    // Searching message text.
    const found = await owner.request<{ data: Conversation[] }>('GET', `/api/v1/conversations?q=${encodeURIComponent('sou mara')}`);
    expect(found.body.data.map((row) => row.name)).toEqual(['Mara Dias']);

    // Read markers are per user.
    expect((await owner.request('POST', `/api/v1/conversations/${nina.id}/read`)).status).toBe(204);
    const afterRead = await owner.request<Conversation>('GET', `/api/v1/conversations/${nina.id}`);
    expect(afterRead.body.unread).toBe(0);

    // Reps see only what they own when the workspace says so.
    await stack.api('PATCH', `/api/v1/leads/${posted[0]}`, { ownerId: rep.body.id });
    await stack.api('PATCH', `/api/v1/leads/${posted[1]}`, { ownerId: other.body.id });
    await stack.api('PATCH', `/api/v1/leads/${posted[2]}`, { ownerId: null });
    await stack.api('PATCH', '/api/v1/workspace', { visibility: 'own' });
    const rita = await signIn(stack.baseUrl, 'rita@acme.test', 'rita password');
    const ritaList = await rita.request<{ data: Conversation[] }>('GET', '/api/v1/conversations');
    expect(ritaList.body.data.map((row) => row.id)).toEqual([posted[0]]);
    expect(ritaList.body.data[0]!.unread).toBe(1);
    expect((await rita.request('GET', `/api/v1/conversations/${posted[1]}`)).status).toBe(404);
    expect((await rita.request('GET', `/api/v1/leads/${posted[1]}`)).status).toBe(404);
    const mineView = await owner.request<{ data: Conversation[] }>('GET', '/api/v1/conversations?view=unassigned');
    expect(mineView.body.data.map((row) => row.id)).toContain(posted[2]);
    expect(mineView.body.data.every((row) => row.owner === null)).toBe(true);
    await stack.api('PATCH', '/api/v1/workspace', { visibility: 'all' });
  });

  it('streams to a rep only the activities of leads they may see when visibility is "own"', async () => {
    await stack.api('POST', '/api/v1/users', { name: 'Vera Rep', email: 'vera@acme.test', role: 'rep', password: 'vera password' });
    await stack.api('PATCH', '/api/v1/workspace', { visibility: 'own' });
    try {
      const vera = await signIn(stack.baseUrl, 'vera@acme.test', 'vera password');
      const controller = new AbortController();
      const response = await fetch(`${stack.baseUrl}/api/v1/events`, { headers: { cookie: vera.cookie }, signal: controller.signal });
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      let received = '';
      const pump = (async () => {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          received += decoder.decode(value);
        }
      })().catch(() => undefined);
      const leads = await stack.api<{ data: { id: string; owner: { id: string } | null }[] }>('GET', '/api/v1/leads?limit=200');
      const others = leads.body.data.filter((lead) => lead.owner?.id !== vera.user.id);
      const theirs = others[0]!;
      const mine = others[1]!;
      await stack.api('PATCH', `/api/v1/leads/${mine.id}`, { ownerId: vera.user.id });
      await stack.api('POST', `/api/v1/leads/${theirs.id}/notes`, { text: 'not for Vera' });
      await stack.api('POST', `/api/v1/leads/${mine.id}/notes`, { text: 'for Vera' });
      await eventually(() => expect(received).toContain(`"kind":"note.added","leadId":"${mine.id}"`), 10_000);
      expect(received).not.toContain(`"leadId":"${theirs.id}"`);
      controller.abort();
      await pump;
    } finally {
      await stack.api('PATCH', '/api/v1/workspace', { visibility: 'all' });
    }
  });

  it('streams activities over Server-Sent Events to a signed-in browser', async () => {
    const client = await signIn(stack.baseUrl, ownerEmail, ownerPassword);
    const controller = new AbortController();
    const response = await fetch(`${stack.baseUrl}/api/v1/events`, { headers: { cookie: client.cookie }, signal: controller.signal });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let received = '';
    await postForm(stack, form, { name: 'Olga Live', email: 'olga@example.com' });
    await eventually(async () => {
      const { value } = await reader.read();
      received += decoder.decode(value);
      const created = [...received.matchAll(/event: activity\ndata: (\{[^\n]*"kind":"lead.created"[^\n]*)/g)].map((m) => (JSON.parse(m[1]!) as { leadId: string }).leadId);
      const names = await Promise.all(created.map(async (id) => (await client.request<{ name: string }>('GET', `/api/v1/leads/${id}`)).body.name));
      expect(names).toContain('Olga Live');
    }, 10_000);
    controller.abort();
  });

  it('streams what is written now even when it tells of long ago, as a message processed after a backlog does', async () => {
    await postForm(stack, form, { name: 'Paulo Atrasado', email: 'paulo@example.com' });
    const lead = await eventually(async () => {
      const { body } = await stack.api<{ data: { id: string }[] }>('GET', '/api/v1/leads?q=paulo');
      expect(body.data).toHaveLength(1);
      return body.data[0]!;
    });
    const client = await signIn(stack.baseUrl, ownerEmail, ownerPassword);
    const controller = new AbortController();
    const response = await fetch(`${stack.baseUrl}/api/v1/events`, { headers: { cookie: client.cookie }, signal: controller.signal });
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    // A message received an hour ago, written only now (the way a worker catching up writes it).
    const activityId = newId('act');
    await stack.gateway.deps.db.prisma.activity.create({
      data: { id: activityId, workspaceId: (await stack.gateway.deps.db.prisma.lead.findUniqueOrThrow({ where: { id: lead.id } })).workspaceId, leadId: lead.id, kind: 'message.received', actorType: 'contact', data: {}, createdAt: new Date(Date.now() - 3600_000) },
    });
    let received = '';
    await eventually(async () => {
      const { value } = await reader.read();
      received += decoder.decode(value);
      expect(received).toContain(`"id":"${activityId}"`);
    }, 10_000);
    controller.abort();
  });
});
