/** The last resident set size read: what a failed read gives instead. */
let lastRss = 0;

/**
 * This process's resident set size, in bytes. process.memoryUsage.rss() reads /proc/self/stat,
 * which takes a descriptor: with none free it throws EMFILE. A worker's heartbeat and the arbiter's
 * stats must not fail for that (a worker died of it, resetting every connection it had), so the last
 * size read stands in until a read succeeds again (0 before any has).
 */
export function residentMemory(): number {
  try {
    lastRss = process.memoryUsage.rss();
  } catch {
    // Out of descriptors for the moment: the last size stands.
  }
  return lastRss;
}
