import { z } from 'zod';
import type { SourceKindSpec, SourceRecord } from '../../src/channels/contract.js';
import { ignorableKinds } from './ignorable.js';

const defaultIgnore = [...ignorableKinds];
/**
 * WhatsApp bans numbers that send much unanswered automatic traffic to one person: an
 * acknowledgement and two nurture messages a day is where a business's own phone would stop.
 */
export const defaultAutomaticPerPersonPerDay = 3;

const createSchema = z
  .object({
    ignore: z
      .array(z.enum(ignorableKinds))
      .max(ignorableKinds.length)
      .optional()
      .describe('What is not a lead (default: all of groups, status, broadcasts, newsletters, reactions): listed chats are dropped before they are decrypted, listed reactions are stored as rejected events'),
    relink: z.literal(true).optional().describe('After the phone logged the gateway out: start linking again with a new QR code'),
    automaticPerPersonPerDay: z
      .number()
      .int()
      .min(1)
      .max(20)
      .optional()
      .describe(`Automatic messages (acknowledgement, sequence steps) to one person in any 24 hours: a sequence step past it waits until a day after the oldest of them (default ${defaultAutomaticPerPersonPerDay})`),
  })
  .strict();
export type WhatsAppSourceInput = z.infer<typeof createSchema>;

export const storedSettings = z.object({
  ignore: z.array(z.enum(ignorableKinds)).default(defaultIgnore),
  /** Changes on every relink: a logged-out device stays stopped until it does. */
  linkGeneration: z.number().int().default(1),
  automaticPerPersonPerDay: z.number().int().default(defaultAutomaticPerPersonPerDay),
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
        automaticPerPersonPerDay: input.automaticPerPersonPerDay ?? settings.automaticPerPersonPerDay,
      },
      // The linked device's credentials live in the source's vault, written by the connection.
      secrets: {},
    };
  },
  present(source: SourceRecord, publicUrl: string) {
    const settings = storedSettings.parse(source.settings);
    const base = `${publicUrl}/api/v1/sources/${source.id}`;
    return { ignore: settings.ignore, automaticPerPersonPerDay: settings.automaticPerPersonPerDay, linking: { qr: `${base}/qr`, qrText: `${base}/qr?format=text`, pairingCode: `${base}/pairing-code` } };
  },
};
