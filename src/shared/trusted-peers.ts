/**
 * Which peers are trusted to speak for their clients: `--forwarded-allow-ips` (whose X-Forwarded-*
 * and Forwarded headers are applied) and `--proxy-allow-from` (whose PROXY protocol header is). Both
 * take IP addresses and networks, comma separated, or `*`. The settings parser checks a list, naming
 * a bad entry; each worker compiles it once into a test of a peer's address.
 */
import { BlockList, type Socket } from 'node:net';

/** What a refusal says such a list may hold. */
export const PEER_LIST_FORMS =
  'IP addresses or networks (10.0.0.0/8, fd00::/8), comma separated; * for every peer; an empty value for none, unix sockets included';

/** Does a connection's peer (as `peerOf` gives it) count as trusted? */
export type PeerTest = (peer: string | undefined | null) => boolean;

/**
 * A socket's peer as the lists see it: its IP address; undefined for a peer on a unix socket, which
 * has none; null when a TCP peer's address can no longer be read (it reset the connection at once),
 * which no list trusts — an address that is merely missing must not pass for a unix socket's.
 */
export function peerOf(socket: Socket): string | undefined | null {
  const address = socket.remoteAddress;
  if (address !== undefined) return address;
  // libuv's handle for a unix socket connection is a Pipe (a TCP one is a TCP), as accept.ts tells them.
  return (socket as Socket & { _handle?: object | null })._handle?.constructor.name === 'Pipe' ? undefined : null;
}

/**
 * One value of such a setting, which may itself hold several entries (`10.0.0.0/8,127.0.0.1`):
 * its entries trimmed and joined by commas, or what is wrong with the first bad one. Host names are
 * refused rather than resolved: a name that resolved differently later would move the trust.
 */
export function parsePeerList(raw: string): string | { problem: string } {
  const entries = splitEntries(raw);
  for (const entry of entries) {
    const problem = entryProblem(entry);
    if (problem) return { problem: `${JSON.stringify(entry)} ${problem}` };
  }
  return entries.join(',');
}

/**
 * Compile the setting's values (each checked by `parsePeerList`), or undefined when they trust no
 * peer at all (an empty list): then there is nothing to check. A peer without an IP address — one
 * on a unix socket, such as nginx in front of `unix:/run/app.sock` — is trusted by any other list,
 * as Gunicorn trusts one: whoever may open the socket file is the proxy. `*` trusts every peer.
 */
export function compilePeerList(values: readonly string[]): PeerTest | undefined {
  const entries = values.flatMap(splitEntries);
  if (entries.length === 0) return undefined;
  if (entries.includes('*')) return (peer) => peer !== null;
  const list = new BlockList();
  for (const entry of entries) {
    const [base, prefix] = entry.split('/') as [string, string | undefined];
    const family = familyOf(base);
    if (prefix === undefined) list.addAddress(base, family);
    else list.addSubnet(base, Number(prefix), family);
  }
  // BlockList matches an IPv4 rule against an IPv4-mapped IPv6 peer (`::ffff:127.0.0.1`, as a
  // socket bound to `::` sees IPv4 clients) too.
  return (peer) => peer === undefined || (peer !== null && list.check(peer, familyOf(peer)));
}

/** The family of an address known to be one (a checked entry, a socket's peer): only IPv6 has colons. */
const familyOf = (address: string): 'ipv4' | 'ipv6' => (address.includes(':') ? 'ipv6' : 'ipv4');

/** 4, 6, or 0 for what is not an IP address. Parsed natively by BlockList: net.isIP compiles its IPv6
 *  pattern on first use, milliseconds of every start of the arbiter and of each worker. */
function ipVersion(address: string): 0 | 4 | 6 {
  const family = familyOf(address);
  try {
    new BlockList().addAddress(address, family);
  } catch {
    return 0;
  }
  return family === 'ipv6' ? 6 : 4;
}

const splitEntries = (raw: string): string[] =>
  raw
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');

function entryProblem(entry: string): string | undefined {
  if (entry === '*') return undefined;
  const slash = entry.indexOf('/');
  const base = slash === -1 ? entry : entry.slice(0, slash);
  // Only hex digits, colons and dots: BlockList's parser would stop at a NUL, and a zone (`%eth0`) is refused.
  const version = /^[\da-f:.]+$/i.test(base) ? ipVersion(base) : 0;
  if (version === 0) return 'is not an IP address or network';
  if (slash === -1) return undefined;
  const prefix = entry.slice(slash + 1);
  const most = version === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > most) return `has a bad prefix length: an IPv${version} network's is 0 to ${most}`;
  return undefined;
}
