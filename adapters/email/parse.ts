/**
 * Turns one raw RFC 5322 message, as fetched from a mailbox, into what the gateway needs: who wrote,
 * in reply to what, what they wrote (without the quoted history and signature), what they attached,
 * and whether a person wrote it at all. Total: whatever the bytes, it resolves and never throws,
 * because it runs on mail anyone on the internet can send.
 */
import EmailReplyParser from 'email-reply-parser';
import {
  simpleParser,
  type AddressObject,
  type Attachment,
  type EmailAddress,
  type HeaderValue,
  type ParsedMail as SimpleParsedMail,
  type StructuredHeader,
} from 'mailparser';

export type MailKind = 'message' | 'auto_reply' | 'bounce' | 'mailing_list';

export interface ParsedAttachment {
  filename: string;
  contentType: string;
  /** Decoded size in bytes, also when the content was dropped for being too large. */
  size: number;
  /** null when over maxAttachmentBytes. */
  data: Buffer | null;
  tooLarge: boolean;
}

export interface MailAddress {
  /** Lowercased. */
  address: string;
  name: string | null;
}

export interface ParsedMail {
  kind: MailKind;
  /** Why it is not a plain message (e.g. 'Auto-Submitted: auto-replied', 'List-Id present', 'from MAILER-DAEMON'); null for 'message'. */
  reason: string | null;
  /** With angle brackets, as in the header. */
  messageId: string | null;
  /** With angle brackets. */
  inReplyTo: string | null;
  /** Each with angle brackets, in header order. */
  references: string[];
  from: MailAddress | null;
  replyTo: MailAddress | null;
  /** Lowercased addresses. */
  to: string[];
  subject: string | null;
  date: Date | null;
  /** What the person wrote: the body without quoted history and signature. Never empty when fullText is not. */
  text: string;
  /** The whole text body as received (the plain text part, or the HTML converted to text when there is none). */
  fullText: string;
  html: string | null;
  attachments: ParsedAttachment[];
  /** For a bounce: the recipients that failed, lowercased. */
  bouncedRecipients: string[];
}

export interface ParseMailOptions {
  /** Attachments larger than this keep their metadata but not their content. */
  maxAttachmentBytes: number;
  /**
   * The mailbox's own addresses: mail from them is not a lead unless its Reply-To is outside their
   * domains (a website form sending through the mailbox), and lists of their domains are not lists.
   */
  ownAddresses?: string[];
}

/** How much of an unparseable message is kept as its text. */
const RAW_FALLBACK_BYTES = 100 * 1024;

/**
 * email-reply-parser runs backtracking regular expressions whose cost grows with the text's length
 * times its longest line: a hostile message could pin the CPU for seconds. Longer lines reach it
 * as placeholders, and past the total only the linear rules below apply.
 */
const REPLY_PARSER_MAX_CHARS = 32 * 1024;
const REPLY_PARSER_MAX_LINE = 400;

export async function parseMail(raw: Buffer, options: ParseMailOptions): Promise<ParsedMail> {
  let mail: SimpleParsedMail;
  try {
    // skipImageLinks keeps cid: references instead of inlining every image into the HTML as data: URLs;
    // keepDeliveryStatus keeps a bounce's machine-readable report out of fullText, to be read as a part.
    mail = await simpleParser(raw, { skipImageLinks: true, skipTextToHtml: true, keepDeliveryStatus: true });
  } catch {
    return unreadable(raw);
  }

  const headers = new HeaderReader(mail);
  const from = firstMailbox(mail.from);
  const fullText = bodyText(mail);
  const attachments = mail.attachments.map((attachment, index) => toAttachment(attachment, index, options.maxAttachmentBytes));
  const replyTo = firstMailbox(mail.replyTo);
  const { kind, reason } = classify(headers, from, replyTo, options.ownAddresses ?? []);

  return {
    kind,
    reason,
    messageId: messageIdOf(mail.messageId),
    inReplyTo: messageIdOf(mail.inReplyTo),
    references: referencesOf(mail.references),
    from,
    replyTo,
    to: addressList(mail.to),
    subject: mail.subject ?? null,
    date: dateOf(headers, mail.date),
    text: stripQuotedReply(fullText),
    fullText,
    html: typeof mail.html === 'string' ? mail.html : null,
    attachments,
    bouncedRecipients: kind === 'bounce' ? bouncedRecipients(headers, mail.attachments, fullText) : [],
  };
}

