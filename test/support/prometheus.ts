/**
 * Reads the Prometheus text exposition format (version 0.0.4) strictly: every line must be a
 * HELP, a TYPE or a sample with well-formed labels and a number, or parsing fails naming it.
 * @see https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  samples: Sample[];
  types: Map<string, string>;
  /** The sum of the samples named `name` whose labels include `labels`. */
  sum(name: string, labels?: Record<string, string>): number;
  /** Whether any sample is named `name` (a histogram's `_bucket`, `_sum`, `_count` count for it). */
  has(name: string): boolean;
}

const metricName = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const labelPair = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const number = '(?:[+-]?(?:\\d+\\.?\\d*(?:[eE][+-]?\\d+)?|\\.\\d+(?:[eE][+-]?\\d+)?)|[Nn][Aa][Nn]|[+-][Ii][Nn][Ff])';
const sampleLine = new RegExp(`^(${metricName})(?:\\{((?:${labelPair})(?:,${labelPair})*,?)?\\})? (${number})(?: -?\\d+)?$`);
const helpLine = new RegExp(`^# HELP (${metricName}) .*$`);
const typeLine = new RegExp(`^# TYPE (${metricName}) (counter|gauge|histogram|summary|untyped)$`);
const labelInLine = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"/g;

export function parsePrometheus(text: string): Scrape {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (const [index, line] of lines.entries()) {
    const type = typeLine.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (helpLine.test(line) || line === '') continue;
    const sample = sampleLine.exec(line);
    if (!sample) throw new Error(`line ${index + 1} is not Prometheus text format: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (sample[2] ?? '').matchAll(labelInLine)) labels[key!] = value!.replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
    const raw = sample[3]!;
    // Go's ParseFloat, which Prometheus reads values with, takes NaN and Inf in any case.
    const value = /nan/i.test(raw) ? Number.NaN : /inf/i.test(raw) ? (raw.startsWith('-') ? -Infinity : Infinity) : Number(raw);
    samples.push({ name: sample[1]!, labels, value });
  }
  for (const { name } of samples) {
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    if (!types.has(family)) throw new Error(`${name} has samples but no # TYPE line`);
  }
  const matches = (sample: Sample, name: string, labels: Record<string, string>) =>
    sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value);
  return {
    samples,
    types,
    sum: (name, labels = {}) => samples.filter((sample) => matches(sample, name, labels)).reduce((total, sample) => total + sample.value, 0),
    has: (name) => samples.some((sample) => sample.name === name || sample.name === `${name}_count`),
  };
}

/** GET /metrics of a metrics listener, parsed; fails on anything but a 200 in the text format. */
export async function scrape(url: string, token?: string): Promise<Scrape> {
  const response = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  const text = await response.text();
  if (response.status !== 200) throw new Error(`scraping ${url} answered ${response.status}: ${text}`);
  if (!/^text\/plain; version=0\.0\.4/.test(response.headers.get('content-type') ?? '')) throw new Error(`unexpected content type ${response.headers.get('content-type')}`);
  return parsePrometheus(text);
}
