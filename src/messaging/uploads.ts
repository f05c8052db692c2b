import type { Request } from 'express';
import busboy from 'busboy';
import type { Prisma } from '@prisma/client';
import type { Db } from '../db/client.js';
import { ProblemError, ValidationError } from '../errors.js';
import { newId } from '../ids.js';
import type { SecretBox } from '../security/secrets.js';
import { safeEqual } from '../security/tokens.js';

/**
 * Files a message may carry, each with the leading bytes its format starts with where the format
 * has them: a declared type the bytes contradict is refused, so a page or a script named
 * "photo.jpg" never goes out as a photo.
 */
const signatures: Record<string, ((data: Buffer) => boolean) | null> = {
  'image/jpeg': (d) => d[0] === 0xff && d[1] === 0xd8 && d[2] === 0xff,
  'image/png': (d) => d.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  'image/gif': (d) => d.subarray(0, 4).toString('latin1') === 'GIF8',
  'image/webp': (d) => d.subarray(0, 4).toString('latin1') === 'RIFF' && d.subarray(8, 12).toString('latin1') === 'WEBP',
  'application/pdf': (d) => d.subarray(0, 5).toString('latin1') === '%PDF-',
  'audio/ogg': (d) => d.subarray(0, 4).toString('latin1') === 'OggS',
  'audio/mpeg': null,
  'audio/mp4': null,
  'audio/aac': null,
  'audio/amr': (d) => d.subarray(0, 5).toString('latin1') === '#!AMR',
  'video/mp4': (d) => d.subarray(4, 8).toString('latin1') === 'ftyp',
  'text/plain': null,
  'text/csv': null,
  'application/msword': (d) => d.subarray(0, 4).equals(Buffer.from([0xd0, 0xcf, 0x11, 0xe0])),
  'application/vnd.ms-excel': (d) => d.subarray(0, 4).equals(Buffer.from([0xd0, 0xcf, 0x11, 0xe0])),
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': (d) => d.subarray(0, 4).toString('latin1') === 'PK\x03\x04',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': (d) => d.subarray(0, 4).toString('latin1') === 'PK\x03\x04',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': (d) => d.subarray(0, 4).toString('latin1') === 'PK\x03\x04',
  'application/zip': (d) => d.subarray(0, 4).toString('latin1') === 'PK\x03\x04',
};

export const allowedUploadTypes = Object.keys(signatures);

/** At most this many files on one message (Twilio's MMS limit; WhatsApp sends them one by one). */
export const maxAttachmentsPerMessage = 10;

export interface UploadedFile {
  id: string;
  filename: string;
  contentType: string;
  size: number;
}

/** Who may attach an upload to a message: the one who uploaded it. */
export function uploaderKey(actor: { type: string; id: string | null }): string {
  return `${actor.type}:${actor.id ?? ''}`;
}

/** Checks a file's declared type against the list and its bytes; throws the problem to answer. */
export function checkFile(filename: string, declared: string, data: Buffer): string {
  const contentType = declared.split(';')[0]!.trim().toLowerCase();
  if (!(contentType in signatures)) {
    throw new ProblemError('unsupported_media_type', `"${filename}" is ${contentType || 'of no declared type'}; files may be ${allowedUploadTypes.join(', ')}`);
  }
  if (data.length === 0) throw new ValidationError([{ path: 'file', message: `"${filename}" is empty` }]);
  const matches = signatures[contentType];
  if (matches && !matches(data)) {
    throw new ProblemError('unsupported_media_type', `"${filename}" says it is ${contentType}, but its content is not`);
  }
  return contentType;
}

