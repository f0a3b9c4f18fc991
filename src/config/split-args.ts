import { badUsage } from '../shared/errors';

/**
 * Split a string of flags (UNICORN_CMD_ARGS) into words as a POSIX shell would, without expanding
 * anything: whitespace separates, single quotes keep everything, double quotes keep all but `\"`
 * and `\\`, a backslash outside quotes keeps the next character.
 */
export function splitArgs(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) word += text[++i];
      else word += c;
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= '';
    } else if (c === '\\' && i + 1 < text.length) {
      word = (word ?? '') + text[++i];
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote) throw badUsage(`UNICORN_CMD_ARGS ${JSON.stringify(text)} is not accepted: a ${quote} quote is not closed`);
  if (word !== undefined) words.push(word);
  return words;
}
