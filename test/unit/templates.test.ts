import { describe, expect, it } from 'vitest';
import { ProblemError } from '../../src/errors.js';
import { TemplateStore, type TemplateVariables } from '../../src/messaging/templates.js';

const variables: TemplateVariables = {
  lead: { name: 'Ana Souza', firstName: 'Ana', email: 'ana@example.com', phone: null },
  owner: { name: null, phone: null, email: null },
  workspace: { name: 'Acme <Solar>' },
  product: { name: null },
};

describe('templates', () => {
  const store = new TemplateStore();

  it('render the shipped acknowledgement per locale, with subject, text and escaped HTML', () => {
    const pt = store.render('acknowledgement', 'pt-BR', 'email', variables);
    expect(pt.subject).toBe('Recebemos sua mensagem — Acme <Solar>');
    expect(pt.text).toContain('Olá Ana,');
    expect(pt.text).toContain('alguém da nossa equipe vai falar com você');
    expect(pt.html).toContain('Acme &lt;Solar&gt;');
    const en = store.render('acknowledgement', 'en', 'email', variables);
    expect(en.text).toContain('Hi Ana,');
  });

  it('fall back from an unknown locale to English', () => {
    expect(store.render('acknowledgement', 'de-DE', 'email', variables).text).toContain('Hi Ana,');
  });

  it('refuse a template name that is not shipped, rather than sending nothing', () => {
    expect(() => store.render('no_such_template', 'en', 'email', variables)).toThrow(ProblemError);
    expect(() => store.render('../../package', 'en', 'email', variables)).toThrow(ProblemError);
  });

  it('treat a variable nobody supplied as an error, never a blank', () => {
    const missing = { ...variables, workspace: {} } as unknown as TemplateVariables;
    expect(() => store.render('acknowledgement', 'en', 'email', missing)).toThrow(/needs workspace\.name/);
  });
});

describe('SMS segments', () => {
  it('count GSM-7 text in 160s (153 per part) and anything else in 70s (67 per part)', async () => {
    const { smsSegments } = await import('../../src/messaging/templates.js');
    expect(smsSegments('a'.repeat(160))).toBe(1);
    expect(smsSegments('a'.repeat(161))).toBe(2);
    expect(smsSegments('a'.repeat(306))).toBe(2);
    expect(smsSegments('a'.repeat(307))).toBe(3);
    expect(smsSegments(`${'a'.repeat(159)}€`)).toBe(2);
    expect(smsSegments('ã'.repeat(70))).toBe(1);
    expect(smsSegments('ã'.repeat(71))).toBe(2);
    expect(smsSegments('Olá, tudo bem?')).toBe(1);
  });
});
