// benchmarks/RESULTS.md is written by more than one script: each owns a `## ` section of it and
// replaces only that section, so rerunning one benchmark keeps the others' results.
'use strict';
const { existsSync, readFileSync } = require('node:fs');

/** The section that starts with `heading` (a `## ` line) up to the next `## ` line or the end, or ''. */
function sectionOf(text, heading) {
  const start = `\n${text}`.indexOf(`\n${heading}\n`);
  if (start === -1) return '';
  const end = text.indexOf('\n## ', start + heading.length);
  return text.slice(start, end === -1 ? text.length : end + 1);
}

/** `text` with its section `heading` replaced by `section`, or with `section` appended. */
function replaceSection(text, heading, section) {
  const old = sectionOf(text, heading);
  if (old) return text.replace(old, () => section);
  return `${text.replace(/\n*$/, '\n\n')}${section}`;
}

const readIfExists = (file) => (existsSync(file) ? readFileSync(file, 'utf8') : '');

module.exports = { sectionOf, replaceSection, readIfExists };
