// Charts for the results: an SVG drawn here (panels of lines over a shared time axis), rendered to a
// PNG by a headless Chromium, so that RESULTS.md can show it beside its table without a plotting
// dependency.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync, mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const CHROMIUM_PLACES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

const escapeXml = (text) => String(text).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

/** A round number at or above `max` for an axis's top, and its ticks (at most 8 steps). */
function axis(max) {
  if (!(max > 0)) return { top: 1, ticks: [0, 1] };
  const step = 10 ** (Math.floor(Math.log10(max)) - 1);
  const unit = [1, 2, 5, 10, 20, 50].map((m) => m * step).find((u) => max / u <= 8) ?? 100 * step;
  const top = Math.ceil(max / unit) * unit;
  return { top, ticks: Array.from({ length: Math.round(top / unit) + 1 }, (_, i) => i * unit) };
}

/**
 * An SVG of `panels` stacked over one time axis (seconds, 0 to `xMax`). Each panel: `label` (its y
 * axis), `yMax` (optional), `series` ({ name, points: [[x, y], …], step } — a step series holds each
 * value until the next). `bands`: spans of the time axis shaded behind every panel ({ from, to, label }).
 */
function timeChart({ title, xMax, xLabel = 's', panels, bands = [], width = 960, panelHeight = 220 }) {
  const left = 70;
  const right = 190;
  const top = 40;
  const gap = 40;
  const plotWidth = width - left - right;
  const height = top + panels.length * (panelHeight + gap) + 10;
  const x = (t) => left + (Math.min(Math.max(t, 0), xMax) / xMax) * plotWidth;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="22" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  const names = [...new Set(panels.flatMap((p) => p.series.map((s) => s.name)))];
  const colourOf = (name) => COLOURS[names.indexOf(name) % COLOURS.length];
  panels.forEach((panel, i) => {
    const y0 = top + i * (panelHeight + gap);
    const { top: yTop, ticks } = axis(panel.yMax ?? Math.max(0, ...panel.series.flatMap((s) => s.points.map(([, v]) => v))));
    const y = (v) => y0 + panelHeight - (v / yTop) * panelHeight;
    for (const band of bands) {
      out.push(`<rect x="${x(band.from)}" y="${y0}" width="${x(band.to) - x(band.from)}" height="${panelHeight}" fill="#f3ead2"/>`);
      if (i === 0) out.push(`<text x="${x(band.from) + 4}" y="${y0 + 14}" fill="#8a6d1f">${escapeXml(band.label)}</text>`);
    }
    for (const tick of ticks) {
      out.push(`<line x1="${left}" x2="${left + plotWidth}" y1="${y(tick)}" y2="${y(tick)}" stroke="#ddd"/>`);
      out.push(`<text x="${left - 6}" y="${y(tick) + 4}" text-anchor="end">${tick}</text>`);
    }
    const xTicks = axis(xMax).ticks.filter((t) => t <= xMax);
    for (const tick of xTicks) out.push(`<text x="${x(tick)}" y="${y0 + panelHeight + 15}" text-anchor="middle">${tick}</text>`);
    out.push(`<text x="${left + plotWidth + 12}" y="${y0 + panelHeight + 15}">${escapeXml(xLabel)}</text>`);
    out.push(
      `<text transform="translate(18 ${y0 + panelHeight / 2}) rotate(-90)" text-anchor="middle">${escapeXml(panel.label)}</text>`,
      `<rect x="${left}" y="${y0}" width="${plotWidth}" height="${panelHeight}" fill="none" stroke="#888"/>`,
    );
    for (const series of panel.series) {
      const points = [];
      series.points.forEach(([t, v], k) => {
        if (series.step && k > 0) points.push(`${x(t)},${y(series.points[k - 1][1])}`);
        points.push(`${x(t)},${y(v)}`);
      });
      out.push(
        `<polyline fill="none" stroke="${colourOf(series.name)}" stroke-width="2" stroke-linejoin="round" points="${points.join(' ')}"/>`,
      );
    }
  });
  names.forEach((name, k) => {
    const ly = top + 10 + k * 20;
    out.push(
      `<line x1="${width - right + 15}" x2="${width - right + 40}" y1="${ly}" y2="${ly}" stroke="${colourOf(name)}" stroke-width="3"/>`,
    );
    out.push(`<text x="${width - right + 46}" y="${ly + 4}">${escapeXml(name)}</text>`);
  });
  out.push('</svg>');
  return { svg: out.join('\n'), width, height };
}

/** Render `chart` (timeChart's) to the PNG `file` with a headless Chromium; false when none is installed. */
function renderPng(chart, file) {
  const chromium = CHROMIUM_PLACES.find((place) => existsSync(place));
  if (!chromium) return false;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'unicorn-bench-chart-'));
  try {
    const page = path.join(dir, 'chart.html');
    writeFileSync(page, `<!doctype html><html><body style="margin:0">${chart.svg}</body></html>`);
    const run = spawnSync(
      chromium,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--hide-scrollbars',
        `--user-data-dir=${path.join(dir, 'profile')}`,
        `--window-size=${chart.width},${chart.height}`,
        `--screenshot=${path.resolve(file)}`,
        `file://${page}`,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    if (run.status !== 0 || !existsSync(file)) throw new Error(`${chromium} could not render ${file}: ${run.stderr || run.error}`);
    return true;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { timeChart, renderPng };
