import { useEffect, useState } from 'preact/hooks';
import { ApiError, get, post, type SessionInfo } from '../api.js';
import { dictionaries, pickLocale } from '../i18n.js';
import { Alert, errorText } from '../ui.js';

export function LoginPage({ onSignedIn }: { onSignedIn: (session: SessionInfo) => void }) {
  const [locale, setLocale] = useState(pickLocale(navigator.language));
  const t = dictionaries[locale];
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError('');
    try {
      onSignedIn(await post<SessionInfo>('/session', { email, password }));
    } catch (failure) {
      if (failure instanceof ApiError && failure.status === 429) {
        const seconds = /(\d+) s/.exec(failure.message)?.[1] ?? '?';
        setError(t.lockedOut(seconds));
      } else if (failure instanceof ApiError && failure.status === 401) setError(t.wrongPassword);
      else setError(t.somethingWentWrong);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login" lang={locale}>
      <form class="card" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">{t.signInTitle}</h1>
        <label>
          {t.email}
          <input type="email" name="email" autocomplete="username" required value={email} onInput={(e) => setEmail((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          {t.password}
          <input type="password" name="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
        </label>
        <Alert text={error} />
        <button type="submit" class="primary" disabled={busy}>
          {t.signIn}
        </button>
        <p class="switch-language">
          <button type="button" class="link" onClick={() => setLocale(locale === 'en' ? 'pt-BR' : 'en')}>
            {locale === 'en' ? 'Português (Brasil)' : 'English'}
          </button>
        </p>
      </form>
    </main>
  );
}

/** An invitation's link (#/invite/<token>): the invited teammate sets their own password and is signed in. */
export function InvitePage({ token, onSignedIn }: { token: string; onSignedIn: () => void }) {
  const [locale, setLocale] = useState(pickLocale(navigator.language));
  const t = dictionaries[locale];
  const [invite, setInvite] = useState<{ name: string; email: string; workspace: string } | null>(null);
  const [invalid, setInvalid] = useState(false);
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    void get<{ name: string; email: string; workspace: string }>(`/invites/${encodeURIComponent(token)}`).then(setInvite, () => setInvalid(true));
  }, [token]);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError('');
    try {
      await post(`/invites/${encodeURIComponent(token)}/accept`, { password });
      window.location.hash = '#/inbox';
      onSignedIn();
    } catch (failure) {
      if (failure instanceof ApiError && failure.status === 410) setInvalid(true);
      else setError(errorText(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login" lang={locale}>
      <form class="card" onSubmit={submit} aria-labelledby="invite-title">
        <h1 id="invite-title">{invite ? t.invitePageTitle(invite.workspace) : t.appName}</h1>
        {invalid ? (
          <p class="error" role="alert">
            {t.inviteInvalid}
          </p>
        ) : (
          invite && (
            <>
              <p>{t.invitePageHint(invite.email)}</p>
              <label>
                {t.newPassword}
                <input type="password" name="password" autocomplete="new-password" minLength={12} required value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
              </label>
              <Alert text={error} />
              <button type="submit" class="primary" disabled={busy}>
                {t.setPasswordAndSignIn}
              </button>
            </>
          )
        )}
        <p class="switch-language">
          <button type="button" class="link" onClick={() => setLocale(locale === 'en' ? 'pt-BR' : 'en')}>
            {locale === 'en' ? 'Português (Brasil)' : 'English'}
          </button>
        </p>
      </form>
    </main>
  );
}