/** Reads the one file of a multipart/form-data upload (field `file`), refusing it past maxBytes. */
export function readUpload(req: Request, maxBytes: number): Promise<{ filename: string; contentType: string; data: Buffer }> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'multipart/form-data') {
    return Promise.reject(new ProblemError('unsupported_media_type', 'send the file as multipart/form-data in a field named "file"'));
  }
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers, limits: { fileSize: maxBytes, files: 1, fields: 10 } });
    } catch (error) {
      reject(new ProblemError('malformed_body', `the multipart body cannot be read: ${(error as Error).message}`, undefined, { cause: error }));
      return;
    }
    let file: { filename: string; contentType: string; data: Buffer } | undefined;
    let failure: Error | undefined;
    parser.on('file', (name, stream, info) => {
      if (name !== 'file' || file) {
        stream.resume();
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('limit', () => {
        failure = new ProblemError('payload_too_large', `"${info.filename}" is larger than ${maxBytes} bytes (LEADGATE_MAX_UPLOAD_BYTES)`);
      });
      stream.on('close', () => {
        file = { filename: (info.filename || 'file').slice(0, 255), contentType: info.mimeType, data: Buffer.concat(chunks) };
      });
    });
    parser.on('error', (error: Error) => reject(new ProblemError('malformed_body', `the multipart body cannot be read: ${error.message}`, undefined, { cause: error })));
    parser.on('close', () => {
      if (failure) reject(failure);
      else if (!file) reject(new ValidationError([{ path: 'file', message: 'is required: a multipart field named "file"' }]));
      else resolve(file);
    });
    req.pipe(parser);
  });
}

/** Stores an upload until a message claims it. */
export async function storeUpload(prisma: Db, input: { workspaceId: string; uploadedBy: string; filename: string; contentType: string; data: Buffer }): Promise<UploadedFile> {
  const id = newId('att');
  // Bytes go in as base64, as the capture path stores them: the embedded driver refuses a bound bytea.
  await prisma.$executeRaw`
    INSERT INTO attachments (id, "workspaceId", "uploadedBy", filename, "contentType", size, data)
    VALUES (${id}, ${input.workspaceId}, ${input.uploadedBy}, ${input.filename}, ${input.contentType}, ${input.data.length}, decode(${input.data.toString('base64')}, 'base64'))`;
  return { id, filename: input.filename, contentType: input.contentType, size: input.data.length };
}

/**
 * Moves the caller's uploads onto a message, inside the message's transaction. Each upload goes
 * on one message only: one already claimed, someone else's or unknown fails the whole send.
 */
export async function claimUploads(tx: Prisma.TransactionClient, input: { workspaceId: string; uploadedBy: string; ids: string[]; messageId: string }): Promise<void> {
  const ids = [...new Set(input.ids)];
  if (ids.length === 0) return;
  const claimed = await tx.attachment.updateMany({
    where: { id: { in: ids }, workspaceId: input.workspaceId, uploadedBy: input.uploadedBy, messageId: null, eventId: null },
    data: { messageId: input.messageId },
  });
  if (claimed.count !== ids.length) {
    throw new ValidationError([{ path: 'attachmentIds', message: 'every id must be an upload of yours (POST /api/v1/uploads) not yet sent with a message' }]);
  }
}

/** Uploads never sent with a message are dropped after a day. */
export async function dropAbandonedUploads(prisma: Db, now = new Date()): Promise<number> {
  const { count } = await prisma.attachment.deleteMany({
    where: { messageId: null, eventId: null, uploadedBy: { not: null }, createdAt: { lt: new Date(now.getTime() - 24 * 3600_000) } },
  });
  return count;
}

/**
 * A link to one file of an outbound message that a provider can open without credentials
 * (Twilio fetches MMS media by URL); signed, so no other file can be reached with it.
 */
/**
 * How long a provider may fetch a file by its link: long enough for Twilio's own retries, short
 * enough that a link copied out of a log stops opening the file.
 */
export const mediaLinkLifetimeMs = 7 * 24 * 3600_000;

export function mediaUrl(publicUrl: string, box: SecretBox, attachmentId: string, now = Date.now()): string {
  const expires = Math.floor((now + mediaLinkLifetimeMs) / 1000);
  return `${publicUrl}/media/${attachmentId}.${expires}.${box.sign(`media:${attachmentId}:${expires}`)}`;
}

export function readMediaToken(box: SecretBox, token: string, now = Date.now()): string | null {
  const [id, expires, mac] = token.split('.');
  if (!id || !expires || !mac || !/^\d+$/.test(expires)) return null;
  if (!safeEqual(mac, box.sign(`media:${id}:${expires}`))) return null;
  if (Number(expires) * 1000 < now) return null;
  return id;
}
