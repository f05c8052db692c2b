import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import { z } from 'zod';

export type IdentityKind = 'phone' | 'email' | 'whatsapp' | 'instagram';

export interface Identity {
  kind: IdentityKind;
  value: string;
}

/**
 * E.164, or null when the text is not a valid number for the given default country. One number
 * has one form however it was written: a Brazilian mobile without its ninth digit gets it back.
 */
export function normalizePhone(text: string, defaultCountry: string): string | null {
  const parsed = parsePhoneNumberFromString(text, { defaultCountry: defaultCountry as CountryCode, extract: false });
  return parsed?.isValid() ? withBrazilianNinthDigit(parsed.number) : null;
}

/**
 * Brazil put a 9 in front of every mobile number (2012–2016), but WhatsApp ids of accounts older
 * than that, and people writing from habit, still leave it out: +55 11 8765-4321 is the same phone
 * as +55 11 98765-4321. Eight-digit subscriber numbers starting 6–9 are mobiles (landlines start
 * 2–5), so they gain the 9.
 */
export function withBrazilianNinthDigit(e164: string): string {
  const match = /^\+55(\d{2})([6-9]\d{7})$/.exec(e164);
  return match ? `+55${match[1]}9${match[2]}` : e164;
}

const emailSchema = z.email();

/** Lowercased, or null when it is not an email address. */
export function normalizeEmail(text: string): string | null {
  const candidate = text.trim().toLowerCase();
  return emailSchema.safeParse(candidate).success ? candidate : null;
}

/** The key of the advisory lock on one identity (a phone, an email, a WhatsApp id) of a workspace. */
export function identityLockKey(workspaceId: string, kind: string, value: string): string {
  return `identity:${workspaceId}:${kind}:${value}`;
}
