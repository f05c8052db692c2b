import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { type Activity, ApiError, type Conversation, del, type FollowUp, get, type Lead, type List, type Message, patch, post, query, type SessionInfo, type Template, type Upload, uploadFile } from '../api.js';
import { navigate, useApp } from '../context.js';
import { onLive, passingEventKinds } from '../live.js';
import { stageSlugs } from '../i18n.js';
import { Alert, askText, Badge, ChannelIcon, errorText, shortDuration, utcToZonedInput, zonedTimeToUtc } from '../ui.js';

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

const emptyFilters = (view: ListFilters['view']): ListFilters => ({
  view,
  status: '',
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

/** Runs `fn` at most once per `ms`, after the last call. */
function useDebounced(fn: () => void, ms: number): () => void {
  const timer = useRef<number | undefined>(undefined);
  const latest = useRef(fn);
  latest.current = fn;
  return () => {
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => latest.current(), ms);
  };
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
          {!loading && rows.length === 0 && <li class="empty">{t.noConversations}</li>}
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

type TimelineItem = { at: string; message: Message } | { at: string; activity: Activity };

/** Activities that the timeline shows as their own lines (messages show as bubbles). */
const activityKinds = new Set([
  'note.added',
  'lead.stage_changed',
  'lead.assigned',
  'follow_up.created',
  'follow_up.completed',
  'follow_up.due',
  'sequence.enrolled',
  'sequence.step_sent',
  'sequence.stopped',
  'sequence.completed',
  'call.answered',
  'call.missed',
  'call.busy',
  'call.failed',
  'call.voicemail',
  'call.transcribed',
  'contact.opted_out',
  'conversation.status_changed',
  'conversation.reopened',
  'lead.routed',
  'email.bounced',
]);

function ConversationView({ leadId, composerRef, onChanged }: { leadId: string; composerRef: { current: { focus(mode: 'reply' | 'note'): void } | null }; onChanged: () => void }) {
  const { t } = useApp();
  const [lead, setLead] = useState<Lead | null>(null);
  const [messages, setMessages] = useState<Message[]>([]);
  const [activities, setActivities] = useState<Activity[]>([]);
  const [error, setError] = useState('');
  const [showPanel, setShowPanel] = useState(false);
  const bottom = useRef<HTMLDivElement>(null);

  const load = async () => {
    try {
      const [leadRow, messagePage, activityPage] = await Promise.all([
        get<Lead>(`/leads/${leadId}`),
        get<List<Message>>(`/leads/${leadId}/messages?limit=200`),
        get<List<Activity>>(`/leads/${leadId}/activities?limit=200`),
      ]);
      setLead(leadRow);
      setMessages(messagePage.data);
      setActivities(activityPage.data);
      void post(`/conversations/${leadId}/read`);
    } catch (failure) {
      setError(failure instanceof ApiError && failure.status === 404 ? t.conversationNotFound : t.somethingWentWrong);
    }
  };
  const refresh = useDebounced(() => void load(), 200);
  useEffect(() => {
    void load();
  }, [leadId]);
  // Until when the contact is shown typing; a message from them, or a "stopped", ends it sooner.
  const [typingUntil, setTypingUntil] = useState(0);
  const [, setTick] = useState(0);
  useEffect(() => {
    setTypingUntil(0);
    return onLive((event) => {
      if (event.leadId !== leadId) return;
      if (event.kind === 'contact.typing') setTypingUntil(event.until ? Date.parse(event.until) : 0);
      else if (event.kind === 'contact.typing_stopped') setTypingUntil(0);
      else {
        if (event.direction === 'in') setTypingUntil(0);
        refresh();
      }
    });
  }, [leadId]);
  useEffect(() => {
    if (typingUntil <= Date.now()) return;
    const timer = setTimeout(() => setTick((n) => n + 1), typingUntil - Date.now() + 50);
    return () => clearTimeout(timer);
  }, [typingUntil]);
  useEffect(() => bottom.current?.scrollIntoView({ block: 'end' }), [messages.length, activities.length]);
  // The reply box grows (a wrapped template picker, files, a schedule): a reader at the newest line
  // stays there instead of having it pushed under the box.
  const timelineRef = useRef<HTMLOListElement>(null);
  useEffect(() => {
    const timeline = timelineRef.current;
    if (!timeline || typeof ResizeObserver === 'undefined') return;
    let atBottom = true;
    const onScroll = () => {
      atBottom = timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 24;
    };
    const observer = new ResizeObserver(() => {
      if (atBottom) timeline.scrollTop = timeline.scrollHeight;
    });
    timeline.addEventListener('scroll', onScroll, { passive: true });
    observer.observe(timeline);
    return () => {
      timeline.removeEventListener('scroll', onScroll);
      observer.disconnect();
    };
  }, [lead !== null]);

  const timeline = useMemo<TimelineItem[]>(() => {
    const items: TimelineItem[] = [
      ...messages.map((message) => ({ at: message.createdAt, message })),
      ...activities.filter((activity) => activityKinds.has(activity.kind)).map((activity) => ({ at: activity.createdAt, activity })),
    ];
    return items.sort((a, b) => a.at.localeCompare(b.at));
  }, [messages, activities]);

  if (error)
    return (
      <section class="conversation">
        <p class="error" role="alert">
          {error}
        </p>
      </section>
    );
  if (!lead) return <section class="conversation" aria-busy="true" />;
  const lastInbound = [...messages].reverse().find((message) => message.direction === 'in');
  const changed = () => {
    void load();
    onChanged();
  };
  return (
    <>
      <section class="conversation" aria-label={t.conversationWith(lead.name ?? '')}>
        <header class="conversation-head">
          <a class="back" href="#/inbox" aria-label={t.back}>
            ←
          </a>
          <h2>{lead.name ?? lead.email ?? lead.phone ?? t.unknownContact}</h2>
          <StatusActions leadId={leadId} status={lead.conversation.status} onChanged={changed} />
          <button type="button" class="ghost panel-toggle" aria-expanded={showPanel} onClick={() => setShowPanel(!showPanel)}>
            {t.details}
          </button>
        </header>
        <ol class="timeline" ref={timelineRef} aria-label={t.timeline}>
          {timeline.map((item) => ('message' in item ? <MessageItem key={item.message.id} message={item.message} onRetry={changed} /> : <ActivityItem key={item.activity.id} activity={item.activity} />))}
          <div ref={bottom} />
        </ol>
        <p class="typing" aria-live="polite">
          {typingUntil > Date.now() ? t.typing(lead.name ?? t.unknownContact) : ''}
        </p>
        <Composer lead={lead} lastInboundChannel={lastInbound?.channel} handle={composerRef} onSent={changed} />
      </section>
      <LeadPanel lead={lead} open={showPanel} onChanged={changed} />
    </>
  );
}

function StatusActions({ leadId, status, onChanged }: { leadId: string; status: Lead['conversation']['status']; onChanged: () => void }) {
  const { t } = useApp();
  const [error, setError] = useState('');
  const change = async (status: string, until?: string) => {
    try {
      await post(`/leads/${leadId}/conversation`, { status, ...(until ? { until } : {}) });
      setError('');
      onChanged();
    } catch (failure) {
      setError(errorText(failure));
    }
  };
  return (
    <div class="status-actions">
      {status !== 'resolved' && (
        <button type="button" onClick={() => void change('resolved')}>
          {t.resolve}
        </button>
      )}
      <select
        aria-label={t.snooze}
        value=""
        onChange={(e) => {
          const value = (e.target as HTMLSelectElement).value;
          if (!value) return;
          void change('snoozed', value === 'reply' ? undefined : new Date(Date.now() + Number(value) * 3600_000).toISOString());
        }}
      >
        <option value="">{t.snooze}</option>
        <option value="1">{t.snoozeHours(1)}</option>
        <option value="4">{t.snoozeHours(4)}</option>
        <option value="24">{t.snoozeTomorrow}</option>
        <option value="reply">{t.snoozeUntilReply}</option>
      </select>
      {status !== 'open' && (
        <button type="button" class="ghost" onClick={() => void change('open')}>
          {t.reopen}
        </button>
      )}
      {error && (
        <span class="error" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}

function MessageItem({ message, onRetry }: { message: Message; onRetry: () => void }) {
  const { t, time } = useApp();
  const [showQuoted, setShowQuoted] = useState(false);
  const channelLabel = t.channels[message.channel as keyof typeof t.channels] ?? message.channel;
  const [error, setError] = useState('');
  const act = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
      setError('');
      onRetry();
    } catch (failure) {
      setError(errorText(failure));
    }
  };
  const retry = () => act(() => post(`/messages/${message.id}/retry`));
  const cancel = () => act(() => del(`/messages/${message.id}`));
  const hasQuoted = Boolean(message.fullText && message.fullText !== message.text);
  return (
    <li class={`message ${message.direction} ${message.automatic ? 'automatic' : ''}`}>
      <div class="meta">
        <ChannelIcon channel={message.channel} label={channelLabel} /> {channelLabel} · <time>{time(message.createdAt)}</time>
        {message.automatic && <Badge>{t.automatic}</Badge>}
      </div>
      {message.subject && <div class="subject">{message.subject}</div>}
      {message.fields && Object.keys(message.fields).length > 0 && (
        <dl class="fields">
          {Object.entries(message.fields).map(([key, value]) => (
            <div key={key}>
              <dt>{key}</dt>
              <dd>{typeof value === 'string' ? value : JSON.stringify(value)}</dd>
            </div>
          ))}
        </dl>
      )}
      {/* Text only: message HTML is never rendered, so nothing a sender writes can run here. */}
      <div class="text">{showQuoted ? message.fullText : message.text}</div>
      {hasQuoted && (
        <button type="button" class="link" onClick={() => setShowQuoted(!showQuoted)}>
          {showQuoted ? t.hideQuoted : t.showQuoted}
        </button>
      )}
      {message.attachments.map((file) =>
        file.status !== 'stored' ? (
          <span key={file.id} class={`attachment attachment-${file.status}`} title={file.error}>
            {file.filename}: {file.status === 'pending' ? t.attachmentPending : `${t.attachmentFailed}${file.error ? ` (${file.error})` : ''}`}
          </span>
        ) : file.contentType.startsWith('audio/') ? (
          <audio key={file.id} controls src={file.url} aria-label={file.filename} />
        ) : (
          <a key={file.id} class="attachment" href={file.url} download={file.filename}>
            ↧ {file.filename}
          </a>
        ),
      )}
      {message.direction === 'out' && (
        <div class={`delivery delivery-${message.status}`}>
          {message.status === 'scheduled' && message.scheduledAt ? t.scheduledFor(time(message.scheduledAt)) : (t.deliveryStatus[message.status as keyof typeof t.deliveryStatus] ?? message.status)}
          {message.status === 'scheduled' && (
            <>
              {' '}
              <button type="button" class="link" onClick={() => void cancel()}>
                {t.cancelScheduled}
              </button>
            </>
          )}
          {message.status === 'failed' && (
            <>
              {message.error && <span class="reason">: {message.error}</span>}{' '}
              <button type="button" class="link" onClick={() => void retry()}>
                {t.retry}
              </button>
            </>
          )}
          <Alert text={error} />
        </div>
      )}
    </li>
  );
}

function ActivityItem({ activity }: { activity: Activity }) {
  const { t, time, users } = useApp();
  const data = activity.data;
  const userName = (id: unknown) => users.find((user) => user.id === id)?.name ?? t.unassigned;
  const stage = (slug: unknown) => t.stages[slug as keyof typeof t.stages] ?? String(slug ?? '');
  let text: string;
  switch (activity.kind) {
    case 'note.added':
      return (
        <li class="note">
          <div class="meta">
            ✎ {t.privateNote} · {userName(activity.actor.id)} · <time>{time(activity.createdAt)}</time>
          </div>
          <div class="text">{String(data.text ?? '')}</div>
        </li>
      );
    case 'lead.stage_changed':
      text = t.activityStage(stage(data.before ?? data.from), stage(data.after ?? data.to));
      break;
    case 'lead.assigned':
      text = t.activityAssigned(userName(data.after ?? data.ownerId));
      break;
    case 'follow_up.created':
      text = t.activityFollowUp(time(String(data.dueAt ?? '')), String(data.note ?? ''));
      break;
    case 'follow_up.completed':
      text = t.activityFollowUpDone(String(data.outcome ?? ''));
      break;
    default:
      text = t.activityKinds[activity.kind as keyof typeof t.activityKinds] ?? activity.kind;
  }
  return (
    <li class="event">
      <span>{text}</span> · <time>{time(activity.createdAt)}</time>
    </li>
  );
}

/** The channels a contact can be answered on, from its contact points. */
function replyChannels(lead: Lead): string[] {
  const list: string[] = [];
  if (lead.email) list.push('email');
  if (lead.whatsappId) list.push('whatsapp');
  if (lead.phone) list.push('sms');
  return list;
}

function Composer({ lead, lastInboundChannel, handle, onSent }: { lead: Lead; lastInboundChannel: string | undefined; handle: { current: { focus(mode: 'reply' | 'note'): void } | null }; onSent: () => void }) {
  const { t, users, session } = useApp();
  const options = replyChannels(lead);
  const timeZone = session.workspace.timeZone;
  const [files, setFiles] = useState<Upload[]>([]);
  const [uploading, setUploading] = useState(0);
  const [dragging, setDragging] = useState(false);
  const [scheduling, setScheduling] = useState(false);
  const [sendAt, setSendAt] = useState('');
  const picker = useRef<HTMLInputElement>(null);
  const preferred = lastInboundChannel && options.includes(lastInboundChannel) ? lastInboundChannel : options[0] ?? '';
  const [mode, setMode] = useState<'reply' | 'note'>('reply');
  const [channel, setChannel] = useState(preferred);
  const [text, setText] = useState('');
  const [templates, setTemplates] = useState<Template[]>([]);
  const [templateId, setTemplateId] = useState('');
  const [preview, setPreview] = useState<{ subject?: string; text: string } | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const area = useRef<HTMLTextAreaElement>(null);

  handle.current = {
    focus(next) {
      setMode(next);
      area.current?.focus();
    },
  };
  useEffect(() => {
    void get<List<Template>>('/templates?limit=200').then((list) => setTemplates(list.data));
  }, []);
  useEffect(() => setChannel(preferred), [preferred]);
  useEffect(() => {
    if (!templateId) return setPreview(null);
    void post<{ subject?: string; text: string }>(`/templates/${encodeURIComponent(templateId)}/preview`, { leadId: lead.id }).then(setPreview, (failure: unknown) =>
      setPreview({ text: errorText(failure) }),
    );
  }, [templateId]);

  const forChannel = templates.filter((template) => template.channel === channel);
  const slash = mode === 'reply' && text.startsWith('/') ? forChannel.filter((template) => template.name.includes(text.slice(1).trim())) : [];
  const mention = mode === 'note' ? /@(\w*)$/.exec(text) : null;
  const mentionUsers = mention ? users.filter((user) => user.name.toLowerCase().startsWith(mention[1]!.toLowerCase())).slice(0, 5) : [];

  /** Files are uploaded as soon as they are attached, so a refused one says so before sending. */
  const attach = async (list: FileList | File[] | null | undefined) => {
    const chosen = [...(list ?? [])];
    if (chosen.length === 0) return;
    setError('');
    setUploading((n) => n + chosen.length);
    for (const file of chosen) {
      try {
        const stored = await uploadFile(file);
        setFiles((current) => [...current, stored]);
      } catch (failure) {
        setError(errorText(failure));
      } finally {
        setUploading((n) => n - 1);
      }
    }
  };

  const send = async (event: Event) => {
    event.preventDefault();
    setError('');
    const at = mode === 'reply' && scheduling && sendAt ? zonedTimeToUtc(sendAt, timeZone) : null;
    if (mode === 'reply' && scheduling && (!at || at.getTime() <= Date.now())) {
      setError(t.pickFutureTime);
      return;
    }
    setBusy(true);
    try {
      if (mode === 'note') await post(`/leads/${lead.id}/notes`, { text });
      else {
        await post(`/leads/${lead.id}/messages`, {
          ...(templateId ? { templateId } : text.trim() ? { text } : {}),
          channel,
          ...(files.length > 0 ? { attachmentIds: files.map((file) => file.id) } : {}),
          ...(at ? { sendAt: at.toISOString() } : {}),
        });
        setFiles([]);
        setScheduling(false);
        setSendAt('');
      }
      setText('');
      setTemplateId('');
      onSent();
    } catch (failure) {
      setError(errorText(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      class={`composer ${mode} ${dragging ? 'dragging' : ''}`}
      onSubmit={send}
      aria-label={t.composer}
      onDragOver={(e) => {
        if (mode !== 'reply' || !e.dataTransfer?.types.includes('Files')) return;
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => {
        if (mode !== 'reply') return;
        e.preventDefault();
        setDragging(false);
        void attach(e.dataTransfer?.files);
      }}
    >
      {dragging && <div class="drop-hint">{t.dropFiles}</div>}
      <div class="composer-tabs" role="tablist">
        <button type="button" role="tab" aria-selected={mode === 'reply'} class={mode === 'reply' ? 'active' : ''} onClick={() => setMode('reply')}>
          {t.reply}
        </button>
        <button type="button" role="tab" aria-selected={mode === 'note'} class={mode === 'note' ? 'active' : ''} onClick={() => setMode('note')}>
          {t.note}
        </button>
        {mode === 'reply' && (
          <>
            <select aria-label={t.replyChannel} value={channel} onChange={(e) => setChannel((e.target as HTMLSelectElement).value)}>
              {options.map((option) => (
                <option key={option} value={option}>
                  {t.channels[option as keyof typeof t.channels]}
                </option>
              ))}
            </select>
            <select aria-label={t.template} value={templateId} onChange={(e) => setTemplateId((e.target as HTMLSelectElement).value)}>
              <option value="">{t.noTemplate}</option>
              {forChannel.map((template) => (
                <option key={template.id} value={template.id}>
                  {template.name} ({template.locale})
                </option>
              ))}
            </select>
          </>
        )}
      </div>
      {preview && (
        <div class="template-preview" aria-live="polite">
          {preview.subject && <strong>{preview.subject}</strong>}
          <div class="text">{preview.text}</div>
        </div>
      )}
      {!templateId && (
        <textarea
          ref={area}
          rows={3}
          aria-label={mode === 'note' ? t.notePlaceholder : t.replyPlaceholder}
          placeholder={mode === 'note' ? t.notePlaceholder : t.replyPlaceholder}
          value={text}
          onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void send(e);
          }}
          onPaste={(e) => {
            const pasted = e.clipboardData?.files;
            if (mode !== 'reply' || !pasted || pasted.length === 0) return;
            e.preventDefault();
            void attach(pasted);
          }}
        />
      )}
      {mode === 'reply' && (files.length > 0 || uploading > 0) && (
        <ul class="attached-files" aria-label={t.attachFiles}>
          {files.map((file) => (
            <li key={file.id}>
              <span class="filename">{file.filename}</span>
              <button type="button" class="link" aria-label={t.removeFile(file.filename)} onClick={() => setFiles(files.filter((item) => item.id !== file.id))}>
                ×
              </button>
            </li>
          ))}
          {uploading > 0 && <li class="hint">{t.uploading}</li>}
        </ul>
      )}
      {mode === 'reply' && scheduling && (
        <label class="schedule-field">
          <span>{t.sendAt}</span>
          <input
            type="datetime-local"
            required
            aria-label={t.sendAt}
            min={utcToZonedInput(new Date(), timeZone)}
            value={sendAt}
            onInput={(e) => setSendAt((e.target as HTMLInputElement).value)}
          />
          <span class="hint">{t.timeZoneHint(timeZone)}</span>
        </label>
      )}
      {slash.length > 0 && (
        <ul class="suggestions" role="listbox" aria-label={t.cannedResponses}>
          {slash.map((template) => (
            <li key={template.id}>
              <button
                type="button"
                onClick={() =>
                  void post<{ text: string }>(`/templates/${encodeURIComponent(template.id)}/preview`, { leadId: lead.id }).then(
                    (rendered) => setText(rendered.text),
                    () => setText(template.body),
                  )
                }
              >
                /{template.name}
              </button>
            </li>
          ))}
        </ul>
      )}
      {mentionUsers.length > 0 && (
        <ul class="suggestions" role="listbox" aria-label={t.mention}>
          {mentionUsers.map((user) => (
            <li key={user.id}>
              <button type="button" onClick={() => setText(text.replace(/@\w*$/, `@${user.name} `))}>
                @{user.name}
              </button>
            </li>
          ))}
        </ul>
      )}
      <Alert text={error} />
      <div class="composer-actions">
        {mode === 'reply' && options.length === 0 && <span class="hint">{t.noReplyChannel}</span>}
        {mode === 'reply' && (
          <>
            <input ref={picker} type="file" multiple hidden onChange={(e) => {
              const input = e.target as HTMLInputElement;
              void attach(input.files).then(() => (input.value = ''));
            }} />
            <button type="button" onClick={() => picker.current?.click()}>
              {t.attachFiles}
            </button>
            <button type="button" aria-pressed={scheduling} onClick={() => setScheduling(!scheduling)}>
              {scheduling ? t.sendNowInstead : t.sendLater}
            </button>
          </>
        )}
        <button
          type="submit"
          class="primary"
          disabled={busy || uploading > 0 || (mode === 'reply' && (!channel || (!text.trim() && !templateId && files.length === 0))) || (mode === 'note' && !text.trim())}
        >
          {mode === 'note' ? t.addNote : scheduling ? t.scheduleSend : t.send}
        </button>
      </div>
    </form>
  );
}

function LeadPanel({ lead, open, onChanged }: { lead: Lead; open: boolean; onChanged: () => void }) {
  const { t, users, session, can, time } = useApp();
  const [followUps, setFollowUps] = useState<FollowUp[]>([]);
  const [optOuts, setOptOuts] = useState<string[]>([]);
  const [sequences, setSequences] = useState<{ id: string; name: string }[]>([]);
  const [enrollments, setEnrollments] = useState<{ id: string; sequenceId: string; status: 'active' | 'completed' | 'stopped'; nextStepAt: string | null }[]>([]);
  const [error, setError] = useState('');
  const [due, setDue] = useState('');
  const [note, setNote] = useState('');

  const load = async () => {
    const [list, contact, enrolled] = await Promise.all([
      get<List<FollowUp>>(`/follow-ups${query({ leadId: lead.id })}`),
      get<{ optOuts: string[] }>(`/contacts/${lead.contactId}`),
      get<List<(typeof enrollments)[number]>>(`/leads/${lead.id}/sequences`),
    ]);
    setFollowUps(list.data);
    setOptOuts(contact.optOuts);
    setEnrollments(enrolled.data);
  };
  useEffect(() => {
    void load();
    if (can('owner', 'manager')) void get<List<{ id: string; name: string }>>('/sequences?limit=200').then((list) => setSequences(list.data), () => setSequences([]));
  }, [lead.id, lead.stage]);

  const save = async (change: Record<string, unknown>) => {
    try {
      await patch(`/leads/${lead.id}`, change);
      setError('');
      onChanged();
    } catch (failure) {
      setError(errorText(failure));
    }
  };
  const act = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
      setError('');
      await load();
      onChanged();
    } catch (failure) {
      setError(errorText(failure));
    }
  };
  const canReassign = can('owner', 'manager');
  const canClaim = session.user.role === 'rep' && !lead.owner && session.workspace.repsCanClaim;
  const contactPoints: [string, string | null][] = [
    ['email', lead.email],
    ['phone', lead.phone],
    ['whatsapp', lead.whatsappId],
  ];
  return (
    <aside class={`lead-panel ${open ? 'open' : ''}`} aria-label={t.leadDetails}>
      <Alert text={error} />
      <section>
        <h3>{t.contactPoints}</h3>
        <ul class="contact-points">
          {contactPoints
            .filter(([, value]) => value)
            .map(([kind, value]) => {
              const channel = kind === 'phone' ? 'sms' : kind;
              return (
                <li key={kind}>
                  <span class="label">{t.contactKinds[kind as keyof typeof t.contactKinds]}</span> {value}{' '}
                  {optOuts.includes(channel) && <Badge tone="danger">{t.optedOut}</Badge>}
                </li>
              );
            })}
        </ul>
      </section>
      <section>
        <h3>{t.qualifiers}</h3>
        <InlineField label={t.name} value={lead.name ?? ''} onSave={(value) => save({ name: value || null })} />
        <InlineField label={t.company} value={lead.company ?? ''} onSave={(value) => save({ company: value || null })} />
        <InlineField label={t.segment} value={lead.segment ?? ''} onSave={(value) => save({ segment: value || null })} />
        <InlineField label={t.tags} value={lead.tags.join(', ')} onSave={(value) => save({ tags: value.split(',').map((tag) => tag.trim()).filter(Boolean) })} />
        <InlineField label={t.dealValue} value={lead.dealValue === null ? '' : String(lead.dealValue)} type="number" onSave={(value) => save({ dealValue: value === '' ? null : Number(value) })} />
      </section>
      <section>
        <h3>{t.stage}</h3>
        <select aria-label={t.stage} value={lead.stage} onChange={(e) => {
            const select = e.target as HTMLSelectElement;
            void stageChange(select.value, t).then((change) => {
              if (change) void save(change);
              else select.value = lead.stage;
            });
          }}
        >
          {stageSlugs.map((stage) => (
            <option key={stage} value={stage}>
              {t.stages[stage]}
            </option>
          ))}
        </select>
      </section>
      <section>
        <h3>{t.owner}</h3>
        {canReassign ? (
          <select aria-label={t.owner} value={lead.owner?.id ?? ''} onChange={(e) => void save({ ownerId: (e.target as HTMLSelectElement).value || null })}>
            <option value="">{t.unassigned}</option>
            {users
              .filter((user) => user.active)
              .map((user) => (
                <option key={user.id} value={user.id}>
                  {user.name}
                </option>
              ))}
          </select>
        ) : (
          <p>{lead.owner?.name ?? t.unassigned}</p>
        )}
        {canClaim && (
          <button type="button" onClick={() => void act(() => post(`/leads/${lead.id}/claim`))}>
            {t.claim}
          </button>
        )}
      </section>
      <section>
        <h3>
          {t.score}: {lead.score}
        </h3>
        <ul class="reasons">
          {lead.scoreReasons.map((reason) => (
            <li key={reason.rule}>
              {reason.rule}: {reason.points > 0 ? '+' : ''}
              {reason.points}
            </li>
          ))}
        </ul>
      </section>
      <section>
        <h3>{t.followUps}</h3>
        <ul class="follow-ups">
          {followUps.map((item) => (
            <li key={item.id} class={item.status}>
              <time>{time(item.dueAt)}</time> {item.note}
              {item.status === 'open' ? (
                <button type="button" class="link" onClick={() =>
                    void askText(t.outcomePrompt).then((outcome) => (outcome === null ? undefined : act(() => post(`/follow-ups/${item.id}/complete`, { outcome }))))
                  }>
                  {t.complete}
                </button>
              ) : (
                <Badge>{item.outcome ?? t.done}</Badge>
              )}
            </li>
          ))}
        </ul>
        <form
          class="follow-up-form"
          onSubmit={(e) => {
            e.preventDefault();
            void act(async () => {
              await post(`/leads/${lead.id}/follow-ups`, { dueAt: new Date(due).toISOString(), note });
              setDue('');
              setNote('');
            });
          }}
        >
          <input type="datetime-local" required aria-label={t.followUpWhen} value={due} onInput={(e) => setDue((e.target as HTMLInputElement).value)} />
          <input required aria-label={t.followUpNote} placeholder={t.followUpNote} value={note} onInput={(e) => setNote((e.target as HTMLInputElement).value)} />
          <button type="submit">{t.scheduleFollowUp}</button>
        </form>
      </section>
      {(sequences.length > 0 || enrollments.length > 0) && (
        <section>
          <h3>{t.sequences}</h3>
          <ul class="enrollments">
            {enrollments.map((item) => (
              <li key={item.id}>
                {sequences.find((sequence) => sequence.id === item.sequenceId)?.name ?? item.sequenceId} <Badge>{t.enrollmentStatus[item.status]}</Badge>
                {item.status === 'active' && item.nextStepAt && <time> {time(item.nextStepAt)}</time>}
                {item.status === 'active' && (
                  <button
                    type="button"
                    class="link"
                    aria-label={t.stopSequenceNamed(sequences.find((sequence) => sequence.id === item.sequenceId)?.name ?? item.sequenceId)}
                    onClick={() => void act(() => del(`/leads/${lead.id}/sequences/${item.sequenceId}`))}
                  >
                    {t.stopSequence}
                  </button>
                )}
              </li>
            ))}
          </ul>
          {sequences.length > 0 && (
            <select
              aria-label={t.enrolInSequence}
              value=""
              onChange={(e) => {
                const sequenceId = (e.target as HTMLSelectElement).value;
                if (sequenceId) void act(() => post(`/leads/${lead.id}/sequences`, { sequenceId }));
              }}
            >
              <option value="">{t.enrolInSequence}</option>
              {sequences.map((sequence) => (
                <option key={sequence.id} value={sequence.id}>
                  {sequence.name}
                </option>
              ))}
            </select>
          )}
        </section>
      )}
    </aside>
  );
}

/** Unqualified needs a reason, asked for on the spot; null when the person cancels. */
export async function stageChange(stage: string, t: { lossReasonPrompt: string }): Promise<Record<string, unknown> | null> {
  if (stage !== 'unqualified') return { stage };
  const lossReason = await askText(t.lossReasonPrompt);
  return lossReason === null ? null : { stage, lossReason };
}

function InlineField({ label, value, type = 'text', onSave }: { label: string; value: string; type?: 'text' | 'number'; onSave: (value: string) => void }) {
  const [draft, setDraft] = useState(value);
  useEffect(() => setDraft(value), [value]);
  return (
    <label class="inline-field">
      <span>{label}</span>
      <input
        type="text"
        inputMode={type === 'number' ? 'decimal' : 'text'}
        value={draft}
        onInput={(e) => setDraft((e.target as HTMLInputElement).value)}
        onBlur={() => draft !== value && onSave(draft)}
        onKeyDown={(e) => {
          if (e.key === 'Enter') (e.target as HTMLInputElement).blur();
        }}
      />
    </label>
  );
}