/** What is left when the MIME structure could not be read at all: the bytes as text, so nothing is silently lost. */
function unreadable(raw: Buffer): ParsedMail {
  const fullText = raw.subarray(0, RAW_FALLBACK_BYTES).toString('utf8').replace(/\uFFFD$/, '');
  return {
    kind: 'message',
    reason: null,
    messageId: null,
    inReplyTo: null,
    references: [],
    from: null,
    replyTo: null,
    to: [],
    subject: null,
    date: null,
    text: fullText.trim(),
    fullText,
    html: null,
    attachments: [],
    bouncedRecipients: [],
  };
}

// ---------------------------------------------------------------------------------------------
// Headers and classification

class HeaderReader {
  private readonly present: Set<string>;

  constructor(private readonly mail: SimpleParsedMail) {
    this.present = new Set(mail.headerLines.map((line) => line.key));
  }

  has(name: string): boolean {
    return this.present.has(name);
  }

  /** The first value of a plain header, trimmed; null when absent or empty. */
  text(name: string): string | null {
    return this.texts(name)[0] ?? null;
  }

  /** Every value of a repeated plain header. */
  texts(name: string): string[] {
    const value: HeaderValue | undefined = this.mail.headers.get(name);
    const values = Array.isArray(value) ? value : [value];
    return values.filter((entry): entry is string => typeof entry === 'string').map((entry) => entry.trim()).filter(Boolean);
  }

  /** The unparsed value of a header as it appeared, unfolded. */
  raw(name: string): string | null {
    const line = this.mail.headerLines.find((entry) => entry.key === name)?.line;
    if (line === undefined) return null;
    return line.slice(line.indexOf(':') + 1).replace(/\r?\n[ \t]+/g, ' ').trim();
  }

  contentType(): StructuredHeader | null {
    const header = this.mail.headers.get('content-type');
    if (!header || typeof header !== 'object' || Array.isArray(header) || header instanceof Date) return null;
    const { value, params } = header as Partial<StructuredHeader>;
    if (typeof value !== 'string' || !params || typeof params !== 'object') return null;
    return { value: value.toLowerCase(), params };
  }
}

interface Classification {
  kind: MailKind;
  reason: string | null;
}

/** First match wins: a bounce often also says Auto-Submitted, and a vacation reply may come through a list. */
function classify(headers: HeaderReader, from: MailAddress | null, replyTo: MailAddress | null, ownAddresses: string[]): Classification {
  const own = ownAddresses.map((address) => address.trim().toLowerCase()).filter(Boolean);
  // A mailbox at a shared provider (gmail.com) shares its domain with its leads: only its address is its own.
  const ownDomains = new Set(own.map(domainOf).filter((domain) => domain && !SHARED_MAIL_DOMAINS.has(domain)));
  const bounce = bounceReason(headers, from);
  if (bounce) return { kind: 'bounce', reason: bounce };
  const autoReply = autoReplyReason(headers);
  if (autoReply) return { kind: 'auto_reply', reason: autoReply };
  // A group of the business's own domain (a Google Group such as contato@) is how mail reaches
  // the mailbox, not a list it subscribed to: its List-Id and "Precedence: list" say nothing about the sender.
  const list = ownGroup(headers, ownDomains) ? null : mailingListReason(headers);
  if (list) return { kind: 'mailing_list', reason: list };
  // A website form or a group that sends through the company mailbox writes "From: <the mailbox>"
  // with the person in Reply-To: then it is the person's mail, answered at the Reply-To.
  const outsideReplyTo = replyTo !== null && !own.includes(replyTo.address) && !ownDomains.has(domainOf(replyTo.address));
  if (from && own.includes(from.address) && !outsideReplyTo) {
    return { kind: 'auto_reply', reason: 'sent by this mailbox' };
  }
  return { kind: 'message', reason: null };
}

