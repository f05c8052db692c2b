/**
 * Contact Form 7 posts its fields urlencoded, as the generic reading takes them; what is its own
 * is how it names them.
 */
import { type CanonicalField } from '../fields.js';

/** Contact Form 7's tag generator names a field after its type and a number: `tel-812`, `email-305`. */
const CONTACT_FORM_7_GENERATED = /^(tel|email)-\d+$/i;

/** A field named by the tag generator is the phone or the email its type says. */
export function contactForm7Field(label: string): CanonicalField | undefined {
  const generated = CONTACT_FORM_7_GENERATED.exec(label);
  if (!generated) return undefined;
  return generated[1]!.toLowerCase() === 'tel' ? 'phone' : 'email';
}

/** Its hidden `_wpcf7*` fields (form id, version, locale, container post) are transport. */
export function isContactForm7Transport(normalizedKey: string): boolean {
  return normalizedKey.startsWith('wpcf7');
}
