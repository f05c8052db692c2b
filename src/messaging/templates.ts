import fs from 'node:fs';
import path from 'node:path';
import matter from 'gray-matter';
import Handlebars from 'handlebars';
import type { ChannelKind } from '../channels/contract.js';
import { ProblemError } from '../errors.js';
import { projectPath } from '../paths.js';

export interface RenderedMessage {
  subject?: string;
  text: string;
  html?: string;
  smsSegments?: number;
}

export interface TemplateVariables {
  lead: { name: string | null; firstName: string | null; email: string | null; phone: string | null };
  owner: { name: string | null; phone: string | null; email: string | null };
  workspace: { name: string };
  product: { name: string | null };
  [extra: string]: unknown;
}

interface CompiledTemplate {
  subject?: Handlebars.TemplateDelegate;
  body: Handlebars.TemplateDelegate;
  source: { subject?: string; body: string };
  /** Every variable path the template reads, e.g. "lead.firstName". */
  variables: string[];
}

export interface ShippedTemplate {
  id: string;
  name: string;
  locale: string;
  channel: ChannelKind;
  subject?: string;
  body: string;
}


/** A template's text as a workspace stores it. */
export interface TemplateSource {
  id?: string;
  locale?: string;
  subject?: string | null;
  body: string;
  updatedAt?: Date;
}

function compile(source: Pick<TemplateSource, 'subject' | 'body'>): CompiledTemplate {
  const options = { strict: true, noEscape: true };
  const subject = source.subject ?? undefined;
  // Parsing here, not at first render, so a broken template is refused when it is saved.
  const variables = [...new Set([...variablePaths(source.body), ...(subject !== undefined ? variablePaths(subject) : [])])];
  return {
    body: Handlebars.compile(source.body, options),
    ...(subject !== undefined ? { subject: Handlebars.compile(subject, options) } : {}),
    source: { body: source.body.trim(), ...(subject !== undefined ? { subject } : {}) },
    variables,
  };
}

/** "pt-BR.missed_call.sms" → its parts; null for anything else. */
export function parseTemplateId(id: string): { locale: string; name: string; channel: ChannelKind } | null {
  const match = /^([a-z]{2}(?:-[A-Z]{2})?)\.([\w-]+)\.(email|whatsapp|sms)$/.exec(id);
  return match ? { locale: match[1]!, name: match[2]!, channel: match[3] as ChannelKind } : null;
}

/** The variable paths a template reads; block helpers (if, unless) are not variables, their arguments are. */
function variablePaths(source: string): string[] {
  const paths = new Set<string>();
  const visit = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      node.forEach(visit);
      return;
    }
    const typed = node as { type?: string; path?: { original?: string }; params?: unknown[]; program?: unknown; inverse?: unknown; body?: unknown[] };
    if (typed.type === 'MustacheStatement' || typed.type === 'BlockStatement' || typed.type === 'SubExpression') {
      const isHelper = (typed.params?.length ?? 0) > 0 || typed.type === 'BlockStatement';
      if (!isHelper && typed.path?.original) paths.add(typed.path.original);
      for (const param of typed.params ?? []) {
        const original = (param as { type?: string; original?: string }).type === 'PathExpression' ? (param as { original?: string }).original : undefined;
        if (original) paths.add(original);
        else visit(param);
      }
    }
    visit(typed.program);
    visit(typed.inverse);
    visit(typed.body);
  };
  visit(Handlebars.parse(source));
  return [...paths].filter((path) => !path.startsWith('@') && path !== 'this');
}

function hasPath(variables: unknown, path: string): boolean {
  let value: unknown = variables;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object' || !(key in (value as object))) return false;
    value = (value as Record<string, unknown>)[key];
  }
  return true;
}

/** What an SMS costs: GSM-7 fits 160 characters (153 per part), anything else UCS-2 70 (67). */
export function smsSegments(text: string): number {
  const gsm = '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
  const extension = '^{}\\[~]|€\f';
  let septets = 0;
  let unicode = false;
  for (const char of text) {
    if (gsm.includes(char)) septets += 1;
    else if (extension.includes(char)) septets += 2;
    else unicode = true;
  }
  if (unicode) {
    const units = [...text].reduce((sum, char) => sum + (char.codePointAt(0)! > 0xffff ? 2 : 1), 0);
    return units <= 70 ? 1 : Math.ceil(units / 67);
  }
  return septets <= 160 ? 1 : Math.ceil(septets / 153);
}

export class TemplateNotFoundError extends ProblemError {
  constructor(name: string, locale: string, channel: string) {
    super('template_invalid', `no template "${name}" for ${channel} in ${locale} or en`);
  }
}

/**
 * Shipped templates live in templates/<locale>/<name>.<channel>.hbs, with front matter for the
 * email subject. Rendering is strict: a variable the template uses but nobody supplied is an
 * error before sending, never a blank in the lead's message.
 */
