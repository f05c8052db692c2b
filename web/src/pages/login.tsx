import { useState } from 'preact/hooks';
import { ApiError, post, type SessionInfo } from '../api.js';
import { dictionaries, pickLocale } from '../i18n.js';
import { Alert } from '../ui.js';

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
