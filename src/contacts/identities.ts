import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import { z } from 'zod';

export type IdentityKind = 'phone' | 'email' | 'whatsapp';

export interface Identity {
  kind: IdentityKind;
  value: string;
}

/** E.164, or null when the text is not a valid number for the given default country. */
export function normalizePhone(text: string, defaultCountry: string): string | null {
  const parsed = parsePhoneNumberFromString(text, { defaultCountry: defaultCountry as CountryCode, extract: false });
  return parsed?.isValid() ? parsed.number : null;
}

const emailSchema = z.email();

/** Lowercased, or null when it is not an email address. */
export function normalizeEmail(text: string): string | null {
  const candidate = text.trim().toLowerCase();
  return emailSchema.safeParse(candidate).success ? candidate : null;
}
