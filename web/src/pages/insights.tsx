import type { ChartConfiguration } from 'chart.js';
import type { ComponentChildren } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { get, type List, query } from '../api.js';
import { useApp } from '../context.js';
import type { Dictionary, Locale } from '../i18n.js';
import { onListChanged } from '../live.js';
import type {
  ArrivalCell,
  CreatedRow,
  FollowUpRow,
  Funnel,
  GroupBy,
  LeadRow,
  Selection,
  SequenceRow,
  SpeedRow,
  Split,
  Summary,
  Table,
} from '../insights-api.js';
import { Alert, errorText } from '../ui.js';

const channels = ['webform', 'whatsapp', 'instagram', 'email', 'sms', 'voice'] as const;
const groupBys: GroupBy[] = ['day', 'week', 'month', 'quarter'];
const splits: Split[] = ['channel', 'product', 'segment', 'owner'];
const presets = ['last7', 'last30', 'thisMonth', 'thisQuarter'] as const;
type Preset = (typeof presets)[number];
// Distinct on screen and in print; the first ones are the most used.
const palette = ['#1f6feb', '#e8590c', '#2f9e44', '#ae3ec9', '#f59f00', '#0c8599', '#c2255c', '#5c940d', '#495057', '#7048e8'];

/** The page's state, all of it in the URL (#/insights?from=…&to=…), so a view can be shared and reloaded. */
interface View {
  from: string;
  to: string;
  groupBy: GroupBy;
  channel: string;
  productId: string;
  segment: string;
  ownerId: string;
  sourceId: string;
  split: Split;
  businessHours: boolean;
}

interface Figures {
  summary: Summary;
  created: Table<CreatedRow>;
  speedByRep: Table<SpeedRow>;
  speedByChannel: Table<SpeedRow>;
  followUps: Table<FollowUpRow>;
  funnel: Funnel;
  sequences: Table<SequenceRow>;
  arrivals: Table<ArrivalCell>;
}

interface Drill {
  title: string;
  selection: Selection;
}

/** A local date (YYYY-MM-DD) as a UTC midnight, for calendar arithmetic that no time zone moves. */
const utcDate = (day: string) => new Date(`${day}T00:00:00Z`);
const dayText = (date: Date) => date.toISOString().slice(0, 10);

function today(timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(new Date());
  const part = (type: string) => parts.find((item) => item.type === type)?.value ?? '';
  return `${part('year')}-${part('month')}-${part('day')}`;
}

function presetRange(preset: Preset, timeZone: string): { from: string; to: string } {
  const to = today(timeZone);
  const end = utcDate(to);
  const daysBefore = (days: number) => dayText(new Date(end.getTime() - days * 86_400_000));
  switch (preset) {
    case 'last7':
      return { from: daysBefore(6), to };
    case 'last30':
      return { from: daysBefore(29), to };
    case 'thisMonth':
      return { from: `${to.slice(0, 8)}01`, to };
    case 'thisQuarter': {
      const month = Math.floor(end.getUTCMonth() / 3) * 3 + 1;
      return { from: `${to.slice(0, 5)}${String(month).padStart(2, '0')}-01`, to };
    }
  }
}

function hashParams(): URLSearchParams {
  const hash = window.location.hash;
  const at = hash.indexOf('?');
  return new URLSearchParams(at >= 0 ? hash.slice(at + 1) : '');
}

function readView(timeZone: string): View {
  const params = hashParams();
  const pick = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const value = params.get(name) as T | null;
    return value && allowed.includes(value) ? value : fallback;
  };
  const date = (name: string) => {
    const value = params.get(name) ?? '';
    return /^\d{4}-\d{2}-\d{2}$/.test(value) ? value : '';
  };
  const fallback = presetRange('last30', timeZone);
  return {
    from: date('from') || fallback.from,
    to: date('to') || fallback.to,
    groupBy: pick('groupBy', groupBys, 'day'),
    channel: pick<string>('channel', channels, ''),
    productId: params.get('productId') ?? '',
    segment: params.get('segment') ?? '',
    ownerId: params.get('ownerId') ?? '',
    sourceId: params.get('sourceId') ?? '',
    split: pick('split', splits, 'channel'),
    businessHours: params.get('businessHours') === 'true',
  };
}

function writeView(view: View): void {
  window.location.hash = `#/insights${query({
    from: view.from,
    to: view.to,
    groupBy: view.groupBy,
    channel: view.channel,
    productId: view.productId,
    segment: view.segment,
    ownerId: view.ownerId,
    sourceId: view.sourceId,
    split: view.split === 'channel' ? undefined : view.split,
    businessHours: view.businessHours ? 'true' : undefined,
  })}`;
}

/** The period and the lead filters, as every insight endpoint takes them. */
function apiParams(view: View): Record<string, string> {
  return { from: view.from, to: view.to, groupBy: view.groupBy, channel: view.channel, productId: view.productId, segment: view.segment, ownerId: view.ownerId, sourceId: view.sourceId };
}

const csvHref = (path: string, params: Record<string, string | number | undefined>) => `/api/v1/insights/${path}${query({ ...params, format: 'csv' })}`;

