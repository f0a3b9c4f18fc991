import { formatDuration, timerMs } from '../config/duration';
import { describeError } from '../shared/describe';
import { hookFailed } from '../shared/errors';
import type { Logger } from '../shared/log';
import { HOOKS } from './catalogue';
import type { LoadedPlugin } from './load';
import type { HookName, Hooks } from './types';

export type HookArgs<N extends HookName> = Parameters<NonNullable<Hooks[N]>>;

/**
 * Runs one process's hooks, plugin by plugin in their composed order. A hook that returns a promise
 * is awaited, within --hook-timeout. What a failure does depends on the hook (catalogue.ts): a
 * `stops` hook's failure is thrown to the caller, naming the hook and the plugin, and the plugins
 * after it do not run; a `logged` one's is logged and the next plugin's hook runs.
 */
export class HookRunner {
  private readonly chains = new Map<HookName, Array<{ name: string; fn: (...args: unknown[]) => unknown }>>();

  constructor(
    plugins: readonly LoadedPlugin[],
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {
    for (const plugin of plugins) {
      for (const [hook, fn] of Object.entries(plugin.hooks) as Array<[HookName, (...args: unknown[]) => unknown]>) {
        const chain = this.chains.get(hook) ?? [];
        chain.push({ name: plugin.name, fn: fn.bind(plugin.hooks) });
        this.chains.set(hook, chain);
      }
    }
  }

  /** Whether any plugin has this hook: per-request hooks cost nothing when none has. */
  has(hook: HookName): boolean {
    return this.chains.has(hook);
  }

  /**
   * Run `hook` of every plugin that has it. Returns undefined when every one finished synchronously
   * (the per-request path stays synchronous then), else a promise.
   */
  run<N extends HookName>(hook: N, ...args: HookArgs<N>): Promise<void> | undefined {
    const chain = this.chains.get(hook);
    if (!chain) return undefined;
    for (let i = 0; i < chain.length; i++) {
      const { name, fn } = chain[i]!;
      let result: unknown;
      try {
        result = fn(...args);
      } catch (err) {
        this.failed(hook, name, err);
        continue;
      }
      if (isThenable(result)) return this.finish(hook, chain, i, result, args);
    }
    return undefined;
  }

  private async finish(
    hook: HookName,
    chain: NonNullable<ReturnType<typeof this.chains.get>>,
    from: number,
    pending: PromiseLike<unknown>,
    args: unknown[],
  ): Promise<void> {
    for (let i = from; i < chain.length; i++) {
      const { name, fn } = chain[i]!;
      try {
        await this.withinLimit(i === from ? pending : fn(...args));
      } catch (err) {
        this.failed(hook, name, err);
      }
    }
  }

  private withinLimit(result: unknown): Promise<unknown> {
    if (!isThenable(result)) return Promise.resolve(result);
    return withinTimeout(
      result,
      this.timeoutMs,
      () => new HookTimeout(`did not finish within --hook-timeout ${formatDuration(this.timeoutMs)}`),
    );
  }

  /** A `stops` hook's failure is thrown; a `logged` one's is logged. */
  private failed(hook: HookName, name: string, err: unknown): void {
    const what = err instanceof HookTimeout ? err.message : `failed: ${describeError(err)}`;
    const message = `hook ${hook} of ${name} ${what}`;
    if (HOOKS[hook].failure === 'stops') throw hookFailed(message, err);
    this.log.error({ err, hook, plugin: name }, message);
  }
}

class HookTimeout extends Error {}

/**
 * `work`, or the error `timedOut()` makes once `ms` have passed. The timer is not unref'd: work
 * waiting on nothing must still be cut off and reported, not let the process end quietly.
 */
export function withinTimeout<T>(work: PromiseLike<T>, ms: number, timedOut: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut()), timerMs(ms));
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';
