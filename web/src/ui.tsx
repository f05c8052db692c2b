import { ApiError } from './api.js';
import type { ComponentChildren } from 'preact';

// Plain text glyphs that every system font has (no emoji font on many Linux desktops).
const channelGlyphs: Record<string, string> = { email: '@', whatsapp: 'WA', sms: 'SMS', voice: '☎', webform: '▤' };

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
