/**
 * Where control sockets are: the default place, and whether a path can be one. Shared by the
 * settings (which check --control-socket), the arbiter's server and `unicorn ctl`.
 */
import path from 'node:path';
import { MAX_SOCKET_PATH_BYTES } from '../shared/socket-path';

/**
 * Where control sockets go when --control-socket does not say: `$XDG_RUNTIME_DIR/unicorn`, the
 * per-user runtime directory systemd provides, else `/tmp/unicorn-UID`. `/tmp` literally, not
 * $TMPDIR: `unicorn ctl` must find the directory from another shell with another environment.
 */
export function defaultControlDir(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0): string {
  const runtime = env.XDG_RUNTIME_DIR;
  // The XDG specification: a relative path is to be ignored.
  return runtime && path.isAbsolute(runtime) ? path.join(runtime, 'unicorn') : `/tmp/unicorn-${uid}`;
}

/** Why `file` cannot be a unix socket's path, if it cannot: Linux says only EINVAL. */
export function socketPathProblem(file: string): string | undefined {
  const bytes = Buffer.byteLength(file);
  return bytes > MAX_SOCKET_PATH_BYTES
    ? `the path is ${bytes} bytes long, and a unix socket's is at most ${MAX_SOCKET_PATH_BYTES}`
    : undefined;
}

/** The default socket of the arbiter with `pid` (`PID` where it is not known yet). */
export const defaultControlSocket = (dir: string, pid: number | 'PID'): string => path.join(dir, `${pid}.sock`);
