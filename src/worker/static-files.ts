/**
 * --static PREFIX=DIR: the files of a directory, served by the worker before the apps.
 * (Placeholder: the real implementation replaces this file.)
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StaticDir } from '../config/mount-spec';
import type { Settings } from '../config/settings';

export class StaticFiles {
  private constructor(
    readonly prefix: string,
    readonly dir: string,
  ) {}

  /** At boot: a directory that cannot be read fails the boot with a message naming it. */
  static async open(entry: StaticDir, _settings: Settings): Promise<StaticFiles> {
    return new StaticFiles(entry.prefix, entry.dir);
  }

  /**
   * Answer a GET or HEAD for a file under the directory. `path` is the request target with the
   * prefix taken off: it begins with '/', still percent-encoded, its query kept. False (at once, or
   * once the file is found missing) when the request is not for a file here: it goes on to the apps.
   */
  serve(_req: IncomingMessage, _res: ServerResponse, _path: string): Promise<boolean> | false {
    return false;
  }
}
