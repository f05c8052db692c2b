import dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import net from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Where the gateway may connect on someone else's say-so (a webhook URL, and whatever else a
 * workspace configures): public unicast addresses only, unless the operator allows private ones.
 * Classified by ipaddr.js's IANA special-purpose ranges, so loopback, private, link-local, CGNAT,
 * multicast, broadcast, reserved (240/4, 192.0.0.0/24, documentation), NAT64 (64:ff9b::/96),
 * 6to4 (2002::/16), Teredo, IPv4-mapped and -compatible (::127.0.0.1), site-local (fec0::/10) and
 * discard (100::/64) are all refused, not only the few a hand-written list names.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  const parsed = ipaddr.parse(address);
  if (parsed.range() !== 'unicast') return false;
  return !(parsed.kind() === 'ipv6' && deprecatedIpv6.some((range) => (parsed as ipaddr.IPv6).match(range)));
}

/**
 * Deprecated IPv6 ranges that ipaddr.js files under unicast: site-local (RFC 3879), still routed
 * inside some networks, and IPv4-compatible addresses (RFC 4291; `::127.0.0.1`, which URLs write
 * as `::7f00:1`), which some stacks still map to IPv4.
 */
const deprecatedIpv6 = ['fec0::/10', '::/96'].map((cidr) => ipaddr.IPv6.parseCIDR(cidr));

/** A connection the policy refused: the host resolves to (or is) an address that is not public. */
export class OutboundAddressError extends Error {
  override readonly name = 'OutboundAddressError';
  readonly code = 'outbound_address_refused';
  constructor(
    readonly host: string,
    readonly address: string,
  ) {
    super(`${host} is (or resolves to) ${address}, a private, loopback or reserved address`);
  }
}

export type Resolver = (hostname: string) => Promise<{ address: string; family: number }[]>;

const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => {
    dns.lookup(hostname, { all: true }, (error, addresses) => (error ? reject(error) : resolve(addresses)));
  });

/**
 * A `lookup` for net, tls and http: it resolves the name, refuses it when any address is not
 * public, and hands the socket exactly the addresses it checked. The check and the connection
 * use one resolution, so a name that answers a public address to the check and a private one to
 * the connection (DNS rebinding) cannot slip through.
 */
export function checkedLookup(options: { allowPrivate: boolean; resolver?: Resolver }): LookupFunction {
  const resolver = options.resolver ?? systemResolver;
  return (hostname, lookupOptions, callback) => {
    resolver(hostname).then(
      (addresses) => {
        const family = lookupOptions.family === 4 || lookupOptions.family === 6 ? lookupOptions.family : undefined;
        const usable = family ? addresses.filter((entry) => entry.family === family) : addresses;
        const refused = options.allowPrivate ? undefined : addresses.find((entry) => !isPublicAddress(entry.address));
        if (refused) return callback(new OutboundAddressError(hostname, refused.address), '', 0);
        const first = usable[0];
        if (!first) return callback(Object.assign(new Error(`${hostname} does not resolve`), { code: 'ENOTFOUND' }), '', 0);
        if (lookupOptions.all) (callback as unknown as (error: null, addresses: { address: string; family: number }[]) => void)(null, usable);
        else callback(null, first.address, first.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, '', 0),
    );
  };
}

/**
 * Checks a host before connecting, for clients that take no `lookup` (or to answer a 422 when a
 * setting is saved): an address literal is checked as it is, a name by every address it has.
 * Answers the addresses; throws OutboundAddressError for one that is not public.
 */
export async function checkHost(host: string, options: { allowPrivate: boolean; resolver?: Resolver }): Promise<string[]> {
  const bare = host.replace(/^\[|\]$/g, '');
  const addresses = net.isIP(bare) ? [bare] : (await (options.resolver ?? systemResolver)(bare).catch(() => [])).map((entry) => entry.address);
  if (!options.allowPrivate) {
    const refused = addresses.find((address) => !isPublicAddress(address));
    if (refused) throw new OutboundAddressError(bare, refused);
  }
  return addresses;
}
