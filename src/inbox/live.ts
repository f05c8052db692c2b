import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { firstIdAt, timeOfId } from '../ids.js';
import type { Credential } from '../http/auth.js';
import type { Auth } from '../http/route.js';
import { type ChangeableList, changeableLists, type ListChangedEvent, type LiveEvent } from './live-event.js';

export type { ListChangedEvent, LiveEvent };

interface Listener {
  auth: Auth;
  credential: Credential;
  /** null: sees the whole workspace; otherwise may see leads owned by this user (and unowned ones when canClaim). */
  onlyOwner: { userId: string; canClaim: boolean } | null;
  send(event: LiveEvent): void;
  changed?(event: ListChangedEvent): void;
  end(): void;
}

/** How often, in polls, the workspace lists are checked for changes: they change rarely. */
const listPollEvery = 4;

/**
 * Activities are written by any process (HTTP, workers); one poll per gateway reads the new ones
 * and fans them out to the browsers connected here. It polls only while someone listens.
 */
export class LiveFeed {
  private readonly listeners = new Set<Listener>();
  private timer: NodeJS.Timeout | undefined;
  private cursor = new Date();
  /** The last id read when the last poll read a full page. */
  private catchingUpFrom: string | undefined;
  /** Ids already sent; the poll looks back a little to catch transactions that committed late. */
  private recent = new Map<string, number>();
  private polling = false;
  private lastRecheck = 0;
  private polls = 0;
  /** Per workspace and list: how many rows and the newest change, as last seen. */
  private listMarks = new Map<string, string>();

  constructor(
    private readonly prisma: Db,
    private readonly logger: Logger,
    private readonly options: { pollMs: number; lookBackMs: number; recheckMs: number; sessionLifetimeMs: number } = {
      pollMs: 500,
      lookBackMs: 3_000,
      recheckMs: 1_000,
      sessionLifetimeMs: 30 * 24 * 3600_000,
    },
  ) {}

