/** The control socket `unicorn ctl` talks to. */

import { defaultControlDir, defaultControlSocket, socketPathProblem } from '../../control/paths';
import { filePath } from './parsers';
import { spec } from './spec';

/** The control section. */
export const CONTROL_SETTINGS = [
  spec({
    key: 'controlSocket',
    flags: '--control-socket <PATH>',
    section: 'control',
    description: 'the unix socket `unicorn ctl` talks to (mode 0600); --no-control-socket for none',
    accepted: 'a socket path in an existing directory, or false (--no-control-socket) for none',
    negatable: 'run no control socket',
    parse: (raw, ctx) => {
      if (raw.trim() === 'false') return false;
      const file = filePath(raw, ctx);
      const problem = typeof file === 'string' ? socketPathProblem(file) : undefined;
      return problem ? { refused: problem } : file;
    },
    defaultValue: () => undefined,
    defaultText: '$XDG_RUNTIME_DIR/unicorn/PID.sock, else /tmp/unicorn-UID/PID.sock',
    // The arbiter's pid is known only once it runs.
    unsetText: (env) => defaultControlSocket(defaultControlDir(env), 'PID'),
    display: (value) => (value === false ? '(none)' : value),
  }),
] as const;
