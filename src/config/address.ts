import { isIPv4, isIPv6 } from 'node:net';
import path from 'node:path';

/** Where the arbiter listens. Parsed from `--bind`; see `parseAddress` for the accepted forms. */
export type BindAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string } | { kind: 'fd'; fd: number };

export const DEFAULT_PORT = 8000;

export const ADDRESS_FORMS = 'HOST:PORT, [IPv6]:PORT, HOST (port 8000), unix:PATH or fd://N';

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * Parse one `--bind` value. Relative unix socket paths are made absolute against `cwd`, so the
 * address means the same thing in the arbiter and in every log line. Returns a string saying what is
 * wrong when the value is not one of the accepted forms.
 */
export function parseAddress(raw: string, cwd: string = process.cwd()): BindAddress | string {
  const value = raw.trim();
  if (value.startsWith('unix:')) {
    const socketPath = value.slice(value.startsWith('unix://') ? 7 : 5);
    if (socketPath === '') return 'a unix socket needs a path, as in unix:/run/app.sock';
    return { kind: 'unix', path: path.resolve(cwd, socketPath) };
  }
  if (value.startsWith('fd://')) {
    const fd = value.slice(5);
    if (!/^\d+$/.test(fd)) return 'fd:// needs a file descriptor number, as in fd://3';
    return { kind: 'fd', fd: Number(fd) };
  }
  const hostPort = value.startsWith('tcp://') ? value.slice(6) : value;

  let host: string;
  let port: string | undefined;
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(hostPort);
  if (bracketed) {
    host = bracketed[1]!;
    port = bracketed[2];
    if (!isIPv6(host)) return `${JSON.stringify(host)} in brackets is not an IPv6 address`;
  } else {
    const colons = hostPort.split(':').length - 1;
    if (colons > 1) return 'an IPv6 address needs brackets, as in [::1]:8000';
    [host, port] = hostPort.split(':') as [string, string | undefined];
    if (!isIPv4(host) && !HOSTNAME.test(host)) return `${JSON.stringify(host)} is not a host name or address`;
  }
  if (port === undefined) return { kind: 'tcp', host, port: DEFAULT_PORT };
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) {
    return `${JSON.stringify(port)} is not a port number (0 to 65535)`;
  }
  return { kind: 'tcp', host, port: Number(port) };
}

/** How an address appears in logs: a URL for TCP, the form it was given in otherwise. */
export function formatAddress(address: BindAddress): string {
  switch (address.kind) {
    case 'tcp':
      // Only an IPv6 address has colons (a host name cannot): net.isIPv6 would compile its pattern here.
      return `http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
    case 'unix':
      return `unix:${address.path}`;
    case 'fd':
      return `fd://${address.fd}`;
  }
}

/** The forms a TCP-only address (a metrics endpoint) is given in. */
export const TCP_ADDRESS_FORMS = 'HOST:PORT or [IPv6]:PORT, as in 127.0.0.1:9464 (port 0 takes a free port)';

/** A TCP address with its port given (a metrics endpoint's), or why `raw` is not one. */
export function parseTcpAddress(raw: string): { host: string; port: number } | string {
  // parseAddress takes a missing port to mean 8000, and other kinds of address than TCP.
  const tcpOnly = 'metrics are served over TCP only';
  if (!/:\d+$/.test(raw.trim())) return /^(unix:|fd:\/\/)/.test(raw.trim()) ? tcpOnly : 'the port is missing';
  const address = parseAddress(raw);
  if (typeof address === 'string') return address;
  if (address.kind !== 'tcp') return tcpOnly;
  return { host: address.host, port: address.port };
}
