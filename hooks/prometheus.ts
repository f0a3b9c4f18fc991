/**
 * The prometheus plugin: the arbiter serves the metrics of every worker at `GET /metrics` on an
 * address of its own, in the Prometheus text format (hooks/prometheus.md).
 *
 *     unicorn --hook prometheus app.js                     # 127.0.0.1:9464, or $UNICORN_PROMETHEUS_BIND
 *     plugins: [['prometheus', { bind: '0.0.0.0:9464' }]]  # in a config file
 *
 * Each worker counts its requests (postRequest) and publishes the counts with its heartbeats; the
 * arbiter adds up the latest of each live worker and the last of each that has exited, when a
 * scrape comes.
 */
import { parseTcpAddress, TCP_ADDRESS_FORMS } from '../src/config/address';
import { didYouMean } from '../src/config/nearest';
import type { Hooks } from '../src/hooks/types';
import { kindOf } from '../src/shared/describe';
import { show } from '../src/shared/errors';
import { VASSAL_NAME_VARIABLE } from '../src/vassal-ipc';
import { Metrics, PUBLISHED_KEY } from './prometheus/metrics';
import { MetricsServer, type TcpAddress } from './prometheus/server';
import { Recorder } from './prometheus/snapshot';

export interface PrometheusOptions {
  /** Where the arbiter serves /metrics: `HOST:PORT` or `[IPv6]:PORT`; port 0 takes a free port, which
   *  the log names. @default $UNICORN_PROMETHEUS_BIND, else `127.0.0.1:9464` */
  bind?: string;
  /** The upper bounds of the request-duration histogram's buckets, in seconds, increasing; `+Inf`
   *  is implied. @default DEFAULT_BUCKETS */
  buckets?: number[];
}

export const BIND_ENV = 'UNICORN_PROMETHEUS_BIND';
export const DEFAULT_BIND = '127.0.0.1:9464';
/** The Prometheus clients' default buckets: 5 ms to 10 s. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const OPTION_NAMES = ['bind', 'buckets'];
const BUCKET_FORMS = 'a non-empty array of finite numbers of seconds, at least 0 and increasing, as in [0.01, 0.1, 1] (+Inf is implied)';

/**
 * Called in every process that loads the plugins (the arbiter and each worker): it checks the
 * options and starts nothing. The arbiter's hooks serve; the workers' count.
 */
export default function prometheus(options?: PrometheusOptions): Hooks {
  const { address, given, buckets } = readOptions(options, process.env);
  let recorder: Recorder | undefined;
  let metrics: Metrics | undefined;
  let server: MetricsServer | undefined;

  return {
    async onStarting(arbiter) {
      // A vassal's series say whose they are: an emperor's many apps are scraped side by side.
      const vassal = process.env[VASSAL_NAME_VARIABLE];
      const collected = new Metrics(buckets, arbiter.log, vassal ? { vassal } : {});
      metrics = collected;
      const render = () => collected.render(arbiter);
      server = await MetricsServer.start({ address, given, log: arbiter.log, render, predecessor: arbiter.predecessorPid });
    },
    childExit(_arbiter, worker) {
      metrics?.workerExited(worker);
    },
    async onExit() {
      await server?.close();
    },
    // Published with each request: publish only stores the reference, and the heartbeat sends the
    // snapshot as it is then.
    postRequest(worker, _req, _res, info) {
      recorder ??= new Recorder(buckets);
      recorder.record(info.status, info.aborted, info.duration);
      worker.publish(PUBLISHED_KEY, recorder.snapshot);
    },
  };
}

interface Options {
  address: TcpAddress;
  /** How the address was given, for messages. */
  given: string;
  buckets: readonly number[];
}

function readOptions(options: unknown = {}, env: NodeJS.ProcessEnv): Options {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new Error(
      `options ${show(options)} are not accepted: expected an object, as in { bind: '127.0.0.1:9464' }; got ${kindOf(options)}`,
    );
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_NAMES.includes(key))
      throw new Error(`unknown option "${key}"${didYouMean(key, OPTION_NAMES)}; the options are ${OPTION_NAMES.join(', ')}`);
  }
  const { bind, buckets } = options as Record<string, unknown>;
  let address: TcpAddress;
  let given: string;
  if (bind !== undefined) {
    given = `option bind ${show(bind)}`;
    address = parseBind(bind, given);
  } else if (env[BIND_ENV]) {
    given = `${BIND_ENV} ${show(env[BIND_ENV])}`;
    address = parseBind(env[BIND_ENV], given);
  } else {
    given = `the default ${DEFAULT_BIND}; set it with the option bind or ${BIND_ENV}`;
    address = parseBind(DEFAULT_BIND, given);
  }
  return { address, given, buckets: buckets === undefined ? DEFAULT_BUCKETS : parseBuckets(buckets) };
}

function parseBind(value: unknown, given: string): TcpAddress {
  const refuse = (why?: string) => new Error(`${given} is not accepted: ${why ? `${why}; ` : ''}expected ${TCP_ADDRESS_FORMS}`);
  if (typeof value !== 'string') throw refuse(`it is ${kindOf(value)}`);
  const address = parseTcpAddress(value);
  if (typeof address === 'string') throw refuse(address);
  return address;
}

function parseBuckets(value: unknown): number[] {
  const ok =
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((b, i) => typeof b === 'number' && Number.isFinite(b) && b >= 0 && (i === 0 || b > (value[i - 1] as number)));
  if (!ok) throw new Error(`option buckets ${show(value)} is not accepted: expected ${BUCKET_FORMS}`);
  return [...value];
}
