import type { ChannelAdapter, ChannelKind } from './contract.js';

/** The core's only way to reach adapters. */
export class ChannelRegistry {
  private readonly byKind = new Map<string, ChannelAdapter>();

  constructor(adapters: readonly ChannelAdapter[]) {
    for (const adapter of adapters) {
      if (this.byKind.has(adapter.kind)) throw new Error(`two adapters claim the source kind "${adapter.kind}"`);
      this.byKind.set(adapter.kind, adapter);
    }
  }

  all(): ChannelAdapter[] {
    return [...this.byKind.values()];
  }

  forSourceKind(kind: string): ChannelAdapter | undefined {
    return this.byKind.get(kind);
  }

  sourceKinds(): string[] {
    return this.all()
      .filter((adapter) => adapter.source)
      .map((adapter) => adapter.kind);
  }

  /** The adapter that sends on a channel, preferring the one of the lead's own source kind. */
  senderFor(channel: ChannelKind, preferredKind?: string): ChannelAdapter | undefined {
    const preferred = preferredKind ? this.byKind.get(preferredKind) : undefined;
    if (preferred?.send && preferred.sends.includes(channel)) return preferred;
    return this.all().find((adapter) => adapter.send && adapter.sends.includes(channel));
  }
}
