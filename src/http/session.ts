import type { Request, RequestHandler, Response } from 'express';
import type { Db } from '../db/client.js';
import { ProblemError, ValidationError } from '../errors.js';
import { newId } from '../ids.js';
import { hashApiKey, hashPassword, randomToken, safeEqual, verifyPassword } from '../security/tokens.js';
import { apiKeyAuth, type Credential } from './auth.js';
import type { Auth, Role } from './route.js';

export const sessionCookie = 'lg_session';
/**
 * Over https the cookie carries the `__Host-` prefix: browsers then accept it only when Secure,
 * for path / and without a Domain, so a sibling subdomain cannot set or shadow it. A cookie
 * under the plain name, set before, is still read until it ends.
 */
export const secureSessionCookie = `__Host-${sessionCookie}`;
export const csrfHeader = 'x-csrf-token';

/** A session lives a week past its last use, and never longer than 30 days. */
const idleMs = 7 * 24 * 3600_000;
const absoluteMs = 30 * 24 * 3600_000;
/** lastSeenAt is written at most this often, not on every request. */
const touchEveryMs = 60_000;

export interface ThrottlePolicy {
  /** Failures allowed per email before each next try waits. */
  emailFailures: number;
  /** Failures allowed per client address (offices share one) before it waits. */
  ipFailures: number;
  /** The first wait; each further failure doubles it, up to maxLockMs. */
  baseLockMs: number;
  maxLockMs: number;
  /** Failures older than this are forgotten. */
  windowMs: number;
}

export const defaultThrottle: ThrottlePolicy = { emailFailures: 5, ipFailures: 20, baseLockMs: 30_000, maxLockMs: 3600_000, windowMs: 3600_000 };

/**
 * The value of a cookie the gateway set. Its values are base64url tokens, written as they are:
 * anything else under that name (`%`, a stray escape) was not set by it, and reads as no cookie.
 */
export function readCookie(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      return /^[\w-]+$/.test(value) ? value : undefined;
    }
  }
  return undefined;
}

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface SessionUser {
  id: string;
  workspaceId: string;
  name: string;
  email: string;
  role: Role;
  locale: string | null;
}

/** Sign-in, the session cookie, and the throttle that slows down password guessing. */
export class Sessions {
  // A hash to check against when the email is unknown, so that both cases take as long.
  private readonly decoy = hashPassword(randomToken(''));

  constructor(
    private readonly prisma: Db,
    private readonly options: { secureCookie: boolean; throttle: ThrottlePolicy },
  ) {}

  /** Checks the password and opens a session; throws 401 on a wrong one, 429 while locked. */
  async signIn(input: { email: string; password: string; ip: string; userAgent: string | undefined }) {
    const email = input.email.trim().toLowerCase();
    const keys = { email: `email:${email}`, ip: `ip:${input.ip}` };
    const now = new Date();
    const throttles = await this.prisma.signInThrottle.findMany({ where: { key: { in: [keys.email, keys.ip] } } });
    const lockedUntil = throttles.map((t) => t.lockedUntil).filter((at): at is Date => Boolean(at && at > now)).sort((a, b) => b.getTime() - a.getTime())[0];
    if (lockedUntil) throw lockedError(lockedUntil, now);

    const candidates = await this.prisma.user.findMany({ where: { email, active: true, passwordHash: { not: null } }, orderBy: { createdAt: 'asc' } });
    let user: (typeof candidates)[number] | undefined;
    for (const candidate of candidates) {
      if (await verifyPassword(input.password, candidate.passwordHash!)) {
        user = candidate;
        break;
      }
    }
    if (candidates.length === 0) await verifyPassword(input.password, await this.decoy);

    if (!user) {
      const locks = await Promise.all([
        this.recordFailure(keys.email, this.options.throttle.emailFailures, now),
        this.recordFailure(keys.ip, this.options.throttle.ipFailures, now),
      ]);
      const until = locks.filter((at): at is Date => Boolean(at)).sort((a, b) => b.getTime() - a.getTime())[0];
      if (until) throw lockedError(until, now);
      throw new ProblemError('unauthorized', 'the email or the password is not right');
    }

    await this.prisma.signInThrottle.deleteMany({ where: { key: keys.email } });
    // The user's ended sessions go when they next sign in.
    await this.prisma.session.deleteMany({ where: { userId: user.id, expiresAt: { lt: now } } });
    const token = randomToken('', 32);
    const session = await this.prisma.session.create({
      data: {
        id: newId('ses'),
        tokenHash: hashApiKey(token),
        workspaceId: user.workspaceId,
        userId: user.id,
        csrfToken: randomToken('', 24),
        ip: input.ip,
        userAgent: input.userAgent?.slice(0, 500) ?? null,
        expiresAt: new Date(now.getTime() + idleMs),
      },
    });
    return { token, session, user: presentUser(user) };
  }

  /** Counts one failure; answers when the key is now locked until. */
  private async recordFailure(key: string, allowed: number, now: Date): Promise<Date | null> {
    const policy = this.options.throttle;
    await this.forgetOldFailures(now);
    const existing = await this.prisma.signInThrottle.findUnique({ where: { key } });
    const fresh = !existing || now.getTime() - existing.lastFailedAt.getTime() > policy.windowMs;
    const failures = fresh ? 1 : existing.failures + 1;
    const over = failures - allowed;
    const lockedUntil = over >= 0 ? new Date(now.getTime() + Math.min(policy.baseLockMs * 2 ** over, policy.maxLockMs)) : null;
    await this.prisma.signInThrottle.upsert({
      where: { key },
      create: { key, failures, lockedUntil, lastFailedAt: now },
      update: { failures, lockedUntil, lastFailedAt: now },
    });
    return lockedUntil;
  }

