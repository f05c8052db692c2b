import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import * as oauth from 'openid-client';
import { z } from 'zod';
import type { Db } from '../db/client.js';
import { ChannelError, errorMessage, ProblemError } from '../errors.js';
import type { SecretBox } from '../security/secrets.js';
import { setSourceStatus } from './adapter-support.js';
import { type OAuthEndpoints, type OAuthProvider, oauthProviders } from './oauth-endpoints.js';
import type { SourceDirectory } from './sources.js';

export { defaultOAuthEndpoints, type OAuthEndpoints, type OAuthProvider, oauthProviders } from './oauth-endpoints.js';


/**
 * How a source that signs in with OAuth keeps its client and grant: `settings.oauth` (shown in the
 * API) and `secrets.oauth` (encrypted with the source's other secrets, never shown). A new consent
 * sets `authorizedAt`; a refresh token the provider refuses sets `revokedAt` and is dropped.
 */
export const oauthSettings = z.object({
  provider: z.enum(oauthProviders),
  clientId: z.string().min(1),
  /** Microsoft's directory (tenant) id or domain; `organizations` takes any work account. */
  tenant: z.string().optional(),
  scope: z.string().min(1),
  /** Passed to the provider's consent page so the right account is suggested. */
  loginHint: z.string().optional(),
  authorizedAt: z.string().optional(),
  revokedAt: z.string().optional(),
  revokedReason: z.string().optional(),
});
export const oauthSecrets = z.object({ clientSecret: z.string().min(1), refreshToken: z.string().optional() });
export type OAuthSettings = z.infer<typeof oauthSettings>;
export type OAuthSecrets = z.infer<typeof oauthSecrets>;

/** A source's OAuth client and grant, or null when it signs in some other way. */
export function readOAuth(source: { settings: Record<string, unknown>; secrets: Record<string, unknown> }): { settings: OAuthSettings; secrets: OAuthSecrets } | null {
  const settings = oauthSettings.safeParse(source.settings.oauth);
  const secrets = oauthSecrets.safeParse(source.secrets.oauth);
  return settings.success && secrets.success ? { settings: settings.data, secrets: secrets.data } : null;
}

/** The path of the page providers send the browser back to; registered with the provider as PUBLIC_URL + this. */
export const oauthCallbackPath = '/oauth/callback';

/** An authorization waits this long for the provider to send the browser back. */
const pendingTtlMs = 15 * 60_000;
const pendingKey = 'oauth:pending';

interface Pending {
  stateHash: string;
  sessionId: string;
  userId: string;
  /** The PKCE code verifier, sealed. */
  verifier: string;
  expiresAt: string;
}

/** Answers from the token endpoint that no retry can change: the grant or the client is gone. */
const permanentErrors = new Set(['invalid_grant', 'invalid_client', 'unauthorized_client']);

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

function providerName(provider: OAuthProvider): string {
  return provider === 'google' ? 'Google' : 'Microsoft';
}

/** What the provider said, in its own words: `invalid_grant: Token has been expired or revoked.` */
function describe(error: unknown): { code: string | undefined; text: string } {
  if (error instanceof oauth.ResponseBodyError || error instanceof oauth.AuthorizationResponseError) {
    return { code: error.error, text: error.error_description ? `${error.error}: ${error.error_description}` : error.error };
  }
  return { code: undefined, text: errorMessage(error) };
}

/**
 * OAuth 2.0 authorization-code grants (with PKCE) for sources that sign in to a provider's
 * servers (a Gmail or Microsoft 365 mailbox), and the access tokens they give: kept in memory per
 * process, refreshed shortly before they expire or when a server refused one. The refresh token is
 * stored with the source's encrypted secrets; a provider that refuses it stops the source with
 * the reason until someone connects it again.
 */
export class OAuthGrants {
  private readonly tokens = new Map<string, { token: string; freshUntil: number }>();
  private readonly refreshing = new Map<string, Promise<string>>();

