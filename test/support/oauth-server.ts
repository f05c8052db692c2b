import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback OAuth 2.0 authorization server, standing in for Google's and Microsoft's: the
 * authorization endpoint (consent is given at once, by `consentAs`), the token endpoint
 * (authorization_code with PKCE S256, refresh_token; errors as RFC 6749 §5.2 JSON), and a token
 * introspection endpoint (RFC 7662) that dovecot's oauth2 passdb and the test SMTP server ask
 * whether an access token is one this server issued and has not expired.
 */
export class TestOAuthServer {
  /** Every request, for assertions on what the gateway asked and how often. */
  readonly requests: { path: string; params: Record<string, string> }[] = [];
  /** Seconds an access token lives. */
  accessTokenLifetime = 3600;
  /** Microsoft rotates refresh tokens on every use; Google does not. */
  rotateRefreshTokens = false;

  private readonly clients = new Map<string, { secret: string; redirectUris: string[] }>();
  private readonly codes = new Map<string, { clientId: string; redirectUri: string; challenge: string; scope: string; user: string }>();
  private readonly refreshTokens = new Map<string, { clientId: string; user: string; scope: string; revoked: boolean }>();
  private readonly accessTokens = new Map<string, { user: string; expiresAt: number }>();
  private consentUser = '';

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  static async start(): Promise<TestOAuthServer> {
    let instance: TestOAuthServer | undefined;
    const server = http.createServer((req, res) => {
      instance!.handle(req, res).catch((error: unknown) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'server_error', error_description: String(error) }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    instance = new TestOAuthServer(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return instance;
  }

  get authorizeUrl(): string {
    return `${this.url}/authorize`;
  }
  get tokenUrl(): string {
    return `${this.url}/token`;
  }
  get introspectionUrl(): string {
    return `${this.url}/introspect`;
  }

  registerClient(clientId: string, secret: string, redirectUris: string[]): void {
    this.clients.set(clientId, { secret, redirectUris });
  }

  /** The account that consents at the next authorizations. */
  consentAs(user: string): void {
    this.consentUser = user.toLowerCase();
  }

  /** The user revokes the app's access: its refresh tokens and access tokens stop working. */
  revoke(user: string): void {
    for (const grant of this.refreshTokens.values()) if (grant.user === user.toLowerCase()) grant.revoked = true;
    for (const [token, access] of this.accessTokens) if (access.user === user.toLowerCase()) this.accessTokens.delete(token);
  }

  /** Whether the token is one this server issued, unexpired, for this user (what introspection answers). */
  isActive(token: string, user?: string): boolean {
    const access = this.accessTokens.get(token);
    return Boolean(access && access.expiresAt > Date.now() && (!user || access.user === user.toLowerCase()));
  }

  count(path: string, grantType?: string): number {
    return this.requests.filter((request) => request.path === path && (!grantType || request.params.grant_type === grantType)).length;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const params: Record<string, string> = Object.fromEntries(url.searchParams);
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      Object.assign(params, Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
      // client_secret_basic: "Basic base64(urlencoded id:urlencoded secret)".
      const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
      if (basic) {
        const [id, secret] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':').map(decodeURIComponent);
        params.client_id ??= id!;
        params.client_secret ??= secret!;
      }
    }
    this.requests.push({ path: url.pathname, params });
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };

    if (req.method === 'GET' && url.pathname === '/authorize') {
      const client = this.clients.get(params.client_id ?? '');
      if (!client || !client.redirectUris.includes(params.redirect_uri ?? '')) return json(400, { error: 'invalid_request', error_description: 'unknown client or redirect_uri' });
      const back = new URL(params.redirect_uri!);
      back.searchParams.set('state', params.state ?? '');
      if (params.response_type !== 'code' || params.code_challenge_method !== 'S256' || !params.code_challenge || !params.scope) {
        back.searchParams.set('error', 'invalid_request');
      } else if (!this.consentUser) {
        back.searchParams.set('error', 'access_denied');
      } else {
        const code = randomBytes(16).toString('hex');
        this.codes.set(code, { clientId: params.client_id!, redirectUri: params.redirect_uri!, challenge: params.code_challenge, scope: params.scope, user: this.consentUser });
        back.searchParams.set('code', code);
      }
      res.writeHead(302, { location: back.href });
      res.end();
      return;
    }

    if (req.method === 'POST' && url.pathname === '/token') {
      const client = this.clients.get(params.client_id ?? '');
      if (!client || client.secret !== params.client_secret) return json(401, { error: 'invalid_client', error_description: 'client authentication failed' });
      if (params.grant_type === 'authorization_code') {
        const code = this.codes.get(params.code ?? '');
        this.codes.delete(params.code ?? '');
        const verifier = params.code_verifier ?? '';
        const challenge = createHash('sha256').update(verifier).digest('base64url');
        if (!code || code.clientId !== params.client_id || code.redirectUri !== params.redirect_uri || code.challenge !== challenge) {
          return json(400, { error: 'invalid_grant', error_description: 'code, redirect_uri or code_verifier does not match' });
        }
        const refreshToken = this.issueRefresh(code.clientId, code.user, code.scope);
        return json(200, { ...this.issueAccess(code.user, code.scope), refresh_token: refreshToken });
      }
      if (params.grant_type === 'refresh_token') {
        const grant = this.refreshTokens.get(params.refresh_token ?? '');
        if (!grant || grant.revoked || grant.clientId !== params.client_id) return json(400, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
        const rotated = this.rotateRefreshTokens ? { refresh_token: this.issueRefresh(grant.clientId, grant.user, grant.scope) } : {};
        return json(200, { ...this.issueAccess(grant.user, grant.scope), ...rotated });
      }
      return json(400, { error: 'unsupported_grant_type' });
    }

    if (req.method === 'POST' && url.pathname === '/introspect') {
      const access = this.accessTokens.get(params.token ?? '');
      if (!access || access.expiresAt <= Date.now()) return json(200, { active: false });
      return json(200, { active: true, username: access.user, exp: Math.floor(access.expiresAt / 1000) });
    }

    json(404, { error: 'not_found' });
  }

  private issueRefresh(clientId: string, user: string, scope: string): string {
    const token = `rt-${randomBytes(16).toString('hex')}`;
    this.refreshTokens.set(token, { clientId, user, scope, revoked: false });
    return token;
  }

  private issueAccess(user: string, scope: string) {
    const token = `at-${randomBytes(16).toString('hex')}`;
    this.accessTokens.set(token, { user, expiresAt: Date.now() + this.accessTokenLifetime * 1000 });
    return { access_token: token, token_type: 'Bearer', expires_in: this.accessTokenLifetime, scope };
  }
}
