import type { ChannelKind } from '../channels/contract.js';
import type { Db } from '../db/client.js';
import { recordActivity } from '../leads/activities.js';
import type { SecretBox } from '../security/secrets.js';
import { safeEqual } from '../security/tokens.js';

/** A link that opts one contact out of one channel; signed, so nobody can forge another's. */
export function unsubscribeUrl(publicUrl: string, box: SecretBox, contactId: string, channel: ChannelKind): string {
  const subject = Buffer.from(`${contactId}.${channel}`).toString('base64url');
  return `${publicUrl}/unsubscribe/${subject}.${box.sign(subject)}`;
}

export function readUnsubscribeToken(box: SecretBox, token: string): { contactId: string; channel: ChannelKind } | null {
  const [subject, mac] = token.split('.');
  if (!subject || !mac || !safeEqual(mac, box.sign(subject))) return null;
  const [contactId, channel] = Buffer.from(subject, 'base64url').toString('utf8').split('.');
  return contactId && channel ? { contactId, channel: channel as ChannelKind } : null;
}

/** The footer of nurture email: how to stop it, in the workspace's language. */
export function unsubscribeFooter(locale: string, url: string): string {
  return locale.startsWith('pt') ? `—\nPara não receber mais estes e-mails: ${url}` : `—\nTo stop receiving these emails: ${url}`;
}

/** Records that a contact wants nothing more on a channel; true when it was not recorded yet. */
export async function optOut(prisma: Db, contactId: string, channel: ChannelKind, reason: string): Promise<boolean> {
  return prisma.$transaction(async (tx) => {
    let contact = await tx.contact.findUnique({ where: { id: contactId } });
    // A merged contact's links still work: they act on the contact it became.
    for (let hops = 0; contact?.mergedIntoId && hops < 10; hops++) contact = await tx.contact.findUnique({ where: { id: contact.mergedIntoId } });
    if (!contact) return false;
    const created = await tx.contactOptOut.createMany({ data: [{ workspaceId: contact.workspaceId, contactId: contact.id, channel, reason }], skipDuplicates: true });
    if (created.count === 0) return false;
    const lead = await tx.lead.findFirst({ where: { contactId: contact.id }, orderBy: { createdAt: 'desc' }, select: { id: true } });
    if (lead) {
      await recordActivity(tx, { workspaceId: contact.workspaceId, leadId: lead.id, kind: 'contact.opted_out', actor: { type: 'contact', id: contact.id }, data: { channel, reason } });
    }
    return true;
  });
}