  constructor(
    private readonly prisma: Db,
    private readonly box: SecretBox,
    private readonly sources: SourceDirectory,
    private readonly endpoints: Record<OAuthProvider, OAuthEndpoints>,
    private readonly publicUrl: string,
    private readonly logger: Logger,
  ) {}

  get redirectUrl(): string {
    return `${this.publicUrl}${oauthCallbackPath}`;
  }

  private configuration(settings: OAuthSettings, secrets: OAuthSecrets): oauth.Configuration {
    const tenant = encodeURIComponent(settings.tenant ?? 'organizations');
    const endpoints = this.endpoints[settings.provider];
    const authorizeUrl = endpoints.authorizeUrl.replace('{tenant}', tenant);
    const tokenUrl = endpoints.tokenUrl.replace('{tenant}', tenant);
    // The authorization server's origin is its issuer for the `iss` check of RFC 9207 (Google
    // sends https://accounts.google.com); no ID token is asked for, so nothing else uses it.
    const config = new oauth.Configuration(
      { issuer: new URL(authorizeUrl).origin, authorization_endpoint: authorizeUrl, token_endpoint: tokenUrl },
      settings.clientId,
      secrets.clientSecret,
    );
    config.timeout = 15;
    // Plain http only for endpoints the operator configured so (a token server on loopback).
    if (new URL(tokenUrl).protocol === 'http:' || new URL(authorizeUrl).protocol === 'http:') oauth.allowInsecureRequests(config);
    return config;
  }

  private async load(sourceId: string) {
    const row = await this.prisma.source.findFirst({ where: { id: sourceId, deletedAt: null } });
    if (!row) throw new ProblemError('not_found', 'source not found');
    const record = this.sources.toRecord(row);
    const grant = readOAuth(record);
    return { row, record, grant };
  }

  /**
   * The provider's consent page for this source, for the signed-in user's browser: the answer
   * comes back to the callback, which accepts it only in the same session, once, within 15 minutes.
   */
  async begin(sourceId: string, session: { id: string; userId: string }): Promise<URL> {
    const { grant } = await this.load(sourceId);
    if (!grant) throw new ProblemError('conflict', 'this source does not sign in with OAuth: give it an oauth client first');
    const verifier = oauth.randomPKCECodeVerifier();
    const state = `${sourceId}.${oauth.randomState()}`;
    const pending: Pending = {
      stateHash: sha256(state),
      sessionId: session.id,
      userId: session.userId,
      verifier: this.box.seal(verifier),
      expiresAt: new Date(Date.now() + pendingTtlMs).toISOString(),
    };
    await this.writeState(sourceId, pending);
    const parameters: Record<string, string> = {
      redirect_uri: this.redirectUrl,
      scope: grant.settings.scope,
      state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      ...(grant.settings.loginHint ? { login_hint: grant.settings.loginHint } : {}),
    };
    // Google hands out a refresh token only for offline access, and again only when asked to consent.
    if (grant.settings.provider === 'google') Object.assign(parameters, { access_type: 'offline', prompt: 'consent' });
    return oauth.buildAuthorizationUrl(this.configuration(grant.settings, grant.secrets), parameters);
  }

