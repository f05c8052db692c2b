import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { SessionInfo, User } from './api.js';
import type { Dictionary, Locale } from './i18n.js';

export interface AppContext {
  session: SessionInfo;
  locale: Locale;
  t: Dictionary;
  users: User[];
  /** Formats a time in the workspace's time zone. */
  time(iso: string | null | undefined): string;
  can(...roles: SessionInfo['user']['role'][]): boolean;
  setLocale(locale: Locale): Promise<void>;
  signOut(everywhere: boolean): Promise<void>;
}

export const App = createContext<AppContext | null>(null);

export function useApp(): AppContext {
  const value = useContext(App);
  if (!value) throw new Error('useApp outside the signed-in app');
  return value;
}

/** The hash route: #/inbox/lead_123 → ['inbox', 'lead_123']; a page's own query (#/insights?from=…) is not part of it. */
export function currentRoute(): string[] {
  const parts = window.location.hash.replace(/^#\/?/, '').replace(/\?.*$/, '').split('/').filter(Boolean);
  return parts.length ? parts.map(decodeURIComponent) : ['inbox'];
}

export function navigate(...parts: string[]): void {
  window.location.hash = `#/${parts.map(encodeURIComponent).join('/')}`;
}