  /**
   * Failures past the window count for nothing; without this, every address that ever mistyped a
   * password would keep a row. Done on failures only, as an index range.
   */
  private async forgetOldFailures(now: Date): Promise<void> {
    await this.prisma.signInThrottle.deleteMany({
      where: {
        lastFailedAt: { lt: new Date(now.getTime() - this.options.throttle.windowMs) },
        OR: [{ lockedUntil: null }, { lockedUntil: { lt: now } }],
      },
    });
  }

  /** The session a cookie names, when it is still valid and its user still active. */
  async find(token: string) {
    const session = await this.prisma.session.findUnique({ where: { tokenHash: hashApiKey(token) } });
    const now = Date.now();
    if (!session || session.expiresAt.getTime() <= now || session.createdAt.getTime() + absoluteMs <= now) return null;
    const user = await this.prisma.user.findFirst({ where: { id: session.userId, workspaceId: session.workspaceId, active: true } });
    if (!user) return null;
    if (now - session.lastSeenAt.getTime() > touchEveryMs) {
      const expiresAt = new Date(Math.min(now + idleMs, session.createdAt.getTime() + absoluteMs));
      await this.prisma.session.update({ where: { id: session.id }, data: { lastSeenAt: new Date(now), expiresAt } });
    }
    return { session, user: presentUser(user) };
  }

  /**
   * A user changes their own password: the current one is checked (a failure counts toward the
   * same lockout as sign-in), and every other session of theirs ends; this one goes on.
   */
  async changePassword(input: { userId: string; keepSessionId: string | null; currentPassword: string; newPassword: string }): Promise<void> {
    const user = await this.prisma.user.findFirst({ where: { id: input.userId, active: true } });
    if (!user) throw new ProblemError('unauthorized', 'the session has ended; sign in again');
    const key = `email:${user.email}`;
    const now = new Date();
    const throttle = await this.prisma.signInThrottle.findUnique({ where: { key } });
    if (throttle?.lockedUntil && throttle.lockedUntil > now) throw lockedError(throttle.lockedUntil, now);
    if (!user.passwordHash || !(await verifyPassword(input.currentPassword, user.passwordHash))) {
      const until = await this.recordFailure(key, this.options.throttle.emailFailures, now);
      if (until) throw lockedError(until, now);
      throw new ValidationError([{ path: 'currentPassword', message: 'is not the current password' }]);
    }
    const passwordHash = await hashPassword(input.newPassword);
    await this.prisma.$transaction([
      this.prisma.user.update({ where: { id: user.id }, data: { passwordHash } }),
      this.prisma.session.deleteMany({ where: { userId: user.id, ...(input.keepSessionId ? { id: { not: input.keepSessionId } } : {}) } }),
    ]);
  }

  async signOut(sessionId: string): Promise<void> {
    await this.prisma.session.deleteMany({ where: { id: sessionId } });
  }

  /** Every browser this user signed in from. */
  async signOutEverywhere(userId: string): Promise<number> {
    const { count } = await this.prisma.session.deleteMany({ where: { userId } });
    return count;
  }

  private get cookieName(): string {
    return this.options.secureCookie ? secureSessionCookie : sessionCookie;
  }

  setCookie(res: Response, token: string): void {
    res.cookie(this.cookieName, token, { httpOnly: true, sameSite: 'lax', secure: this.options.secureCookie, path: '/', maxAge: absoluteMs });
  }

  clearCookie(res: Response): void {
    res.clearCookie(this.cookieName, { httpOnly: true, sameSite: 'lax', secure: this.options.secureCookie, path: '/' });
    if (this.cookieName !== sessionCookie) res.clearCookie(sessionCookie, { httpOnly: true, sameSite: 'lax', secure: this.options.secureCookie, path: '/' });
  }

  /**
   * `/api/v1/*` authentication: an API key in `Authorization`, or the session cookie. With the
   * cookie, every state change must carry the session's CSRF token in `X-CSRF-Token`.
   */
  authenticate(): RequestHandler {
    const byKey = apiKeyAuth(this.prisma);
    return async (req, res, next) => {
      if (req.get('authorization')) return byKey(req, res, next);
      const token = readCookie(req, this.cookieName) ?? readCookie(req, sessionCookie);
      if (!token) {
        throw new ProblemError('unauthorized', 'sign in, or send an API key as "Authorization: Bearer <key>"', undefined, {
          headers: { 'WWW-Authenticate': 'Bearer realm="leadgate"' },
        });
      }
      const found = await this.find(token);
      if (!found) throw new ProblemError('unauthorized', 'the session has ended; sign in again');
      if (!safeMethods.has(req.method) && !safeEqual(req.get(csrfHeader) ?? '', found.session.csrfToken)) {
        throw new ProblemError('forbidden', 'send the session\'s CSRF token in X-CSRF-Token');
      }
      const auth: Auth = { workspaceId: found.user.workspaceId, actor: { type: 'user', id: found.user.id }, role: found.user.role, userId: found.user.id };
      res.locals.auth = auth;
      res.locals.session = found.session;
      res.locals.credential = { kind: 'session', id: found.session.id } satisfies Credential;
      next();
    };
  }
}

function lockedError(until: Date, now: Date): ProblemError {
  const seconds = Math.max(1, Math.ceil((until.getTime() - now.getTime()) / 1000));
  return new ProblemError('rate_limited', `too many failed sign-ins; try again in ${seconds} s`, undefined, { headers: { 'Retry-After': String(seconds) } });
}

export function presentUser(user: { id: string; workspaceId: string; name: string; email: string; role: string; locale: string | null }): SessionUser {
  return { id: user.id, workspaceId: user.workspaceId, name: user.name, email: user.email, role: user.role as Role, locale: user.locale };
}
