import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, del, get, type List, patch, type SessionInfo, setCsrfToken, type User, whenSignedOut } from './api.js';
import { App, type AppContext, currentRoute, navigate } from './context.js';
import { CommandBar } from './command-bar.js';
import { dictionaries, type Locale, pickLocale } from './i18n.js';
import { chime, onListChanged, onLive, onLiveState, type LiveState, startLive, stopLive } from './live.js';
import { BoardPage } from './pages/board.js';
import { WelcomeDialog } from './pages/business-profile.js';
import { ContactsPage } from './pages/contacts.js';
import { InboxPage } from './pages/inbox.js';
import { TextDialogHost } from './ui.js';
import { InsightsPage } from './pages/insights.js';
import { InvitePage, LoginPage } from './pages/login.js';
import { SetupPage } from './pages/setup.js';
import './styles.css';

function Root() {
  const [session, setSession] = useState<SessionInfo | null | undefined>(undefined);
  const load = () =>
    get<SessionInfo>('/session').then(
      (info) => {
        setCsrfToken(info.csrfToken);
        setSession(info);
      },
      (error: unknown) => {
        if (error instanceof ApiError && error.status === 401) setSession(null);
        else throw error;
      },
    );
  useEffect(() => {
    whenSignedOut(() => {
      stopLive();
      setSession(null);
    });
    void load();
  }, []);
  if (session === undefined) return <div class="loading" aria-busy="true" />;
  const route = currentRoute();
  // An invitation's link works whoever is signed in on this browser: it signs its teammate in.
  if (route[0] === 'invite' && route[1]) return <InvitePage token={route[1]} onSignedIn={() => void load()} />;
  if (session === null)
    return (
      <LoginPage
        onSignedIn={(info) => {
          setCsrfToken(info.csrfToken);
          setSession(info);
        }}
      />
    );
  return <Shell session={session} onChange={setSession} />;
}

