import fs from 'node:fs';
import qs from 'qs';
import { describe, expect, it } from 'vitest';
import { normalizeKey, normalizeSubmission, normalizeSubmissions, type NormalizedSubmission } from '../../adapters/webform/normalize.js';

function fixture(name: string): string {
  return fs.readFileSync(new URL(`../fixtures/webform/${name}`, import.meta.url), 'utf8');
}

function jsonFixture(name: string): unknown {
  return JSON.parse(fixture(name)) as unknown;
}

const EMPTY: NormalizedSubmission = { utm: {}, builder: 'generic', custom: {} };

describe('normalizeSubmission: form builder payloads', () => {
  it('maps a Typeform webhook: titles as keys, refs and answer types as fallbacks, hidden fields as utm', () => {
    expect(normalizeSubmission(jsonFixture('typeform.json'))).toEqual({
      builder: 'typeform',
      externalId: '01JDG8Q4W6XK3M2T9R5B7N1C0F',
      name: 'Ana Souza',
      // The title is a question no alias matches; the field's ref ("email") does.
      email: 'ana.souza@example.com.br',
      // Neither title nor ref match: the phone_number answer type does.
      phone: '+5511987654321',
      product: 'Plano Pro',
      message: 'Precisamos integrar os leads do site com o WhatsApp da equipe comercial.',
      pageUrl: 'https://acme.com.br/orcamento?utm_source=instagram',
      utm: {
        utm_source: 'instagram',
        utm_medium: 'paid_social',
        utm_campaign: 'black-friday-2026',
        fbclid: 'IwZXh0bgNhZW0BMABhZGlkAasW9vJ1c2h7',
      },
      custom: {
        'Como prefere ser contatado?': 'WhatsApp, E-mail, Telegram',
        'Aceita receber novidades?': 'true',
        'Quantos funcionários tem a sua empresa?': '12',
        'Quando quer começar?': '2027-01-15',
      },
    });
  });

  it('falls back to the Typeform token and to the field ref when the definition is missing', () => {
    const result = normalizeSubmission({
      event_type: 'form_response',
      form_response: {
        token: 'tok_123',
        answers: [
          { type: 'text', text: 'Bruno Lima', field: { id: 'x1', type: 'short_text', ref: 'full_name' } },
          { type: 'text', text: 'Curitiba', field: { id: 'x2', type: 'short_text', ref: 'cidade' } },
        ],
      },
    });
    expect(result).toEqual({
      builder: 'typeform',
      externalId: 'tok_123',
      name: 'Bruno Lima',
      utm: {},
      custom: { cidade: 'Curitiba' },
    });
  });

  it('maps a Jotform webhook from rawRequest and ignores Jotform\'s own envelope', () => {
    const result = normalizeSubmission(jsonFixture('jotform.json'));
    expect(result).toEqual({
      builder: 'jotform',
      externalId: '6081234567890123456',
      name: 'Ana Souza',
      email: 'ana.souza@example.com.br',
      phone: '(11) 98765-4321',
      message: 'Gostaria de um orçamento para 3 unidades, com instalação.',
      utm: {
        utm_source: 'google',
        utm_medium: 'cpc',
        utm_campaign: 'orcamento-2026',
        gclid: 'Cj0KCQiA5fetBhC9ARIsAP1UMgH7',
      },
      custom: {
        produtoDe: 'Plano Empresarial',
        comoConheceu: 'Google, Indicação',
        dataDe: '2026-12-05',
      },
    });
    // The envelope's `product: "false"` is Jotform metadata, not the respondent's answer.
    expect(result.product).toBeUndefined();
  });

  it('flattens a Jotform {area, phone} phone and reads `pretty` when rawRequest is unusable', () => {
    const split = normalizeSubmission({
      formID: '1',
      submissionID: '2',
      rawRequest: JSON.stringify({ q3_name: { first: 'Ana', last: 'Souza' }, q5_phoneNumber: { area: '11', phone: '98765-4321' } }),
    });
    expect(split.name).toBe('Ana Souza');
    expect(split.phone).toBe('(11) 98765-4321');

    const pretty = normalizeSubmission({
      formID: '1',
      submissionID: '3',
      rawRequest: '{not json',
      pretty: 'Nome completo:Ana Souza, E-mail:ana@example.com, Cidade:Recife',
    });
    expect(pretty).toEqual({
      builder: 'jotform',
      externalId: '3',
      name: 'Ana Souza',
      email: 'ana@example.com',
      utm: {},
      custom: { Cidade: 'Recife' },
    });
  });

  it('maps an Elementor simple webhook keyed by field labels, dropping its metadata rows', () => {
    expect(normalizeSubmission(jsonFixture('elementor.json'))).toEqual({
      builder: 'elementor',
      name: 'Ana Souza',
      email: 'ana.souza@example.com.br',
      phone: '(11) 98765-4321',
      product: 'Consultoria',
      message: 'Quero entender como funciona a implantação.',
      pageUrl: 'https://acme.com.br/contato/',
      utm: { utm_source: 'facebook', utm_medium: 'cpc' },
      custom: {
        'Quero receber novidades por e-mail': 'on',
        Date: '25 de novembro de 2026',
        Time: '10:04',
      },
    });
  });

  it('maps an Elementor advanced-data webhook parsed from its urlencoded body', () => {
    const body = qs.parse(fixture('elementor-advanced.txt').trim());
    const expected: NormalizedSubmission = {
      builder: 'elementor',
      name: 'Ana Souza',
      email: 'ana.souza@example.com.br',
      phone: '(11) 98765-4321',
      message: 'Preciso de 20 licenças até janeiro.',
      pageUrl: 'https://acme.com.br/planos/?utm_source=google',
      utm: { utm_campaign: 'lancamento-2026' },
      custom: {
        'Qual produto te interessa?': 'Plano Pro',
        'Como nos conheceu?': 'Google, Instagram',
        'Aceito a política de privacidade': 'on',
      },
    };
    expect(normalizeSubmission(body)).toEqual(expected);

    const { 'Qual produto te interessa?': _mapped, ...rest } = expected.custom;
    expect(normalizeSubmission(body, { fieldMap: { 'Qual produto te interessa?': 'product' } })).toEqual({
      ...expected,
      product: 'Plano Pro',
      custom: rest,
    });
  });

  it('maps a WPForms entry: key = field name, value = value, externalId = entry_id', () => {
    expect(normalizeSubmission(jsonFixture('wpforms.json'))).toEqual({
      builder: 'wpforms',
      externalId: '5621',
      name: 'Ana Souza',
      email: 'ana.souza@example.com.br',
      phone: '(11) 98765-4321',
      company: 'Souza & Filhos Ltda',
      product: 'Pro',
      // "Comment or Message" is WPForms' default label: both halves mean message.
      message: 'Temos 3 lojas e queremos centralizar o atendimento.',
      utm: { utm_source: 'newsletter', utm_medium: 'email' },
      custom: {
        'Serviços adicionais': 'Instalação\nTreinamento',
        'Quantidade de funcionários': '25',
      },
    });
  });

  it('builds the WPForms name from first/last when the field has no combined value', () => {
    const result = normalizeSubmission({
      fields: [{ id: 1, type: 'name', name: 'Seu nome', value: '', first: 'Ana', middle: 'Maria', last: 'Souza' }],
    });
    expect(result.builder).toBe('wpforms');
    expect(result.name).toBe('Ana Maria Souza');
  });

  it('maps a Google Forms namedValues payload with Portuguese labels', () => {
    expect(normalizeSubmission(jsonFixture('google-forms.json'))).toEqual({
      builder: 'google-forms',
      name: 'Ana Souza',
      email: 'ana.souza@example.com.br',
      // "Telefone/WhatsApp": both parts are phone aliases.
      phone: '(11) 98765-4321',
      utm: { utm_source: 'google', utm_campaign: 'pesquisa-marca' },
      custom: {
        'Carimbo de data/hora': '25/11/2026 10:00:00',
        // A question no alias should guess at: it needs a fieldMap entry.
        'Qual produto te interessa?': 'Plano Pro',
        'Quais canais você usa hoje?': 'WhatsApp, Instagram, E-mail',
      },
    });
  });

  it('maps a Google Forms question to product only through fieldMap', () => {
    const result = normalizeSubmission(jsonFixture('google-forms.json'), {
      fieldMap: { 'qual_produto_te_interessa': 'product' },
    });
    expect(result.product).toBe('Plano Pro');
    expect(result.custom).not.toHaveProperty('Qual produto te interessa?');
  });

  it('maps a Google Forms Apps Script payload with an answers list and responseId', () => {
    expect(normalizeSubmission(jsonFixture('google-forms-answers.json'))).toEqual({
      builder: 'google-forms',
      externalId: '2_ABaOnudQx7P3mM9yK1vRfZ8sTgWc4hN6',
      name: 'Ana Souza',
      email: 'ana.souza@example.com.br',
      phone: '+55 11 98765-4321',
      message: 'We need to route form leads to our sales team.',
      utm: {},
      custom: {
        'Which plan are you interested in?': 'Pro',
        'Which channels do you use today?': 'WhatsApp, Instagram',
      },
    });
  });

  it('recognises a flat Google Forms sheet row by its Timestamp column', () => {
    const result = normalizeSubmission({ Timestamp: '11/25/2026 10:00:00', Name: 'Ana Souza', 'Email Address': 'ana@example.com' });
    expect(result).toEqual({
      builder: 'google-forms',
      name: 'Ana Souza',
      email: 'ana@example.com',
      utm: {},
      custom: { Timestamp: '11/25/2026 10:00:00' },
    });
  });

  it('maps Contact Form 7 your-* keys and drops its _wpcf7 meta', () => {
    expect(normalizeSubmission(jsonFixture('contact-form-7.json'))).toEqual({
      builder: 'generic',
      name: 'Ana Souza',
      email: 'ana.souza@example.com.br',
      phone: '(11) 98765-4321',
      message: 'Olá! Gostaria de agendar uma visita técnica.',
      utm: { utm_source: 'bing' },
      custom: {
        'your-subject': 'Orçamento de manutenção',
        'menu-servico': 'Manutenção preventiva',
        'checkbox-horario': 'Manhã, Tarde',
        'acceptance-lgpd': '1',
      },
    });
  });

  it("maps Contact Form 7's generated tel-NNN and email-NNN fields", () => {
    expect(normalizeSubmission(jsonFixture('contact-form-7-generated.json'))).toEqual({
      builder: 'generic',
      email: 'roberto.alves@oficina.test',
      phone: '(41) 99654-3210',
      utm: {},
      custom: { 'text-214': 'Roberto Alves', 'textarea-497': 'Quero instalar placas na oficina.', 'menu-630': 'Empresa' },
    });
  });

  it('reads Portuguese question labels ("Qual seu WhatsApp?", "Qual o seu melhor e-mail?")', () => {
    expect(normalizeSubmission(jsonFixture('elementor-pt-questions.json'))).toEqual({
      builder: 'elementor',
      name: 'Camila Torres',
      email: 'camila.torres@escola.test',
      phone: '(85) 98111-2233',
      pageUrl: 'https://acme.com.br/orcamento/',
      utm: {},
      custom: {
        'Como conheceu a gente?': 'Instagram',
        // A yes/no question about WhatsApp is not a phone.
        'Você tem WhatsApp Business?': 'Sim',
        Date: '3 de dezembro de 2026',
        Time: '11:20',
      },
    });
  });

  it('captures every lead of an RD Station webhook, with the form of the last conversion first', () => {
    const leads = normalizeSubmissions(jsonFixture('rd-station.json'));
    expect(leads).toEqual([
      {
        builder: 'rd-station',
        externalId: '6f0a9f2c-3c1e-4a8e-9d55-2b7c1e0f4a11:2026-12-03T09:41:27.000-03:00',
        name: 'Patrícia Rocha',
        email: 'patricia.rocha@clinicavida.test',
        phone: '(11) 3456-7890',
        message: 'Queremos um orçamento para as 3 unidades da clínica.',
        company: 'Clínica Vida',
        utm: { utm_source: 'google', utm_medium: 'cpc', utm_campaign: 'solar-clinicas-nov' },
        custom: {
          identificador: 'orcamento-site',
          'Qual seu WhatsApp?': '(11) 98123-4567',
          job_title: 'Gerente administrativa',
          public_url: 'https://app.rdstation.com.br/leads/public/6f0a9f2c-3c1e-4a8e-9d55-2b7c1e0f4a11',
          website: 'https://clinicavida.test',
          city: 'São Paulo',
          state: 'SP',
          lead_stage: 'Lead Qualificado',
          tags: 'clinicas, solar',
          'Número de unidades': '3',
        },
      },
      {
        builder: 'rd-station',
        externalId: 'a1b2c3d4-0000-4e5f-8a9b-000000000002:2026-12-03T09:43:02.000-03:00',
        name: 'Marcos Lima',
        email: 'marcos.lima@padarialima.test',
        phone: '(21) 99876-1234',
        utm: { utm_source: 'facebook', utm_medium: 'social', utm_campaign: 'padarias-dez' },
        custom: {
          identificador: 'orcamento-site',
          public_url: 'https://app.rdstation.com.br/leads/public/a1b2c3d4-0000-4e5f-8a9b-000000000002',
          city: 'Rio de Janeiro',
          state: 'RJ',
          lead_stage: 'Lead',
        },
      },
    ]);
    // Read as one submission, an RD Station body is its first lead.
    expect(normalizeSubmission(jsonFixture('rd-station.json'))).toEqual(leads[0]);
  });

  it("maps a HubSpot contact's properties.<name>.value, keyed by its form conversion", () => {
    expect(normalizeSubmission(jsonFixture('hubspot.json'))).toEqual({
      builder: 'hubspot',
      externalId: '7c6e9b2a-5d4f-4c3b-8a1e-2f0d9c8b7a65',
      name: 'Juliana Ferraz',
      email: 'juliana.ferraz@construtoraf.test',
      phone: '+55 31 99765-4321',
      company: 'Construtora Ferraz',
      message: 'Preciso de painéis para um condomínio de 40 casas.',
      pageUrl: 'https://www.acme.test/orcamento',
      utm: {},
      custom: { lifecyclestage: 'lead' },
    });
  });

  it('recognises an email and a phone by their values when no field name says so', () => {
    const body = { 'Campo 1': 'Sérgio Mota', 'Campo 2': ' sergio.mota@posto.test ', 'Campo 3': '(62) 98444-1122', 'Campo 4': '13010-000', 'Campo 5': '2026-12-03' };
    expect(normalizeSubmission(body, { defaultCountry: 'BR' })).toEqual({
      builder: 'generic',
      email: 'sergio.mota@posto.test',
      phone: '(62) 98444-1122',
      utm: {},
      // A postcode and a date are not phones.
      custom: { 'Campo 1': 'Sérgio Mota', 'Campo 4': '13010-000', 'Campo 5': '2026-12-03' },
    });
    // Without the form's country, only a number in international form is recognised.
    expect(normalizeSubmission({ a: '(62) 98444-1122' }).phone).toBeUndefined();
    expect(normalizeSubmission({ a: '+55 62 98444-1122' }).phone).toBe('+55 62 98444-1122');
    // A field a name already claimed is never taken over by a value.
    expect(normalizeSubmission({ email: 'first@posto.test', outro: 'second@posto.test' }, { defaultCountry: 'BR' })).toMatchObject({
      email: 'first@posto.test',
      custom: { outro: 'second@posto.test' },
    });
  });

  it('maps a generic payload under a data wrapper, joining first and last names', () => {
    expect(normalizeSubmission(jsonFixture('generic.json'))).toEqual({
      builder: 'generic',
      name: 'Ana Souza',
      email: 'ana.souza@example.com.br',
      phone: '+55 11 98765-4321',
      company: 'Souza & Filhos',
      product: 'Plano Pro',
      pageUrl: 'https://acme.com.br/black-friday',
      utm: { utm_source: 'podcast', gclid: 'EAIaIQobChMI0p7x' },
      custom: {
        'How did you hear about us?': 'Podcast',
        Employees: '25',
        Newsletter: 'true',
        form: 'landing-black-friday',
        submittedAt: '2026-11-25T13:00:00Z',
      },
    });
  });
});

