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

  render(name: string, locale: string, channel: ChannelKind, variables: TemplateVariables): RenderedMessage {
    const template = this.find(name, locale, channel);
    if (!template) throw new TemplateNotFoundError(name, locale, channel);
    try {
      const text = template.body(variables).trim();
      const subject = template.subject?.(variables).trim();
      return {
        text,
        ...(subject !== undefined ? { subject } : {}),
        ...(channel === 'email' ? { html: textToHtml(text) } : {}),
      };
    } catch (error) {
      throw new ProblemError('template_invalid', `template "${name}" cannot be rendered: ${error instanceof Error ? error.message : String(error)}`, undefined, {
        cause: error,
      });
    }
  }

  private find(name: string, locale: string, channel: ChannelKind): CompiledTemplate | null {
    for (const candidate of [locale, locale.split('-')[0]!, 'en']) {
      const compiled = this.load(candidate, name, channel);
      if (compiled) return compiled;
    }
    return null;
  }

  private load(locale: string, name: string, channel: ChannelKind): CompiledTemplate | null {
    const key = `${locale}/${name}.${channel}`;
    if (this.cache.has(key)) return this.cache.get(key)!;
    if (!/^[\w-]+$/.test(name) || !/^[\w-]+$/.test(locale)) return null;
    const file = path.join(this.dir, locale, `${name}.${channel}.hbs`);
    let compiled: CompiledTemplate | null = null;
    if (fs.existsSync(file)) {
      const { data, content } = matter(fs.readFileSync(file, 'utf8'));
      const options = { strict: true, noEscape: true };
      compiled = {
        body: Handlebars.compile(content, options),
        ...(typeof data.subject === 'string' ? { subject: Handlebars.compile(data.subject, options) } : {}),
      };
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