/** Providers whose domain many unrelated people share, leads among them. */
const SHARED_MAIL_DOMAINS = new Set([
  'gmail.com', 'googlemail.com', 'outlook.com', 'outlook.com.br', 'hotmail.com', 'hotmail.com.br', 'live.com', 'msn.com',
  'yahoo.com', 'yahoo.com.br', 'icloud.com', 'me.com', 'aol.com', 'uol.com.br', 'bol.com.br', 'terra.com.br', 'ig.com.br', 'proton.me', 'protonmail.com',
]);

function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1).trim().toLowerCase();
}

/**
 * A List-Id names its list "<local>.<domain>" (RFC 2919); Google Groups of a Workspace domain use
 * the group's own address that way ("<contato.acme.test>" for contato@acme.test).
 */
function ownGroup(headers: HeaderReader, ownDomains: Set<string>): boolean {
  // mailparser turns List-Id into a structure of its own; the raw line is what RFC 2919 describes.
  const listId = headers.raw('list-id');
  if (!listId) return false;
  const id = (/<([^<>\s]+)>/.exec(listId)?.[1] ?? listId.trim()).toLowerCase();
  return [...ownDomains].some((domain) => id.endsWith(`.${domain}`));
}

const DELIVERY_STATUS_TYPES = new Set(['message/delivery-status', 'message/global-delivery-status']);

function bounceReason(headers: HeaderReader, from: MailAddress | null): string | null {
  const contentType = headers.contentType();
  const reportType = contentType?.params['report-type']?.toLowerCase();
  if (contentType?.value === 'multipart/report' && (reportType === 'delivery-status' || reportType === 'global-delivery-status')) {
    return `multipart/report ${reportType}`;
  }
  const localPart = from?.address.split('@')[0];
  if (localPart === 'mailer-daemon') return 'from MAILER-DAEMON';
  if (localPart === 'postmaster') return 'from postmaster';
  if (headers.has('x-failed-recipients')) return 'X-Failed-Recipients present';
  return null;
}

function autoReplyReason(headers: HeaderReader): string | null {
  const autoSubmitted = headers.text('auto-submitted');
  // The value may carry a comment or parameters ("auto-replied (vacation)"); only "no" means a person sent it.
  if (autoSubmitted && firstToken(autoSubmitted) !== 'no') return `Auto-Submitted: ${autoSubmitted}`;
  // X-Auto-Response-Suppress is deliberately not here: Outlook sets it on ordinary mail too.
  for (const [key, label] of [
    ['x-autoreply', 'X-Autoreply'],
    ['x-autorespond', 'X-Autorespond'],
  ] as const) {
    if (headers.has(key)) return `${label}: ${headers.text(key) ?? ''}`.trim();
  }
  for (const [key, label] of [
    ['precedence', 'Precedence'],
    ['x-precedence', 'X-Precedence'],
  ] as const) {
    const value = headers.text(key);
    if (value && firstToken(value) === 'auto_reply') return `${label}: ${value}`;
  }
  return null;
}

const BULK_PRECEDENCE = new Set(['bulk', 'list', 'junk']);

/**
 * A List-Unsubscribe header alone does not make a list message: transactional senders and
 * one-to-one sales tools add it too. With a bulk Precedence the Precedence is enough by itself.
 */
function mailingListReason(headers: HeaderReader): string | null {
  if (headers.has('list-id')) return 'List-Id present';
  const precedence = headers.text('precedence');
  if (precedence && BULK_PRECEDENCE.has(firstToken(precedence))) return `Precedence: ${precedence}`;
  return null;
}

