import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import { hashApiKey } from '../../src/security/tokens.js';
import { signIn, signInRaw } from '../support/session.js';
import { TestSmtpServer } from '../support/smtp.js';
import { apiRequest, createWebform, eventually, postForm, type Stack, startStack } from '../support/stack.js';

interface Problem {
  type: string;
  status: number;
}
interface Workspace {
  id: string;
  name: string;
  timeZone: string;
  signature: string | null;
  logoUrl: string | null;
  profileConfirmed: boolean;
}

const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

/** The business profile an owner is asked for, and teammates invited by email instead of given a password. */
describe('the business profile and invitations on PGlite', () => {
  let stack: Stack;
  let smtp: TestSmtpServer;
  const manager = { email: 'mara@acme.test', password: 'mara long password' };

  const upload = async (filename: string, contentType: string, data: Buffer) => {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(data)], { type: contentType }), filename);
    const response = await fetch(`${stack.baseUrl}/api/v1/uploads`, { method: 'POST', headers: { authorization: `Bearer ${stack.apiKey}` }, body: form });
    return (await response.json()) as { id: string };
  };
  const mailTo = (address: string) => smtp.received.filter((mail) => mail.envelope.to.includes(address));
  const linkIn = (text: string) => /(http\S+#\/invite\/(\S+))/.exec(text)!;

  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    stack = await startStack({ db: 'pglite', queue: 'embedded', askBusinessProfile: true, smtp: { url: smtp.url, from: 'Acme <sales@acme.test>' } });
    expect((await stack.api('POST', '/api/v1/users', { name: 'Mara', email: manager.email, role: 'manager', password: manager.password })).status).toBe(201);
  });
  afterAll(async () => {
    await stack?.close();
    await smtp?.stop();
  });

  it('keeps asking for the profile until an owner confirms it; customers then get the business name and the signature', async () => {
    const before = await stack.api<Workspace>('GET', '/api/v1/workspace');
    expect(before.body).toMatchObject({ name: 'My business', profileConfirmed: false, logoUrl: null, signature: null });

    const badZone = await stack.api<Problem>('PATCH', '/api/v1/workspace', { timeZone: 'Mars/Olympus' });
    expect(badZone.status).toBe(422);
    expect(badZone.headers.get('content-type')).toContain('application/problem+json');
    const pdf = await upload('logo.pdf', 'application/pdf', Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(64)]));
    expect((await stack.api<Problem>('PATCH', '/api/v1/workspace', { logoUploadId: pdf.id })).status).toBe(422);

    const logo = await upload('logo.png', 'image/png', png);
    const saved = await stack.api<Workspace>('PATCH', '/api/v1/workspace', {
      name: 'Acme Solar',
      timeZone: 'America/Manaus',
      signature: 'Acme Solar · (92) 3333-0000',
      logoUploadId: logo.id,
      profileConfirmed: true,
    });
    expect(saved.status).toBe(200);
    expect(saved.body).toMatchObject({ name: 'Acme Solar', timeZone: 'America/Manaus', signature: 'Acme Solar · (92) 3333-0000', profileConfirmed: true });
    const image = await fetch(`${stack.baseUrl}${saved.body.logoUrl}`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await image.arrayBuffer()).equals(png)).toBe(true);
    const session = await signIn(stack.baseUrl, 'owner@acme.test', 'correct horse battery');
    expect((await session.request<{ workspace: Workspace }>('GET', '/api/v1/session')).body.workspace).toMatchObject({ name: 'Acme Solar', profileConfirmed: true, logoUrl: saved.body.logoUrl });

    // A reply typed by a person: the business name as its subject, the signature under it.
    const form = await createWebform(stack, { autoReplyTemplate: null });
    await postForm(stack, form, { name: 'Clara', email: 'clara@example.com' });
    const lead = await eventually(async () => {
      const { body } = await stack.api<{ data: { id: string }[] }>('GET', '/api/v1/leads?q=clara');
      expect(body.data).toHaveLength(1);
      return body.data[0]!;
    });
    expect((await stack.api('POST', `/api/v1/leads/${lead.id}/messages`, { text: 'Olá Clara, segue o orçamento.' })).status).toBe(202);
    const mail = await eventually(() => {
      expect(mailTo('clara@example.com')).toHaveLength(1);
      return mailTo('clara@example.com')[0]!.mail;
    });
    expect(mail.subject).toBe('Acme Solar');
    expect(mail.text).toContain('Olá Clara, segue o orçamento.\n\n-- \nAcme Solar · (92) 3333-0000');
  });

  it('lets only owners and managers change the profile, and keeps the logo to its workspace', async () => {
    const rep = await stack.api<{ id: string }>('POST', '/api/v1/users', { name: 'Rui', email: 'rui@acme.test', role: 'rep', password: 'rui long password' });
    expect(rep.status).toBe(201);
    const rui = await signIn(stack.baseUrl, 'rui@acme.test', 'rui long password');
    const refused = await rui.request<Problem>('PATCH', '/api/v1/workspace', { name: 'Rui Ltda' });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    expect((await fetch(`${stack.baseUrl}/api/v1/workspace/logo`, { headers: { cookie: rui.cookie } })).status).toBe(200);

    const otherKey = `lg_other_${newId('k')}`;
    const workspaceId = newId('ws');
    const prisma = stack.gateway.deps.db.prisma;
    await prisma.workspace.create({ data: { id: workspaceId, name: 'Other business', workingHours: {} } });
    await prisma.apiKey.create({ data: { id: newId('key'), workspaceId, name: 'other', prefix: 'lg_othe', hash: hashApiKey(otherKey) } });
    expect((await apiRequest(stack.baseUrl, otherKey, 'GET', '/api/v1/workspace/logo')).status).toBe(404);
    const users = await apiRequest<{ data: { email: string }[] }>(stack.baseUrl, otherKey, 'GET', '/api/v1/users');
    expect(users.body.data.map((user) => user.email)).not.toContain('rui@acme.test');
    const mine = await stack.api<{ data: { id: string; email: string }[] }>('GET', '/api/v1/users');
    const mara = mine.body.data.find((user) => user.email === manager.email)!;
    expect((await apiRequest(stack.baseUrl, otherKey, 'POST', `/api/v1/users/${mara.id}/invite`)).status).toBe(404);
  });

  it('invites a teammate by email: the link sets their password once, a new one replaces it, and an expired one is refused', async () => {
    const mara = await signIn(stack.baseUrl, manager.email, manager.password);
    expect((await mara.request<Problem>('POST', '/api/v1/invites', { name: 'Olga', email: 'olga@acme.test', role: 'owner' })).status).toBe(403);
    const invalid = await mara.request<Problem>('POST', '/api/v1/invites', { name: 'Nina', email: 'not an email', role: 'rep' });
    expect(invalid.status).toBe(422);
    expect(invalid.body.type).toMatch(/validation-failed$/);

    const invited = await mara.request<{ userId: string; email: string; expiresAt: string }>('POST', '/api/v1/invites', { name: 'Nina Nova', email: 'Nina@Acme.test', role: 'rep' });
    expect(invited.status).toBe(201);
    expect(invited.body.email).toBe('nina@acme.test');
    expect((await mara.request<Problem>('POST', '/api/v1/invites', { name: 'Nina', email: 'nina@acme.test', role: 'rep' })).status).toBe(409);
    const first = await eventually(() => {
      expect(mailTo('nina@acme.test')).toHaveLength(1);
      return mailTo('nina@acme.test')[0]!.mail;
    });
    expect(first.subject).toBe('Mara convidou você para Acme Solar no leadgate');
    const [, , firstToken] = linkIn(first.text ?? '');
    const users = await stack.api<{ data: { id: string; invitePending: boolean }[] }>('GET', '/api/v1/users');
    expect(users.body.data.find((user) => user.id === invited.body.userId)?.invitePending).toBe(true);
    // Nobody can sign in as Nina before she sets her password.
    expect((await signInRaw(stack.baseUrl, 'nina@acme.test', 'whatever password')).status).toBe(401);

    // Re-sent: the new link works, the first no longer does.
    expect((await mara.request('POST', `/api/v1/users/${invited.body.userId}/invite`)).status).toBe(201);
    const second = await eventually(() => {
      expect(mailTo('nina@acme.test')).toHaveLength(2);
      return mailTo('nina@acme.test')[1]!.mail;
    });
    const [, , token] = linkIn(second.text ?? '');
    expect(token).not.toBe(firstToken);
    const stale = await fetch(`${stack.baseUrl}/api/v1/invites/${firstToken}`);
    expect(stale.status).toBe(410);
    expect(stale.headers.get('content-type')).toContain('application/problem+json');
    const shown = await fetch(`${stack.baseUrl}/api/v1/invites/${token}`);
    expect(await shown.json()).toMatchObject({ name: 'Nina Nova', email: 'nina@acme.test', workspace: 'Acme Solar' });

    const short = await fetch(`${stack.baseUrl}/api/v1/invites/${token}/accept`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: 'short' }) });
    expect(short.status).toBe(422);
    const accepted = await fetch(`${stack.baseUrl}/api/v1/invites/${token}/accept`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: 'nina chose this one' }) });
    expect(accepted.status).toBe(201);
    expect(accepted.headers.get('set-cookie')).toMatch(/lg_session=/);
    expect((await signInRaw(stack.baseUrl, 'nina@acme.test', 'nina chose this one')).status).toBe(201);
    const reused = await fetch(`${stack.baseUrl}/api/v1/invites/${token}/accept`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: 'someone else entirely' }) });
    expect(reused.status).toBe(410);
    expect((await mara.request<Problem>('POST', `/api/v1/users/${invited.body.userId}/invite`)).status).toBe(409);

    // An expired link is refused.
    const late = await mara.request<{ userId: string }>('POST', '/api/v1/invites', { name: 'Otto', email: 'otto@acme.test', role: 'rep' });
    const lateToken = linkIn((await eventually(() => mailTo('otto@acme.test')[0]!.mail)).text ?? '')[2];
    await stack.gateway.deps.db.prisma.userInvite.updateMany({ where: { userId: late.body.userId }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expect((await fetch(`${stack.baseUrl}/api/v1/invites/${lateToken}`)).status).toBe(410);
  });
});
