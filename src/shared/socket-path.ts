/**
 * How long a unix socket's path can be: a fact of the platform, which the control socket, the
 * --bind unix: sockets and the systemd notifier all check a path against before the kernel sees it.
 */

/** sun_path's size less its terminating NUL: 108 bytes on Linux, 104 on the BSDs and macOS. */
export const MAX_SOCKET_PATH_BYTES = (process.platform === 'linux' ? 108 : 104) - 1;
