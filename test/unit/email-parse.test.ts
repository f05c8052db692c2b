import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseMail, stripQuotedReply, type ParsedMail } from '../../adapters/email/parse.js';

function fixture(name: string): Buffer {
  return fs.readFileSync(new URL(`../fixtures/email/${name}`, import.meta.url));
}

/** The fixture with extra header lines in front, the way a relay or a list server adds them. */
function withHeaders(name: string, ...lines: string[]): Buffer {
  return Buffer.concat([Buffer.from(lines.map((line) => `${line}\r\n`).join('')), fixture(name)]);
}

function edited(name: string, from: string, to: string): Buffer {
  const raw = fixture(name).toString('utf8');
  expect(raw).toContain(from);
  return Buffer.from(raw.replace(from, to));
}

async function parse(raw: Buffer | string, options: { maxAttachmentBytes?: number; ownAddresses?: string[] } = {}): Promise<ParsedMail> {
  return parseMail(typeof raw === 'string' ? fixture(raw) : raw, { maxAttachmentBytes: 4096, ...options });
}

describe('parseMail: mail a person wrote', () => {
  it('reads a plain Portuguese enquiry: decoded headers, lowercased addresses, the signature kept out of text', async () => {
    const mail = await parse('lead-pt-plain.eml');
    expect(mail).toMatchObject({
      kind: 'message',
      reason: null,
      messageId: '<CAF3k9p2Xq1=vR8sLd0Q@mail.example.com.br>',
      inReplyTo: null,
      references: [],
      from: { address: 'joao.silva@example.com.br', name: 'João da Silva' },
      replyTo: null,
      // Cc is not a recipient the gateway routes on.
      to: ['vendas@acme.test'],
      subject: 'Orçamento para 50 usuários',
      html: null,
      attachments: [],
      bouncedRecipients: [],
    });
    expect(mail.date?.toISOString()).toBe('2026-11-25T12:12:31.000Z');
    expect(mail.text).toBe(
      'Bom dia,\n\n' +
        'Somos uma rede de clínicas com 12 unidades em São Paulo e gostaríamos de um\n' +
        'orçamento do Plano Pro para 50 usuários.\n\n' +
        'Precisamos integrar os formulários do site e o WhatsApp da recepção. Podem\n' +
        'me ligar no (11) 98765-4321?\n\n' +
        'Obrigado,\n' +
        'João',
    );
    expect(mail.fullText).toContain('Obrigado,\nJoão\n\n-- \nJoão da Silva\nDiretor de Operações | Clínicas Exemplo');
    expect(mail.fullText).not.toContain('\r');
  });

  it('converts an HTML-only message to text and keeps the HTML', async () => {
    const mail = await parse('html-only.eml');
    expect(mail.kind).toBe('message');
    expect(mail.from).toEqual({ address: 'wordpress@acme.test', name: 'Site Acme' });
    expect(mail.replyTo).toEqual({ address: 'mariana.costa@cliente.test', name: 'Mariana Costa' });
    expect(mail.subject).toBe('[Acme] Nova mensagem do formulário de contato');
    expect(mail.html).toContain('<strong>Mensagem:</strong>');
    expect(mail.fullText).toContain('Nome: Mariana Costa');
    expect(mail.fullText).toContain('Quero saber preços & prazos para 3 lojas no Rio.');
    expect(mail.fullText).not.toMatch(/<|&amp;|&ccedil;|color: #333333/);
    expect(mail.text).toBe(mail.fullText.trim());
  });

  it('strips the tags itself when the HTML is too deeply nested for mailparser to convert', async () => {
    const body = `${'<div>'.repeat(1500)}Quero um or&ccedil;amento &amp; prazo<br>para n&ordm; 12 &Agrave; vista${'</div>'.repeat(1500)}`;
    const raw = `From: Lead <lead@example.com.br>\r\nTo: vendas@acme.test\r\nSubject: Contato\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><head><style>div { margin: 0 }</style></head><body>${body}</body></html>\r\n`;
    const mail = await parse(Buffer.from(raw));
    expect(mail.fullText).toBe('Quero um orçamento & prazo\npara nº 12 À vista');
    expect(mail.text).toBe('Quero um orçamento & prazo\npara nº 12 À vista');
    expect(mail.html).toContain('or&ccedil;amento');
  });

  it('strips a Gmail reply in English: signature and quoted history gone, the text part used for fullText', async () => {
    const mail = await parse('reply-gmail-en.eml');
    expect(mail.kind).toBe('message');
    expect(mail.from).toEqual({ address: 'mjones@northwind.test', name: 'Maria Jones' });
    expect(mail.to).toEqual(['sales@acme.test']);
    expect(mail.inReplyTo).toBe('<20261125150000.4f2a@acme.test>');
    expect(mail.references).toEqual(['<20261125150000.4f2a@acme.test>']);
    expect(mail.text).toBe(
      'Thanks, the Pro plan looks right for us. Can we start with 30 seats in\n' +
        'December and add the rest in January?\n\n' +
        'Also, does the WhatsApp integration support two numbers?\n\n' +
        'Best,\n' +
        'Maria',
    );
    // The line break after "seats in" exists only in the text/plain part.
    expect(mail.fullText).toContain('30 seats in\nDecember');
    expect(mail.fullText).toContain('Head of Operations, Northwind');
    expect(mail.fullText).toContain('> Here is the quote for 50 seats of the Pro plan: USD 1,450/month.');
    expect(mail.html).toContain('class="gmail_quote"');
  });

  it('strips a Gmail reply in Portuguese whose "Em ..., escreveu:" line is wrapped', async () => {
    const mail = await parse('reply-gmail-pt.eml');
    expect(mail.kind).toBe('message');
    expect(mail.text).toBe(
      'Oi, tudo bem?\n\n' +
        'Fechamos com 20 licenças. Podem enviar o contrato para o financeiro\n' +
        '(financeiro@padaria.test)?\n\n' +
        'Abraços,\n' +
        'Carla',
    );
    expect(mail.fullText).toContain('Em qua., 25 de nov. de 2026 às 10:00, Acme <vendas@acme.test>\nescreveu:');
    expect(mail.fullText).toContain('> Segue a proposta do Plano Pro com 20 licenças: R$ 2.900/mês.');
  });

  it('strips an Outlook reply in Portuguese ("-----Mensagem original-----", latin-1) and ignores X-Auto-Response-Suppress', async () => {
    const mail = await parse('reply-outlook-pt.eml');
    expect(mail.kind).toBe('message');
    expect(mail.reason).toBeNull();
    expect(mail.from).toEqual({ address: 'ricardo.alves@horizonte.test', name: 'Ricardo Alves' });
    expect(mail.messageId).toBe('<000001db3f2a$8c1d4e20$a4576a60$@horizonte.test>');
    expect(mail.text).toBe(
      'Boa tarde,\n\n' +
        'Aprovamos a proposta. Favor emitir a nota fiscal em nome da Construtora Horizonte Ltda.\n\n' +
        'Att.,\n' +
        'Ricardo Alves\n' +
        'Gerente de Compras',
    );
    expect(mail.fullText).toContain('Enviada em: quarta-feira, 25 de novembro de 2026 10:00');
    expect(mail.fullText).toContain('com implantação em dezembro.');
  });

  it('strips an Outlook mobile HTML reply: "Obter o Outlook para Android" and the "De:/Enviado:" block', async () => {
    const mail = await parse('reply-outlook-mobile-pt.eml');
    expect(mail.kind).toBe('message');
    expect(mail.subject).toBe('Re: Instalação do sistema');
    expect(mail.text).toBe('Perfeito, pode agendar a instalação para segunda-feira.');
    expect(mail.fullText).toContain('Obter o Outlook para Android');
    expect(mail.fullText).toContain('De: Acme Vendas <vendas@acme.test>');
    expect(mail.fullText).toContain('Olá Luiza, qual o melhor dia para a instalação?');
  });

  it('strips "Enviado do meu iPhone" and the quoted attribution below it', async () => {
    const mail = await parse('reply-iphone-pt.eml');
    expect(mail.text).toBe('Pode ser na quinta às 15h.');
    expect(mail.fullText).toContain('Enviado do meu iPhone');
    expect(mail.fullText).toContain('> Olá Pedro, podemos marcar uma demonstração esta semana?');
  });

  it('keeps References in header order across folded lines, and joins format=flowed lines', async () => {
    const mail = await parse('thread-references.eml');
    expect(mail.messageId).toBe('<8d2f1c3e-5b7a-4e1f-9a0b-2c6d7e8f9a10@estudio.test>');
    expect(mail.inReplyTo).toBe('<20261126140210.9c1e@acme.test>');
    expect(mail.references).toEqual([
      '<CAF3k9p2Xq1=vR8sLd0Q@mail.example.com.br>',
      '<20261125130000.4f2a@acme.test>',
      '<a1b2c3d4-0000-4000-8000-000000000001@estudio.test>',
      '<20261126140210.9c1e@acme.test>',
    ]);
    expect(mail.from).toEqual({ address: 'luiza@estudio.test', name: 'Luiza Prado' });
    expect(mail.to).toEqual(['vendas@acme.test']);
    expect(mail.text).toBe('Combinado, a instalação na segunda às 9h funciona para nós. Vou deixar a recepção avisada.');
    expect(mail.fullText).toContain('Em 26/11/2026 11:02, Acme Vendas escreveu:\n> Luiza, a instalação ficou para segunda às 9h.');
  });
});

describe('parseMail: what is not a lead', () => {
  it('marks a vacation reply by Auto-Submitted and still reads it', async () => {
    const mail = await parse('auto-reply-vacation.eml');
    expect(mail.kind).toBe('auto_reply');
    expect(mail.reason).toBe('Auto-Submitted: auto-replied');
    expect(mail.subject).toBe('Resposta automática: Proposta Plano Pro');
    expect(mail.inReplyTo).toBe('<20261125130000.5c6d@acme.test>');
    expect(mail.text).toContain('Estou de férias até 04/12');
  });

  it('marks an X-Autoreply responder', async () => {
    const mail = await parse('auto-reply-x-autoreply.eml');
    expect(mail.kind).toBe('auto_reply');
    expect(mail.reason).toBe('X-Autoreply: yes');
    expect(mail.from).toEqual({ address: 'reservas@hotel.test', name: null });
  });

  it('reads a Postfix bounce: failed recipients from the delivery-status part, the report kept out of fullText', async () => {
    const mail = await parse('bounce-postfix.eml');
    // The bounce also carries Auto-Submitted and comes from MAILER-DAEMON; the report type is what names it.
    expect(mail.kind).toBe('bounce');
    expect(mail.reason).toBe('multipart/report delivery-status');
    expect(mail.bouncedRecipients).toEqual(['gone@example.com', 'ana.lima@example.org']);
    expect(mail.from).toEqual({ address: 'mailer-daemon@mail.acme.test', name: 'Mail Delivery System' });
    expect(mail.fullText).toContain('your message could not\nbe delivered to one or more recipients');
    expect(mail.fullText).not.toContain('Reporting-MTA');
    expect(mail.attachments.map((attachment) => attachment.contentType)).toEqual(['message/delivery-status', 'message/rfc822']);
  });

  it('leaves a recipient whose Action is not "failed" out of bouncedRecipients', async () => {
    const mail = await parse(edited('bounce-postfix.eml', 'Action: failed\r\nStatus: 5.1.1', 'Action: delayed\r\nStatus: 4.4.1'));
    expect(mail.kind).toBe('bounce');
    expect(mail.bouncedRecipients).toEqual(['ana.lima@example.org']);
  });

  it('reads an Exim bounce by its sender and X-Failed-Recipients, before its Auto-Submitted header', async () => {
    const mail = await parse('bounce-exim.eml');
    expect(mail.kind).toBe('bounce');
    expect(mail.reason).toBe('from MAILER-DAEMON');
    expect(mail.bouncedRecipients).toEqual(['ex.funcionario@cliente.test']);
  });

  it('marks a newsletter with List-Id and Precedence: bulk', async () => {
    const mail = await parse('newsletter.eml');
    expect(mail.kind).toBe('mailing_list');
    expect(mail.reason).toBe('List-Id present');
    expect(mail.text).toContain('1. Responda em menos de 5 minutos.');
  });

  it("marks the mailbox's own mail, whatever the case of the configured address", async () => {
    const own = await parse('sent-by-mailbox.eml', { ownAddresses: [' Vendas@Acme.TEST '] });
    expect(own.kind).toBe('auto_reply');
    expect(own.reason).toBe('sent by this mailbox');
    const other = await parse('sent-by-mailbox.eml', { ownAddresses: ['suporte@acme.test'] });
    expect(other.kind).toBe('message');
    expect(other.reason).toBeNull();
  });

  it("reads a website form sent through the mailbox itself as the Reply-To's message", async () => {
    const mail = await parse('form-via-own-mailbox.eml', { ownAddresses: ['vendas@acme.test'] });
    expect(mail).toMatchObject({
      kind: 'message',
      reason: null,
      from: { address: 'vendas@acme.test', name: 'Acme Vendas' },
      replyTo: { address: 'rafaela.dias@cliente.test', name: 'Rafaela Dias' },
      subject: 'Acme "Orçamento de energia solar"',
    });
    expect(mail.text).toContain('Meu WhatsApp é (19) 99812-3344.');
    // Reply-To inside the business (a colleague) or absent: still the mailbox's own mail.
    for (const replyTo of ['Suporte <suporte@acme.test>', 'Acme Vendas <VENDAS@acme.test>']) {
      const internal = await parse(edited('form-via-own-mailbox.eml', 'Rafaela Dias <Rafaela.Dias@Cliente.test>\r\nSubject', `${replyTo}\r\nSubject`), {
        ownAddresses: ['vendas@acme.test'],
      });
      expect(internal).toMatchObject({ kind: 'auto_reply', reason: 'sent by this mailbox' });
    }
    // A mailbox at a shared provider: a lead at the same provider is still outside.
    const shared = await parse(edited('form-via-own-mailbox.eml', 'Rafaela.Dias@Cliente.test>\r\nSubject', 'rafaela.dias@gmail.com>\r\nSubject'), {
      ownAddresses: ['vendas@acme.test', 'acmesolar@gmail.com'],
    });
    expect(shared.kind).toBe('message');
    const fromGmail = edited('form-via-own-mailbox.eml', 'From: Acme Vendas <vendas@acme.test>', 'From: Acme <AcmeSolar@gmail.com>').toString('utf8');
    const sharedMailbox = await parse(Buffer.from(fromGmail.replace('Rafaela.Dias@Cliente.test>\r\nSubject', 'rafaela.dias@gmail.com>\r\nSubject')), {
      ownAddresses: ['acmesolar@gmail.com'],
    });
    expect(sharedMailbox).toMatchObject({ kind: 'message', replyTo: { address: 'rafaela.dias@gmail.com' } });
  });

  it("keeps mail that reached the mailbox through the business's own Google Group, and drops other groups", async () => {
    const mail = await parse('google-group-own-domain.eml', { ownAddresses: ['vendas@acme.test'] });
    expect(mail).toMatchObject({
      kind: 'message',
      reason: null,
      from: { address: 'contato@acme.test', name: "'Thiago Moreira' via Contato" },
      replyTo: { address: 'thiago.moreira@fazenda.test', name: 'Thiago Moreira' },
      subject: 'Orçamento para galpão',
    });
    expect(mail.text).toContain('Tenho um galpão de 800 m²');
    // The same message through someone else's group is a mailing list.
    const foreign = await parse(edited('google-group-own-domain.eml', 'List-ID: <contato.acme.test>', 'List-ID: <compras.fornecedor.test>'), {
      ownAddresses: ['vendas@acme.test'],
    });
    expect(foreign).toMatchObject({ kind: 'mailing_list', reason: 'List-Id present' });
    // A look-alike domain that merely ends the same way is not the business's.
    const lookAlike = await parse(edited('google-group-own-domain.eml', 'List-ID: <contato.acme.test>', 'List-ID: <contato.notacme.test>'), {
      ownAddresses: ['vendas@acme.test'],
    });
    expect(lookAlike.kind).toBe('mailing_list');
  });

  it.each([
    { headers: ['Auto-Submitted: no'], kind: 'message', reason: null },
    { headers: ['Auto-Submitted: auto-generated'], kind: 'auto_reply', reason: 'Auto-Submitted: auto-generated' },
    { headers: ['X-Autorespond: Vacation'], kind: 'auto_reply', reason: 'X-Autorespond: Vacation' },
    { headers: ['Precedence: auto_reply'], kind: 'auto_reply', reason: 'Precedence: auto_reply' },
    { headers: ['X-Precedence: auto_reply'], kind: 'auto_reply', reason: 'X-Precedence: auto_reply' },
    { headers: ['X-Auto-Response-Suppress: All'], kind: 'message', reason: null },
    { headers: ['Precedence: list'], kind: 'mailing_list', reason: 'Precedence: list' },
    { headers: ['Precedence: junk'], kind: 'mailing_list', reason: 'Precedence: junk' },
    { headers: ['List-Id: Clientes Acme <clientes.lists.acme.test>'], kind: 'mailing_list', reason: 'List-Id present' },
    { headers: ['List-Unsubscribe: <mailto:unsubscribe@crm.example.com.br>'], kind: 'message', reason: null },
    { headers: ['List-Unsubscribe: <mailto:unsubscribe@crm.example.com.br>', 'Precedence: bulk'], kind: 'mailing_list', reason: 'Precedence: bulk' },
    { headers: ['Precedence: bulk', 'Auto-Submitted: auto-replied'], kind: 'auto_reply', reason: 'Auto-Submitted: auto-replied' },
    { headers: ['X-Failed-Recipients: Someone@Example.NET, other@example.net'], kind: 'bounce', reason: 'X-Failed-Recipients present' },
  ])('classifies $headers as $kind', async ({ headers, kind, reason }) => {
    const mail = await parse(withHeaders('lead-pt-plain.eml', ...headers));
    expect(mail.kind).toBe(kind);
    expect(mail.reason).toBe(reason);
    expect(mail.bouncedRecipients).toEqual(kind === 'bounce' ? ['someone@example.net', 'other@example.net'] : []);
  });

  it('treats mail from postmaster@ as a bounce', async () => {
    const mail = await parse(edited('lead-pt-plain.eml', 'From: =?UTF-8?Q?Jo=C3=A3o_da_Silva?= <Joao.Silva@Example.COM.br>', 'From: PostMaster@example.com.br'));
    expect(mail.kind).toBe('bounce');
    expect(mail.reason).toBe('from postmaster');
  });
});

describe('parseMail: attachments', () => {
  it('lists inline images and files, and drops the content of one over the limit but keeps its size', async () => {
    const mail = await parse('attachments.eml', { maxAttachmentBytes: 4096 });
    expect(mail.attachments.map(({ filename, contentType, size, tooLarge }) => ({ filename, contentType, size, tooLarge }))).toEqual([
      { filename: 'logo.png', contentType: 'image/png', size: 70, tooLarge: false },
      { filename: 'Orçamento assinado.pdf', contentType: 'application/pdf', size: 622, tooLarge: false },
      { filename: 'fachada.jpg', contentType: 'image/jpeg', size: 6000, tooLarge: true },
    ]);
    const [logo, pdf, photo] = mail.attachments;
    expect(logo?.data?.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(pdf?.data?.length).toBe(622);
    expect(pdf?.data?.subarray(0, 8).toString('latin1')).toBe('%PDF-1.4');
    expect(pdf?.data?.subarray(-6).toString('latin1')).toBe('%%EOF\n');
    expect(photo?.data).toBeNull();
    // The image stays a cid: reference instead of being inlined into the HTML.
    expect(mail.html).toContain('src="cid:logo-horizonte@horizonte.test"');
    expect(mail.html).not.toContain('data:image/png');
    expect(mail.text).toBe('Segue a proposta assinada e uma foto da fachada.\n\nRicardo');
  });

  it('keeps an attachment exactly at the limit and drops one a byte over it', async () => {
    const atLimit = await parse('attachments.eml', { maxAttachmentBytes: 622 });
    expect(atLimit.attachments.map((attachment) => attachment.tooLarge)).toEqual([false, false, true]);
    expect(atLimit.attachments[1]?.data?.length).toBe(622);
    const below = await parse('attachments.eml', { maxAttachmentBytes: 621 });
    expect(below.attachments.map((attachment) => attachment.tooLarge)).toEqual([false, true, true]);
    expect(below.attachments[1]).toMatchObject({ size: 622, data: null });
  });
});

describe('parseMail: broken input', () => {
  it('returns an empty message for an empty buffer', async () => {
    const mail = await parseMail(Buffer.alloc(0), { maxAttachmentBytes: 1024 });
    expect(mail).toMatchObject({ kind: 'message', reason: null, from: null, text: '', fullText: '', attachments: [], references: [] });
  });

  it('does not throw on binary garbage', async () => {
    const garbage = Buffer.from(Array.from({ length: 4096 }, (_, index) => (index * 7919) % 256));
    const mail = await parseMail(garbage, { maxAttachmentBytes: 1024 });
    expect(mail.kind).toBe('message');
  });

  it('keeps the first 100 KB as text when the message cannot be parsed at all', async () => {
    const raw = Buffer.from(`X-Junk: ${'a'.repeat(1_200_000)}\r\n\r\nbody`);
    const mail = await parseMail(raw, { maxAttachmentBytes: 1024 });
    expect(mail.kind).toBe('message');
    expect(mail.fullText.length).toBe(100 * 1024);
    expect(mail.text.startsWith('X-Junk: aaaa')).toBe(true);
  });

  it('gives no date rather than the current time when the Date header is missing or unreadable', async () => {
    const unreadable = await parse(edited('lead-pt-plain.eml', 'Date: Wed, 25 Nov 2026 09:12:31 -0300', 'Date: quarta-feira de manhã'));
    expect(unreadable.date).toBeNull();
    const missing = await parse(edited('lead-pt-plain.eml', 'Date: Wed, 25 Nov 2026 09:12:31 -0300\r\n', ''));
    expect(missing.date).toBeNull();
  });
});

describe('stripQuotedReply', () => {
  it.each([
    ['Android signature', 'Quero o plano básico.\n\nEnviado do meu Android\n', 'Quero o plano básico.'],
    ['phone signature', 'Pode ligar amanhã.\n\nEnviado do meu celular Samsung Galaxy\n', 'Pode ligar amanhã.'],
    [
      'Outlook for iOS with an English header block',
      'Sure, Monday works.\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n________________________________\nFrom: Acme Sales <sales@acme.test>\nSent: Wednesday, November 25, 2026 10:00 AM\nTo: Bob <bob@client.test>\nSubject: Install\n\nWhich day suits you?\n',
      'Sure, Monday works.',
    ],
    [
      '"Em ..." wrapped inside the address',
      'Sim, pode enviar.\n\nEm qua., 25 de nov. de 2026 às 10:00, Acme Vendas <\nvendas@acme.test> escreveu:\n\n> Posso enviar a proposta?\n',
      'Sim, pode enviar.',
    ],
    [
      '"-----Mensagem original-----" with a bare sender address',
      'Pode faturar.\n\n-----Mensagem original-----\nDe: vendas@acme.test\nEnviada em: quarta-feira, 25 de novembro de 2026 10:00\nPara: compras@cliente.test\nAssunto: Pedido 4411\n\nConfirma o pedido?\n',
      'Pode faturar.',
    ],
    [
      'an Outlook header block without a separator line',
      'Aprovado.\n\nDe: vendas@acme.test\nEnviado: quarta-feira, 25 de novembro de 2026 10:00\nPara: compras@cliente.test\nAssunto: Pedido 4411\n\nConfirma o pedido?\n',
      'Aprovado.',
    ],
    ['a bottom-posted answer', 'On Wed, Nov 25, 2026 at 10:00 AM Acme <sales@acme.test> wrote:\n> Do you want 50 seats?\n\nYes, 50 seats please.\n', 'Yes, 50 seats please.'],
    ['a sentence starting with "Em"', 'Em relação ao orçamento, podemos fechar.\nObrigado.\n', 'Em relação ao orçamento, podemos fechar.\nObrigado.'],
    ['form fields that look like a header block', 'De: João\nPara: Acme\nAssunto: orçamento\nMensagem: quero preço\n', 'De: João\nPara: Acme\nAssunto: orçamento\nMensagem: quero preço'],
  ])('%s', (_label, input, expected) => {
    expect(stripQuotedReply(input)).toBe(expected);
  });

  it('returns the whole body, trimmed, when everything in it is quoted', () => {
    expect(stripQuotedReply('\n> Só a citação\n> sem resposta\n\n')).toBe('> Só a citação\n> sem resposta');
  });

  it('keeps a paragraph written on one very long line intact', () => {
    const paragraph = `Precisamos de ${'um sistema que integre formulários, WhatsApp e telefone; '.repeat(20)}fim.`;
    expect(paragraph.length).toBeGreaterThan(1000);
    const input = `${paragraph}\n\nEm qua., 25 de nov. de 2026 às 10:00, Acme <vendas@acme.test> escreveu:\n\n> ${'citação '.repeat(80)}\n`;
    expect(stripQuotedReply(input)).toBe(paragraph);
  });

  it('still removes quoted history from a very long thread', () => {
    const history = Array.from({ length: 2000 }, (_, index) => `> mensagem anterior número ${index}`).join('\n');
    const input = `Fechado!\n\nEm qua., 25 de nov. de 2026 às 10:00, Acme <vendas@acme.test>\nescreveu:\n\n${history}\n`;
    expect(input.length).toBeGreaterThan(40 * 1024);
    expect(stripQuotedReply(input)).toBe('Fechado!');
  });
});