function firstToken(value: string): string {
  return value.trim().split(/[\s;(]/)[0]?.toLowerCase() ?? '';
}

// ---------------------------------------------------------------------------------------------
// Addresses, ids and dates

function mailboxes(entries: EmailAddress[]): EmailAddress[] {
  return entries.flatMap((entry) => (entry.group ? mailboxes(entry.group) : entry.address ? [entry] : []));
}

function firstMailbox(header: AddressObject | undefined): MailAddress | null {
  const entry = header ? mailboxes(header.value)[0] : undefined;
  if (!entry?.address) return null;
  return { address: entry.address.trim().toLowerCase(), name: entry.name.trim() || null };
}

function addressList(header: AddressObject | AddressObject[] | undefined): string[] {
  const objects = header === undefined ? [] : Array.isArray(header) ? header : [header];
  const addresses = objects.flatMap((object) => mailboxes(object.value)).map((entry) => (entry.address ?? '').trim().toLowerCase());
  return [...new Set(addresses.filter(Boolean))];
}

/** Some clients add a comment or a second id after the first; the first bracketed id is the one that threads. */
function messageIdOf(value: string | undefined): string | null {
  if (!value) return null;
  const bracketed = /<[^<>\s]+>/.exec(value);
  if (bracketed) return bracketed[0];
  const bare = value.trim().split(/\s+/)[0];
  return bare ? `<${bare.replace(/^<|>$/g, '')}>` : null;
}

function referencesOf(value: string | string[] | undefined): string[] {
  const ids = (Array.isArray(value) ? value : value ? [value] : []).map(messageIdOf).filter((id): id is string => id !== null && id !== '<>');
  return [...new Set(ids)];
}

/** mailparser substitutes the current time for a missing or unreadable Date; a lead must not get a made-up date. */
function dateOf(headers: HeaderReader, parsed: Date | undefined): Date | null {
  const raw = headers.raw('date');
  if (!raw || Number.isNaN(new Date(raw).getTime())) return null;
  return parsed ?? new Date(raw);
}

// ---------------------------------------------------------------------------------------------
// Body

function bodyText(mail: SimpleParsedMail): string {
  if (mail.text && mail.text.trim()) return mail.text;
  if (typeof mail.html === 'string' && mail.html.trim()) return htmlToPlainText(mail.html);
  return mail.text ?? '';
}

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
  ordm: 'º',
  ordf: 'ª',
  ndash: '–',
  mdash: '—',
  lsquo: '‘',
  rsquo: '’',
  ldquo: '“',
  rdquo: '”',
  hellip: '…',
  euro: '€',
  copy: '©',
  reg: '®',
};
// Accented letters ("&ccedil;", "&atilde;", "&Eacute;"): what Portuguese and Spanish HTML mail is full of.
const ACCENT_MARKS: Record<string, string> = { acute: '\u0301', grave: '\u0300', circ: '\u0302', tilde: '\u0303', uml: '\u0308', cedil: '\u0327' };
for (const [accent, mark] of Object.entries(ACCENT_MARKS)) {
  for (const letter of 'aeiouycnAEIOUYCN') {
    const composed = `${letter}${mark}`.normalize('NFC');
    if (composed.length === 1) NAMED_ENTITIES[`${letter}${accent}`] = composed;
  }
}

/** Last resort when mailparser's own conversion gave nothing (it gives up on very large or deeply nested HTML). */
function htmlToPlainText(html: string): string {
  return html
    .replace(/<(script|style|head)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, '')
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<\/(p|div|tr|li|h[1-6]|blockquote)\s*>/gi, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (entity: string, body: string) => {
      if (body[0] === '#') {
        const code = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
        return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : entity;
      }
      return NAMED_ENTITIES[body] ?? NAMED_ENTITIES[body.toLowerCase()] ?? entity;
    })
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

// ---------------------------------------------------------------------------------------------
// What the person wrote

