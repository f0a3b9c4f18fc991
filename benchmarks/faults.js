#!/usr/bin/env node
// The fault pass: replay the faults a server meets in production (signal storms, a stopped or
// killed arbiter, killed workers, descriptor exhaustion, a full disk, leaks, heap exhaustion, slow
// requests on sync workers) against unicorn under load, and print, one line a scenario, the
// requests sent, those that failed by kind, and the scenario's key figure. It exits 1 when a
// scenario lost what it should not have: a request that was not in flight on a killed process, a
// crashed worker, an arbiter killed by a signal it handles. `node benchmarks/faults.js --help`.
//
// Everything runs on loopback; every process started is stopped by its process group when the
// pass ends, however it ends (lib/servers.js), and the temporary directory is removed.
'use strict';
const { mkdtempSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { machine, describeCheckout } = require('./lib/report.js');

const ROOT = path.resolve(__dirname, '..');
const SCENARIOS = {
  ...require('./faults/signals.js'),
  ...require('./faults/kills.js'),
  ...require('./faults/limits.js'),
  ...require('./faults/spread.js'),
};

const OPTIONS = {
  only: { type: 'string', multiple: true, what: 'run only this scenario (repeatable)' },
  unicorn: { type: 'string', default: path.join(ROOT, 'bin', 'unicorn'), what: "another checkout's bin/unicorn, to test that version" },
  quick: { type: 'boolean', what: 'shorter loads and fewer faults, for a smoke test' },
  help: { type: 'boolean', short: 'h', what: 'this text' },
};

class UsageError extends Error {}

function usage() {
  return [
    'usage: node benchmarks/faults.js [--only NAME ...] [--unicorn PATH/bin/unicorn] [--quick]   (after npm run build)',
    '',
    'scenarios (default: all):',
    ...Object.entries(SCENARIOS).map(([name, s]) => `  ${name.padEnd(20)} ${s.title}`),
    '',
    'options:',
    ...Object.entries(OPTIONS).map(([name, o]) => `  --${`${name}${o.type === 'string' ? ' X' : ''}`.padEnd(20)} ${o.what}`),
  ].join('\n');
}

function parse(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: Object.fromEntries(Object.entries(OPTIONS).map(([name, { what, ...o }]) => [name, o])),
    }));
  } catch (err) {
    if (!err.code?.startsWith('ERR_PARSE_ARGS')) throw err;
    throw new UsageError(err.message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  for (const name of values.only ?? []) {
    if (!(name in SCENARIOS)) throw new UsageError(`--only "${name}" is not accepted: choose from ${Object.keys(SCENARIOS).join(', ')}`);
  }
  return values;
}

const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** "failed 3 (reset 2, timeout 1)" */
function describeFailures(failures) {
  const entries = Object.entries(failures).sort(([, a], [, b]) => b - a);
  const total = entries.reduce((n, [, c]) => n + c, 0);
  return total ? `failed ${total} (${entries.map(([kind, n]) => `${kind} ${n}`).join(', ')})` : 'failed 0';
}

/**
 * A scenario's outcome as one line, and whether it is a fault. `result`: `sent`, `failures` (by
 * kind), `figure` (the key figure, in words), `unexpected` (failed requests that should not have),
 * `broken` (other things that should not have happened, in words).
 */
function verdict(name, result) {
  const problems = [
    ...(result.unexpected ? [`${plural(result.unexpected, 'request')} lost that should not have been`] : []),
    ...(result.broken ?? []),
  ];
  const line = [
    name.padEnd(20),
    `sent ${String(result.sent).padStart(6)}`,
    describeFailures(result.failures),
    result.figure,
    problems.length ? `FAULT: ${problems.join('; ')}` : 'ok',
  ].join('  |  ');
  return { line, fault: problems.length > 0 };
}

async function main() {
  const values = parse(process.argv.slice(2));
  if (values.help) return void process.stdout.write(`${usage()}\n`);
  const unicorn = path.resolve(values.unicorn);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'unicorn-faults-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const ctx = { unicorn, dir, quick: Boolean(values.quick), progress: (line) => process.stderr.write(`faults: ${line}\n`) };
  process.stdout.write(
    `Fault pass${ctx.quick ? ' (quick)' : ''}. Machine: ${machine()}. unicorn ${describeCheckout(path.dirname(path.dirname(unicorn)))}.\n\n`,
  );
  const names = values.only ?? Object.keys(SCENARIOS);
  const faults = [];
  let sent = 0;
  let failed = 0;
  const started = performance.now();
  for (const name of names) {
    ctx.progress(`${name}: ${SCENARIOS[name].title}`);
    let result;
    try {
      result = await SCENARIOS[name].run(ctx);
    } catch (err) {
      // One scenario that cannot run (its server would not start, say) does not stop the pass.
      result = { sent: 0, failures: {}, figure: 'did not run', broken: [err.message.split('\n')[0]] };
      ctx.progress(`${name}: ${err.stack}`);
    }
    const { line, fault } = verdict(name, result);
    process.stdout.write(`${line}\n`);
    if (fault) faults.push(name);
    sent += result.sent;
    failed += Object.values(result.failures).reduce((n, c) => n + c, 0);
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  process.stdout.write(
    `\n${plural(names.length, 'scenario')} in ${seconds} s: ${sent} requests sent, ${failed} failed; ` +
      `${faults.length ? `${plural(faults.length, 'fault')}: ${faults.join(', ')}` : 'no faults'}\n`,
  );
  // Exit now: a scenario may leave a timer behind (the bound on a wait that ended early).
  process.exit(faults.length ? 1 : 0);
}

main().catch((err) => {
  if (err instanceof UsageError) {
    process.stderr.write(`faults: ${err.message}\n(node benchmarks/faults.js --help lists the scenarios and options)\n`);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
});