describe('normalizeSubmission: mapping rules', () => {
  it('matches keys regardless of case, accents and punctuation', () => {
    expect(normalizeKey('  Endereço de E-mail: ')).toBe('enderecodeemail');
    const result = normalizeSubmission({
      'NOME COMPLETO': 'Ana Souza',
      'Endereço de e-mail': 'ana@example.com',
      'Número de telefone': '11 98765-4321',
      'Observações': 'Ligar à tarde',
      'Organização': 'ACME',
      'Página': 'https://acme.com.br/',
    });
    expect(result).toEqual({
      builder: 'generic',
      name: 'Ana Souza',
      email: 'ana@example.com',
      phone: '11 98765-4321',
      message: 'Ligar à tarde',
      company: 'ACME',
      pageUrl: 'https://acme.com.br/',
      utm: {},
      custom: {},
    });
  });

  it('accepts a compound label only when its parts agree', () => {
    const result = normalizeSubmission({
      'Celular (WhatsApp)': '11 98765-4321',
      'Prefere e-mail ou telefone?': 'tanto faz',
      Contato: 'manhã',
    });
    expect(result.phone).toBe('11 98765-4321');
    expect(result.email).toBeUndefined();
    // "contato" is deliberately not an alias: it may be a name, a phone or a preference.
    expect(result.custom).toEqual({ 'Prefere e-mail ou telefone?': 'tanto faz', Contato: 'manhã' });
    // An ambiguous label whose value is plainly an address is read by its value.
    const byValue = normalizeSubmission({ 'E-mail ou telefone': 'ana@example.com', Contato: 'manhã' });
    expect(byValue.email).toBe('ana@example.com');
    expect(byValue.custom).toEqual({ Contato: 'manhã' });
  });

  it('lets the first non-empty value win and sends later duplicates to custom', () => {
    const result = normalizeSubmission({ Email: '', 'E-mail': 'first@example.com', email_address: 'second@example.com' });
    expect(result.email).toBe('first@example.com');
    expect(result.custom).toEqual({ email_address: 'second@example.com' });
  });

  it('lets fieldMap win over the built-in aliases and drops ignored fields', () => {
    const body = {
      Telefone: '(11) 3333-4444',
      Celular: '(11) 98765-4321',
      Nome: 'Ana Souza',
      'Nome da mãe': 'Maria Souza',
      Assunto: 'Orçamento',
    };
    const result = normalizeSubmission(body, {
      fieldMap: { telefone: 'ignore', CELULAR: 'phone', 'nome-da-mae': 'ignore', assunto: 'message' },
    });
    expect(result).toEqual({
      builder: 'generic',
      name: 'Ana Souza',
      phone: '(11) 98765-4321',
      message: 'Orçamento',
      utm: {},
      custom: {},
    });
    // Without the map the alias takes the landline and the rest stays custom.
    expect(normalizeSubmission(body).phone).toBe('(11) 3333-4444');
    expect(normalizeSubmission(body).custom).toEqual({
      Celular: '(11) 98765-4321',
      'Nome da mãe': 'Maria Souza',
      Assunto: 'Orçamento',
    });
  });

  it('lets fieldMap retarget a field that an alias would claim', () => {
    const result = normalizeSubmission({ Empresa: 'ACME', Produto: 'Plano Pro' }, { fieldMap: { Produto: 'message' } });
    expect(result.product).toBeUndefined();
    expect(result.message).toBe('Plano Pro');
    expect(result.company).toBe('ACME');
  });

  it('joins first and last names only when no full name was given', () => {
    expect(normalizeSubmission({ 'Primeiro nome': 'Ana', Sobrenome: 'Souza' }).name).toBe('Ana Souza');
    expect(normalizeSubmission({ first_name: 'Ana' }).name).toBe('Ana');
    expect(normalizeSubmission({ last_name: 'Souza' }).name).toBe('Souza');
    const both = normalizeSubmission({ Name: 'Ana Maria Souza', 'First name': 'Ana', 'Last name': 'Souza' });
    expect(both.name).toBe('Ana Maria Souza');
    expect(both.custom).toEqual({ 'First name': 'Ana', 'Last name': 'Souza' });
  });

  it('collects utm_* in any spelling plus gclid/fbclid, lowercasing the keys', () => {
    const result = normalizeSubmission(
      qs.parse('UTM_Source=google&utm%20medium=cpc&utmCampaign=bf&utm[term]=crm&utm_content=ad-1&GCLID=abc&fbclid=def&utmost=x'),
    );
    expect(result.utm).toEqual({
      utm_source: 'google',
      utm_medium: 'cpc',
      utm_campaign: 'bf',
      utm_term: 'crm',
      utm_content: 'ad-1',
      gclid: 'abc',
      fbclid: 'def',
    });
    expect(result.custom).toEqual({ utmost: 'x' });
  });

  it('walks nested qs objects, keeping top-level fields ahead of nested ones', () => {
    const body = qs.parse('form[name]=Contato&name=Ana&contact[email]=ana@example.com&contact[address][city]=Recife');
    expect(normalizeSubmission(body)).toEqual({
      builder: 'generic',
      name: 'Ana',
      email: 'ana@example.com',
      utm: {},
      custom: { 'form.name': 'Contato', 'contact.address.city': 'Recife' },
    });
  });

  it('drops transport noise from custom', () => {
    const result = normalizeSubmission({
      Nome: 'Ana',
      'g-recaptcha-response': 'x',
      'cf-turnstile-response': 'x',
      'h-captcha-response': 'x',
      token: 'x',
      _token: 'x',
      formTitle: 'x',
      event_id: 'x',
      event_type: 'x',
      pretty: 'x',
      _wpcf7_unit_tag: 'x',
      Cidade: 'Recife',
    });
    expect(result.custom).toEqual({ Cidade: 'Recife' });
  });

  it('stringifies numbers and booleans and treats empty values as absent', () => {
    const result = normalizeSubmission({ Idade: 42, Aceite: false, Vazio: '   ', Nada: null, Lista: ['', ' '], email: '  a@b.co  ' });
    expect(result.email).toBe('a@b.co');
    expect(result.custom).toEqual({ Idade: '42', Aceite: 'false' });
  });
});