export class TemplateStore {
  private readonly cache = new Map<string, CompiledTemplate | null>();

  constructor(private readonly dir = projectPath('templates')) {}

  /**
   * Renders `name` for a locale and channel. A workspace's own templates (of that name and
   * channel, any locale) win over the shipped ones, locale by locale.
   */
  render(name: string, locale: string, channel: ChannelKind, variables: TemplateVariables, own: TemplateSource[] = []): RenderedMessage {
    const template = this.find(name, locale, channel, own);
    if (!template) throw new TemplateNotFoundError(name, locale, channel);
    const missing = template.variables.filter((path) => !hasPath(variables, path));
    if (missing.length > 0) {
      throw new ProblemError(
        'template_invalid',
        `template "${name}" needs ${missing.join(', ')}`,
        missing.map((path) => ({ path: `variables.${path}`, message: 'is required by the template' })),
      );
    }
    try {
      const text = template.body(variables).trim();
      const subject = template.subject?.(variables).trim();
      return {
        text,
        ...(subject !== undefined ? { subject } : {}),
        ...(channel === 'email' ? { html: textToHtml(text) } : {}),
        ...(channel === 'sms' ? { smsSegments: smsSegments(text) } : {}),
      };
    } catch (error) {
      throw new ProblemError('template_invalid', `template "${name}" cannot be rendered: ${error instanceof Error ? error.message : String(error)}`, undefined, {
        cause: error,
      });
    }
  }

  /** Every shipped template, in a stable order. */
  list(): ShippedTemplate[] {
    const found: ShippedTemplate[] = [];
    for (const locale of fs.readdirSync(this.dir).sort()) {
      const folder = path.join(this.dir, locale);
      if (!fs.statSync(folder).isDirectory()) continue;
      for (const file of fs.readdirSync(folder).sort()) {
        const match = /^([\w-]+)\.(email|whatsapp|sms)\.hbs$/.exec(file);
        if (!match) continue;
        const template = this.get(`${locale}.${match[1]}.${match[2]}`);
        if (template) found.push(template);
      }
    }
    return found;
  }

  get(id: string): ShippedTemplate | null {
    const parts = parseTemplateId(id);
    const compiled = parts ? this.load(parts.locale, parts.name, parts.channel) : null;
    if (!parts || !compiled) return null;
    return { id, ...parts, body: compiled.source.body, ...(compiled.source.subject !== undefined ? { subject: compiled.source.subject } : {}) };
  }

  /** Throws when the source is not a valid template, naming what is wrong. */
  check(source: TemplateSource): void {
    try {
      compile(source);
    } catch (error) {
      throw new ProblemError('validation_failed', `the template does not compile: ${error instanceof Error ? error.message : String(error)}`, [
        { path: 'body', message: error instanceof Error ? error.message : String(error) },
      ]);
    }
  }

  private find(name: string, locale: string, channel: ChannelKind, own: TemplateSource[]): CompiledTemplate | null {
    for (const candidate of [locale, locale.split('-')[0]!, 'en']) {
      const mine = own.find((template) => template.locale === candidate);
      if (mine) return this.compiled(mine);
      const compiled = this.load(candidate, name, channel);
      if (compiled) return compiled;
    }
    return null;
  }

  private compiled(source: TemplateSource): CompiledTemplate {
    const key = `own:${source.id}:${source.updatedAt?.getTime() ?? 0}:${source.body.length}`;
    let compiled = this.cache.get(key);
    if (!compiled) {
      compiled = compile(source);
      if (this.cache.size > 5_000) this.cache.clear();
      this.cache.set(key, compiled);
    }
    return compiled;
  }

  private load(locale: string, name: string, channel: ChannelKind): CompiledTemplate | null {
    const key = `${locale}/${name}.${channel}`;
    if (this.cache.has(key)) return this.cache.get(key)!;
    if (!/^[\w-]+$/.test(name) || !/^[\w-]+$/.test(locale)) return null;
    const file = path.join(this.dir, locale, `${name}.${channel}.hbs`);
    let compiled: CompiledTemplate | null = null;
    if (fs.existsSync(file)) {
      const { data, content } = matter(fs.readFileSync(file, 'utf8'));
      compiled = compile({ body: content, ...(typeof data.subject === 'string' ? { subject: data.subject } : {}) });
    }
    this.cache.set(key, compiled);
    return compiled;
  }
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Paragraphs and line breaks of the plain text, escaped, as the HTML part of an email. */
export function textToHtml(text: string): string {
  const paragraphs = text
    .split(/\n{2,}/)
    .map((paragraph) => `<p>${escapeHtml(paragraph).replace(/\n/g, '<br>')}</p>`)
    .join('\n');
  return `<!doctype html><html><body style="font-family: sans-serif; line-height: 1.5">\n${paragraphs}\n</body></html>`;
}
