// What every scenario's section of the results is made of: the machine, the table, the figures.
'use strict';
const os = require('node:os');
const { spawnSync } = require('node:child_process');

function machine() {
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model.trim() ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}`;
}

/** The commit a checkout is at, for the record of which unicorn was measured. */
function describeCheckout(dir) {
  const git = (...args) => spawnSync('git', ['-C', dir, ...args], { encoding: 'utf8' });
  const commit = git('log', '-1', '--format=%h').stdout?.trim();
  if (!commit) return `from ${dir}`;
  return git('status', '--porcelain', '--untracked-files=no').stdout.trim() ? `at ${commit} with uncommitted changes` : `at ${commit}`;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** The nearest-rank percentile `p` (0 to 100) of `xs`; NaN for none. */
const percentile = (xs, p) => [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil((p / 100) * xs.length) - 1)] ?? NaN;
const sum = (xs) => xs.reduce((n, x) => n + x, 0);
const fmt = (n, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const mb = (bytes) => fmt(bytes / 2 ** 20, 1);

/** A markdown table: `columns` is a list of [heading, align ('l' or 'r')], `rows` lists of cells. */
function table(columns, rows) {
  return [
    `| ${columns.map(([heading]) => heading).join(' | ')} |`,
    `| ${columns.map(([, align]) => (align === 'r' ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((cells) => `| ${cells.join(' | ')} |`),
  ].join('\n');
}

module.exports = { machine, describeCheckout, median, percentile, sum, fmt, mb, table };
