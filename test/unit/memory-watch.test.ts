import { judge, residentReader, type WatchedMemory } from '../../src/arbiter/memory-watch';

const MB = 1024 * 1024;

describe("the arbiter's memory watch", () => {
  it('replaces a worker once it passes the limit, and kills it once it grows by a quarter of the limit more', () => {
    const worker: WatchedMemory = { pid: 1 };
    expect(judge(worker, 100 * MB, 150 * MB)).toBeUndefined();
    expect(judge(worker, 160 * MB, 150 * MB)).toEqual({ kind: 'over', rss: 160 * MB });
    // Told once; growing less than a quarter of the limit more is left to drain.
    expect(judge(worker, 197 * MB, 150 * MB)).toBeUndefined();
    expect(judge(worker, 198 * MB, 150 * MB)).toEqual({ kind: 'kill', rss: 198 * MB, passedAt: 160 * MB });
  });

  it('a failed read decides nothing', () => {
    const worker: WatchedMemory = { pid: 1 };
    expect(judge(worker, undefined, 150 * MB)).toBeUndefined();
    expect(worker.overMemoryAt).toBeUndefined();
    judge(worker, 160 * MB, 150 * MB);
    expect(judge(worker, undefined, 150 * MB)).toBeUndefined();
  });

  it("reads a process's resident memory from /proc, as the process itself sees it, and nothing for a process gone", () => {
    const read = residentReader()!;
    const own = read(process.pid)!;
    expect(Math.abs(own - process.memoryUsage.rss())).toBeLessThan(16 * MB);
    // Beyond pid_max: no such process.
    expect(read(2 ** 23)).toBeUndefined();
  });
});
