/**
 * Every string of the page, one dictionary per locale (i18n/): the English one's type is every
 * locale's, so a string missing from one fails the type check.
 */
import { type Dictionary, en } from './i18n/en.js';
import { ptBR } from './i18n/pt-BR.js';

export type { Dictionary };

export const stageSlugs = ['open', 'contacted', 'nurture', 'qualified', 'negotiation', 'customer', 'inactive', 'unqualified'] as const;

export type Locale = 'en' | 'pt-BR';

export const dictionaries: Record<Locale, Dictionary> = { en, 'pt-BR': ptBR };

/** pt, pt-BR, pt-PT → pt-BR; anything else → en. */
export function pickLocale(tag: string | null | undefined): Locale {
  return tag?.toLowerCase().startsWith('pt') ? 'pt-BR' : 'en';
}
