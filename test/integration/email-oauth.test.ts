import { ImapFlow } from 'imapflow';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MailUser, TestMailServers } from '../support/mail-servers.js';
import { TestOAuthServer } from '../support/oauth-server.js';
import { type SessionClient, signIn } from '../support/session.js';
import { defaultBackends, eventually, type Stack, startStack } from '../support/stack.js';

const mailbox: MailUser = { address: 'vendas@acme.test', password: 'not-used-with-oauth' };
const client = { id: 'acme-mail-client.apps.example', secret: 'GOCSPX-acme-client-secret' };

interface SourceView {
  id: string;
  status: { state: string; lastError?: string; detail?: string; connectedAs?: string };
  oauth?: { provider: string; clientId: string; scope: string; redirectUrl: string; state: string; revokedReason?: string };
}

let counter = 0;
function enquiry(from: string, subject: string, body: string): string {
  return [
    `From: ${from}`,
    `To: Acme Vendas <${mailbox.address}>`,
    `Subject: ${subject}`,
    `Message-ID: <oauth-enquiry-${Date.now()}-${++counter}@customer.example>`,
    `Date: ${new Date().toUTCString()}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    body,
    '',
  ].join('\r\n');
}

/** Signs in to dovecot with XOAUTH2 as a mail client would; resolves whether the login was accepted. */
async function imapLogin(servers: TestMailServers, accessToken: string): Promise<boolean> {
  const imap = new ImapFlow({ host: servers.imap.host, port: servers.imap.port, secure: false, auth: { user: mailbox.address, accessToken }, logger: false });
  imap.on('error', () => undefined);
  try {
    await imap.connect();
    await imap.logout();
    return true;
  } catch {
    return false;
  }
}

describe.each(defaultBackends)('a mailbox that signs in with OAuth on $db with the $queue queue', ({ db, queue }) => {
  let oauth: TestOAuthServer;
  let servers: TestMailServers;
  let stack: Stack;
  let owner: SessionClient;
  let sourceId: string;

  const source = async () => (await owner.request<SourceView>('GET', `/api/v1/sources/${sourceId}`)).body;
  async function leadsFrom(address: string): Promise<{ id: string }[]> {
    const { body } = await stack.api<{ data: { id: string }[] }>('GET', `/api/v1/leads?q=${encodeURIComponent(address)}`);
    return body.data;
  }
  const relayedTo = (address: string) => servers.relayed.filter((mail) => mail.envelope.to.includes(address));

  /** Connect in the page: the consent page, then the provider sends the browser back to the callback. */
  async function connect(session: SessionClient = owner): Promise<{ callback: string; answer: Response }> {
    const started = await session.request<{ authorizationUrl: string }>('POST', `/api/v1/sources/${sourceId}/oauth/authorize`);
    expect(started.status).toBe(200);
    const consent = await fetch(started.body.authorizationUrl, { redirect: 'manual' });
    expect(consent.status).toBe(302);
    const back = new URL(consent.headers.get('location')!);
    const callback = `${stack.baseUrl}${back.pathname}${back.search}`;
    const answer = await fetch(callback, { redirect: 'manual', headers: { cookie: session.cookie } });
    return { callback, answer };
  }

  beforeAll(async () => {
    oauth = await TestOAuthServer.start();
    servers = await TestMailServers.start([mailbox], { oauth: { introspectionUrl: oauth.introspectionUrl } });
    stack = await startStack({
      db,
      queue,
      env: {
        LEADGATE_OUTBOUND_ALLOW_PRIVATE: 'true',
        LEADGATE_OAUTH_GOOGLE_AUTHORIZE_URL: oauth.authorizeUrl,
        LEADGATE_OAUTH_GOOGLE_TOKEN_URL: oauth.tokenUrl,
      },
    });
    await stack.api('PATCH', '/api/v1/workspace', { name: 'Acme Solar', locale: 'en' });
    owner = await signIn(stack.baseUrl, 'owner@acme.test', 'correct horse battery');
  });

  afterAll(async () => {
    await stack?.close();
    await servers?.stop();
    await oauth?.stop();
  });

  it('connects with consent at the provider, reads mail as leads, renews the token when it expires, and replies over SMTP with XOAUTH2', async () => {
    // Access tokens that live 4 s: the gateway must renew them to keep working.
    oauth.accessTokenLifetime = 4;
    const setup = await owner.request<{ redirectUrl: string }>('GET', '/api/v1/oauth');
    expect(setup.status).toBe(200);
    expect(setup.body.redirectUrl).toMatch(/\/oauth\/callback$/);
    oauth.registerClient(client.id, client.secret, [setup.body.redirectUrl]);
    oauth.consentAs(mailbox.address);

    const created = await owner.request<SourceView>('POST', '/api/v1/sources', {
      kind: 'email',
      name: 'Gmail',
      address: mailbox.address,
      oauth: { provider: 'google', clientId: client.id, clientSecret: client.secret },
      imap: { host: servers.imap.host, port: servers.imap.port, secure: false },
      smtp: { host: servers.smtp.host, port: servers.smtp.port, secure: false },
    });
    expect(created.status).toBe(201);
    sourceId = created.body.id;
    expect(created.body.oauth).toMatchObject({ provider: 'google', clientId: client.id, scope: 'https://mail.google.com/', redirectUrl: setup.body.redirectUrl, state: 'not_connected' });
    expect(JSON.stringify(created.body)).not.toContain(client.secret);
    await eventually(async () => expect((await source()).status).toMatchObject({ state: 'pairing', detail: expect.stringMatching(/Google/) }));

    // An API key has no browser session to bind the authorization to.
    const byKey = await stack.api<{ type: string }>('POST', `/api/v1/sources/${sourceId}/oauth/authorize`);
    expect(byKey.status).toBe(403);
    expect(byKey.headers.get('content-type')).toMatch(/application\/problem\+json/);

    // Owners and managers connect mailboxes; a rep may not.
    const rep = await stack.api('POST', '/api/v1/users', { name: 'Rita Rep', email: 'rita.rep@acme.test', role: 'rep', password: 'a rep password 123' });
    expect(rep.status).toBe(201);
    const repSession = await signIn(stack.baseUrl, 'rita.rep@acme.test', 'a rep password 123');
    const byRep = await repSession.request<{ type: string }>('POST', `/api/v1/sources/${sourceId}/oauth/authorize`);
    expect(byRep.status).toBe(403);
    expect(byRep.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const document = (await (await fetch(`${stack.baseUrl}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    expect(document.paths['/api/v1/sources/{id}/oauth/authorize']?.post).toBeDefined();
    expect(document.paths['/api/v1/oauth']?.get).toBeDefined();
    expect(document.paths['/oauth/callback']?.get).toBeDefined();

    const started = await owner.request<{ authorizationUrl: string }>('POST', `/api/v1/sources/${sourceId}/oauth/authorize`);
    const consentPage = new URL(started.body.authorizationUrl);
    expect(`${consentPage.origin}${consentPage.pathname}`).toBe(oauth.authorizeUrl);
    expect(Object.fromEntries(consentPage.searchParams)).toMatchObject({
      response_type: 'code',
      client_id: client.id,
      redirect_uri: setup.body.redirectUrl,
      scope: 'https://mail.google.com/',
      code_challenge_method: 'S256',
      access_type: 'offline',
      prompt: 'consent',
      login_hint: mailbox.address,
    });

    // The provider's answer reaches the gateway in another session (a link sent to someone else): refused.
    const consent = await fetch(started.body.authorizationUrl, { redirect: 'manual' });
    const back = new URL(consent.headers.get('location')!);
    const callback = `${stack.baseUrl}${back.pathname}${back.search}`;
    const other = await signIn(stack.baseUrl, 'owner@acme.test', 'correct horse battery');
    const elsewhere = await fetch(callback, { redirect: 'manual', headers: { cookie: other.cookie } });
    expect(elsewhere.status).toBe(403);
    expect(elsewhere.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const anonymous = await fetch(callback, { redirect: 'manual' });
    expect(anonymous.status).toBe(403);

    const answer = await fetch(callback, { redirect: 'manual', headers: { cookie: owner.cookie } });
    expect(answer.status).toBe(303);
    expect(answer.headers.get('location')).toMatch(new RegExp(`/#/setup/sources/${sourceId}$`));
    // A state is good once.
    const replay = await fetch(callback, { redirect: 'manual', headers: { cookie: owner.cookie } });
    expect(replay.status).toBe(422);
    expect(replay.headers.get('content-type')).toMatch(/application\/problem\+json/);

    const connected = await eventually(async () => {
      const found = await source();
      expect(found.status).toMatchObject({ state: 'connected', connectedAs: mailbox.address });
      return found;
    });
    expect(connected.oauth?.state).toBe('connected');
    // The refresh token is stored sealed, never in the clear, and never shown.
    const issued = oauth.requests.filter((r) => r.path === '/token' && r.params.grant_type === 'authorization_code');
    expect(issued).toHaveLength(1);
    const row = await stack.gateway.deps.db.prisma.source.findUniqueOrThrow({ where: { id: sourceId } });
    const refreshToken = stack.gateway.deps.box.open<{ oauth: { refreshToken: string } }>(row.secrets).oauth.refreshToken;
    expect(refreshToken).toMatch(/^rt-/);
    expect(row.secrets).not.toContain(refreshToken);
    expect(row.secrets).not.toContain(client.secret);
    const everything = JSON.stringify([(await owner.request('GET', '/api/v1/sources')).body, connected]);
    expect(everything).not.toMatch(/rt-|at-[0-9a-f]/);
    expect(everything).not.toContain(client.secret);

    await servers.deliver(enquiry('Ana Souza <ana@customer.example>', 'Orçamento', 'Quanto custa um sistema de 5 kWp?'), { from: 'ana@customer.example', to: [mailbox.address] });
    const lead = await eventually(async () => {
      const leads = await leadsFrom('ana@customer.example');
      expect(leads).toHaveLength(1);
      return leads[0]!;
    });

    // The first access token expires; dovecot refuses it from then on.
    const first = oauth.requests.length;
    await eventually(() => expect(oauth.count('/introspect')).toBeGreaterThan(0));
    await new Promise((resolve) => setTimeout(resolve, 4_200));
    const refreshesBefore = oauth.count('/token', 'refresh_token');
    // The server drops the connection (as providers do around a token's expiry): the gateway signs in again with a new token.
    await servers.kick(mailbox);
    await servers.deliver(enquiry('Bruno Lima <bruno@customer.example>', 'Painéis', 'Preciso de 40 painéis.'), { from: 'bruno@customer.example', to: [mailbox.address] });
    await eventually(async () => expect(await leadsFrom('bruno@customer.example')).toHaveLength(1), 30_000);
    expect(oauth.count('/token', 'refresh_token')).toBeGreaterThan(refreshesBefore);
    expect(oauth.requests.length).toBeGreaterThan(first);
    const expiredToken = oauth.requests
      .filter((r) => r.path === '/introspect')
      .map((r) => r.params.token!)
      .find((token) => !oauth.isActive(token));
    expect(expiredToken).toBeDefined();
    expect(await imapLogin(servers, expiredToken!)).toBe(false);

    // A rep's reply goes out through the mailbox's SMTP with XOAUTH2, with a token that is current.
    const sent = await stack.api<{ messageId: string; channel: string }>('POST', `/api/v1/leads/${lead.id}/messages`, { text: 'O sistema de 5 kWp sai por 21.000 reais.' });
    expect(sent.status).toBe(202);
    const reply = await eventually(async () => {
      const found = await Promise.all(relayedTo('ana@customer.example').map((m) => simpleParser(m.raw)));
      const match = found.find((m) => m.text?.includes('21.000 reais'));
      expect(match).toBeDefined();
      return match!;
    }, 30_000);
    expect(reply.from?.value[0]?.address).toBe(mailbox.address);
    // Signed in with XOAUTH2: the test SMTP server takes no other way for this mailbox's token.
    expect(relayedTo('ana@customer.example').map((m) => m.user)).toContain(mailbox.address);
    await eventually(async () => {
      const { body } = await stack.api<{ status: string }>('GET', `/api/v1/messages/${sent.body.messageId}`);
      expect(body.status).toBe('sent');
    });
  });

  it('stops with the reason when the provider refuses the refresh token, without retrying, until connected again', async () => {
    const lead = (await leadsFrom('ana@customer.example'))[0]!;
    // The account's owner removes the app's access at the provider.
    oauth.revoke(mailbox.address);
    await servers.kick(mailbox);
    const stopped = await eventually(async () => {
      const found = await source();
      expect(found.status.state).toBe('error');
      return found;
    }, 30_000);
    expect(stopped.status.lastError).toMatch(/Google refused the stored authorization \(invalid_grant: Token has been expired or revoked\.\)/);
    expect(stopped.oauth?.state).toBe('revoked');

    // A reply fails at once with the reason, and nobody keeps asking the provider.
    const refusals = oauth.count('/token', 'refresh_token');
    const sent = await stack.api<{ messageId: string }>('POST', `/api/v1/leads/${lead.id}/messages`, { text: 'Ainda tem interesse?' });
    const failed = await eventually(async () => {
      const { body } = await stack.api<{ status: string; errorCode?: string; error?: string }>('GET', `/api/v1/messages/${sent.body.messageId}`);
      expect(body.status).toBe('failed');
      return body;
    });
    expect(failed.errorCode).toBe('oauth_revoked');
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(oauth.count('/token', 'refresh_token')).toBe(refusals);
    expect((await source()).status.state).toBe('error');

    // Connecting again brings it back.
    const { answer } = await connect();
    expect(answer.status).toBe(303);
    await eventually(async () => expect((await source()).status).toMatchObject({ state: 'connected' }), 30_000);
    expect((await source()).oauth?.state).toBe('connected');
    await servers.deliver(enquiry('Carla Reis <carla@customer.example>', 'Visita', 'Podem visitar amanhã?'), { from: 'carla@customer.example', to: [mailbox.address] });
    await eventually(async () => expect(await leadsFrom('carla@customer.example')).toHaveLength(1), 30_000);
  });
});
