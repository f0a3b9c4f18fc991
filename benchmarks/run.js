#!/usr/bin/env node
// The benchmark suite: unicorn against plain node:cluster (round-robin and shared-handle), PM2's
// cluster mode and a single node:http process, and its static files against express.static,
// @fastify/static and nginx, on one machine in one run, alternating the contenders.
// `node benchmarks/run.js --help` lists the scenarios and options.
//
// Everything runs on loopback; each run is bounded in time, and every process started is stopped
// when the run ends, however it ends (lib/servers.js).
'use strict';
const { writeFileSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { hasWrk } = require('./lib/http-load.js');
const { machine, describeCheckout } = require('./lib/report.js');
const { readIfExists, replaceSection } = require('./lib/results-file.js');
const { CONTENDERS } = require('./lib/servers.js');

const ROOT = path.resolve(__dirname, '..');
const throughput = require('./scenarios/throughput.js');
const SCENARIOS = {
  'keep-alive': throughput['keep-alive'],
  churn: throughput.churn,
  json: throughput.json,
  ...require('./scenarios/fairness.js'),
  ...require('./scenarios/reload.js'),
  ...require('./scenarios/startup.js'),
  'access-log': throughput['access-log'],
  ...require('./scenarios/static-files.js'),
  proxies: throughput.proxies,
  ...require('./scenarios/mounts.js'),
  ...require('./scenarios/cold-start.js'),
  ...require('./scenarios/elastic-step.js'),
  ...require('./scenarios/emperor.js'),
};
/** Run only when named: the ones that compare unicorn with itself in detail, and the elastic ones,
 *  which take minutes and measure what a unicorn before scale to zero and the adaptive count lacks. */
const NAMED_ONLY = ['proxies', 'mounts', 'cold-start', 'wake-ups', 'elastic-step', 'emperor'];
/** What a run without scenario names runs. */
const DEFAULT_SCENARIOS = Object.keys(SCENARIOS).filter((name) => !NAMED_ONLY.includes(name));

const OPTIONS = {
  duration: {
    type: 'string',
    default: '5',
    what: 'seconds of load a run (keep-alive, churn, json, access-log, static-1k, static-1m, proxies, mounts)',
    check: 'positive',
  },
  rounds: { type: 'string', default: '3', what: 'rounds, each running every contender once', check: 'count' },
  workers: {
    type: 'string',
    default: String(os.availableParallelism()),
    what: 'workers each contender runs (startup always runs 4)',
    check: 'count',
  },
  connections: { type: 'string', default: '50', what: 'concurrent connections of the load', check: 'count' },
  wakeups: { type: 'string', default: '50', what: 'wake-ups from idle a round (wake-ups)', check: 'count' },
  'step-duration': {
    type: 'string',
    default: '20',
    what: 'seconds of the loaded step; the idle after it lasts twice as long (elastic-step)',
    check: 'positive',
  },
  idle: { type: 'string', default: '5', what: 'seconds of idling whose CPU is measured (startup)', check: 'positive' },
  vassals: { type: 'string', default: '100', what: 'on-demand hello-world vassals under the emperor (emperor)', check: 'count' },
  'vassal-idle': {
    type: 'string',
    default: '10s',
    what: "each vassal's idle timeout, as 500ms, 10s or 2m (emperor)",
    check: 'duration',
  },
  'load-duration': { type: 'string', default: '60', what: 'seconds of the wandering load across vassals (emperor)', check: 'positive' },
  reloads: { type: 'string', default: '5', what: 'reloads in the reload scenario', check: 'whole' },
  'reload-duration': { type: 'string', default: '10', what: 'seconds the reloads are spread over', check: 'positive' },
  contender: { type: 'string', multiple: true, what: `only these contenders (repeatable): ${Object.keys(CONTENDERS).join(', ')}` },
  generator: { type: 'string', what: 'wrk or autocannon (default: wrk when installed)' },
  unicorn: { type: 'string', default: path.join(ROOT, 'bin', 'unicorn'), what: "another checkout's bin/unicorn, to measure that version" },
  out: {
    type: 'string',
    what: "also write each scenario's section into this markdown file (e.g. benchmarks/RESULTS.md), keeping its other sections",
  },
  help: { type: 'boolean', short: 'h', what: 'this text' },
};

function usage() {
  const lines = [
    'usage: npm run bench -- [SCENARIO ...] [options]',
    '       node benchmarks/run.js [SCENARIO ...] [options]   (after npm run build)',
    '',
    `scenarios (default: ${DEFAULT_SCENARIOS.join(', ')}):`,
    ...Object.entries(SCENARIOS).map(([name, s]) => `  ${name.padEnd(12)} ${s.title}`),
    '',
    'options:',
    ...Object.entries(OPTIONS).map(
      ([name, o]) =>
        `  --${`${name}${o.type === 'string' ? ' X' : ''}`.padEnd(20)} ${o.what}${o.default !== undefined && name !== 'unicorn' ? ` (default ${o.default})` : ''}`,
    ),
  ];
  return lines.join('\n');
}

/** The options and scenario names, or an error that names the value given and what is accepted. */
function parse(argv) {
  // parseArgs takes no keys of its own it does not know, nor undefined ones.
  const options = Object.fromEntries(
    Object.entries(OPTIONS).map(([name, option]) => [
      name,
      Object.fromEntries(Object.entries(option).filter(([key]) => ['type', 'multiple', 'short', 'default'].includes(key))),
    ]),
  );
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options });
  } catch (err) {
    if (!err.code?.startsWith('ERR_PARSE_ARGS')) throw err;
    throw new UsageError(err.message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true };
  for (const name of positionals) {
    if (!(name in SCENARIOS)) throw new UsageError(`no scenario "${name}": choose from ${Object.keys(SCENARIOS).join(', ')}`);
  }
  const numbers = {};
  for (const [name, option] of Object.entries(OPTIONS)) {
    if (option.check === 'duration') {
      const ms = durationMs(values[name]);
      if (!(ms > 0)) throw new UsageError(`--${name} "${values[name]}" is not accepted: expected a duration such as 500ms, 10s or 2m`);
      numbers[`${name}-ms`] = ms;
      continue;
    }
    if (!option.check) continue;
    const value = Number(values[name]);
    const ok = option.check === 'positive' ? value > 0 : Number.isInteger(value) && value >= (option.check === 'count' ? 1 : 0);
    const wanted = { positive: 'a number above 0', count: 'a whole number of 1 or more', whole: 'a whole number of 0 or more' }[
      option.check
    ];
    if (!ok || values[name].trim() === '') throw new UsageError(`--${name} "${values[name]}" is not accepted: expected ${wanted}`);
    numbers[name] = value;
  }
  for (const id of values.contender ?? []) {
    if (!(id in CONTENDERS))
      throw new UsageError(`--contender "${id}" is not accepted: expected one of ${Object.keys(CONTENDERS).join(', ')}`);
  }
  const generator = values.generator ?? (hasWrk() ? 'wrk' : 'autocannon');
  if (!['wrk', 'autocannon'].includes(generator))
    throw new UsageError(`--generator "${generator}" is not accepted: expected wrk or autocannon`);
  return { values, numbers, generator, scenarios: positionals.length ? positionals : DEFAULT_SCENARIOS };
}

