import busboy from 'busboy';
import qs from 'qs';
import type { InboundAttachment } from '../../src/channels/contract.js';

export class FormBodyError extends Error {
  override readonly name = 'FormBodyError';
  constructor(
    readonly kind: 'malformed' | 'unsupported' | 'too_large',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface ParsedForm {
  fields: unknown;
  attachments: InboundAttachment[];
}

const qsOptions = { depth: 6, arrayLimit: 100, parameterLimit: 2000, allowDots: false } as const;

/**
 * Parses the raw body after its signature was checked on those same bytes. Form fields keep
 * their bracket structure (`fields[name][value]=`), as the form builders send them.
 */
export async function parseFormBody(raw: Buffer, contentType: string | undefined, maxFileBytes: number): Promise<ParsedForm> {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json' || type.endsWith('+json')) {
    try {
      return { fields: JSON.parse(raw.toString('utf8')) as unknown, attachments: [] };
    } catch (error) {
      throw new FormBodyError('malformed', `the body is not valid JSON: ${(error as Error).message}`, { cause: error });
    }
  }
  if (type === 'application/x-www-form-urlencoded') {
    return { fields: qs.parse(raw.toString('utf8'), qsOptions), attachments: [] };
  }
  if (type === 'multipart/form-data') return parseMultipart(raw, contentType!, maxFileBytes);
  if (raw.length === 0) throw new FormBodyError('malformed', 'the submission is empty');
  throw new FormBodyError('unsupported', `content type "${type || '(none)'}" is not accepted: send JSON, urlencoded or multipart form data`);
}

function parseMultipart(raw: Buffer, contentType: string, maxFileBytes: number): Promise<ParsedForm> {
  return new Promise((resolve, reject) => {
    const pairs: [string, string][] = [];
    const attachments: InboundAttachment[] = [];
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: { 'content-type': contentType }, limits: { fileSize: maxFileBytes, fields: 2000, files: 20 } });
    } catch (error) {
      reject(new FormBodyError('malformed', `the multipart body cannot be read: ${(error as Error).message}`, { cause: error }));
      return;
    }
    parser.on('field', (name, value) => pairs.push([name, value]));
    parser.on('file', (name, stream, info) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('limit', () => reject(new FormBodyError('too_large', `the file "${info.filename}" is larger than ${maxFileBytes} bytes`)));
      stream.on('close', () => {
        if (!info.filename) return;
        attachments.push({ filename: info.filename, contentType: info.mimeType || 'application/octet-stream', data: Buffer.concat(chunks) });
        pairs.push([name, info.filename]);
      });
    });
    parser.on('error', (error: Error) => reject(new FormBodyError('malformed', `the multipart body cannot be read: ${error.message}`, { cause: error })));
    parser.on('close', () => {
      const query = pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
      resolve({ fields: qs.parse(query, qsOptions), attachments });
    });
    parser.end(raw);
  });
}
