import { z } from 'zod';
import type { SourceKindSpec, SourceRecord } from '../../src/channels/contract.js';
import { ignorableKinds } from './normalize.js';

const defaultIgnore = [...ignorableKinds];

const createSchema = z
  .object({
    ignore: z
      .array(z.enum(ignorableKinds))
      .max(ignorableKinds.length)
      .optional()
      .describe('What is not a lead (default: all of groups, status, broadcasts, newsletters, reactions); listed kinds are stored as rejected events'),
    relink: z.literal(true).optional().describe('After the phone logged the gateway out: start linking again with a new QR code'),
  })
  .strict();
export type WhatsAppSourceInput = z.infer<typeof createSchema>;

export const storedSettings = z.object({
  ignore: z.array(z.enum(ignorableKinds)).default(defaultIgnore),
  /** Changes on every relink: a logged-out device stays stopped until it does. */
  linkGeneration: z.number().int().default(1),
});
export type WhatsAppSettings = z.infer<typeof storedSettings>;

export const sourceSpec: SourceKindSpec<WhatsAppSourceInput> = {
  createSchema,
  updateSchema: createSchema.partial(),
  prepare(input, previous) {
    const settings = storedSettings.parse(previous?.settings ?? {});
    return {
      settings: {
        ignore: input.ignore ?? settings.ignore,
        linkGeneration: input.relink ? settings.linkGeneration + 1 : settings.linkGeneration,
      },
      // The linked device's credentials live in the source's vault, written by the connection.
      secrets: {},
    };
  },
  present(source: SourceRecord, publicUrl: string) {
    const settings = storedSettings.parse(source.settings);
    const base = `${publicUrl}/api/v1/sources/${source.id}`;
    return { ignore: settings.ignore, linking: { qr: `${base}/qr`, qrText: `${base}/qr?format=text`, pairingCode: `${base}/pairing-code` } };
  },
};
