/**
 * How many connections wait in the kernel's accept queues of the arbiter's TCP listening sockets:
 * the load the workers have not taken yet. Linux shows it in /proc/net/tcp and /proc/net/tcp6, where
 * the rx_queue of a socket in the LISTEN state is its accept queue's current length; a socket is
 * known there by its inode, which /proc/self/fd names.
 *
 * Unix-socket listeners are not counted: /proc/net/unix has no queue lengths (only netlink's
 * sock_diag does).
 */
import { closeSync, openSync, readlinkSync, readSync } from 'node:fs';
import type { Listener, ServerHandle } from '../listener';

/** The `st` column of a listening socket (TCP_LISTEN). */
const LISTEN = '0A';

/** Reused by every reading: a few dozen listening sockets' lines fit in it. */
const chunk = Buffer.allocUnsafe(16 * 1024);

/** Where a listening socket is found: its inode, in the table of its family. */
interface Entry {
  inode: string;
  table: '/proc/net/tcp' | '/proc/net/tcp6';
}

/** Each handle's entry, or null for none (not a TCP socket): its descriptor stays the same for its whole life. */
const entries = new WeakMap<ServerHandle, Entry | null>();

function entryOf(handle: ServerHandle): Entry | null {
  let entry = entries.get(handle);
  if (entry === undefined) {
    entry = null;
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${handle.fd}`))?.[1];
      const name: { address?: string; port?: number; family?: string } = {};
      handle.getsockname?.(name);
      if (inode && (name.family === 'IPv4' || name.family === 'IPv6')) {
        entry = { inode, table: name.family === 'IPv4' ? '/proc/net/tcp' : '/proc/net/tcp6' };
      }
    } catch {
      // Not an open descriptor: nothing to read, now or later.
    }
    entries.set(handle, entry);
  }
  return entry;
}

/**
 * The connections waiting to be accepted on `listeners`, summed; undefined when it cannot be known:
 * not Linux, no TCP listener, or none of them found. Reads each table that has one of them once,
 * and only as far as its listening sockets (benchmarks/RESULTS.md has the cost).
 */
export function acceptQueue(listeners: readonly Listener[], platform: NodeJS.Platform = process.platform): number | undefined {
  if (platform !== 'linux') return undefined;
  const ours = new Set<string>();
  const tables = new Set<Entry['table']>();
  for (const { address, handle } of listeners) {
    const entry = address.kind === 'unix' ? null : entryOf(handle);
    if (entry === null) continue;
    ours.add(entry.inode);
    tables.add(entry.table);
  }
  const queues = new Map<string, number>();
  for (const table of tables) {
    const text = readListening(table);
    if (text !== undefined) readListenQueues(text, ours, queues);
  }
  if (queues.size === 0) return undefined;
  let sum = 0;
  for (const n of queues.values()) sum += n;
  return sum;
}

/**
 * The start of a table, up to its first socket that is not listening: the kernel writes the
 * listening sockets first (tcp_seq_start walks the listening hash before the established one), and
 * writes only as much as is read, so the cost stays that of the listening sockets however many
 * connections the host has (but for the kernel's walk to the first socket of the family after them).
 * Undefined if the table cannot be read.
 */
function readListening(table: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(table, 'r');
  } catch {
    return undefined;
  }
  try {
    let text = '';
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) return text;
      text += chunk.toString('latin1', 0, n);
      const end = text.lastIndexOf('\n');
      const last = text
        .slice(text.lastIndexOf('\n', end - 1) + 1, end)
        .trim()
        .split(/\s+/);
      // The header's fourth field is `st`; a socket's is its state.
      if (last[3] !== LISTEN && last[3] !== 'st') return text;
    }
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
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
