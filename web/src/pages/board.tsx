import { useEffect, useState } from 'preact/hooks';
import { type Conversation, get, type List, patch } from '../api.js';
import { useApp } from '../context.js';
import { stageSlugs } from '../i18n.js';
import { onLive } from '../live.js';
import { filterQuery, type ListFilters, viewsFor } from './inbox.js';
import { stageChange } from './lead-panel.js';
import { Alert, errorText } from '../ui.js';

/** The pipeline: one column per stage; dropping a card changes the lead's stage through the API. */
export function BoardPage() {
  const { t, session } = useApp();
  const [cards, setCards] = useState<Conversation[]>([]);
  const [q, setQ] = useState('');
  const [view, setView] = useState<ListFilters['view']>(session.user.role === 'rep' ? 'mine' : 'all');
  const [error, setError] = useState('');
  const [dragging, setDragging] = useState<string | null>(null);

  const load = async () => {
    const filters: ListFilters = { view, status: '', channel: '', stage: '', product: '', segment: '', tag: '', scoreMin: '', scoreMax: '', followUpDue: false, slaBreached: false, q };
    const page = await get<List<Conversation>>(`/conversations${filterQuery(filters, { limit: 200 })}`);
    setCards(page.data);
  };
  useEffect(() => {
    void load();
  }, [q, view]);
  useEffect(() => onLive((event) => (event.kind === 'lead.stage_changed' || event.kind === 'lead.created' || event.kind === 'lead.assigned') && void load()), [q, view]);

  const move = async (leadId: string, stage: string) => {
    const card = cards.find((item) => item.id === leadId);
    if (!card || card.stage === stage) return;
    const change = await stageChange(stage, t);
    if (!change) return;
    setCards((current) => current.map((item) => (item.id === leadId ? { ...item, stage } : item)));
    try {
      await patch(`/leads/${leadId}`, change);
      setError('');
    } catch (failure) {
      setError(errorText(failure));
    }
    await load();
  };

  return (
    <div class="board-page">
      <div class="filters">
        <input type="search" aria-label={t.search} placeholder={t.searchPlaceholder} value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
        <select aria-label={t.view} value={view} onChange={(e) => setView((e.target as HTMLSelectElement).value as ListFilters['view'])}>
          {viewsFor(session).map((key) => (
            <option key={key} value={key}>
              {t.views[key]}
            </option>
          ))}
        </select>
      </div>
      <Alert text={error} />
      <div class="board">
        {stageSlugs.map((stage) => {
          const column = cards.filter((card) => card.stage === stage);
          const total = column.reduce((sum, card) => sum + (card.dealValue ?? 0), 0);
          return (
            <section
              key={stage}
              class="column"
              data-stage={stage}
              aria-label={t.stages[stage]}
              onDragOver={(e) => e.preventDefault()}
              onDrop={(e) => {
                e.preventDefault();
                const leadId = e.dataTransfer?.getData('text/plain') || dragging;
                if (leadId) void move(leadId, stage);
              }}
            >
              <h3>
                {t.stages[stage]} <span class="count">{column.length}</span>
              </h3>
              {total > 0 && <p class="total">{total.toLocaleString()}</p>}
              {column.map((card) => (
                <article
                  key={card.id}
                  class="card lead-card"
                  draggable
                  data-lead={card.id}
                  onDragStart={(e) => {
                    e.dataTransfer?.setData('text/plain', card.id);
                    setDragging(card.id);
                  }}
                  onDragEnd={() => setDragging(null)}
                >
                  <a href={`#/inbox/${card.id}`}>{card.name ?? card.email ?? card.phone ?? t.unknownContact}</a>
                  <div class="row-meta">
                    {card.dealValue !== null && (
                      <span>
                        {card.dealCurrency ?? ''} {card.dealValue.toLocaleString()}
                      </span>
                    )}
                    <span class="owner">{card.owner?.name ?? t.unassigned}</span>
                  </div>
                  <label class="sr-only">
                    {t.moveTo}
                    <select value={card.stage} onChange={(e) => void move(card.id, (e.target as HTMLSelectElement).value)}>
                      {stageSlugs.map((slug) => (
                        <option key={slug} value={slug}>
                          {t.stages[slug]}
                        </option>
                      ))}
                    </select>
                  </label>
                </article>
              ))}
            </section>
          );
        })}
      </div>
    </div>
  );
}