  async subscribe(
    auth: Auth,
    credential: Credential,
    send: (event: LiveEvent) => void,
    end: () => void,
    changed?: (event: ListChangedEvent) => void,
  ): Promise<() => void> {
    let onlyOwner: Listener['onlyOwner'] = null;
    if (auth.role === 'rep' && auth.userId) {
      const workspace = await this.prisma.workspace.findUniqueOrThrow({ where: { id: auth.workspaceId }, select: { visibility: true, repsCanClaim: true } });
      if (workspace.visibility === 'own') onlyOwner = { userId: auth.userId, canClaim: workspace.repsCanClaim };
    }
    // The lists' marks before the stream counts as open: a change from then on is told, none is lost in between.
    if (!this.listMarks.has(`${auth.workspaceId}:users`)) await this.pollLists([auth.workspaceId]);
    const listener: Listener = { auth, credential, onlyOwner, send, end, ...(changed ? { changed } : {}) };
    if (this.listeners.size === 0) this.cursor = new Date(Date.now() - this.options.lookBackMs);
    this.listeners.add(listener);
    this.timer ??= setInterval(() => void this.poll(), this.options.pollMs);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  /** Ends every stream, so that the HTTP server can close without waiting for them. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const listener of this.listeners) listener.end();
    this.listeners.clear();
  }

  private fanOut(workspaceId: string, event: LiveEvent): void {
    for (const listener of this.listeners) {
      if (listener.auth.workspaceId !== workspaceId) continue;
      const owner = listener.onlyOwner;
      if (owner && event.ownerId !== owner.userId && !(owner.canClaim && event.ownerId === null)) continue;
      listener.send(event);
    }
  }

  /**
   * Users, products, segments and sources changed since the last look: a count and the newest
   * `updatedAt` per workspace tell of an addition, an edit (a deactivation, a soft delete) or a
   * removal. The first look at a workspace only takes its marks.
   */
  private async pollLists(workspaces: string[]): Promise<void> {
    const where = { workspaceId: { in: workspaces } };
    const users = await this.prisma.user.groupBy({ by: ['workspaceId'], where, _count: { _all: true }, _max: { updatedAt: true } });
    const products = await this.prisma.product.groupBy({ by: ['workspaceId'], where, _count: { _all: true }, _max: { updatedAt: true } });
    const segments = await this.prisma.segment.groupBy({ by: ['workspaceId'], where, _count: { _all: true }, _max: { updatedAt: true } });
    const sources = await this.prisma.source.groupBy({ by: ['workspaceId'], where, _count: { _all: true }, _max: { updatedAt: true } });
    const counted: Record<ChangeableList, { workspaceId: string; _count: { _all: number }; _max: { updatedAt: Date | null } }[]> = { users, products, segments, sources };
    const at = new Date().toISOString();
    for (const list of changeableLists) {
      for (const workspaceId of workspaces) {
        const row = counted[list].find((item) => item.workspaceId === workspaceId);
        const mark = `${row?._count._all ?? 0}:${row?._max.updatedAt?.getTime() ?? 0}`;
        const key = `${workspaceId}:${list}`;
        const before = this.listMarks.get(key);
        this.listMarks.set(key, mark);
        if (before === undefined || before === mark) continue;
        for (const listener of this.listeners) if (listener.auth.workspaceId === workspaceId) listener.changed?.({ list, at });
      }
    }
  }

  /** Typing signals changed since the last poll, as `contact.typing` / `contact.typing_stopped`. */
  private async pollTyping(workspaces: string[], since: Date): Promise<void> {
    const signals = await this.prisma.typingSignal.findMany({
      where: { workspaceId: { in: workspaces }, updatedAt: { gt: since } },
      orderBy: { updatedAt: 'asc' },
      take: 1000,
      select: { leadId: true, workspaceId: true, until: true, updatedAt: true, lead: { select: { ownerId: true } } },
    });
    const now = Date.now();
    for (const signal of signals) {
      if (signal.updatedAt > this.cursor) this.cursor = signal.updatedAt;
      const id = `typing:${signal.leadId}:${signal.updatedAt.getTime()}`;
      if (this.recent.has(id)) continue;
      this.recent.set(id, signal.updatedAt.getTime());
      const typing = signal.until.getTime() > now;
      this.fanOut(signal.workspaceId, {
        id,
        kind: typing ? 'contact.typing' : 'contact.typing_stopped',
        leadId: signal.leadId,
        ownerId: signal.lead.ownerId,
        actor: { type: 'contact', id: null },
        at: signal.updatedAt.toISOString(),
        ...(typing ? { until: signal.until.toISOString() } : {}),
      });
    }
  }

  /**
   * A stream outlives the request that opened it: its session or key is checked again (one query
   * for every stream of the process), and the streams of one that ended (signed out everywhere,
   * a key revoked, a user deactivated) end too.
   */
  private async recheck(): Promise<void> {
    const listeners = [...this.listeners];
    const now = new Date();
    const ids = (kind: Credential['kind']) => [...new Set(listeners.filter((l) => l.credential.kind === kind).map((l) => l.credential.id))];
    const sessionIds = ids('session');
    const keyIds = ids('api_key');
    const [sessions, keys] = await Promise.all([
      sessionIds.length === 0
        ? []
        : this.prisma.session.findMany({
            where: { id: { in: sessionIds }, expiresAt: { gt: now }, createdAt: { gt: new Date(now.getTime() - this.options.sessionLifetimeMs) } },
            select: { id: true, userId: true },
          }),
      keyIds.length === 0
        ? []
        : this.prisma.apiKey.findMany({ where: { id: { in: keyIds }, revokedAt: null, OR: [{ userId: null }, { user: { active: true } }] }, select: { id: true } }),
    ]);
    const activeUsers = sessions.length === 0 ? [] : await this.prisma.user.findMany({ where: { id: { in: [...new Set(sessions.map((row) => row.userId))] }, active: true }, select: { id: true } });
    const active = new Set(activeUsers.map((user) => user.id));
    const valid = new Set([...sessions.filter((row) => active.has(row.userId)).map((row) => `session:${row.id}`), ...keys.map((row) => `api_key:${row.id}`)]);
    for (const listener of listeners) {
      if (valid.has(`${listener.credential.kind}:${listener.credential.id}`)) continue;
      this.listeners.delete(listener);
      listener.end();
    }
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      if (Date.now() - this.lastRecheck >= this.options.recheckMs) {
        this.lastRecheck = Date.now();
        await this.recheck();
      }
      const workspaces = [...new Set([...this.listeners].map((l) => l.auth.workspaceId))];
      if (workspaces.length === 0) return;
      const since = new Date(this.cursor.getTime() - this.options.lookBackMs);
      // By when each activity was written (its id), not by the time it tells of: a message
      // processed a while after it arrived is dated when it arrived, and is still news.
      const take = 1000;
      const rows = await this.prisma.activity.findMany({
        where: { workspaceId: { in: workspaces }, id: { gt: this.catchingUpFrom ?? firstIdAt('act', since) } },
        orderBy: { id: 'asc' },
        take,
        select: { id: true, workspaceId: true, leadId: true, kind: true, actorType: true, actorId: true, data: true, createdAt: true, lead: { select: { ownerId: true } } },
      });
      for (const [id, at] of this.recent) if (at < since.getTime()) this.recent.delete(id);
      for (const row of rows) {
        const writtenAt = timeOfId(row.id);
        if (writtenAt > this.cursor.getTime()) this.cursor = new Date(writtenAt);
        if (this.recent.has(row.id)) continue;
        this.recent.set(row.id, writtenAt);
        const data = row.data as Record<string, unknown>;
        const event: LiveEvent = {
          id: row.id,
          kind: row.kind,
          leadId: row.leadId,
          ownerId: row.lead.ownerId,
          actor: { type: row.actorType, id: row.actorId },
          ...(data.direction === 'in' || data.direction === 'out' ? { direction: data.direction } : {}),
          at: row.createdAt.toISOString(),
        };
        this.fanOut(row.workspaceId, event);
      }
      // A full page: more wait behind it, read on from its end (the look back is for rows that
      // committed late, and a busy workspace can write more than a page within it).
      this.catchingUpFrom = rows.length === take ? rows.at(-1)!.id : undefined;
      await this.pollTyping(workspaces, since);
      if (this.polls++ % listPollEvery === 0) await this.pollLists(workspaces);
    } catch (error) {
      this.logger.warn({ err: error }, 'live feed: polling activities failed');
    } finally {
      this.polling = false;
    }
  }
}
