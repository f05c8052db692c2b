import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { type Activity, ApiError, del, get, type Lead, type List, type Message, post } from '../api.js';
import { useApp } from '../context.js';
import { onLive } from '../live.js';
import { Alert, Badge, ChannelIcon, errorText, useDebounced } from '../ui.js';
import { Composer, type ComposerHandle } from './composer.js';
import { LeadPanel } from './lead-panel.js';

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

export function ConversationView({ leadId, composerRef, onChanged }: { leadId: string; composerRef: { current: ComposerHandle | null }; onChanged: () => void }) {
  const { t, locale, session } = useApp();
  // A line between days, each day as the workspace's clock reads it.
  const dayFormat = useMemo(() => new Intl.DateTimeFormat(locale, { timeZone: session.workspace.timeZone, dateStyle: 'full' }), [locale, session.workspace.timeZone]);
  const dayOf = (iso: string) => dayFormat.format(new Date(iso));
  const [lead, setLead] = useState<Lead | null>(null);
  const [messages, setMessages] = useState<Message[]>([]);
  const [activities, setActivities] = useState<Activity[]>([]);
  const [error, setError] = useState('');
  const [showPanel, setShowPanel] = useState(false);
  const bottom = useRef<HTMLLIElement>(null);

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
      // A read mark that does not get through is sent again the next time the conversation loads.
      post(`/conversations/${leadId}/read`).catch(() => undefined);
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
          {timeline.map((item, index) => {
            const day = dayOf(item.at);
            const line = 'message' in item ? <MessageItem key={item.message.id} message={item.message} onRetry={changed} /> : <ActivityItem key={item.activity.id} activity={item.activity} />;
            if (index > 0 && dayOf(timeline[index - 1]!.at) === day) return line;
            return [
              <li key={`day-${day}`} class="day-separator">
                <span>{day}</span>
              </li>,
              line,
            ];
          })}
          <li ref={bottom} class="timeline-end" aria-hidden="true" />
        </ol>
        <p class="typing" aria-live="polite">
          {typingUntil > Date.now() ? t.typing(lead.name ?? t.unknownContact) : ''}
        </p>
        <Composer lead={lead} messageCount={messages.length} handle={composerRef} onSent={changed} />
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
    case 'lead.routed':
      text = t.activityRouted(t.routings[data.to as keyof typeof t.routings] ?? String(data.to ?? ''), typeof data.rule === 'string' ? data.rule : null);
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