/** "-----Original Message-----" and its translations, as Outlook and older clients write them. */
const ORIGINAL_MESSAGE = /^\s*-{2,}\s*(original message|mensagem original|mensaje original|message d'origine)\s*-{2,}\s*$/i;
const SEPARATOR_LINE = /^\s*_{10,}\s*$/;
/** Header lines of an unquoted Outlook history block; html-to-text may render the bold labels as "*De:*". */
const HISTORY_FROM = /^\s*\*?(from|de)\s*:/i;
const HISTORY_SENT = /^\s*\*?(sent|date|enviad[ao](\s+em)?|data)\s*:/i;
const HISTORY_TO = /^\s*\*?(to|para|subject|assunto)\s*:/i;
/** Start of a "On <date>, <name> wrote:" header, in the languages leads write in. */
const ATTRIBUTION_START = /^\s*(on|em|el|le)\s\S/i;
const ATTRIBUTION_END = /(wrote|escreveu|escribió|a écrit)\s*:\s*$/i;
const MOBILE_SIGNATURE =
  /^\s*(sent from (my|mail for|outlook|yahoo)\b|enviad[oa] (do|de|a partir do) (meu|minha)\b|enviado do (outlook|yahoo|e-?mail)\b|get outlook for\b|obte(r|nha) o outlook para\b)/i;
const SIGNATURE_DELIMITER = /^--\s*$/;
const RULE_LINE = /^\s*[-_=*]{2,}\s*$/;

/**
 * The body without quoted history and signature. Falls back to the whole body, trimmed, when
 * nothing would be left, so a lead never arrives empty because a heuristic took too much.
 */
export function stripQuotedReply(fullText: string): string {
  const normalized = fullText.replace(/\r\n?/g, '\n');
  let lines = cutUnquotedHistory(normalized.split('\n'));
  lines = joinWrappedAttributions(lines);
  const text =
    lines.join('\n').length <= REPLY_PARSER_MAX_CHARS ? replyParserVisibleText(lines) : lines.filter((line) => !/^\s*>/.test(line)).join('\n');
  lines = cutSignature(dropTrailingNoise(text.split('\n')));
  const result = dropTrailingNoise(lines)
    .map((line) => line.replace(/\s+$/, ''))
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  return result || normalized.trim();
}

/**
 * A long line is never a quote header or a signature, so the parser sees a short stand-in that keeps
 * only its quote marker, and the line is put back afterwards.
 */
function replyParserVisibleText(lines: string[]): string {
  const long: string[] = [];
  const shortened = lines.map((line) => {
    if (line.length <= REPLY_PARSER_MAX_LINE) return line;
    const marker = /^\s*>[\s>]*/.exec(line)?.[0] ?? '';
    long.push(line.slice(marker.length));
    return `${marker}\uE000${long.length - 1}\uE001`;
  });
  const visible = new EmailReplyParser().read(shortened.join('\n')).getVisibleText();
  return long.length ? visible.replace(/\uE000(\d+)\uE001/g, (token: string, index: string) => long[Number(index)] ?? token) : visible;
}

/** Outlook puts the history below the reply without quoting it: everything from its header block on is history. */
function cutUnquotedHistory(lines: string[]): string[] {
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (/^\s*>/.test(line)) continue;
    if (ORIGINAL_MESSAGE.test(line)) return lines.slice(0, i);
    if (SEPARATOR_LINE.test(line) && nextNonBlank(lines, i + 1, 2).some((next) => HISTORY_FROM.test(next))) return lines.slice(0, i);
    if (HISTORY_FROM.test(line)) {
      const following = lines.slice(i + 1, i + 6);
      if (following.some((next) => HISTORY_SENT.test(next)) && following.some((next) => HISTORY_TO.test(next))) {
        return lines.slice(0, i);
      }
    }
  }
  return lines;
}

function nextNonBlank(lines: string[], from: number, count: number): string[] {
  return lines
    .slice(from)
    .filter((line) => line.trim())
    .slice(0, count);
}

/**
 * Gmail wraps a long attribution ("Em qua., 25 de nov. de 2026 às 10:00, Acme <vendas@acme.test>"
 * / "escreveu:") over two lines. email-reply-parser rejoins only the first one it finds, and the
 * rules here that run without it read line by line.
 */