/** Numbers, shares, durations and bucket names in the reader's language. */
function formats(locale: Locale, t: Dictionary) {
  const number = new Intl.NumberFormat(locale);
  const percent = new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 });
  const unit = (name: string) => new Intl.NumberFormat(locale, { style: 'unit', unit: name, unitDisplay: 'short', maximumFractionDigits: 1 });
  const units = { second: unit('second'), minute: unit('minute'), hour: unit('hour'), day: unit('day') };
  const day = new Intl.DateTimeFormat(locale, { timeZone: 'UTC', day: 'numeric', month: 'short', year: 'numeric' });
  const month = new Intl.DateTimeFormat(locale, { timeZone: 'UTC', month: 'short', year: 'numeric' });
  return {
    locale,
    number: (value: number) => number.format(value),
    percent: (value: number | null) => (value === null ? '–' : percent.format(value)),
    duration: (seconds: number | null) => {
      if (seconds === null) return '–';
      if (seconds < 60) return units.second.format(Math.round(seconds));
      if (seconds < 3600) return units.minute.format(seconds / 60);
      if (seconds < 172_800) return units.hour.format(seconds / 3600);
      return units.day.format(seconds / 86_400);
    },
    /** A bucket's label (its first local day) as a person names that day, week, month or quarter. */
    bucket: (label: string, groupBy: GroupBy) => {
      const date = utcDate(label);
      if (groupBy === 'day') return day.format(date);
      if (groupBy === 'week') return t.insights.weekOf(day.format(date));
      if (groupBy === 'month') return month.format(date);
      return t.insights.quarterLabel(Math.floor(date.getUTCMonth() / 3) + 1, date.getUTCFullYear());
    },
  };
}
type Formats = ReturnType<typeof formats>;

/** A bar chart on a canvas; Chart.js loads with the first chart, so other pages never carry it. */
function BarChart({ label, config }: { label: string; config: ChartConfiguration<'bar'> }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    let chart: { destroy(): void } | undefined;
    let gone = false;
    void import('../charts.js').then(({ Chart }) => {
      if (!gone && canvas.current) chart = new Chart(canvas.current, config);
    });
    return () => {
      gone = true;
      chart?.destroy();
    };
  }, [config]);
  return (
    <div class="chart">
      <canvas ref={canvas} role="img" aria-label={label} />
    </div>
  );
}

function barConfig(
  labels: string[],
  datasets: { label: string; data: (number | null)[] }[],
  locale: string,
  options: { stacked?: boolean; horizontal?: boolean; counts?: boolean; onBar?: (dataset: number, index: number) => void } = {},
): ChartConfiguration<'bar'> {
  const stacked = options.stacked ?? false;
  return {
    type: 'bar',
    data: { labels, datasets: datasets.map((set, index) => ({ ...set, backgroundColor: palette[index % palette.length] })) },
    options: {
      animation: false,
      // Axis and tooltip numbers in the reader's language, as in the tables.
      locale,
      responsive: true,
      maintainAspectRatio: false,
      indexAxis: options.horizontal ? 'y' : 'x',
      // Counts have no fractions; durations and shares keep theirs.
      scales: {
        x: { stacked, beginAtZero: true, ...(options.horizontal && options.counts ? { ticks: { precision: 0 } } : {}) },
        y: { stacked, beginAtZero: true, ...(!options.horizontal && options.counts ? { ticks: { precision: 0 } } : {}) },
      },
      plugins: { legend: { display: datasets.length > 1, position: 'bottom' } },
      onClick: (_event, elements) => {
        const hit = elements[0];
        if (hit && options.onBar) options.onBar(hit.datasetIndex, hit.index);
      },
      onHover: (event, elements) => {
        const target = event.native?.target;
        if (options.onBar && target instanceof HTMLElement) target.classList.toggle('pointer', elements.length > 0);
      },
    },
  };
}

function Section({ id, title, hint, csv, children }: { id: string; title: string; hint?: string; csv?: string; children: ComponentChildren }) {
  const { t } = useApp();
  return (
    <section class="card insight" aria-labelledby={`insight-${id}`} data-insight={id}>
      <header>
        <h3 id={`insight-${id}`}>{title}</h3>
        {csv && (
          <a class="button csv" href={csv} download="" aria-label={t.insights.downloadCsv(title)}>
            {t.insights.csv}
          </a>
        )}
      </header>
      {hint && <p class="hint">{hint}</p>}
      {children}
    </section>
  );
}

/** One column of a figures table: its heading, and what each row shows in it. */
interface Column<Row> {
  title: ComponentChildren;
  cell: (row: Row) => ComponentChildren;
  id?: string;
}

