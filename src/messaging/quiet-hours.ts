import type { Prisma } from '@prisma/client';

/** When the workspace's quiet hours (local wall-clock time) hold at `now`: the time they end; else null. */
export function inQuietHours(quietHours: Prisma.JsonValue | null, timeZone: string, now: Date): Date | null {
  const window = quietHours as { start?: string; end?: string } | null;
  if (!window?.start || !window.end) return null;
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(now).map((p) => [p.type, p.value]),
  );
  const time = `${parts.hour}:${parts.minute}`;
  const quiet = window.start <= window.end ? time >= window.start && time < window.end : time >= window.start || time < window.end;
  if (!quiet) return null;
  // Minutes until the window ends, in local wall-clock time.
  const [h, m] = window.end.split(':').map(Number) as [number, number];
  const [nh, nm] = time.split(':').map(Number) as [number, number];
  let minutes = h * 60 + m - (nh * 60 + nm);
  if (minutes <= 0) minutes += 24 * 60;
  return new Date(now.getTime() + minutes * 60_000);
}
