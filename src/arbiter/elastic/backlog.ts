/**
 * How many connections wait in the kernel's accept queues of the arbiter's TCP listening sockets:
 * the load the workers have not taken yet. Linux shows it in /proc/net/tcp and /proc/net/tcp6, where
 * the rx_queue of a socket in the LISTEN state is its accept queue's current length; a socket is
 * known there by its inode, which /proc/self/fd names.
 *
 * Unix-socket listeners are not counted: /proc/net/unix has no queue lengths (only netlink's
 * sock_diag does).
 */
import { readFileSync, readlinkSync } from 'node:fs';
import type { Listener, ServerHandle } from '../listener';

const TABLES = ['/proc/net/tcp', '/proc/net/tcp6'];
/** The `st` column of a listening socket (TCP_LISTEN). */
const LISTEN = '0A';

/** Each handle's socket inode, or null for none: its descriptor stays the same for its whole life. */
const inodes = new WeakMap<ServerHandle, string | null>();

function inodeOf(handle: ServerHandle): string | null {
  let inode = inodes.get(handle);
  if (inode === undefined) {
    try {
      inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${handle.fd}`))?.[1] ?? null;
    } catch {
      inode = null;
    }
    inodes.set(handle, inode);
  }
  return inode;
}

/**
 * The connections waiting to be accepted on `listeners`, summed; undefined when it cannot be known:
 * not Linux, no TCP listener, or none of them found in the tables. Reads each table once: on a host
 * with many sockets the kernel's writing of the tables is most of the cost (benchmarks/RESULTS.md).
 */
export function acceptQueue(listeners: readonly Listener[], platform: NodeJS.Platform = process.platform): number | undefined {
  if (platform !== 'linux') return undefined;
  const ours = new Set<string>();
  for (const { address, handle } of listeners) {
    const inode = address.kind === 'unix' ? null : inodeOf(handle);
    if (inode !== null) ours.add(inode);
  }
  if (ours.size === 0) return undefined;
  const queues = new Map<string, number>();
  for (const table of TABLES) {
    let text: string;
    try {
      text = readFileSync(table, 'latin1');
    } catch {
      continue; // no tcp6 without IPv6
    }
    readListenQueues(text, ours, queues);
  }
  if (queues.size === 0) return undefined;
  let sum = 0;
  for (const n of queues.values()) sum += n;
  return sum;
}

/**
 * Add to `into` the accept-queue length of each listening socket of `ours` (by inode) in `table`, the
 * text of /proc/net/tcp or tcp6: `sl local rem st tx_queue:rx_queue tr:when retrnsmt uid timeout inode …`.
 */
export function readListenQueues(table: string, ours: ReadonlySet<string>, into: Map<string, number>): void {
  for (const line of table.split('\n')) {
    // Most lines are connections: skip them before splitting (` 0A ` can only be the state column).
    if (!line.includes(` ${LISTEN} `)) continue;
    const fields = line.trim().split(/\s+/);
    if (fields[3] !== LISTEN || !ours.has(fields[9]!)) continue;
    const rxQueue = Number.parseInt(fields[4]!.split(':')[1]!, 16);
    if (Number.isFinite(rxQueue)) into.set(fields[9]!, rxQueue);
  }
}