describe('normalizeSubmission: honeypot', () => {
  it('extracts the default _gotcha field, trimmed, and keeps it out of custom', () => {
    const result = normalizeSubmission({ Nome: 'Bot', _gotcha: '  http://spam.example  ' });
    expect(result.honeypot).toBe('http://spam.example');
    expect(result.custom).toEqual({});
  });

  it('leaves honeypot unset when the field is empty', () => {
    const result = normalizeSubmission(jsonFixture('contact-form-7.json'));
    expect(result).not.toHaveProperty('honeypot');
    expect(result.custom).not.toHaveProperty('_gotcha');
  });

  it('uses a configured honeypot field, even when it looks like a lead field', () => {
    const result = normalizeSubmission({ Nome: 'Ana', website: 'https://spam.example' }, { honeypotField: 'website' });
    expect(result.honeypot).toBe('https://spam.example');
    expect(result.custom).toEqual({});
    expect(normalizeSubmission({ Nome: 'Ana', website: 'https://acme.com' }).custom).toEqual({ website: 'https://acme.com' });
  });

  it('checks the honeypot before fieldMap', () => {
    const result = normalizeSubmission({ _gotcha: 'filled' }, { fieldMap: { _gotcha: 'message' } });
    expect(result.honeypot).toBe('filled');
    expect(result.message).toBeUndefined();
  });
});

