import type { Prisma } from '@prisma/client';
import { DateTime } from 'luxon';

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
/** Per weekday, [start, end] times ("09:00") in the workspace's time zone; a missing day is closed. */
export type WorkingHours = Partial<Record<Weekday, [string, string][]>>;

const weekdayOf: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const dayMs = 86_400_000;
/** Far enough to cross a year of holidays-free calendar; beyond it the hours are treated as absent. */
const horizonDays = 400;

function asHours(value: Prisma.JsonValue | null | undefined): WorkingHours | null {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return null;
  const hours = value as WorkingHours;
  return weekdayOf.some((day) => (hours[day] ?? []).length > 0) ? hours : null;
}

/** The working spans of the calendar day that holds `day`, as instants (DST-correct). */
function spansOf(day: DateTime, hours: WorkingHours): [number, number][] {
  const spans = hours[weekdayOf[day.weekday - 1]!] ?? [];
  return spans.map(([from, to]) => {
    const at = (hhmm: string) => {
      const [hour, minute] = hhmm.split(':').map(Number) as [number, number];
      return day.set({ hour, minute, second: 0, millisecond: 0 }).toMillis();
    };
    return [at(from), to === '24:00' ? day.plus({ days: 1 }).startOf('day').toMillis() : at(to)];
  });
}

/** Whether `now` falls in working hours; someone without working hours set always works. */
export function isWorking(workingHours: Prisma.JsonValue | null, timeZone: string, now: Date): boolean {
  if (!workingHours || typeof workingHours !== 'object' || Array.isArray(workingHours)) return true;
  const hours = workingHours as WorkingHours;
  const day = DateTime.fromJSDate(now, { zone: timeZone }).startOf('day');
  const t = now.getTime();
  return spansOf(day, hours).some(([from, to]) => t >= from && t < to);
}

/** The instant `minutes` of working time after `start`; plain wall time when there are no hours. */
export function addWorkingMinutes(start: Date, minutes: number, workingHours: Prisma.JsonValue | null, timeZone: string): Date {
  const hours = asHours(workingHours);
  let remaining = minutes * 60_000;
  if (!hours) return new Date(start.getTime() + remaining);
  let day = DateTime.fromJSDate(start, { zone: timeZone }).startOf('day');
  for (let i = 0; i < horizonDays; i++, day = day.plus({ days: 1 })) {
    for (const [from, to] of spansOf(day, hours)) {
      const begin = Math.max(from, start.getTime());
      if (begin >= to) continue;
      if (to - begin >= remaining) return new Date(begin + remaining);
      remaining -= to - begin;
    }
  }
  return new Date(start.getTime() + minutes * 60_000);
}

/** Working seconds between two instants; wall seconds when there are no hours. */
export function workingSecondsBetween(start: Date, end: Date, workingHours: Prisma.JsonValue | null, timeZone: string): number {
  if (end <= start) return 0;
  const hours = asHours(workingHours);
  if (!hours) return Math.round((end.getTime() - start.getTime()) / 1000);
  let total = 0;
  let day = DateTime.fromJSDate(start, { zone: timeZone }).startOf('day');
  const days = Math.min(horizonDays, Math.ceil((end.getTime() - start.getTime()) / dayMs) + 2);
  for (let i = 0; i < days; i++, day = day.plus({ days: 1 })) {
    for (const [from, to] of spansOf(day, hours)) {
      const overlap = Math.min(to, end.getTime()) - Math.max(from, start.getTime());
      if (overlap > 0) total += overlap;
    }
  }
  return Math.round(total / 1000);
}