/** A chart's figures as text: the first column names the row, the others hold its figures. */
function FigureTable<Row>(props: {
  name?: string;
  caption?: string;
  hidden?: boolean;
  rows: Row[];
  rowKey: (row: Row) => string;
  rowData?: (row: Row) => Record<string, string>;
  head: Column<Row>;
  columns: Column<Row>[];
}) {
  const { name, caption, hidden, rows, rowKey, rowData, head, columns } = props;
  return (
    <div class="table-scroll" hidden={hidden}>
      <table class="table figures" data-table={name}>
        {caption && <caption class="sr-only">{caption}</caption>}
        <thead>
          <tr>
            <th scope="col">{head.title}</th>
            {columns.map((column, index) => (
              <th key={column.id ?? index} scope="col">
                {column.title}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={rowKey(row)} {...rowData?.(row)}>
              <th scope="row">{head.cell(row)}</th>
              {columns.map((column, index) => (
                <td key={column.id ?? index}>{column.cell(row)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A figure that opens the list of leads behind it. */
function DrillButton({ label, value, onDrill }: { label: string; value: string; onDrill: () => void }) {
  const { t } = useApp();
  return (
    <button type="button" class="link drill-link" aria-label={t.insights.showLeads(label)} onClick={onDrill}>
      {value}
    </button>
  );
}

export function InsightsPage() {
  const { t, locale, session, users, can } = useApp();
  const timeZone = session.workspace.timeZone;
  const [view, setView] = useState<View>(() => readView(timeZone));
  const [figures, setFigures] = useState<Figures | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState('');
  const [products, setProducts] = useState<{ id: string; name: string }[]>([]);
  const [segments, setSegments] = useState<{ id: string; name: string }[]>([]);
  const [sources, setSources] = useState<{ id: string; name: string }[]>([]);
  const [drill, setDrill] = useState<Drill | null>(null);
  const f = useMemo(() => formats(locale, t), [locale, t]);
  const ti = t.insights;

  useEffect(() => {
    const onHash = () => setView(readView(timeZone));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, [timeZone]);
  useEffect(() => {
    const loadProducts = () => void get<List<{ id: string; name: string }>>('/products').then((list) => setProducts(list.data), () => undefined);
    const loadSegments = () => void get<List<{ id: string; name: string }>>('/segments').then((list) => setSegments(list.data), () => undefined);
    const loadSources = () => {
      if (can('owner', 'manager')) void get<List<{ id: string; name: string }>>('/sources').then((list) => setSources(list.data), () => undefined);
    };
    loadProducts();
    loadSegments();
    loadSources();
    const off = [onListChanged('products', loadProducts), onListChanged('segments', loadSegments), onListChanged('sources', loadSources)];
    return () => off.forEach((stop) => stop());
  }, []);

  const params = apiParams(view);
  const paramKey = JSON.stringify(params);
  useEffect(() => {
    let current = true;
    setLoading(true);
    setDrill(null);
    const q = (extra: Record<string, string> = {}) => query({ ...params, ...extra });
    Promise.all([
      get<Summary>(`/insights/summary${q()}`),
      get<Table<CreatedRow>>(`/insights/leads-created${q({ by: view.split })}`),
      get<Table<SpeedRow>>(`/insights/speed-to-lead${q({ by: 'rep', businessHours: String(view.businessHours) })}`),
      get<Table<SpeedRow>>(`/insights/speed-to-lead${q({ by: 'channel', businessHours: String(view.businessHours) })}`),
      get<Table<FollowUpRow>>(`/insights/follow-up-rate${q({ by: 'rep' })}`),
      get<Funnel>(`/insights/funnel${q()}`),
      get<Table<SequenceRow>>(`/insights/sequences${q()}`),
      get<Table<ArrivalCell>>(`/insights/arrivals${q()}`),
    ]).then(
      ([summary, created, speedByRep, speedByChannel, followUps, funnel, sequences, arrivals]) => {
        if (!current) return;
        setFigures({ summary, created, speedByRep, speedByChannel, followUps, funnel, sequences, arrivals });
        setError('');
        setLoading(false);
      },
      (failure: unknown) => {
        if (!current) return;
        setError(errorText(failure));
        setLoading(false);
      },
    );
    return () => {
      current = false;
    };
  }, [paramKey, view.split, view.businessHours]);

  const change = (patch: Partial<View>) => writeView({ ...view, ...patch });
  const activePreset = presets.find((preset) => {
    const range = presetRange(preset, timeZone);
    return range.from === view.from && range.to === view.to;
  });
  const filtered = Boolean(view.channel || view.productId || view.segment || view.ownerId || view.sourceId);
  const empty = figures !== null && figures.summary.leadsCreated.total === 0;

  return (
    <div class="insights-page">
      <form class="card insight-filters" aria-label={ti.filters} onSubmit={(e) => e.preventDefault()}>
        <fieldset class="presets">
          <legend>{ti.period}</legend>
          {presets.map((preset) => (
            <button key={preset} type="button" aria-pressed={activePreset === preset} class={activePreset === preset ? 'active' : ''} onClick={() => change(presetRange(preset, timeZone))}>
              {ti.presets[preset]}
            </button>
          ))}
        </fieldset>
        <label>
          {ti.from}
          <input type="date" aria-label={ti.from} value={view.from} max={view.to} onChange={(e) => (e.target as HTMLInputElement).value && change({ from: (e.target as HTMLInputElement).value })} />
        </label>
        <label>
          {ti.to}
          <input type="date" aria-label={ti.to} value={view.to} min={view.from} onChange={(e) => (e.target as HTMLInputElement).value && change({ to: (e.target as HTMLInputElement).value })} />
        </label>
        <label>
          {ti.groupBy}
          <select aria-label={ti.groupBy} value={view.groupBy} onChange={(e) => change({ groupBy: (e.target as HTMLSelectElement).value as GroupBy })}>
            {groupBys.map((groupBy) => (
              <option key={groupBy} value={groupBy}>
                {ti.groupBys[groupBy]}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t.channel}
          <select aria-label={t.channel} value={view.channel} onChange={(e) => change({ channel: (e.target as HTMLSelectElement).value })}>
            <option value="">{t.anyChannel}</option>
            {channels.map((channel) => (
              <option key={channel} value={channel}>
                {t.channels[channel]}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t.product}
          <select aria-label={t.product} value={view.productId} onChange={(e) => change({ productId: (e.target as HTMLSelectElement).value })}>
            <option value="">{ti.anyProduct}</option>
            {products.map((product) => (
              <option key={product.id} value={product.id}>
                {product.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t.segment}
          <select aria-label={t.segment} value={view.segment} onChange={(e) => change({ segment: (e.target as HTMLSelectElement).value })}>
            <option value="">{ti.anySegment}</option>
            {segments.map((segment) => (
              <option key={segment.id} value={segment.name}>
                {segment.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          {ti.owner}
          <select aria-label={ti.owner} value={view.ownerId} onChange={(e) => change({ ownerId: (e.target as HTMLSelectElement).value })}>
            <option value="">{ti.anyOwner}</option>
            {users.map((user) => (
              <option key={user.id} value={user.id}>
                {user.name}
              </option>
            ))}
          </select>
        </label>
        {sources.length > 0 && (
          <label>
            {ti.source}
            <select aria-label={ti.source} value={view.sourceId} onChange={(e) => change({ sourceId: (e.target as HTMLSelectElement).value })}>
              <option value="">{ti.anySource}</option>
              {sources.map((source) => (
                <option key={source.id} value={source.id}>
                  {source.name}
                </option>
              ))}
            </select>
          </label>
        )}
        {filtered && (
          <button type="button" class="link" onClick={() => change({ channel: '', productId: '', segment: '', ownerId: '', sourceId: '' })}>
            {ti.clearFilters}
          </button>
        )}
        <a class="button export" href={csvHref('leads', params)} download="">
          {ti.exportLeads}
        </a>
      </form>
      <Alert text={error} />
      {loading && (
        <p class="hint" role="status" aria-busy="true">
          {ti.loading}
        </p>
      )}
      {figures?.summary.recomputing && (
        <p class="card hint" role="status">
          {ti.recomputing}
        </p>
      )}
      {drill && <DrillPanel drill={drill} view={view} onClose={() => setDrill(null)} />}
      {figures && empty && (
        <>
          <p class="card empty-state" role="status">
            {ti.empty}
          </p>
          {/* Targets and sequences can have figures in a period without new leads. */}
          {(figures.summary.quotas.length > 0 || figures.sequences.data.length > 0) && (
            <div class="insight-grid">
              {figures.summary.quotas.length > 0 && <Quotas figures={figures} view={view} f={f} />}
              {figures.sequences.data.length > 0 && <Sequences figures={figures} view={view} f={f} />}
            </div>
          )}
        </>
      )}
      {figures && !empty && <FigureSections figures={figures} view={view} f={f} change={change} onDrill={setDrill} />}
    </div>
  );
}

function FigureSections({ figures, view, f, change, onDrill }: { figures: Figures; view: View; f: Formats; change: (patch: Partial<View>) => void; onDrill: (drill: Drill) => void }) {
  const { t } = useApp();
  const ti = t.insights;
  const { summary, funnel } = figures;
  return (
    <>
      <dl class="kpis">
        <div class="card">
          <dt>{ti.totalLeads}</dt>
          <dd>{f.number(summary.leadsCreated.total)}</dd>
        </div>
        <div class="card">
          <dt>{ti.followUpRate}</dt>
          <dd>{f.percent(summary.followUpRate.rate)}</dd>
        </div>
        <div class="card">
          <dt>{ti.followUpsOnTime}</dt>
          <dd>{f.percent(summary.followUps.rate)}</dd>
        </div>
        <div class="card">
          <dt>{ti.overdueFollowUps}</dt>
          <dd>{f.number(summary.followUps.overdue)}</dd>
        </div>
        <div class="card">
          <dt>{ti.won}</dt>
          <dd>{f.number(funnel.won)}</dd>
        </div>
        <div class="card">
          <dt>{ti.lost}</dt>
          <dd>{f.number(funnel.lost)}</dd>
        </div>
        <div class="card">
          <dt>{ti.stillOpen}</dt>
          <dd>{f.number(funnel.open)}</dd>
        </div>
        <div class="card">
          <dt>{ti.winRate}</dt>
          <dd>{f.percent(funnel.winRate)}</dd>
        </div>
      </dl>
      <div class="insight-grid">
        <LeadsCreated figures={figures} view={view} f={f} change={change} onDrill={onDrill} />
        <Speed figures={figures} view={view} f={f} change={change} />
        <FollowUps figures={figures} view={view} f={f} onDrill={onDrill} />
        <FunnelSection figures={figures} view={view} f={f} onDrill={onDrill} />
        <Quotas figures={figures} view={view} f={f} />
        <Sequences figures={figures} view={view} f={f} />
        <Arrivals figures={figures} view={view} f={f} onDrill={onDrill} />
      </div>
    </>
  );
}

interface SectionProps {
  figures: Figures;
  view: View;
  f: Formats;
}

/** What a key of a dimension is called on screen. */
function useKeyName() {
  const { t } = useApp();
  return (split: Split, key: string | null | undefined, label: string | null | undefined): string => {
    if (split === 'channel') return key ? (t.channels[key as keyof typeof t.channels] ?? key) : t.insights.unknown;
    if (split === 'owner') return label ?? t.insights.noOwner;
    return label ?? key ?? t.insights.noValue;
  };
}

function LeadsCreated({ figures, view, f, change, onDrill }: SectionProps & { change: (patch: Partial<View>) => void; onDrill: (drill: Drill) => void }) {
  const { t } = useApp();
  const ti = t.insights;
  const keyName = useKeyName();
  const buckets = figures.summary.leadsCreated.buckets;
  const rows = figures.created.data;
  const split = view.split;
  // The split's values, most leads first.
  const keys = useMemo(() => {
    const totals = new Map<string, { key: string | null; name: string; leads: number }>();
    for (const row of rows) {
      const id = row.key ?? '';
      const entry = totals.get(id) ?? { key: row.key ?? null, name: keyName(split, row.key, row.label), leads: 0 };
      entry.leads += row.leads;
      totals.set(id, entry);
    }
    return [...totals.values()].sort((a, b) => b.leads - a.leads || a.name.localeCompare(b.name));
  }, [rows, split, t]);
  const count = (bucket: string, key: string | null) => rows.find((row) => row.bucket === bucket && (row.key ?? null) === key)?.leads ?? 0;
  const bucketNames = buckets.map((bucket) => f.bucket(bucket.bucket, view.groupBy));
  const drillCell = (bucket: string | undefined, key: { key: string | null; name: string }, bucketName?: string) =>
    onDrill({ title: [bucketName, `${ti.dimensions[split]}: ${key.name}`].filter(Boolean).join(' · '), selection: { by: split, key: key.key ?? '', ...(bucket ? { bucket } : {}) } });
  const config = useMemo(
    () =>
      barConfig(
        bucketNames,
        keys.map((key) => ({ label: key.name, data: buckets.map((bucket) => count(bucket.bucket, key.key)) })),
        f.locale,
        { stacked: true, counts: true, onBar: (dataset, index) => keys[dataset] && buckets[index] && drillCell(buckets[index].bucket, keys[dataset], bucketNames[index]) },
      ),
    [rows, buckets, keys, f],
  );
  return (
    <Section id="leads-created" title={ti.leadsCreated} csv={csvHref('leads-created', { ...apiParams(view), by: split })}>
      <div class="split" role="group" aria-label={ti.splitBy}>
        <span>{ti.splitBy}</span>
        {splits.map((item) => (
          <button key={item} type="button" aria-pressed={split === item} class={split === item ? 'active' : ''} onClick={() => change({ split: item })}>
            {ti.dimensions[item]}
          </button>
        ))}
      </div>
      <BarChart label={ti.chartLabel(ti.leadsCreated)} config={config} />
      <FigureTable
        name="leads-created-totals"
        caption={`${ti.leadsCreated} · ${ti.dimensions[split]}`}
        rows={keys}
        rowKey={(key) => key.key ?? ''}
        rowData={(key) => ({ 'data-key': key.key ?? '' })}
        head={{ title: ti.dimensions[split], cell: (key) => key.name }}
        columns={[
          {
            title: ti.leads,
            cell: (key) => <DrillButton label={`${ti.dimensions[split]}: ${key.name}`} value={f.number(key.leads)} onDrill={() => drillCell(undefined, key)} />,
          },
        ]}
      />
      <details>
        <summary>{ti.bucket}</summary>
        <FigureTable
          name="leads-created-buckets"
          rows={buckets.map((bucket, index) => ({ ...bucket, name: bucketNames[index]! }))}
          rowKey={(bucket) => bucket.bucket}
          head={{ title: ti.bucket, cell: (bucket) => bucket.name }}
          columns={[
            ...keys.map((key) => ({
              id: key.key ?? '',
              title: key.name,
              cell: (bucket: { bucket: string; name: string }) => {
                const leads = count(bucket.bucket, key.key);
                return leads > 0 ? <DrillButton label={`${bucket.name} · ${key.name}`} value={f.number(leads)} onDrill={() => drillCell(bucket.bucket, key, bucket.name)} /> : f.number(0);
              },
            })),
            { id: '', title: ti.total, cell: (bucket) => f.number(bucket.leads) },
          ]}
        />
      </details>
    </Section>
  );
}


function SpeedTable({ rows, f, first, name }: { rows: SpeedRow[]; f: Formats; first: string; name: (row: SpeedRow) => string }) {
  const { t } = useApp();
  const ti = t.insights;
  return (
    <FigureTable
      rows={rows}
      rowKey={(row) => row.key ?? ''}
      head={{ title: first, cell: name }}
      columns={[
        { title: ti.windows, cell: (row) => f.number(row.windows) },
        { title: ti.answered, cell: (row) => f.number(row.answered) },
        { title: ti.unanswered, cell: (row) => f.number(row.unanswered) },
        { title: ti.p50, cell: (row) => f.duration(row.p50Seconds) },
        { title: ti.p90, cell: (row) => f.duration(row.p90Seconds) },
        { title: ti.within(5), cell: (row) => f.percent(row.within5m) },
        { title: ti.within(15), cell: (row) => f.percent(row.within15m) },
        { title: ti.within(60), cell: (row) => f.percent(row.within60m) },
      ]}
    />
  );
}

function Speed({ figures, view, f, change }: SectionProps & { change: (patch: Partial<View>) => void }) {
  const { t } = useApp();
  const ti = t.insights;
  const keyName = useKeyName();
  const byRep = figures.speedByRep.data.filter((row) => row.windows > 0);
  const byChannel = figures.speedByChannel.data;
  const repName = (row: SpeedRow) => keyName('owner', row.key, row.label);
  const channelName = (row: SpeedRow) => keyName('channel', row.key, row.label);
  const minutes = (seconds: number | null) => (seconds === null ? null : Math.round((seconds / 60) * 10) / 10);
  const config = useMemo(
    () =>
      barConfig(byRep.map(repName), [
        { label: `${ti.p50} (min)`, data: byRep.map((row) => minutes(row.p50Seconds)) },
        { label: `${ti.p90} (min)`, data: byRep.map((row) => minutes(row.p90Seconds)) },
      ], f.locale),
    [figures.speedByRep, f],
  );
  const acks = byChannel.filter((row) => row.acknowledged > 0);
  const csvParams = { ...apiParams(view), businessHours: String(view.businessHours) };
  return (
    <Section id="speed" title={ti.speed} hint={ti.speedHint} csv={csvHref('speed-to-lead', { ...csvParams, by: 'rep' })}>
      <label class="inline">
        <input type="checkbox" checked={view.businessHours} onChange={(e) => change({ businessHours: (e.target as HTMLInputElement).checked })} />
        {ti.businessHours}
      </label>
      {byRep.length > 0 && <BarChart label={ti.chartLabel(`${ti.speed} · ${ti.perRep}`)} config={config} />}
      <h4>{ti.perRep}</h4>
      <SpeedTable rows={byRep} f={f} first={ti.rep} name={repName} />
      <h4>
        {ti.perChannel}{' '}
        <a class="csv-inline" href={csvHref('speed-to-lead', { ...csvParams, by: 'channel' })} download="" aria-label={ti.downloadCsv(`${ti.speed} · ${ti.perChannel}`)}>
          {ti.csv}
        </a>
      </h4>
      <SpeedTable rows={byChannel.filter((row) => row.windows > 0)} f={f} first={t.channel} name={channelName} />
      <h4>{ti.ackTitle}</h4>
      {acks.length === 0 && <p class="hint">{ti.noAcks}</p>}
      <FigureTable
        name="acknowledgements"
        hidden={acks.length === 0}
        rows={acks}
        rowKey={(row) => row.key ?? ''}
        head={{ title: t.channel, cell: channelName }}
        columns={[
          { title: ti.acknowledged, cell: (row) => f.number(row.acknowledged) },
          { title: ti.ackP50, cell: (row) => f.duration(row.ackP50Seconds) },
          { title: ti.ackP90, cell: (row) => f.duration(row.ackP90Seconds) },
        ]}
      />
    </Section>
  );
}

function FollowUps({ figures, view, f, onDrill }: SectionProps & { onDrill: (drill: Drill) => void }) {
  const { t } = useApp();
  const ti = t.insights;
  const keyName = useKeyName();
  const rows = figures.followUps.data;
  const name = (row: FollowUpRow) => keyName('owner', row.key, row.label);
  const config = useMemo(
    () =>
      barConfig(rows.map(name), [
        { label: `${ti.rate} (%)`, data: rows.map((row) => (row.rate === null ? null : Math.round(row.rate * 1000) / 10)) },
        { label: ti.overdue, data: rows.map((row) => row.overdue) },
      ], f.locale),
    [rows, f],
  );
  return (
    <Section id="follow-up" title={ti.followUp} csv={csvHref('follow-up-rate', { ...apiParams(view), by: 'rep' })}>
      {rows.length > 0 && <BarChart label={ti.chartLabel(ti.followUp)} config={config} />}
      <FigureTable
        name="follow-up"
        rows={rows}
        rowKey={(row) => row.key ?? ''}
        head={{ title: ti.rep, cell: name }}
        columns={[
          {
            title: ti.assigned,
            cell: (row) =>
              row.assigned > 0 ? (
                <DrillButton label={`${ti.owner}: ${name(row)}`} value={f.number(row.assigned)} onDrill={() => onDrill({ title: `${ti.owner}: ${name(row)}`, selection: { by: 'owner', key: row.key ?? '' } })} />
              ) : (
                f.number(0)
              ),
          },
          { title: ti.touched, cell: (row) => f.number(row.touchedWithinSla) },
          { title: ti.rate, cell: (row) => f.percent(row.rate) },
          { title: ti.due, cell: (row) => f.number(row.followUpsDue) },
          { title: ti.doneOnTime, cell: (row) => f.number(row.followUpsDoneOnTime) },
          { title: ti.overdue, cell: (row) => f.number(row.overdue) },
          { title: ti.onTimeRate, cell: (row) => f.percent(row.followUpRate) },
        ]}
      />
    </Section>
  );
}

function FunnelSection({ figures, view, f, onDrill }: SectionProps & { onDrill: (drill: Drill) => void }) {
  const { t } = useApp();
  const ti = t.insights;
  const { funnel } = figures;
  const stageName = (stage: string) => t.stages[stage as keyof typeof t.stages] ?? stage;
  const drillStage = (stage: string) => onDrill({ title: `${ti.reached}: ${stageName(stage)}`, selection: { reachedStage: stage } });
  const stages = funnel.data;
  const config = useMemo(
    () =>
      barConfig(stages.map((row) => stageName(row.stage)), [{ label: ti.reached, data: stages.map((row) => row.reached) }], f.locale, {
        horizontal: true,
        counts: true,
        onBar: (_dataset, index) => stages[index] && drillStage(stages[index].stage),
      }),
    [funnel, f],
  );
  return (
    <Section id="funnel" title={ti.funnel} hint={ti.funnelHint} csv={csvHref('funnel', apiParams(view))}>
      <BarChart label={ti.chartLabel(ti.funnel)} config={config} />
      <FigureTable
        name="funnel"
        rows={stages}
        rowKey={(row) => row.stage}
        rowData={(row) => ({ 'data-stage': row.stage })}
        head={{ title: t.stage, cell: (row) => stageName(row.stage) }}
        columns={[
          {
            title: ti.reached,
            cell: (row) => (row.reached > 0 ? <DrillButton label={`${ti.reached}: ${stageName(row.stage)}`} value={f.number(row.reached)} onDrill={() => drillStage(row.stage)} /> : f.number(0)),
          },
          { title: ti.conversion, cell: (row) => f.percent(row.conversion) },
          { title: ti.current, cell: (row) => f.number(row.current) },
          { title: ti.medianInStage, cell: (row) => f.duration(row.medianSecondsInStage) },
        ]}
      />
      <h4>{ti.lossReasons}</h4>
      <FigureTable
        name="loss-reasons"
        rows={funnel.lossReasons}
        rowKey={(row) => row.reason ?? ''}
        head={{ title: ti.reason, cell: (row) => row.reason ?? ti.noReason }}
        columns={[{ title: ti.leads, cell: (row) => f.number(row.leads) }]}
      />
    </Section>
  );
}

function Quotas({ figures, view, f }: SectionProps) {
  const { t } = useApp();
  const ti = t.insights;
  const rows = figures.summary.quotas;
  const name = (row: (typeof rows)[number]) => `${row.period} · ${row.product ?? ti.allProducts}`;
  const config = useMemo(
    () =>
      barConfig(rows.map(name), [
        { label: ti.target, data: rows.map((row) => row.target) },
        { label: ti.actual, data: rows.map((row) => row.actual) },
      ], f.locale, { counts: true }),
    [rows, f],
  );
  return (
    <Section id="quotas" title={ti.quotas} csv={csvHref('quotas', apiParams(view))}>
      {rows.length === 0 ? (
        <p class="hint">{ti.noQuotas}</p>
      ) : (
        <>
          <BarChart label={ti.chartLabel(ti.quotas)} config={config} />
          <FigureTable
            name="quotas"
            rows={rows}
            rowKey={(row) => row.quotaId}
            head={{ title: ti.quotaPeriod, cell: (row) => row.period }}
            columns={[
              { title: t.product, cell: (row) => row.product ?? ti.allProducts },
              { title: ti.target, cell: (row) => f.number(row.target) },
              { title: ti.actual, cell: (row) => f.number(row.actual) },
              { title: '%', cell: (row) => f.percent(row.ratio) },
            ]}
          />
        </>
      )}
    </Section>
  );
}

function Sequences({ figures, view, f }: SectionProps) {
  const { t } = useApp();
  const ti = t.insights;
  const rows = figures.sequences.data;
  const name = (row: SequenceRow) => `${row.sequence} · ${ti.step} ${row.step + 1}`;
  const config = useMemo(
    () =>
      barConfig(rows.map(name), [
        { label: ti.sent, data: rows.map((row) => row.sent) },
        { label: ti.replied, data: rows.map((row) => row.replied) },
        { label: ti.optedOut, data: rows.map((row) => row.optedOut) },
      ], f.locale, { counts: true }),
    [rows, f],
  );
  return (
    <Section id="sequences" title={ti.sequences} csv={csvHref('sequences', apiParams(view))}>
      {rows.length === 0 ? (
        <p class="hint">{ti.noSequences}</p>
      ) : (
        <>
          <BarChart label={ti.chartLabel(ti.sequences)} config={config} />
          <FigureTable
            name="sequences"
            rows={rows}
            rowKey={(row) => `${row.sequenceId}:${row.step}`}
            head={{ title: ti.sequence, cell: (row) => row.sequence }}
            columns={[
              { title: ti.step, cell: (row) => f.number(row.step + 1) },
              { title: ti.enrolled, cell: (row) => f.number(row.enrolled) },
              { title: ti.sent, cell: (row) => f.number(row.sent) },
              { title: ti.failed, cell: (row) => f.number(row.failed) },
              { title: ti.skipped, cell: (row) => f.number(row.skipped) },
              { title: ti.replied, cell: (row) => f.number(row.replied) },
              { title: ti.optedOut, cell: (row) => f.number(row.optedOut) },
            ]}
          />
        </>
      )}
    </Section>
  );
}

/** Day of week × hour as a table: every cell's count is text, and a cell with leads opens them. */
function Arrivals({ figures, view, f, onDrill }: SectionProps & { onDrill: (drill: Drill) => void }) {
  const { t, session } = useApp();
  const ti = t.insights;
  const cells = figures.arrivals.data;
  const most = Math.max(1, ...cells.map((cell) => cell.leads));
  const hours = Array.from({ length: 24 }, (_, hour) => hour);
  const hourName = (hour: number) => `${String(hour).padStart(2, '0')}h`;
  return (
    <Section id="arrivals" title={ti.arrivals} hint={ti.arrivalsHint(session.workspace.timeZone)} csv={csvHref('arrivals', apiParams(view))}>
      <div class="table-scroll">
        <table class="heatmap" data-table="arrivals">
          <thead>
            <tr>
              <td />
              {hours.map((hour) => (
                <th key={hour} scope="col" aria-label={`${ti.hour} ${hour}`}>
                  {hour % 3 === 0 ? hour : ''}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {ti.weekdays.map((day, index) => (
              <tr key={day}>
                <th scope="row" aria-label={day}>
                  {ti.weekdaysShort[index]}
                </th>
                {hours.map((hour) => {
                  const leads = cells.find((cell) => cell.dayOfWeek === index + 1 && cell.hour === hour)?.leads ?? 0;
                  const level = leads === 0 ? 0 : Math.max(1, Math.ceil((leads / most) * 5));
                  const label = ti.cell(day, hourName(hour), f.number(leads));
                  return (
                    <td key={hour} class={`heat heat-${level}`}>
                      {leads > 0 ? (
                        <button type="button" aria-label={label} title={label} onClick={() => onDrill({ title: `${day} ${hourName(hour)}`, selection: { dayOfWeek: index + 1, hour } })}>
                          {f.number(leads)}
                        </button>
                      ) : (
                        <span class="sr-only">{label}</span>
                      )}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Section>
  );
}

/** The leads behind a figure, newest first, each a link to its conversation. */
function DrillPanel({ drill, view, onClose }: { drill: Drill; view: View; onClose: () => void }) {
  const { t, time } = useApp();
  const ti = t.insights;
  const [rows, setRows] = useState<LeadRow[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState('');
  const panel = useRef<HTMLElement>(null);
  const params = { ...apiParams(view), ...drill.selection } as Record<string, string | number | undefined>;
  const load = async (after: string | null) => {
    try {
      const page = await get<List<LeadRow>>(`/insights/leads${query({ ...params, limit: 50, cursor: after })}`);
      setRows((previous) => (after ? [...previous, ...page.data] : page.data));
      setCursor(page.nextCursor);
      setError('');
    } catch (failure) {
      setError(errorText(failure));
    }
    setLoaded(true);
  };
  useEffect(() => {
    setLoaded(false);
    setRows([]);
    void load(null);
    panel.current?.scrollIntoView({ block: 'nearest' });
    panel.current?.focus();
  }, [JSON.stringify(params)]);
  const title = ti.drillTitle(drill.title);
  return (
    <section class="card drill" ref={panel} tabIndex={-1} aria-labelledby="drill-title" aria-busy={!loaded}>
      <header>
        <h3 id="drill-title">{title}</h3>
        <a class="button csv" href={csvHref('leads', params)} download="" aria-label={ti.downloadCsv(title)}>
          {ti.csv}
        </a>
        <button type="button" onClick={onClose} aria-label={ti.closeDrill}>
          ✕
        </button>
      </header>
      <Alert text={error} />
      {loaded && rows.length === 0 && !error && <p class="hint">{ti.drillEmpty}</p>}
      {rows.length > 0 && (
        <ul class="drill-list">
          {rows.map((row) => (
            <li key={row.id} data-lead={row.id}>
              <a href={`#/inbox/${row.id}`}>{row.name ?? t.unknownContact}</a>
              <span class="row-meta">
                {t.channels[row.channel as keyof typeof t.channels] ?? row.channel} · {t.stages[row.stage as keyof typeof t.stages] ?? row.stage} · {row.owner ?? ti.noOwner} ·{' '}
                <time>{time(row.createdAt)}</time>
              </span>
            </li>
          ))}
        </ul>
      )}
      {cursor && (
        <button type="button" onClick={() => void load(cursor)}>
          {t.loadMore}
        </button>
      )}
    </section>
  );
}
