import { useEffect, useRef, useState } from 'preact/hooks';
import { get, getReplyOptions, type Lead, type List, post, type ReplyOption, type Template, type Upload, uploadFile } from '../api.js';
import { useApp } from '../context.js';
import { Alert, errorText, utcToZonedInput, zonedTimeToUtc } from '../ui.js';

/** What the inbox's keyboard shortcuts ask of the reply box. */
export interface ComposerHandle {
  focus(mode: 'reply' | 'note'): void;
}

export function Composer({ lead, messageCount, handle, onSent }: { lead: Lead; messageCount: number; handle: { current: ComposerHandle | null }; onSent: () => void }) {
  const { t, users, session } = useApp();
  // Where a reply goes on each channel, as the server would send it: the first is its default.
  const [routes, setRoutes] = useState<ReplyOption[]>([]);
  const options = routes.map((route) => route.channel);
  const timeZone = session.workspace.timeZone;
  const [files, setFiles] = useState<Upload[]>([]);
  const [uploading, setUploading] = useState(0);
  const [dragging, setDragging] = useState(false);
  const [scheduling, setScheduling] = useState(false);
  const [sendAt, setSendAt] = useState('');
  const picker = useRef<HTMLInputElement>(null);
  const preferred = options[0] ?? '';
  const [mode, setMode] = useState<'reply' | 'note'>('reply');
  const [channel, setChannel] = useState(preferred);
  const [text, setText] = useState('');
  const [subject, setSubject] = useState('');
  const subjectEdited = useRef(false);
  const [templates, setTemplates] = useState<Template[]>([]);
  const [templateId, setTemplateId] = useState('');
  const [preview, setPreview] = useState<{ subject?: string; text: string } | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const area = useRef<HTMLTextAreaElement>(null);

  handle.current = {
    focus(next) {
      setMode(next);
      area.current?.focus();
    },
  };
  useEffect(() => {
    // Without the list the composer still sends typed replies; the template picker just stays empty.
    get<List<Template>>('/templates?limit=200').then(
      (list) => setTemplates(list.data),
      () => setTemplates([]),
    );
  }, []);
  useEffect(() => setChannel(preferred), [preferred]);
  useEffect(() => {
    void getReplyOptions(lead.id).then(
      (list) => {
        setRoutes(list);
        const email = list.find((route) => route.channel === 'email');
        if (!subjectEdited.current) setSubject(email?.subject ?? '');
      },
      (failure: unknown) => setError(errorText(failure)),
    );
  }, [lead.id, lead.email, lead.phone, lead.whatsappId, messageCount]);
  useEffect(() => {
    if (!templateId) return setPreview(null);
    void post<{ subject?: string; text: string }>(`/templates/${encodeURIComponent(templateId)}/preview`, { leadId: lead.id }).then(setPreview, (failure: unknown) =>
      setPreview({ text: errorText(failure) }),
    );
  }, [templateId]);

  const forChannel = templates.filter((template) => template.channel === channel);
  const slash = mode === 'reply' && text.startsWith('/') ? forChannel.filter((template) => template.name.includes(text.slice(1).trim())) : [];
  const mention = mode === 'note' ? /@(\w*)$/.exec(text) : null;
  const mentionUsers = mention ? users.filter((user) => user.name.toLowerCase().startsWith(mention[1]!.toLowerCase())).slice(0, 5) : [];

  /** Files are uploaded as soon as they are attached, so a refused one says so before sending. */
  const attach = async (list: FileList | File[] | null | undefined) => {
    const chosen = [...(list ?? [])];
    if (chosen.length === 0) return;
    setError('');
    setUploading((n) => n + chosen.length);
    for (const file of chosen) {
      try {
        const stored = await uploadFile(file);
        setFiles((current) => [...current, stored]);
      } catch (failure) {
        setError(errorText(failure));
      } finally {
        setUploading((n) => n - 1);
      }
    }
  };

  const send = async (event: Event) => {
    event.preventDefault();
    setError('');
    const at = mode === 'reply' && scheduling && sendAt ? zonedTimeToUtc(sendAt, timeZone) : null;
    if (mode === 'reply' && scheduling && (!at || at.getTime() <= Date.now())) {
      setError(t.pickFutureTime);
      return;
    }
    setBusy(true);
    try {
      if (mode === 'note') await post(`/leads/${lead.id}/notes`, { text });
      else {
        await post(`/leads/${lead.id}/messages`, {
          ...(templateId ? { templateId } : text.trim() ? { text } : {}),
          ...(!templateId && channel === 'email' && subject.trim() ? { subject: subject.trim() } : {}),
          channel,
          ...(files.length > 0 ? { attachmentIds: files.map((file) => file.id) } : {}),
          ...(at ? { sendAt: at.toISOString() } : {}),
        });
        setFiles([]);
        setScheduling(false);
        subjectEdited.current = false;
        setSendAt('');
      }
      setText('');
      setTemplateId('');
      onSent();
    } catch (failure) {
      setError(errorText(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      class={`composer ${mode} ${dragging ? 'dragging' : ''}`}
      onSubmit={send}
      aria-label={t.composer}
      onDragOver={(e) => {
        if (mode !== 'reply' || !e.dataTransfer?.types.includes('Files')) return;
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => {
        if (mode !== 'reply') return;
        e.preventDefault();
        setDragging(false);
        void attach(e.dataTransfer?.files);
      }}
    >
      {dragging && <div class="drop-hint">{t.dropFiles}</div>}
      <div class="composer-tabs" role="tablist">
        <button type="button" role="tab" aria-selected={mode === 'reply'} class={mode === 'reply' ? 'active' : ''} onClick={() => setMode('reply')}>
          {t.reply}
        </button>
        <button type="button" role="tab" aria-selected={mode === 'note'} class={mode === 'note' ? 'active' : ''} onClick={() => setMode('note')}>
          {t.note}
        </button>
        {mode === 'reply' && (
          <>
            <select aria-label={t.replyChannel} value={channel} onChange={(e) => setChannel((e.target as HTMLSelectElement).value)}>
              {routes.map((route) => (
                <option key={route.channel} value={route.channel}>
                  {t.replyRoute(t.channels[route.channel as keyof typeof t.channels] ?? route.channel, route.to)}
                </option>
              ))}
            </select>
            <select aria-label={t.template} value={templateId} onChange={(e) => setTemplateId((e.target as HTMLSelectElement).value)}>
              <option value="">{t.noTemplate}</option>
              {forChannel.map((template) => (
                <option key={template.id} value={template.id}>
                  {template.name} ({template.locale})
                </option>
              ))}
            </select>
          </>
        )}
      </div>
      {preview && (
        <div class="template-preview" aria-live="polite">
          {preview.subject && <strong>{preview.subject}</strong>}
          <div class="text">{preview.text}</div>
        </div>
      )}
      {mode === 'reply' && channel === 'email' && !templateId && (
        <input
          class="reply-subject"
          aria-label={t.replySubject}
          placeholder={t.replySubject}
          maxLength={500}
          value={subject}
          onInput={(e) => {
            subjectEdited.current = true;
            setSubject((e.target as HTMLInputElement).value);
          }}
        />
      )}
      {!templateId && (
        <textarea
          ref={area}
          rows={3}
          aria-label={mode === 'note' ? t.notePlaceholder : t.replyPlaceholder}
          placeholder={mode === 'note' ? t.notePlaceholder : t.replyPlaceholder}
          value={text}
          onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void send(e);
          }}
          onPaste={(e) => {
            const pasted = e.clipboardData?.files;
            if (mode !== 'reply' || !pasted || pasted.length === 0) return;
            e.preventDefault();
            void attach(pasted);
          }}
        />
      )}
      {mode === 'reply' && (files.length > 0 || uploading > 0) && (
        <ul class="attached-files" aria-label={t.attachFiles}>
          {files.map((file) => (
            <li key={file.id}>
              <span class="filename">{file.filename}</span>
              <button type="button" class="link" aria-label={t.removeFile(file.filename)} onClick={() => setFiles(files.filter((item) => item.id !== file.id))}>
                ×
              </button>
            </li>
          ))}
          {uploading > 0 && <li class="hint">{t.uploading}</li>}
        </ul>
      )}
      {mode === 'reply' && scheduling && (
        <label class="schedule-field">
          <span>{t.sendAt}</span>
          <input
            type="datetime-local"
            required
            aria-label={t.sendAt}
            min={utcToZonedInput(new Date(), timeZone)}
            value={sendAt}
            onInput={(e) => setSendAt((e.target as HTMLInputElement).value)}
          />
          <span class="hint">{t.timeZoneHint(timeZone)}</span>
        </label>
      )}
      {slash.length > 0 && (
        <ul class="suggestions" role="listbox" aria-label={t.cannedResponses}>
          {slash.map((template) => (
            <li key={template.id}>
              <button
                type="button"
                onClick={() =>
                  void post<{ text: string }>(`/templates/${encodeURIComponent(template.id)}/preview`, { leadId: lead.id }).then(
                    (rendered) => setText(rendered.text),
                    () => setText(template.body),
                  )
                }
              >
                /{template.name}
              </button>
            </li>
          ))}
        </ul>
      )}
      {mentionUsers.length > 0 && (
        <ul class="suggestions" role="listbox" aria-label={t.mention}>
          {mentionUsers.map((user) => (
            <li key={user.id}>
              <button type="button" onClick={() => setText(text.replace(/@\w*$/, `@${user.name} `))}>
                @{user.name}
              </button>
            </li>
          ))}
        </ul>
      )}
      <Alert text={error} />
      <div class="composer-actions">
        {mode === 'reply' && options.length === 0 && <span class="hint">{t.noReplyChannel}</span>}
        {mode === 'reply' && (
          <>
            <input ref={picker} type="file" multiple hidden onChange={(e) => {
              const input = e.target as HTMLInputElement;
              void attach(input.files).then(() => (input.value = ''));
            }} />
            <button type="button" onClick={() => picker.current?.click()}>
              {t.attachFiles}
            </button>
            <button type="button" aria-pressed={scheduling} onClick={() => setScheduling(!scheduling)}>
              {scheduling ? t.sendNowInstead : t.sendLater}
            </button>
          </>
        )}
        <button
          type="submit"
          class="primary"
          disabled={busy || uploading > 0 || (mode === 'reply' && (!channel || (!text.trim() && !templateId && files.length === 0))) || (mode === 'note' && !text.trim())}
        >
          {mode === 'note' ? t.addNote : scheduling ? t.scheduleSend : t.send}
        </button>
      </div>
    </form>
  );
}