function joinWrappedAttributions(lines: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const next = lines[i + 1];
    if (
      next !== undefined &&
      ATTRIBUTION_START.test(line) &&
      !ATTRIBUTION_END.test(line) &&
      ATTRIBUTION_END.test(next) &&
      !/^\s*>/.test(next) &&
      line.length + next.length < 300
    ) {
      out.push(`${line.trimEnd()} ${next.trim()}`);
      i++;
    } else {
      out.push(line);
    }
  }
  return out;
}

/** A signature starts at the last "-- " delimiter, or at a client's "Sent from my iPhone" line. */
function cutSignature(lines: string[]): string[] {
  const mobile = lines.findIndex((line) => line.length <= 80 && MOBILE_SIGNATURE.test(line));
  let delimiter = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (SIGNATURE_DELIMITER.test(lines[i] ?? '')) {
      delimiter = i;
      break;
    }
  }
  const cuts = [mobile, delimiter].filter((index) => index >= 0);
  return cuts.length ? lines.slice(0, Math.min(...cuts)) : lines;
}

/** Blank lines, horizontal rules and a dangling attribution that a removed quote left behind. */
function dropTrailingNoise(lines: string[]): string[] {
  let end = lines.length;
  while (end > 0) {
    const line = lines[end - 1] ?? '';
    if (!line.trim() || RULE_LINE.test(line) || (ATTRIBUTION_START.test(line) && ATTRIBUTION_END.test(line))) end--;
    else break;
  }
  return lines.slice(0, end);
}

// ---------------------------------------------------------------------------------------------
// Attachments and bounces

const EXTENSIONS: Record<string, string> = {
  'application/pdf': '.pdf',
  'image/png': '.png',
  'image/jpeg': '.jpg',
  'image/gif': '.gif',
  'text/plain': '.txt',
  'text/html': '.html',
  'text/calendar': '.ics',
  'message/rfc822': '.eml',
  'message/delivery-status': '.txt',
  'text/rfc822-headers': '.txt',
};

function toAttachment(attachment: Attachment, index: number, maxBytes: number): ParsedAttachment {
  const contentType = (attachment.contentType || 'application/octet-stream').toLowerCase();
  const size = attachment.size ?? attachment.content.length;
  const tooLarge = size > maxBytes;
  return {
    filename: attachment.filename?.trim() || `attachment-${index + 1}${EXTENSIONS[contentType] ?? ''}`,
    contentType,
    size,
    data: tooLarge ? null : attachment.content,
    tooLarge,
  };
}

function bouncedRecipients(headers: HeaderReader, attachments: Attachment[], fullText: string): string[] {
  const recipients: string[] = [];
  const reports = attachments.filter((attachment) => DELIVERY_STATUS_TYPES.has(attachment.contentType.toLowerCase()));
  for (const report of reports) recipients.push(...failedRecipients(report.content.toString('utf8')));
  // Some MTAs put the report fields in the human-readable part instead of a delivery-status part.
  if (!reports.length) recipients.push(...failedRecipients(fullText));
  for (const value of headers.texts('x-failed-recipients')) {
    recipients.push(...value.split(/[,\s]+/).map(bareAddress).filter((address) => address.includes('@')));
  }
  return [...new Set(recipients)];
}

/**
 * RFC 3464: one block of fields per recipient, blocks separated by blank lines. A block with
 * Action "delayed", "delivered", "relayed" or "expanded" is not a failure.
 */
function failedRecipients(report: string): string[] {
  const unfolded = report.replace(/\r\n?/g, '\n').replace(/\n[ \t]+/g, ' ');
  const failed: string[] = [];
  for (const block of unfolded.split(/\n\s*\n/)) {
    const recipient = /^final-recipient\s*:\s*(?:[^;\n]*;)?\s*(\S+)/im.exec(block)?.[1];
    if (!recipient) continue;
    const action = /^action\s*:\s*(\S+)/im.exec(block)?.[1]?.toLowerCase();
    if (action !== undefined && action !== 'failed') continue;
    const address = bareAddress(recipient);
    if (address.includes('@')) failed.push(address);
  }
  return failed;
}

function bareAddress(value: string): string {
  return value.trim().replace(/^<|>$/g, '').toLowerCase();
}
