import type { ChannelAdapter } from '../src/channels/contract.js';
import { EmailAdapter } from './email/index.js';
import { TwilioAdapter } from './twilio/index.js';
import { WebformAdapter } from './webform/index.js';

/** Every channel adapter the gateway ships; the composition root hands them to the registry. */
export function builtInAdapters(): ChannelAdapter[] {
  return [new WebformAdapter(), new EmailAdapter(), new TwilioAdapter()];
}