describe('normalizeSubmission: hostile input', () => {
  function nest(levels: number, leaf: unknown): unknown {
    let value = leaf;
    for (let i = 0; i < levels; i++) value = { level: value };
    return value;
  }

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['a number', 42],
    ['NaN', Number.NaN],
    ['a boolean', true],
    ['a plain string', 'name=Ana'],
    ['an empty array', []],
    ['an array of numbers', [1, 2, 3]],
    ['an empty object', {}],
    ['a function', () => 'x'],
    ['a Map', new Map([['email', 'a@b.co']])],
  ])('returns an empty generic result for %s', (_label, body) => {
    expect(normalizeSubmission(body)).toEqual(EMPTY);
  });

  it('reads a JSON string body', () => {
    expect(normalizeSubmission('{"email":"a@b.co"}').email).toBe('a@b.co');
  });

  it('survives 50 levels of nesting and stops descending at the depth cap', () => {
    const result = normalizeSubmission({ email: 'a@b.co', deep: nest(50, { message: 'too deep' }), arr: nest(50, ['x']) });
    expect(result.email).toBe('a@b.co');
    expect(result.message).toBeUndefined();
    expect(Object.keys(result.custom)).toEqual([]);

    const nestedArrays = normalizeSubmission({ tags: JSON.parse(`${'['.repeat(50)}"x"${']'.repeat(50)}`) as unknown });
    expect(nestedArrays.custom).toEqual({});

    const shallow = normalizeSubmission({ deep: nest(3, { cidade: 'Recife' }) });
    expect(shallow.custom).toEqual({ 'deep.level.level.level.cidade': 'Recife' });
  });

  it('survives a 50-level nested top-level array', () => {
    expect(normalizeSubmission(nest(50, []))).toEqual(EMPTY);
    expect(normalizeSubmission(JSON.parse(`${'['.repeat(50)}${']'.repeat(50)}`) as unknown)).toEqual(EMPTY);
  });

  it('caps a 1 MB value at 10,000 characters', () => {
    const huge = 'a'.repeat(1_000_000);
    const result = normalizeSubmission({ message: huge, note: huge, email: 'a@b.co' });
    expect(result.message).toHaveLength(10_000);
    expect(result.custom.note).toHaveLength(10_000);
    expect(result.email).toBe('a@b.co');
  });

  it('never cuts a surrogate pair in half', () => {
    const result = normalizeSubmission({ message: `x${'😀'.repeat(6_000)}` });
    expect(result.message!.length).toBeLessThanOrEqual(10_000);
    expect(result.message).toMatch(/😀$/);
  });

  it('survives a 1 MB body string and a 1 MB key', () => {
    expect(normalizeSubmission('{'.repeat(1_000_000))).toEqual(EMPTY);
    const key = `k${' '.repeat(1_000_000)}x`;
    const result = normalizeSubmission({ [key]: 'v' });
    expect(Object.keys(result.custom)).toHaveLength(1);
    expect(Object.keys(result.custom)[0]!.length).toBeLessThanOrEqual(200);
  });

  it('caps custom fields at 200', () => {
    const body: Record<string, string> = {};
    for (let i = 0; i < 5_000; i++) body[`campo ${i}`] = `valor ${i}`;
    const result = normalizeSubmission(body);
    expect(Object.keys(result.custom)).toHaveLength(200);
    expect(result.custom['campo 0']).toBe('valor 0');
  });

  it('terminates on cyclic objects', () => {
    const cyclic: Record<string, unknown> = { email: 'a@b.co' };
    cyclic.self = cyclic;
    const result = normalizeSubmission(cyclic);
    expect(result.email).toBe('a@b.co');
    expect(Object.keys(result.custom).length).toBeLessThanOrEqual(200);
  });

  it('bounds the work on shared-reference fan-out', () => {
    const wide: Record<string, unknown> = {};
    for (let i = 0; i < 100; i++) wide[`k${i}`] = wide;
    const list: unknown[] = [];
    for (let i = 0; i < 100; i++) list.push(list);
    const started = Date.now();
    const result = normalizeSubmission({ email: 'a@b.co', wide, list });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(result.email).toBe('a@b.co');
  });

  it('returns an empty result when reading the body throws', () => {
    const trap = {};
    Object.defineProperty(trap, 'email', {
      enumerable: true,
      get() {
        throw new Error('boom');
      },
    });
    expect(normalizeSubmission(trap)).toEqual(EMPTY);
    const proxy = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('boom');
        },
      },
    );
    expect(normalizeSubmission(proxy)).toEqual(EMPTY);
  });

  it('keeps a __proto__ key as plain data', () => {
    const result = normalizeSubmission(JSON.parse('{"__proto__": "x", "Cidade": "Recife"}') as unknown);
    expect(Object.getPrototypeOf(result.custom)).toBe(Object.prototype);
    expect(Object.hasOwn(result.custom, '__proto__')).toBe(true);
    expect(result.custom.Cidade).toBe('Recife');
  });

  it('ignores malformed options', () => {
    const body = { Nome: 'Ana', Produto: 'Pro' };
    const junk = [
      { fieldMap: 42 },
      { fieldMap: { Produto: 'nonsense' } },
      { fieldMap: null, honeypotField: 7 },
      'options',
    ] as unknown as Parameters<typeof normalizeSubmission>[1][];
    for (const options of junk) {
      expect(normalizeSubmission(body, options)).toEqual({
        builder: 'generic',
        name: 'Ana',
        product: 'Pro',
        utm: {},
        custom: {},
      });
    }
  });
});
