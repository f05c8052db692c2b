import {
  type AuthenticationCreds,
  type AuthenticationState,
  BufferJSON,
  initAuthCreds,
  proto,
  type SignalDataSet,
  type SignalDataTypeMap,
} from '@whiskeysockets/baileys';
import type { AdapterContext } from '../../src/channels/contract.js';

const credsKey = 'creds';
const signalKey = (type: string, id: string) => `signal:${type}:${id}`;

/** Baileys' values hold Buffers and Uint8Arrays: JSON with its own replacer keeps them. */
function serialize(value: unknown): string {
  return JSON.stringify(value, BufferJSON.replacer);
}

function deserialize<T>(text: string): T {
  return JSON.parse(text, BufferJSON.reviver) as T;
}

/**
 * Baileys' auth-state interface over the source's vault: credentials and signal keys live in
 * the database, sealed, never in files. Baileys batches the key changes of one operation into
 * one `set`, which is one transaction here together with the credentials as they are then,
 * written only while this process holds the lease.
 */
export async function databaseAuthState(
  vault: AdapterContext['vault'],
  sourceId: string,
  leaseKey: string,
): Promise<{ state: AuthenticationState; saveCreds(): Promise<void>; registered(): boolean }> {
  const stored = (await vault.get(sourceId, [credsKey])).get(credsKey);
  const creds: AuthenticationCreds = stored ? deserialize<AuthenticationCreds>(stored) : initAuthCreds();
  const state: AuthenticationState = {
    creds,
    keys: {
      async get<T extends keyof SignalDataTypeMap>(type: T, ids: string[]) {
        const found = await vault.get(
          sourceId,
          ids.map((id) => signalKey(type, id)),
        );
        const result: { [id: string]: SignalDataTypeMap[T] } = {};
        for (const id of ids) {
          const text = found.get(signalKey(type, id));
          if (text === undefined) continue;
          const value = deserialize<SignalDataTypeMap[T]>(text);
          result[id] = (type === 'app-state-sync-key' ? proto.Message.AppStateSyncKeyData.fromObject(value as object) : value) as SignalDataTypeMap[T];
        }
        return result;
      },
      async set(data: SignalDataSet) {
        // The credentials go with every batch of keys, in its transaction: Baileys advances them
        // in memory (the next pre-key id, with the pre-keys it generated) before they are saved on
        // their own, and a crash between two writes would leave ids that match no stored key.
        const set: Record<string, string> = { [credsKey]: serialize(creds) };
        const remove: string[] = [];
        for (const [type, values] of Object.entries(data)) {
          for (const [id, value] of Object.entries(values ?? {})) {
            if (value === null || value === undefined) remove.push(signalKey(type, id));
            else set[signalKey(type, id)] = serialize(value);
          }
        }
        await vault.write(sourceId, { set, remove }, { leaseKey });
      },
    },
  };
  return {
    state,
    saveCreds: () => vault.write(sourceId, { set: { [credsKey]: serialize(creds) } }, { leaseKey }),
    // A finished pairing leaves the signed device identity (`account`); a pairing code also sets `registered`.
    registered: () => Boolean(creds.registered || creds.account),
  };
}