  /**
   * The provider sent the browser back. Checks the state against the pending authorization of the
   * same session, exchanges the code (with the PKCE verifier) and answers the new grant; nothing
   * is stored yet (see `store`). Throws OAuthCallbackError when the provider refused, ProblemError
   * when the request is not one this gateway is waiting for.
   */
  async exchange(query: URLSearchParams, session: { id: string } | null): Promise<{ sourceId: string; refreshToken: string; accessToken: string; expiresIn: number | undefined }> {
    const state = query.get('state') ?? '';
    const sourceId = state.split('.')[0] ?? '';
    const pending = sourceId ? await this.readState(sourceId) : null;
    if (!pending || !sameText(pending.stateHash, sha256(state)) || new Date(pending.expiresAt).getTime() < Date.now()) {
      throw new ProblemError('validation_failed', 'this authorization is unknown, used already or expired: start again with Connect in Setup', [{ path: 'state', message: 'is not a pending authorization' }]);
    }
    if (!session || session.id !== pending.sessionId) {
      throw new ProblemError('forbidden', 'this authorization was started in another session: sign in and start again with Connect in Setup');
    }
    // One use: a replayed callback finds nothing.
    await this.prisma.adapterState.deleteMany({ where: { sourceId, key: pendingKey } });
    const { grant } = await this.load(sourceId);
    if (!grant) throw new ProblemError('conflict', 'this source no longer signs in with OAuth');
    const name = providerName(grant.settings.provider);
    const callback = new URL(this.redirectUrl);
    callback.search = query.toString();
    let tokens: oauth.TokenEndpointResponse;
    try {
      tokens = await oauth.authorizationCodeGrant(this.configuration(grant.settings, grant.secrets), callback, {
        pkceCodeVerifier: this.box.open<string>(pending.verifier),
        expectedState: state,
      });
    } catch (error) {
      throw new OAuthCallbackError(sourceId, `${name} did not authorize the mailbox: ${describe(error).text}`, { cause: error });
    }
    if (!tokens.refresh_token) {
      throw new OAuthCallbackError(
        sourceId,
        `${name} gave no refresh token, so the gateway could not stay connected: remove the app's access in the account's settings and connect again`,
      );
    }
    return { sourceId, refreshToken: tokens.refresh_token, accessToken: tokens.access_token, expiresIn: tokens.expires_in };
  }

  /** Stores a new grant with the source (a reconnect replaces a revoked one) and keeps its access token. */
  async store(sourceId: string, granted: { refreshToken: string; accessToken: string; expiresIn: number | undefined }): Promise<void> {
    const { row, record, grant } = await this.load(sourceId);
    if (!grant) throw new ProblemError('conflict', 'this source no longer signs in with OAuth');
    const authorizedAt = new Date().toISOString();
    const { revokedAt: _revokedAt, revokedReason: _revokedReason, ...kept } = grant.settings;
    await this.prisma.source.update({
      where: { id: row.id },
      data: {
        settings: { ...record.settings, oauth: { ...kept, authorizedAt } } as object,
        secrets: this.box.seal({ ...record.secrets, oauth: { ...grant.secrets, refreshToken: granted.refreshToken } }),
        status: { state: 'connecting' },
      },
    });
    this.sources.forget(sourceId);
    this.keep(sourceId, granted.accessToken, granted.expiresIn);
  }

  /** Tells the source's status why the last authorization failed. */
  async failed(sourceId: string, reason: string): Promise<void> {
    const { grant } = await this.load(sourceId);
    // A source still connected with an earlier grant stays as it is.
    if (grant?.secrets.refreshToken && !grant.settings.revokedAt) return;
    await setSourceStatus(this.prisma, sourceId, { state: 'error', lastError: reason });
  }

  /**
   * A current access token for the source: the one in memory while it has some life left, else a
   * new one from the refresh token. `renew` asks for a new one at once (a server refused the
   * last). Throws ChannelError: `oauth_revoked` (permanent; the source is stopped with the reason)
   * or `oauth_unavailable` (the provider did not answer; try later).
   */
  async accessToken(sourceId: string, options: { renew?: boolean } = {}): Promise<string> {
    const cached = this.tokens.get(sourceId);
    if (cached && !options.renew && cached.freshUntil > Date.now()) return cached.token;
    const running = this.refreshing.get(sourceId);
    if (running) return running;
    const refresh = this.refresh(sourceId).finally(() => this.refreshing.delete(sourceId));
    this.refreshing.set(sourceId, refresh);
    return refresh;
  }