function Shell({ session, onChange }: { session: SessionInfo; onChange: (info: SessionInfo | null) => void }) {
  const locale = pickLocale(session.user.locale ?? session.workspace.locale);
  const t = dictionaries[locale];
  const [route, setRoute] = useState(currentRoute());
  const [users, setUsers] = useState<User[]>([]);
  const [liveState, setLiveState] = useState<LiveState>('connecting');
  const [commandOpen, setCommandOpen] = useState(false);
  const [menuOpen, setMenuOpen] = useState(false);
  // "Later" puts the business profile off until the next sign-in.
  const [welcomeLater, setWelcomeLater] = useState(() => sessionStorage.getItem('lg-welcome-later') === session.user.id);
  const askProfile = session.user.role === 'owner' && !session.workspace.profileConfirmed && !welcomeLater;

  useEffect(() => {
    document.documentElement.lang = locale;
    document.title = `${t.appName} · ${session.workspace.name}`;
  }, [locale]);
  useEffect(() => {
    const onHash = () => setRoute(currentRoute());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => {
    // A fetch that fails (offline) keeps the list as it is; the stream's next open fetches it again.
    const loadUsers = () => void get<List<User>>('/users?limit=200').then((list) => setUsers(list.data), () => undefined);
    loadUsers();
    // A teammate added or renamed elsewhere can be picked as owner or mentioned without a reload.
    const offUsers = onListChanged('users', loadUsers);
    startLive();
    const offState = onLiveState(setLiveState);
    const offLive = onLive((event) => {
      const mine = event.ownerId === session.user.id;
      const newLead = event.kind === 'lead.created' && (mine || (event.ownerId === null && session.user.role !== 'rep'));
      const newMessage = event.kind === 'message.received' && mine;
      if (!newLead && !newMessage) return;
      chime();
      if ('Notification' in window && Notification.permission === 'granted') {
        const notice = new Notification(newLead ? t.notifyNewLead : t.notifyNewMessage, { body: t.appName, tag: event.leadId });
        notice.onclick = () => {
          window.focus();
          navigate('inbox', event.leadId);
        };
      }
    });
    const onKey = (event: KeyboardEvent) => {
      if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === 'k') {
        event.preventDefault();
        setCommandOpen((open) => !open);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => {
      offState();
      offLive();
      offUsers();
      window.removeEventListener('keydown', onKey);
    };
  }, []);

  const context = useMemo<AppContext>(() => {
    const format = new Intl.DateTimeFormat(locale, { timeZone: session.workspace.timeZone, dateStyle: 'short', timeStyle: 'short' });
    return {
      session,
      locale,
      t,
      users,
      time: (iso) => (iso ? format.format(new Date(iso)) : ''),
      can: (...roles) => roles.includes(session.user.role),
      setLocale: async (next: Locale) => {
        const user = await patch<SessionInfo['user']>('/me', { locale: next });
        onChange({ ...session, user });
      },
      signOut: async (everywhere: boolean) => {
        await (everywhere ? del('/sessions') : del('/session'));
        stopLive();
        onChange(null);
      },
    };
  }, [session, locale, users]);

  const page = route[0];
  const nav: [string, string][] = [
    ['inbox', t.navInbox],
    ['board', t.navBoard],
    ['contacts', t.navContacts],
    ['insights', t.navInsights],
    ...(session.user.role === 'rep' ? [] : ([['setup', t.navSetup]] as [string, string][])),
  ];
  return (
    <App.Provider value={context}>
      <header class="topbar">
        <a class="brand" href="#/inbox">
          {session.workspace.logoUrl && <img class="brand-logo" src={session.workspace.logoUrl} alt="" />}
          {t.appName}
        </a>
        <nav aria-label={t.navMain}>
          {nav.map(([key, label]) => (
            <a key={key} href={`#/${key}`} class={page === key ? 'active' : ''} aria-current={page === key ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <button type="button" class="ghost command-hint" onClick={() => setCommandOpen(true)} aria-label={t.commandOpen}>
          ⌘K
        </button>
        <div class="menu">
          <button type="button" class="ghost" aria-haspopup="true" aria-expanded={menuOpen} onClick={() => setMenuOpen(!menuOpen)}>
            {session.user.name}
          </button>
          {menuOpen && (
            <div class="menu-list" role="menu">
              <label>
                {t.language}
                <select value={locale} onChange={(e) => void context.setLocale((e.target as HTMLSelectElement).value as Locale)} aria-label={t.language}>
                  <option value="en">English</option>
                  <option value="pt-BR">Português (Brasil)</option>
                </select>
              </label>
              {'Notification' in window && Notification.permission !== 'granted' && (
                <button type="button" role="menuitem" onClick={() => void Notification.requestPermission()}>
                  {t.enableNotifications}
                </button>
              )}
              <button type="button" role="menuitem" onClick={() => void context.signOut(false)}>
                {t.signOut}
              </button>
              <button type="button" role="menuitem" onClick={() => void context.signOut(true)}>
                {t.signOutEverywhere}
              </button>
            </div>
          )}
        </div>
      </header>
      {liveState !== 'online' && liveState !== 'connecting' && (
        <div class={`banner ${liveState}`} role="status">
          {liveState === 'offline' ? t.offline : t.reconnecting}
        </div>
      )}
      <main class={`page page-${page}`}>
        {page === 'inbox' && <InboxPage leadId={route[1]} />}
        {page === 'board' && <BoardPage />}
        {page === 'contacts' && <ContactsPage contactId={route[1]} />}
        {page === 'insights' && <InsightsPage />}
        {page === 'setup' && <SetupPage section={route[1]} itemId={route[2]} />}
      </main>
      {commandOpen && <CommandBar onClose={() => setCommandOpen(false)} />}
      <TextDialogHost ok={t.ok} cancel={t.cancel} />
      {askProfile && (
        <WelcomeDialog
          onSaved={() => void get<SessionInfo>('/session').then(onChange)}
          onLater={() => {
            sessionStorage.setItem('lg-welcome-later', session.user.id);
            setWelcomeLater(true);
          }}
        />
      )}
    </App.Provider>
  );
}


render(<Root />, document.getElementById('app')!);
