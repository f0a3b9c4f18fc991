/**
 * Whether this Node and this system can give each worker a SO_REUSEPORT socket of its own: a fact
 * of the platform, which the settings check --reuse-port against and the arbiter binds with.
 */

/** libuv's bind flag for SO_REUSEPORT (node's TCPConstants.UV_TCP_REUSEPORT, since 22.12 and 23.1). */
export const UV_TCP_REUSEPORT = 2;

/** Where libuv sets SO_REUSEPORT with load balancing; elsewhere its bind fails with ENOTSUP. */
const PLATFORMS = ['linux', 'freebsd', 'sunos', 'aix'];

/** Why --reuse-port cannot be had here, or undefined. */
export function reusePortProblem(version = process.versions.node, platform: string = process.platform): string | undefined {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major < 22 || (major === 22 && minor < 12) || (major === 23 && minor < 1)) {
    return `Node.js ${version} cannot bind with SO_REUSEPORT; it needs 22.12 or newer (23.1 on the 23 line)`;
  }
  if (!PLATFORMS.includes(platform)) {
    return `${platform} does not balance connections over SO_REUSEPORT sockets; Node.js has it on Linux 3.9+, FreeBSD 12+, Solaris 11.4 and AIX 7.2.5+`;
  }
  return undefined;
}
