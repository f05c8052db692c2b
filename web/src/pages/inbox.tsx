import { useEffect, useRef, useState } from 'preact/hooks';
import { type Conversation, get, type List, query, type SessionInfo } from '../api.js';
import { navigate, useApp } from '../context.js';
import { onLive, passingEventKinds } from '../live.js';
import { stageSlugs } from '../i18n.js';
import { Badge, ChannelIcon, shortDuration, useDebounced } from '../ui.js';
import { ConversationView } from './conversation.js';

const channels = ['email', 'whatsapp', 'sms', 'voice', 'webform'] as const;
const statuses = ['open', 'pending', 'snoozed', 'resolved'] as const;

export interface ListFilters {
  view: 'mine' | 'unassigned' | 'all';
  status: (typeof statuses)[number] | '';
  channel: string;
  stage: string;
  product: string;
  segment: string;
  tag: string;
  scoreMin: string;
  scoreMax: string;
  followUpDue: boolean;
  slaBreached: boolean;
  q: string;
}

// Open by default: resolving a conversation takes it off the list, down to an empty inbox.
const emptyFilters = (view: ListFilters['view']): ListFilters => ({
  view,
  status: 'open',
  channel: '',
  stage: '',
  product: '',
  segment: '',
  tag: '',
  scoreMin: '',
  scoreMax: '',
  followUpDue: false,
  slaBreached: false,
  q: '',
});

export function filterQuery(filters: ListFilters, extra: Record<string, string | number | undefined> = {}): string {
  return query({
    view: filters.view,
    status: filters.status,
    channel: filters.channel,
    stage: filters.stage,
    product: filters.product,
    segment: filters.segment,
    tag: filters.tag,
    scoreMin: filters.scoreMin,
    scoreMax: filters.scoreMax,
    followUpDue: filters.followUpDue ? 'true' : undefined,
    slaBreached: filters.slaBreached ? 'true' : undefined,
    q: filters.q.trim(),
    ...extra,
  });
}

function isTyping(target: EventTarget | null): boolean {
  const element = target as HTMLElement | null;
  return Boolean(element && (element.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(element.tagName)));
}

/**
 * The views a person may pick, the same in the inbox and on the board: a rep sees "All" only when the
 * workspace lets reps see every lead, and "Unassigned" only when they may see (and claim) those.
 */
export function viewsFor(session: SessionInfo): ListFilters['view'][] {
  if (session.user.role !== 'rep' || session.workspace.visibility !== 'own') return ['mine', 'unassigned', 'all'];
  return session.workspace.repsCanClaim ? ['mine', 'unassigned'] : ['mine'];
}