  private async refresh(sourceId: string): Promise<string> {
    const { row, record, grant } = await this.load(sourceId);
    if (!grant) throw new ChannelError('oauth_not_configured', 'this source does not sign in with OAuth', false);
    const name = providerName(grant.settings.provider);
    if (!grant.secrets.refreshToken || grant.settings.revokedAt) {
      throw new ChannelError(
        'oauth_revoked',
        grant.settings.revokedReason ?? `the mailbox is not connected to ${name} yet: connect it in Setup → Sources`,
        false,
      );
    }
    let tokens: oauth.TokenEndpointResponse;
    try {
      tokens = await oauth.refreshTokenGrant(this.configuration(grant.settings, grant.secrets), grant.secrets.refreshToken);
    } catch (error) {
      const { code, text } = describe(error);
      if (code && permanentErrors.has(code)) {
        const reason = `${name} refused the stored authorization (${text}): connect the mailbox again in Setup → Sources`;
        await this.revoke(row.id, record, grant, reason);
        throw new ChannelError('oauth_revoked', reason, false, { cause: error });
      }
      throw new ChannelError('oauth_unavailable', `${name} could not renew the access token: ${text}`, true, { cause: error });
    }
    // Microsoft hands out a new refresh token with each use: keep the newest, as the older ones age out.
    if (tokens.refresh_token && tokens.refresh_token !== grant.secrets.refreshToken) {
      await this.prisma.source.update({
        where: { id: row.id },
        data: { secrets: this.box.seal({ ...record.secrets, oauth: { ...grant.secrets, refreshToken: tokens.refresh_token } }) },
      });
      this.sources.forget(sourceId);
    }
    this.keep(sourceId, tokens.access_token, tokens.expires_in);
    this.logger.debug({ sourceId }, 'OAuth access token renewed');
    return tokens.access_token;
  }

  /** A refresh token the provider refuses for good: dropped, and the source stops with the reason. */
  private async revoke(sourceId: string, record: { settings: Record<string, unknown>; secrets: Record<string, unknown> }, grant: { settings: OAuthSettings; secrets: OAuthSecrets }, reason: string) {
    const { refreshToken: _dropped, ...secrets } = grant.secrets;
    await this.prisma.source.update({
      where: { id: sourceId },
      data: {
        settings: { ...record.settings, oauth: { ...grant.settings, revokedAt: new Date().toISOString(), revokedReason: reason } } as object,
        secrets: this.box.seal({ ...record.secrets, oauth: secrets }),
      },
    });
    this.sources.forget(sourceId);
    this.tokens.delete(sourceId);
    await setSourceStatus(this.prisma, sourceId, { state: 'error', lastError: reason });
    this.logger.warn({ sourceId, reason }, 'OAuth grant refused; the source waits to be connected again');
  }

  /** Fresh until a quarter of its life (at most five minutes) before it expires. */
  private keep(sourceId: string, token: string, expiresIn: number | undefined): void {
    const lifeMs = (expiresIn ?? 3600) * 1000;
    this.tokens.set(sourceId, { token, freshUntil: Date.now() + lifeMs - Math.min(5 * 60_000, lifeMs / 4) });
  }

  private async readState(sourceId: string): Promise<Pending | null> {
    const row = await this.prisma.adapterState.findUnique({ where: { sourceId_key: { sourceId, key: pendingKey } } });
    return row ? (row.value as unknown as Pending) : null;
  }

  private async writeState(sourceId: string, pending: Pending): Promise<void> {
    const source = await this.prisma.source.findUniqueOrThrow({ where: { id: sourceId }, select: { workspaceId: true } });
    await this.prisma.adapterState.upsert({
      where: { sourceId_key: { sourceId, key: pendingKey } },
      create: { sourceId, key: pendingKey, workspaceId: source.workspaceId, value: pending as object },
      update: { value: pending as object },
    });
  }
}

/** The provider refused, or gave nothing usable: the browser goes back to Setup with the reason. */
export class OAuthCallbackError extends Error {
  override readonly name = 'OAuthCallbackError';
  constructor(
    readonly sourceId: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
