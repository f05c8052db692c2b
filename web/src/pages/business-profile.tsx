import { useEffect, useRef, useState } from 'preact/hooks';
import { get, patch, uploadFile, type WorkspaceProfile } from '../api.js';
import { useApp } from '../context.js';
import { Alert, errorText } from '../ui.js';
import { HoursEditor, type WorkingHours } from './setup-forms.js';

/** Every IANA zone the browser knows, with the current one kept even if it is an alias the list leaves out. */
function zones(current: string): string[] {
  const known = Intl.supportedValuesOf('timeZone');
  return known.includes(current) ? known : [current, ...known];
}

export function TimeZonePicker({ value, onChange }: { value: string; onChange: (zone: string) => void }) {
  const { t } = useApp();
  return (
    <label>
      {t.timeZone}
      <select aria-label={t.timeZone} value={value} onChange={(e) => onChange((e.target as HTMLSelectElement).value)}>
        {zones(value).map((zone) => (
          <option key={zone} value={zone}>
            {zone.replace(/_/g, ' ')}
          </option>
        ))}
      </select>
    </label>
  );
}

/** A logo picked from a file: uploaded at once, shown before saving; `null` removes the current one. */
export function LogoField({ current, onChange }: { current: string | null; onChange: (uploadId: string | null) => void }) {
  const { t } = useApp();
  const [preview, setPreview] = useState<string | null>(current);
  const [error, setError] = useState('');
  const input = useRef<HTMLInputElement>(null);
  return (
    <div class="logo-field">
      <span class="label">{t.logo}</span>
      {preview ? <img class="logo-preview" src={preview} alt={t.logo} /> : <span class="hint">{t.noLogo}</span>}
      <input
        ref={input}
        type="file"
        accept="image/png,image/jpeg,image/gif,image/webp"
        aria-label={t.chooseLogo}
        onChange={(e) => {
          const file = (e.target as HTMLInputElement).files?.[0];
          if (!file) return;
          void uploadFile(file).then(
            (stored) => {
              setError('');
              setPreview(URL.createObjectURL(file));
              onChange(stored.id);
            },
            (failure: unknown) => setError(errorText(failure)),
          );
        }}
      />
      {preview && (
        <button
          type="button"
          class="link"
          onClick={() => {
            setPreview(null);
            if (input.current) input.current.value = '';
            onChange(null);
          }}
        >
          {t.removeLogo}
        </button>
      )}
      <Alert text={error} />
    </div>
  );
}

/**
 * Asked of an owner at sign-in until the business profile is confirmed: the name customers see
 * (instead of "My business"), the time zone and working hours that time every reply, a signature
 * and a logo. "Later" asks again at the next sign-in.
 */
export function WelcomeDialog({ onSaved, onLater }: { onSaved: () => void; onLater: () => void }) {
  const { t } = useApp();
  const [profile, setProfile] = useState<WorkspaceProfile | null>(null);
  const [logoUploadId, setLogoUploadId] = useState<string | null | undefined>(undefined);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    void get<WorkspaceProfile>('/workspace').then((row) => {
      // A browser in another zone than the workspace's default most likely shows the business's own.
      const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      setProfile({ ...row, timeZone: row.timeZone || browserZone });
    });
  }, []);
  useEffect(() => {
    if (profile && dialog.current && !dialog.current.open) dialog.current.showModal();
  }, [profile !== null]);
  if (!profile) return null;
  const set = (change: Partial<WorkspaceProfile>) => setProfile({ ...profile, ...change });
  const save = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    try {
      await patch('/workspace', {
        name: profile.name.trim(),
        timeZone: profile.timeZone,
        workingHours: profile.workingHours,
        signature: profile.signature?.trim() ? profile.signature : null,
        ...(logoUploadId !== undefined ? { logoUploadId } : {}),
        profileConfirmed: true,
      });
      dialog.current?.close();
      onSaved();
    } catch (failure) {
      setError(errorText(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <dialog
      ref={dialog}
      class="welcome-dialog"
      aria-labelledby="welcome-title"
      onCancel={(e) => {
        e.preventDefault();
        dialog.current?.close();
        onLater();
      }}
    >
      <form class="resource-form" onSubmit={save}>
        <h2 id="welcome-title">{t.welcomeTitle}</h2>
        <p class="hint">{t.welcomeHint}</p>
        <label>
          {t.businessName}
          <input required maxLength={200} value={profile.name} onInput={(e) => set({ name: (e.target as HTMLInputElement).value })} />
        </label>
        <TimeZonePicker value={profile.timeZone} onChange={(timeZone) => set({ timeZone })} />
        <HoursEditor value={profile.workingHours as WorkingHours} onChange={(workingHours) => set({ workingHours })} />
        <label>
          {t.signature}
          <textarea rows={3} maxLength={2000} value={profile.signature ?? ''} onInput={(e) => set({ signature: (e.target as HTMLTextAreaElement).value })} />
          <span class="hint">{t.signatureHint}</span>
        </label>
        <LogoField current={profile.logoUrl} onChange={setLogoUploadId} />
        <Alert text={error} />
        <div class="dialog-actions">
          <button
            type="button"
            onClick={() => {
              dialog.current?.close();
              onLater();
            }}
          >
            {t.later}
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {t.saveProfile}
          </button>
        </div>
      </form>
    </dialog>
  );
}