export function InboxPage({ leadId }: { leadId: string | undefined }) {
  const { t, session } = useApp();
  const [filters, setFilters] = useState<ListFilters>(emptyFilters(session.user.role === 'rep' ? 'mine' : 'all'));
  const [rows, setRows] = useState<Conversation[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [moreFilters, setMoreFilters] = useState(false);
  const [now, setNow] = useState(Date.now());
  const [loadedAt, setLoadedAt] = useState(Date.now());
  const composerRef = useRef<{ focus(mode: 'reply' | 'note'): void } | null>(null);

  const load = async (keep = false) => {
    const limit = keep ? Math.min(200, Math.max(50, rows.length)) : 50;
    const page = await get<List<Conversation>>(`/conversations${filterQuery(filters, { limit })}`);
    setRows(page.data);
    setCursor(page.nextCursor);
    setLoadedAt(Date.now());
    setNow(Date.now());
    setLoading(false);
  };
  const refresh = useDebounced(() => void load(true), 250);

  useEffect(() => {
    setLoading(true);
    void load();
  }, [filters]);
  useEffect(() => onLive((event) => !passingEventKinds.includes(event.kind) && refresh()), [filters, rows.length]);
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), 30_000);
    return () => window.clearInterval(timer);
  }, []);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
      const index = rows.findIndex((row) => row.id === leadId);
      if (event.key === 'j' || event.key === 'k') {
        const next = rows[event.key === 'j' ? index + 1 : Math.max(0, index - 1)];
        if (next) navigate('inbox', next.id);
        event.preventDefault();
      } else if ((event.key === 'r' || event.key === 'n') && leadId) {
        composerRef.current?.focus(event.key === 'r' ? 'reply' : 'note');
        event.preventDefault();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [rows, leadId]);

  const more = async () => {
    if (!cursor) return;
    const page = await get<List<Conversation>>(`/conversations${filterQuery(filters, { cursor })}`);
    setRows([...rows, ...page.data]);
    setCursor(page.nextCursor);
  };
  const set = (patchFilters: Partial<ListFilters>) => setFilters({ ...filters, ...patchFilters });
  const views = viewsFor(session);

  return (
    <div class={`inbox ${leadId ? 'has-conversation' : ''}`}>
      <section class="conversation-list" aria-label={t.conversations}>
        <div class="tabs" role="tablist" aria-label={t.view}>
          {views.map((view) => (
            <button key={view} type="button" role="tab" aria-selected={filters.view === view} class={filters.view === view ? 'active' : ''} onClick={() => set({ view })}>
              {t.views[view]}
            </button>
          ))}
        </div>
        <div class="tabs small" role="tablist" aria-label={t.status}>
          {(['', ...statuses] as const).map((status) => (
            <button key={status} type="button" role="tab" aria-selected={filters.status === status} class={filters.status === status ? 'active' : ''} onClick={() => set({ status })}>
              {status ? t.statuses[status] : t.anyStatus}
            </button>
          ))}
        </div>
        <div class="filters">
          <input type="search" placeholder={t.searchPlaceholder} aria-label={t.search} value={filters.q} onInput={(e) => set({ q: (e.target as HTMLInputElement).value })} />
          <select aria-label={t.channel} value={filters.channel} onChange={(e) => set({ channel: (e.target as HTMLSelectElement).value })}>
            <option value="">{t.anyChannel}</option>
            {channels.map((channel) => (
              <option key={channel} value={channel}>
                {t.channels[channel]}
              </option>
            ))}
          </select>
          <select aria-label={t.stage} value={filters.stage} onChange={(e) => set({ stage: (e.target as HTMLSelectElement).value })}>
            <option value="">{t.anyStage}</option>
            {stageSlugs.map((stage) => (
              <option key={stage} value={stage}>
                {t.stages[stage]}
              </option>
            ))}
          </select>
          <button type="button" class="ghost" aria-expanded={moreFilters} onClick={() => setMoreFilters(!moreFilters)}>
            {t.moreFilters}
          </button>
        </div>
        {moreFilters && (
          <div class="filters more">
            <input aria-label={t.product} placeholder={t.product} value={filters.product} onChange={(e) => set({ product: (e.target as HTMLInputElement).value })} />
            <input aria-label={t.segment} placeholder={t.segment} value={filters.segment} onChange={(e) => set({ segment: (e.target as HTMLInputElement).value })} />
            <input aria-label={t.tag} placeholder={t.tag} value={filters.tag} onChange={(e) => set({ tag: (e.target as HTMLInputElement).value })} />
            <input type="number" aria-label={t.scoreMin} placeholder={t.scoreMin} value={filters.scoreMin} onChange={(e) => set({ scoreMin: (e.target as HTMLInputElement).value })} />
            <input type="number" aria-label={t.scoreMax} placeholder={t.scoreMax} value={filters.scoreMax} onChange={(e) => set({ scoreMax: (e.target as HTMLInputElement).value })} />
            <label class="check">
              <input type="checkbox" checked={filters.followUpDue} onChange={(e) => set({ followUpDue: (e.target as HTMLInputElement).checked })} />
              {t.followUpDue}
            </label>
            <label class="check">
              <input type="checkbox" checked={filters.slaBreached} onChange={(e) => set({ slaBreached: (e.target as HTMLInputElement).checked })} />
              {t.slaBreached}
            </label>
          </div>
        )}
        <ul class="rows" aria-busy={loading}>
          {rows.map((row) => (
            <ConversationRow key={row.id} row={row} active={row.id === leadId} now={now} loadedAt={loadedAt} />
          ))}
          {!loading && rows.length === 0 && (
            <li class="empty">{filters.status === 'open' && JSON.stringify({ ...filters, view: undefined }) === JSON.stringify({ ...emptyFilters(filters.view), view: undefined }) ? t.inboxZero : t.noConversations}</li>
          )}
        </ul>
        {cursor && (
          <button type="button" class="ghost load-more" onClick={() => void more()}>
            {t.loadMore}
          </button>
        )}
      </section>
      {leadId ? (
        <ConversationView key={leadId} leadId={leadId} composerRef={composerRef} onChanged={() => refresh()} />
      ) : (
        <section class="conversation placeholder">
          <p>{t.pickConversation}</p>
          <p class="hint">{t.keyboardHint}</p>
        </section>
      )}
    </div>
  );
}

function ConversationRow({ row, active, now, loadedAt }: { row: Conversation; active: boolean; now: number; loadedAt: number }) {
  const { t, time } = useApp();
  // Working time left as the server counted it, less what has passed since (outside working hours
  // this runs ahead a little until the next refresh).
  const slaLeft = row.sla ? row.sla.workingSecondsLeft * 1000 - (now - loadedAt) : null;
  return (
    <li class={`row ${active ? 'active' : ''} ${row.unread ? 'unread' : ''}`}>
      <a href={`#/inbox/${row.id}`} aria-current={active ? 'true' : undefined}>
        <div class="row-top">
          <strong class="name">{row.name ?? row.email ?? row.phone ?? t.unknownContact}</strong>
          <span class="channels">
            {row.channels.map((channel) => (
              <ChannelIcon key={channel} channel={channel} label={t.channels[channel as keyof typeof t.channels] ?? channel} />
            ))}
          </span>
          <time class="when">{time(row.lastActivityAt)}</time>
        </div>
        <div class="preview">{row.lastMessage?.preview ?? ''}</div>
        <div class="row-meta">
          <Badge tone={`stage-${row.stage}`}>{t.stages[row.stage as keyof typeof t.stages] ?? row.stage}</Badge>
          <span class="score" title={t.score}>
            ★ {row.score}
          </span>
          <span class="owner">{row.owner?.name ?? t.unassigned}</span>
          {row.status !== 'open' && <Badge tone="status">{t.statuses[row.status]}</Badge>}
          {slaLeft !== null && (
            <span class={`sla ${slaLeft < 0 ? 'overdue' : ''}`} title={t.slaTitle}>
              ◷ {slaLeft < 0 ? t.overdueBy(shortDuration(slaLeft, t.units)) : shortDuration(slaLeft, t.units)}
            </span>
          )}
          {row.nextFollowUpAt && (
            <span class="follow-up-at" title={t.followUps}>
              ⚑ {time(row.nextFollowUpAt)}
            </span>
          )}
          {row.unread > 0 && (
            <span class="unread-count" aria-label={t.unreadCount(row.unread)}>
              {row.unread}
            </span>
          )}
        </div>
      </a>
    </li>
  );
}