class UsageError extends Error {}

/** A duration as a unicorn setting takes it ("500ms", "10s", "2m"), in ms; NaN when it is none. */
function durationMs(text) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text.trim());
  return m ? Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2]] : NaN;
}

/** The command that reruns one scenario as this run ran it: the options given, none left implicit. */
function commandFor(name, { values, numbers }) {
  const relevant = {
    reload: ['rounds', 'workers', 'connections', 'reloads', 'reload-duration'],
    startup: ['rounds', 'idle'],
    fairness: ['rounds', 'workers'],
    'cold-start': ['rounds'],
    'wake-ups': ['rounds', 'wakeups'],
    'elastic-step': ['rounds', 'connections', 'step-duration'],
    emperor: ['vassals', 'vassal-idle', 'load-duration'],
  }[name] ?? ['duration', 'rounds', 'workers', 'connections'];
  const flags = relevant.map((option) => `--${option} ${numbers[option] ?? values[option]}`);
  for (const id of values.contender ?? []) flags.push(`--contender ${id}`);
  return `npm run bench -- ${name} ${flags.join(' ')}`;
}

async function main() {
  const args = parse(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(`${usage()}\n`);
    return;
  }
  const { values, numbers, generator } = args;
  const ids = values.contender;
  const ctx = {
    duration: numbers.duration,
    rounds: numbers.rounds,
    workers: numbers.workers,
    connections: numbers.connections,
    reloads: numbers.reloads,
    reloadDuration: numbers['reload-duration'],
    wakeups: numbers.wakeups,
    idleSeconds: numbers.idle,
    stepDuration: numbers['step-duration'],
    vassals: numbers.vassals,
    vassalIdle: values['vassal-idle'].trim(),
    vassalIdleMs: numbers['vassal-idle-ms'],
    loadDuration: numbers['load-duration'],
    /** The results file, when given: a scenario's picture is written beside it. */
    out: values.out,
    generator,
    unicorn: path.resolve(values.unicorn),
    /** The contenders of a scenario that --contender leaves in (an opt-in one only when named). */
    choose: (contenders) => contenders.filter((c) => (ids ? ids.includes(c.id) : !c.optIn)),
    progress: (line) => process.stderr.write(`${line}\n`),
  };
  const about = `Machine: ${machine()}. unicorn ${describeCheckout(path.dirname(path.dirname(ctx.unicorn)))}.`;
  for (const name of args.scenarios) {
    const heading = `## ${name}: ${SCENARIOS[name].title}`;
    const body = await SCENARIOS[name].run(ctx);
    const section = [heading, '', `Command: \`${commandFor(name, args)}\``, about, '', body, ''].join('\n');
    process.stdout.write(`\n${section}`);
    // Written as each scenario ends, so that a long run interrupted keeps what it measured. Only
    // the sections of the scenarios run are replaced; the file's other sections stay.
    if (values.out) writeFileSync(values.out, replaceSection(readIfExists(values.out) || '# Benchmark results\n', heading, section));
  }
}

main().catch((err) => {
  if (err instanceof UsageError) {
    process.stderr.write(`bench: ${err.message}\n(node benchmarks/run.js --help lists the scenarios and options)\n`);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
});
