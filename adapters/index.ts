import type { ChannelAdapter } from '../src/channels/contract.js';
import { EmailAdapter } from './email/index.js';
import { defaultTiming } from './email/mailbox-watcher.js';
import { TwilioAdapter } from './twilio/index.js';
import { WebformAdapter } from './webform/index.js';
import { InstagramAdapter } from './instagram/index.js';
import type { GraphOptions } from './meta/graph.js';
import { MetaLeadsAdapter } from './meta-leads/index.js';
import { WhatsAppAdapter, type WhatsAppAdapterOptions } from './whatsapp/index.js';
import { WhatsAppCloudAdapter } from './whatsapp-cloud/index.js';

export interface AdapterOptions {
  /** How long a process owns a long-lived connection (a mailbox, a WhatsApp number) without renewing its lease. */
  connectionLeaseMs: number;
  /** Whether mailbox servers may be private, loopback or reserved addresses (src/security/outbound-address.ts). */
  allowPrivateHosts?: boolean;
  /** WhatsApp's driver (Baileys unless a test gives its double), version and timing. */
  whatsapp?: WhatsAppAdapterOptions;
  /** Meta's Graph API (WhatsApp Cloud API, Instagram, Lead Ads) and the backoff of its failed fetches. */
  meta?: { graph: GraphOptions; retry: { baseMs: number; maxMs: number } };
}

/** Every channel adapter the gateway ships; the composition root hands them to the registry. */
export function builtInAdapters(options: AdapterOptions): ChannelAdapter[] {
  return [
    new WebformAdapter(),
    new EmailAdapter({ ...defaultTiming, leaseMs: options.connectionLeaseMs }, { allowPrivate: options.allowPrivateHosts ?? false }),
    new TwilioAdapter(),
    new WhatsAppAdapter({ ...options.whatsapp, timing: { leaseMs: options.connectionLeaseMs, ...options.whatsapp?.timing } }),
    new WhatsAppCloudAdapter(options.meta ?? {}),
    new MetaLeadsAdapter(options.meta ?? {}),
    new InstagramAdapter(options.meta ?? {}),
  ];
}
