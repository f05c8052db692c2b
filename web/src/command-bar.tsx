import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { type Conversation, get, type List, patch, post, query } from './api.js';
import { currentRoute, navigate, useApp } from './context.js';
import { stageSlugs } from './i18n.js';
import { stageChange } from './pages/lead-panel.js';
import { Alert, errorText } from './ui.js';

interface Command {
  id: string;
  label: string;
  run(): Promise<unknown> | void;
}

/** Ctrl/Cmd+K: jump to a conversation or page, or act on the open conversation. */
export function CommandBar({ onClose }: { onClose: () => void }) {
  const { t, session, users, can } = useApp();
  const [text, setText] = useState('');
  const [found, setFound] = useState<Conversation[]>([]);
  const [selected, setSelected] = useState(0);
  const [error, setError] = useState('');
  const input = useRef<HTMLInputElement>(null);
  const route = currentRoute();
  const leadId = route[0] === 'inbox' ? route[1] : undefined;

  // Focus before the browser paints the dialog: what is typed right after Ctrl+K must not be lost.
  useLayoutEffect(() => input.current?.focus(), []);
  useEffect(() => {
    const q = text.trim();
    if (q.length < 2) return setFound([]);
    let current = true;
    const timer = window.setTimeout(() => {
      get<List<Conversation>>(`/conversations${query({ q, limit: 8 })}`).then(
        (list) => current && setFound(list.data),
        (failure: unknown) => current && setError(errorText(failure)),
      );
    }, 150);
    return () => {
      current = false;
      window.clearTimeout(timer);
    };
  }, [text]);

  const commands: Command[] = [
    ...found.map((row) => ({ id: `open-${row.id}`, label: `${t.openConversation}: ${row.name ?? row.email ?? row.phone ?? row.id}`, run: () => navigate('inbox', row.id) })),
    { id: 'go-inbox', label: `${t.goTo}: ${t.navInbox}`, run: () => navigate('inbox') },
    { id: 'go-board', label: `${t.goTo}: ${t.navBoard}`, run: () => navigate('board') },
    ...(can('owner', 'manager') ? [{ id: 'go-setup', label: `${t.goTo}: ${t.navSetup}`, run: () => navigate('setup') }] : []),
    ...(leadId
      ? [
          { id: 'assign-me', label: t.assignToMe, run: () => patch(`/leads/${leadId}`, { ownerId: session.user.id }) },
          ...(can('owner', 'manager')
            ? users.filter((user) => user.active && user.id !== session.user.id).map((user) => ({ id: `assign-${user.id}`, label: `${t.assignTo} ${user.name}`, run: () => patch(`/leads/${leadId}`, { ownerId: user.id }) }))
            : []),
          ...stageSlugs.map((stage) => ({ id: `stage-${stage}`, label: `${t.moveTo}: ${t.stages[stage]}`, run: async () => {
              const change = await stageChange(stage, t);
              if (change) await patch(`/leads/${leadId}`, change);
            },
          })),
          { id: 'resolve', label: t.resolve, run: () => post(`/leads/${leadId}/conversation`, { status: 'resolved' }) },
          { id: 'snooze', label: t.snoozeTomorrow, run: () => post(`/leads/${leadId}/conversation`, { status: 'snoozed', until: new Date(Date.now() + 24 * 3600_000).toISOString() }) },
          { id: 'snooze-reply', label: t.snoozeUntilReply, run: () => post(`/leads/${leadId}/conversation`, { status: 'snoozed' }) },
        ]
      : []),
  ];
  const needle = text.trim().toLowerCase();
  const visible = commands.filter((command) => command.id.startsWith('open-') || !needle || command.label.toLowerCase().includes(needle)).slice(0, 12);

  const run = async (command: Command | undefined) => {
    if (!command) return;
    try {
      await command.run();
      onClose();
    } catch (failure) {
      setError(errorText(failure));
    }
  };

  return (
    <div class="overlay" onClick={onClose}>
      <div class="command-bar" role="dialog" aria-modal="true" aria-label={t.commandOpen} onClick={(e) => e.stopPropagation()}>
        <input
          ref={input}
          role="combobox"
          aria-expanded="true"
          aria-controls="command-list"
          aria-label={t.commandPlaceholder}
          placeholder={t.commandPlaceholder}
          value={text}
          onInput={(e) => {
            setText((e.target as HTMLInputElement).value);
            setSelected(0);
            setError('');
          }}
          onKeyDown={(e) => {
            if (e.key === 'Escape') onClose();
            else if (e.key === 'ArrowDown') setSelected(Math.min(selected + 1, visible.length - 1));
            else if (e.key === 'ArrowUp') setSelected(Math.max(selected - 1, 0));
            else if (e.key === 'Enter') void run(visible[selected]);
            else return;
            e.preventDefault();
          }}
        />
        <ul id="command-list" role="listbox">
          {visible.map((command, index) => (
            <li key={command.id} role="option" aria-selected={index === selected} class={index === selected ? 'selected' : ''} onClick={() => void run(command)}>
              {command.label}
            </li>
          ))}
        </ul>
        <Alert text={error} />
      </div>
    </div>
  );
}
