import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { Gateway } from '../../src/gateway.js';
import { FakeWhatsApp } from '../support/fake-whatsapp.js';
import { parsePrometheus, type Scrape, scrape } from '../support/prometheus.js';
import { TestSmtpServer } from '../support/smtp.js';
import { apiRequest, createWebform, eventually, postForm, seedEmbeddedDatabase, settle, type Stack, stackEnv, startStack, type WebformSource } from '../support/stack.js';

const token = 'metrics-token-0123456789abcdef';

describe('metrics: what a scraper sees of a gateway at work', () => {
  let smtp: TestSmtpServer;
  let stack: Stack;
  let form: WebformSource;
  let metricsUrl: string;
  const read = () => scrape(metricsUrl, token);

  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    stack = await startStack({
      db: 'pglite',
      queue: 'embedded',
      smtp: { url: smtp.url, from: 'Acme Vendas <vendas@acme.test>' },
      env: { LEADGATE_METRICS_TOKEN: token },
      adapterOptions: { whatsapp: { driver: new FakeWhatsApp() } },
    });
    metricsUrl = `http://127.0.0.1:${await stack.gateway.listenMetrics(0, '127.0.0.1')}/metrics`;
    form = await createWebform(stack);
  });
  afterAll(async () => {
    await stack?.close();
    await smtp?.stop();
  });

  it('serves /metrics only with the token, as problem+json otherwise, and never on the public port', async () => {
    const anonymous = await fetch(metricsUrl);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('content-type')).toBe('application/problem+json');
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(((await anonymous.json()) as { type: string }).type).toBe('https://leadgate.dev/problems/unauthorized');

    const wrong = await fetch(metricsUrl, { headers: { authorization: `Bearer ${token}x` } });
    expect(wrong.status).toBe(401);
    await wrong.body?.cancel();

    const elsewhere = await fetch(metricsUrl.replace('/metrics', '/'), { headers: { authorization: `Bearer ${token}` } });
    expect(elsewhere.status).toBe(404);
    expect(elsewhere.headers.get('content-type')).toBe('application/problem+json');
    await elsewhere.body?.cancel();

    const publicPort = await fetch(`${stack.baseUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(publicPort.status).toBe(404);
    await publicPort.body?.cancel();

    const scraped = await read();
    expect(scraped.sum('leadgate_info', { role: 'api' })).toBe(1);
    // Node's process metrics come along.
    expect(scraped.has('process_cpu_user_seconds_total')).toBe(true);
    expect(scraped.has('nodejs_eventloop_lag_seconds')).toBe(true);
  });

  it('counts a form post from capture to the acknowledgement sent, and a replay as a duplicate', async () => {
    const before = await read();
    const submission = { name: 'Ana Metrica', email: 'ana.metrica@example.com', message: 'Quero um orçamento' };
    expect((await postForm(stack, form, submission)).status).toBe(202);
    await eventually(() => expect(smtp.received.some((mail) => mail.envelope.to.includes('ana.metrica@example.com'))).toBe(true));
    await settle(stack);
    expect((await postForm(stack, form, submission)).status).toBe(200);
    const after = await read();

    const moved = (name: string, labels: Record<string, string> = {}) => after.sum(name, labels) - before.sum(name, labels);
    expect(moved('leadgate_captures_total', { channel: 'webform', outcome: 'stored' })).toBe(1);
    expect(moved('leadgate_captures_total', { channel: 'webform', outcome: 'duplicate' })).toBe(1);
    expect(moved('leadgate_capture_duration_seconds_count', { channel: 'webform' })).toBe(2);
    expect(moved('leadgate_capture_duration_seconds_bucket', { channel: 'webform', le: '+Inf' })).toBe(2);
    expect(moved('leadgate_inbound_processed_total', { channel: 'webform', outcome: 'processed' })).toBe(1);
    expect(moved('leadgate_sends_total', { channel: 'email', outcome: 'sent' })).toBe(1);
    expect(moved('leadgate_send_duration_seconds_count', { channel: 'email', outcome: 'ok' })).toBe(1);
    expect(moved('leadgate_http_request_duration_seconds_count', { method: 'POST', status: '2xx' })).toBeGreaterThanOrEqual(2);
    // Settled: nothing waits, in the database or in the queue.
    expect(after.sum('leadgate_inbound_pending')).toBe(0);
    expect(after.sum('leadgate_inbound_oldest_pending_age_seconds')).toBe(0);
    expect(after.sum('leadgate_outbound_messages')).toBe(0);
    for (const queue of ['inbound', 'outbound']) {
      for (const state of ['waiting', 'active', 'delayed', 'failed']) expect(after.samples.some((s) => s.name === 'leadgate_queue_jobs' && s.labels.queue === queue && s.labels.state === state)).toBe(true);
    }
    expect(after.sum('leadgate_dependency_up', { dependency: 'database' })).toBe(1);
    expect(after.types.get('leadgate_captures_total')).toBe('counter');
    expect(after.types.get('leadgate_capture_duration_seconds')).toBe('histogram');
    // No person's address or name in any label.
    for (const sample of after.samples) expect(JSON.stringify(sample.labels)).not.toMatch(/metrica|example\.com/i);
  });

  it('counts a send that failed for a while as retries, then sent', async () => {
    const before = await read();
    smtp.failNext(2, 451, 'try again later');
    expect((await postForm(stack, form, { name: 'Bia Retry', email: 'bia.retry@example.com' })).status).toBe(202);
    await eventually(() => expect(smtp.received.some((mail) => mail.envelope.to.includes('bia.retry@example.com'))).toBe(true));
    await settle(stack);
    const after = await read();
    expect(after.sum('leadgate_send_retries_total', { channel: 'email' }) - before.sum('leadgate_send_retries_total', { channel: 'email' })).toBe(2);
    expect(after.sum('leadgate_sends_total', { channel: 'email', outcome: 'sent' }) - before.sum('leadgate_sends_total', { channel: 'email', outcome: 'sent' })).toBe(1);
    expect(after.sum('leadgate_send_duration_seconds_count', { channel: 'email', outcome: 'error' }) - before.sum('leadgate_send_duration_seconds_count', { channel: 'email', outcome: 'error' })).toBe(2);
  });

  it("shows a source's connection state with its id and kind", async () => {
    const { status, body } = await stack.api<{ id: string }>('POST', '/api/v1/sources', { kind: 'whatsapp', name: 'Vendas', autoReplyTemplate: null });
    expect(status).toBe(201);
    await eventually(async () => {
      const scraped = await read();
      const states = scraped.samples.filter((sample) => sample.name === 'leadgate_source_connection_state' && sample.labels.source_id === body.id);
      expect(states).toHaveLength(1);
      expect(states[0]).toMatchObject({ labels: { kind: 'whatsapp' }, value: 1 });
      expect(['pairing', 'connecting']).toContain(states[0]!.labels.state);
    });
  });

  it('has every metric the Grafana dashboard queries, with the labels it selects on', async () => {
    const dashboard = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, '../../docs/grafana/leadgate.json'), 'utf8')) as Dashboard;
    const scraped = await read();
    expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', query: 'prometheus' }));
    const panels = dashboard.panels.filter((panel) => panel.type !== 'row');
    expect(new Set(dashboard.panels.map((panel) => panel.id)).size).toBe(dashboard.panels.length);
    expect(panels.length).toBeGreaterThan(10);
    const queried = new Set<string>();
    for (const panel of panels) {
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${DS_PROMETHEUS}' });
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets) {
        expect(target.datasource).toEqual(panel.datasource);
        const names = [...target.expr.matchAll(/\b(?:leadgate|process|nodejs)_[a-z0-9_]+/g)].map(([name]) => name);
        expect(names.length, target.expr).toBeGreaterThan(0);
        for (const name of names) queried.add(name);
        for (const [, name, selector] of target.expr.matchAll(/\b((?:leadgate|process|nodejs)_[a-z0-9_]+)\{([^}]*)\}/g)) {
          const family = scraped.samples.filter((sample) => sample.name === name);
          // A family with nothing to show yet (no message due) has no samples to read labels from.
          if (family.length === 0) continue;
          for (const [, label] of selector!.matchAll(/([a-z_]+)\s*(?:=|!=|=~|!~)/g)) {
            expect(family.some((sample) => label! in sample.labels), `${name} has no label ${label}`).toBe(true);
          }
        }
      }
    }
    for (const name of queried) {
      const family = name.replace(/_(bucket|count|sum)$/, '');
      const type = scraped.types.get(name) ?? (family !== name ? scraped.types.get(family) : undefined);
      expect(type, `${name} is queried by the dashboard but not exported`).toBeDefined();
      if (family !== name && !scraped.types.has(name)) expect(['histogram', 'summary']).toContain(type);
    }
  });
});

interface Dashboard {
  templating: { list: { name: string; type: string; query: string }[] };
  panels: { id: number; type: string; title: string; datasource?: unknown; gridPos: { x: number; w: number }; targets: { expr: string; datasource: unknown }[] }[];
}

describe('metrics: the backlog of a gateway whose workers are elsewhere', () => {
  let gateway: Gateway;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leadgate-test-'));
    const env = stackEnv({ db: 'pglite', queue: 'embedded' }, dataDir);
    seedEmbeddedDatabase(env);
    // HTTP only: what it stores waits for a worker process, as with LEADGATE_WORKERS=false.
    gateway = await Gateway.create(loadConfig(env), { logger: pino({ level: 'silent' }) });
    const port = await gateway.listen(0, '127.0.0.1');
    const baseUrl = `http://127.0.0.1:${port}`;
    const api: Stack['api'] = (method, urlPath, body) => apiRequest(baseUrl, env.LEADGATE_API_KEY!, method, urlPath, body);
    const stack = { baseUrl, apiKey: env.LEADGATE_API_KEY!, api } as Stack;
    const form = await createWebform(stack);
    for (let i = 0; i < 3; i++) expect((await postForm(stack, form, { name: `Espera ${i}`, email: `espera${i}@example.com` })).status).toBe(202);
  });
  afterAll(async () => {
    await gateway?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('shows the pending events and the age of the oldest, without a token on loopback when none is set', async () => {
    const port = await gateway.listenMetrics(0, '127.0.0.1');
    const scraped = await scrape(`http://127.0.0.1:${port}/metrics`);
    expect(scraped.sum('leadgate_inbound_pending', { channel: 'webform' })).toBe(3);
    const age = scraped.sum('leadgate_inbound_oldest_pending_age_seconds');
    expect(age).toBeGreaterThan(0);
    expect(age).toBeLessThan(120);
  });
});

describe('metrics: the text format reader', () => {
  const valid = ['# HELP a_total A thing.', '# TYPE a_total counter', 'a_total{x="1",y="q\\"uote"} 3', '# TYPE b histogram', 'b_bucket{le="+Inf"} 2', 'b_sum 0.5', 'b_count 2', ''].join('\n');
  it('reads valid text and refuses a malformed line or a sample without a type', () => {
    const parsed: Scrape = parsePrometheus(valid);
    expect(parsed.sum('a_total', { y: 'q"uote' })).toBe(3);
    expect(parsed.sum('b_bucket', { le: '+Inf' })).toBe(2);
    expect(() => parsePrometheus(`${valid}a_total{x=1} 3\n`)).toThrow(/line 8/);
    expect(() => parsePrometheus(`${valid}c 1\n`)).toThrow(/no # TYPE/);
    expect(() => parsePrometheus(`${valid}a_total 1 2 3\n`)).toThrow(/line 8/);
  });
});
