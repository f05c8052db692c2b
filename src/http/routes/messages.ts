import { z } from 'zod';
import { NotFoundError } from '../../errors.js';
import { visibleLeadsWhere } from '../../leads/visibility.js';
import { checkFile, readUpload, storeUpload, uploaderKey } from '../../messaging/uploads.js';
import type { AppDeps } from '../deps.js';
import { byId, route, type RouteDef } from '../route.js';
import { messageView, presentMessage } from './leads.js';

const uploadView = z.object({ id: z.string(), filename: z.string(), contentType: z.string(), size: z.number().int(), url: z.string() });

/** Files for outbound messages, and what can be done to a message once written: cancel, retry. */
export function messageRoutes(deps: AppDeps): RouteDef[] {
  const { outbound, config } = deps;
  const prisma = deps.db.prisma;

  async function visibleMessage(auth: Parameters<typeof visibleLeadsWhere>[1], id: string) {
    const row = await prisma.message.findFirst({ where: { id, workspaceId: auth.workspaceId, lead: await visibleLeadsWhere(prisma, auth) } });
    if (!row) throw new NotFoundError('message');
    return row;
  }

  const view = async (id: string) => presentMessage(await prisma.message.findUniqueOrThrow({ where: { id }, include: { attachments: { orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] } } }));

  return [
    route({
      method: 'post',
      path: '/uploads',
      summary: 'Upload a file to send with a message (then name its id in attachmentIds)',
      description:
        `multipart/form-data with one file in the field "file", at most LEADGATE_MAX_UPLOAD_BYTES (${config.maxUploadBytes} bytes here). ` +
        'Images (JPEG, PNG, GIF, WebP), PDF, audio (OGG, MP3, M4A, AAC, AMR), MP4 video, text, CSV, Office documents and ZIP; the content ' +
        'must match the declared type (415 otherwise). An upload not sent with a message within a day is deleted.',
      tag: 'messages',
      upload: { field: 'file', description: 'The file, with its filename and content type' },
      response: { status: 201, description: 'The stored file', schema: uploadView },
      handler: async ({ req, auth }) => {
        const file = await readUpload(req, config.maxUploadBytes);
        const contentType = checkFile(file.filename, file.contentType, file.data);
        const stored = await storeUpload(prisma, { workspaceId: auth.workspaceId, uploadedBy: uploaderKey(auth.actor), filename: file.filename, contentType, data: file.data });
        return { ...stored, url: `/api/v1/attachments/${stored.id}` };
      },
    }),
    route({
      method: 'delete',
      path: '/messages/:id',
      summary: 'Cancel a scheduled message; 409 once it is anything but scheduled',
      tag: 'messages',
      params: byId,
      response: { status: 200, description: 'The message, canceled', schema: messageView },
      handler: async ({ params, auth }) => {
        const message = await visibleMessage(auth, params.id);
        await outbound.cancel(message, auth.actor);
        return view(message.id);
      },
    }),
    route({
      method: 'post',
      path: '/messages/:id/retry',
      summary: 'Send a failed message again (the same message, with fresh attempts); 409 unless it failed',
      tag: 'messages',
      params: byId,
      response: { status: 202, description: 'Queued again', schema: z.object({ messageId: z.string(), status: z.literal('queued') }) },
      handler: async ({ params, auth }) => {
        const message = await visibleMessage(auth, params.id);
        await outbound.retry(message, auth.actor);
        return { messageId: message.id, status: 'queued' as const };
      },
    }),
  ];
}
