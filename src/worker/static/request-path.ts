/**
 * What a static directory accepts as a request path, decided on the path as it came (still
 * percent-encoded) before anything touches the disk. A path that could only mean to leave the
 * directory, or that cannot be decoded, is refused here and answered by the static server itself:
 * it never reaches the apps, which might read it differently.
 */

export type PathCheck = { ok: true } | { refused: 400 | 403; why: string };

const OK: PathCheck = { ok: true };

/** `pathname` begins with '/' and has no query. */
export function checkPath(pathname: string): PathCheck {
  // The path is decoded once (by the library, as here); a raw backslash is a separator on some systems.
  if (pathname.includes('\\')) return { refused: 403, why: 'a backslash' };
  let decoded = pathname;
  if (pathname.includes('%')) {
    if (!wellEncoded(pathname)) return { refused: 400, why: 'a % not followed by two hexadecimal digits' };
    try {
      decoded = decodeURIComponent(pathname);
    } catch {
      return { refused: 400, why: 'percent-encoding that is not UTF-8' };
    }
    if (decoded.includes('\0')) return { refused: 400, why: 'a NUL byte' };
    // An encoded separator would become a real one once decoded: a segment may not hide one.
    if (/%2f/i.test(pathname)) return { refused: 403, why: 'an encoded slash' };
    if (decoded.includes('\\')) return { refused: 403, why: 'an encoded backslash' };
  }
  // Any .. segment is refused, even one that would stay inside: clients normalize the paths they send.
  for (const segment of decoded.split('/')) if (segment === '..') return { refused: 403, why: 'a .. segment' };
  return OK;
}

function wellEncoded(pathname: string): boolean {
  for (let i = pathname.indexOf('%'); i !== -1; i = pathname.indexOf('%', i + 1)) {
    if (!isHex(pathname.charCodeAt(i + 1)) || !isHex(pathname.charCodeAt(i + 2))) return false;
  }
  return true;
}

const isHex = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
