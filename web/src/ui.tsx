import { ApiError } from './api.js';
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

// Plain text glyphs that every system font has (no emoji font on many Linux desktops).
const channelGlyphs: Record<string, string> = { email: '@', whatsapp: 'WA', sms: 'SMS', voice: '☎', webform: '▤', instagram: 'IG' };

export function ChannelIcon({ channel, label }: { channel: string; label: string }) {
  return (
    <span class={`channel channel-${channel}`} title={label} aria-label={label} role="img">
      {channelGlyphs[channel] ?? '•'}
    </span>
  );
}

export function Badge({ children, tone = 'plain' }: { children: ComponentChildren; tone?: string }) {
  return <span class={`badge badge-${tone}`}>{children}</span>;
}

/** "12 min", "3 h", "2 d": how long until (or since) a time, for SLA timers. */
export function shortDuration(ms: number, units: { m: string; h: string; d: string }): string {
  const minutes = Math.max(0, Math.round(Math.abs(ms) / 60_000));
  if (minutes < 60) return `${minutes} ${units.m}`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} ${units.h}`;
  return `${Math.round(hours / 24)} ${units.d}`;
}

export async function copyText(text: string): Promise<void> {
  await navigator.clipboard.writeText(text);
}

/** What went wrong, for the person: the API's detail, and each field it names. */
export function errorText(failure: unknown): string {
  if (failure instanceof ApiError && failure.problem.errors?.length) return failure.problem.errors.map((item) => `${item.path}: ${item.message}`).join('; ');
  return failure instanceof Error ? failure.message : String(failure);
}

export function Alert({ text }: { text: string }) {
  if (!text) return null;
  return (
    <p class="error" role="alert">
      {text}
    </p>
  );
}

interface TextRequest {
  label: string;
  resolve: (value: string | null) => void;
}

let showTextDialog: ((request: TextRequest) => void) | null = null;

/** Asks for a line of text in a dialog of the page; null when the person cancels. */
export function askText(label: string): Promise<string | null> {
  return new Promise((resolve) => {
    if (!showTextDialog) return resolve(null);
    showTextDialog({ label, resolve });
  });
}

/** Mounted once at the root: the dialog askText opens (a modal <dialog>, Escape cancels). */
export function TextDialogHost({ ok, cancel }: { ok: string; cancel: string }) {
  const [request, setRequest] = useState<TextRequest | null>(null);
  const [value, setValue] = useState('');
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    showTextDialog = (next) => {
      setValue('');
      setRequest(next);
    };
    return () => {
      showTextDialog = null;
    };
  }, []);
  useEffect(() => {
    if (request && dialog.current && !dialog.current.open) dialog.current.showModal();
  }, [request]);
  if (!request) return null;
  const finish = (answer: string | null) => {
    dialog.current?.close();
    setRequest(null);
    request.resolve(answer);
  };
  return (
    <dialog ref={dialog} class="text-dialog" aria-labelledby="text-dialog-label" onCancel={(e) => (e.preventDefault(), finish(null))}>
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          if (value.trim()) finish(value.trim());
        }}
      >
        <label id="text-dialog-label" for="text-dialog-input">
          {request.label}
        </label>
        <input id="text-dialog-input" required autoFocus value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
        <div class="dialog-actions">
          <button type="button" onClick={() => finish(null)}>
            {cancel}
          </button>
          <button type="submit" class="primary">
            {ok}
          </button>
        </div>
      </form>
    </dialog>
  );
}

/** The UTC instant of a wall-clock time ("2026-11-26T09:30") in a time zone. */
export function zonedTimeToUtc(local: string, timeZone: string): Date {
  const [date, clock] = local.split('T') as [string, string];
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const [hh, mm] = clock.split(':').map(Number) as [number, number];
  const wall = Date.UTC(y, m - 1, d, hh, mm);
  const offsetAt = (instant: number) => {
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
        .formatToParts(new Date(instant))
        .map((p) => [p.type, p.value]),
    );
    return Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute)) - instant;
  };
  // Twice, so a time near a daylight-saving change lands on the offset in force at that time.
  const first = wall - offsetAt(wall);
  return new Date(wall - offsetAt(first));
}

/** "2026-11-26T09:30" for an instant, as the clock reads in a time zone (a datetime-local value). */
export function utcToZonedInput(instant: Date, timeZone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
      .formatToParts(instant)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

/** Runs `fn` at most once per `ms`, after the last call. */
export function useDebounced(fn: () => void, ms: number): () => void {
  const timer = useRef<number | undefined>(undefined);
  const latest = useRef(fn);
  latest.current = fn;
  return () => {
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => latest.current(), ms);
  };
}


/** "Maria Aparecida Ferreira" → "MF"; an address or a number → its first character. */
export function initials(name: string): string {
  const words = name.split(/\s+/).filter((word) => /^\p{L}/u.test(word));
  if (words.length === 0) return (name.trim()[0] ?? '?').toUpperCase();
  const first = words[0]![0]!;
  const last = words.length > 1 ? words[words.length - 1]![0]! : '';
  return (first + last).toUpperCase();
}
