/**
 * What a worker serves: the app at / and the apps mounted beside it (--mount), and the static
 * directories served before them (--static), as one request listener. A request goes to the
 * longest prefix that matches its path on a segment boundary; the app sees the path without the
 * prefix (docs/mounts.md says what each shape sees). One app alone at / is not routed: its
 * requests are only marked and counted on their way to it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { appMounts, type Mount } from '../config/mount-spec';
import type { Settings } from '../config/settings';
import type { BootStep } from '../ipc';
import { type Handler, type NodeListener, refuseIfNotForHttp2, toHandler } from './handler';
import { loadApp } from './load';
import { MOUNT, type MountState, type Tagged } from './mount-tag';
import { inherited } from './own';
import { answerPlainText } from './plain-text';
import type { StaticFiles } from './static-files';

/** Loaded only with --static: the file server and @fastify/send are a fifth of a worker's start. */
const staticFiles = () => (require('./static-files') as typeof import('./static-files')).StaticFiles;

export interface Site {
  handler: Handler;
  /** Every app and directory, in the order given: their counts are reported in this order. */
  mounts: MountState[];
  /** For the boot log line: what is served where, and as what. */
  description: string;
}

interface AppRoute {
  state: MountState;
  handler: Handler;
  /** The app as given, for messages. */
  raw: string;
}

interface FileRoute {
  state: MountState;
  files: StaticFiles;
}

const SLASH = 0x2f;
const QUERY = 0x3f;
const FRAGMENT = 0x23;

/**
 * Load every app (in the order given: the one at / first) and open every static directory. Each
 * failure fails the boot as the app's alone would, naming the mount.
 */
export async function loadSite(settings: Settings, cwd: string, onStep: (step: BootStep) => void = () => {}): Promise<Site> {
  const apps: AppRoute[] = [];
  for (const mount of appMounts(settings)) apps.push(await loadRoute(mount, settings, cwd, onStep));
  const files: FileRoute[] = [];
  for (const entry of settings.static) {
    files.push({ state: mountState(`static:${entry.prefix}`, entry.prefix), files: await staticFiles().open(entry, settings) });
  }
  const mounts = [...apps.map((a) => a.state), ...files.map((f) => f.state)];
  const described = [
    ...apps.map((a) => `${a.raw} as ${a.handler.shape}`),
    ...files.map((f) => `${f.state.prefix}=${f.files.dir} as static files`),
  ];
  const description = described.join(', ');
  const [only] = apps;
  if (only && apps.length === 1 && files.length === 0 && only.state.prefix === '/') {
    return { handler: { ...only.handler, listener: counted(only) }, mounts, description };
  }
  return { handler: route(apps, files), mounts, description };
}

async function loadRoute(mount: Mount, settings: Settings, cwd: string, onStep: (step: BootStep) => void): Promise<AppRoute> {
  const app = await loadApp(mount.app, cwd, onStep);
  onStep({ step: 'handler' });
  const handler = await toHandler(app, settings.interface, mount.app.raw);
  if (settings.http2) refuseIfNotForHttp2(app, mount.app.raw);
  return { state: mountState(mount.prefix, mount.prefix), handler, raw: mount.app.raw };
}

const mountState = (name: string, prefix: string): MountState => ({ name, prefix, served: 0 });

/** The one app, at /: only tagged and counted on its way. */
function counted({ state, handler }: AppRoute): NodeListener {
  const { listener } = handler;
  return (req, res) => {
    (req as Tagged)[MOUNT] = state;
    state.served++;
    return listener(req, res);
  };
}

/** The longest prefix first: the first that matches is the longest that does. */
const longestFirst = <T extends { state: MountState }>(routes: T[]): T[] =>
  [...routes].sort((a, b) => b.state.prefix.length - a.state.prefix.length);

/** Whether the path of `target` (origin-form, with its query, or a Location with its fragment) is
 *  under `prefix`, on a segment boundary. */
function under(target: string, prefix: string): boolean {
  if (prefix === '/') return true;
  if (!target.startsWith(prefix)) return false;
  const next = target.charCodeAt(prefix.length);
  return Number.isNaN(next) || next === SLASH || next === QUERY || next === FRAGMENT;
}

/** `target` as the mount at `prefix` sees it: the prefix off, and never an empty path. */
function within(target: string, prefix: string): string {
  if (prefix === '/') return target;
  const rest = target.slice(prefix.length);
  return rest === '' || rest.charCodeAt(0) === QUERY ? `/${rest}` : rest;
}

/**
 * The request target in origin form, as the prefixes are matched against. An absolute-form target
 * (`GET http://host/api/x`, as a proxy is sent) is reduced to its path and query as written (no URL
 * parser: it would resolve dots and backslashes, and move the request to another app); an asterisk
 * (`OPTIONS *`) or anything else that has no path is left as it is, for the app at / alone.
 */
function originForm(target: string): string {
  if (target.charCodeAt(0) === SLASH) return target;
  const authority = /^https?:\/\/[^/?#]*/i.exec(target);
  if (!authority) return target;
  const rest = target.slice(authority[0].length);
  return rest.charCodeAt(0) === SLASH ? rest : `/${rest}`;
}

/**
 * A `.` or `..` segment, as written or percent-encoded: which app such a path is for depends on who
 * resolves it (a proxy in front, the app, the browser), so with several to choose from it is refused.
 */
function hasDotSegment(target: string): boolean {
  const query = target.indexOf('?');
  const path = query === -1 ? target : target.slice(0, query);
  if (!path.includes('.') && !/%2e/i.test(path)) return false;
  return path.split('/').some((segment) => {
    const dots = segment.replace(/%2e/gi, '.');
    return dots === '.' || dots === '..';
  });
}

function route(appRoutes: AppRoute[], fileRoutes: FileRoute[]): Handler {
  const apps = longestFirst(appRoutes);
  const files = longestFirst(fileRoutes);
  const toApp = (req: IncomingMessage, res: ServerResponse, target: string): unknown => {
    if (hasDotSegment(target)) return answerPlainText(res, 400, 'Bad Request: a path with a . or .. segment');
    const app = target.charCodeAt(0) === SLASH ? apps.find((a) => under(target, a.state.prefix)) : apps.find((a) => a.state.prefix === '/');
    if (!app) return answerPlainText(res, 404, 'Not Found');
    const { state } = app;
    (req as Tagged)[MOUNT] = state;
    state.served++;
    if (state.prefix !== '/') enterMount(req, res, target, state.prefix);
    return app.handler.listener(req, res);
  };
  const listener: NodeListener = (req, res) => {
    const target = originForm(req.url ?? '/');
    const method = req.method;
    if (files.length > 0 && (method === 'GET' || method === 'HEAD') && target.charCodeAt(0) === SLASH) {
      const file = files.find((f) => under(target, f.state.prefix));
      if (file) {
        // Tagged first: a refusal it answers (a path that leaves the directory) is its own.
        (req as Tagged)[MOUNT] = file.state;
        const answered = file.files.serve(req, res, file.state.prefix === '/' ? target : target.slice(file.state.prefix.length));
        if (answered === true) {
          file.state.served++;
          return undefined;
        }
        return answered.then((served) => {
          if (served) return void file.state.served++;
          // Not the static mount's: the apps', or no one's.
          (req as Tagged)[MOUNT] = undefined;
          return toApp(req, res, target);
        });
      }
    }
    return toApp(req, res, target);
  };
  if (!apps.some((a) => a.handler.upgrade.length > 0)) return { shape: 'mounts', listener, upgrade: [] };
  const appFor = (req: IncomingMessage) => {
    const target = originForm(req.url ?? '/');
    return { target, app: apps.find((a) => under(target, a.state.prefix)) };
  };
  // A request with an Upgrade header for an app that takes none is served as a server without upgrade
  // listeners serves it (curl --http2 over plain HTTP asks for h2c): the header is not acted on.
  const takesUpgrade = (req: IncomingMessage) => (appFor(req).app?.handler.upgrade.length ?? 0) > 0;
  const upgrade = [
    function (this: unknown, req: IncomingMessage, socket: import('node:net').Socket, head: Buffer): void {
      // Node without shouldUpgradeCallback (before 22.21 and 24.9) gives every upgrade here.
      const { target, app } = appFor(req);
      if (!app || app.handler.upgrade.length === 0) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      (req as Tagged)[MOUNT] = app.state;
      app.state.served++;
      if (app.state.prefix !== '/') enterMount(req, undefined, target, app.state.prefix);
      for (const upgradeListener of app.handler.upgrade) upgradeListener.call(this, req, socket, head);
    } as (...args: unknown[]) => void,
  ];
  return { shape: 'mounts', listener, upgrade, takesUpgrade };
}

type MountedRequest = IncomingMessage & { originalUrl?: string; baseUrl?: string };

/**
 * The request as the app mounted at `prefix` sees it: its path without the prefix, the target as
 * it came in `originalUrl` and the prefix in `baseUrl` (Express's names, which its router keeps:
 * the app's own `req.baseUrl` and `req.originalUrl` are right), and its redirects to paths of its
 * own under the prefix.
 */
function enterMount(req: IncomingMessage, res: ServerResponse | undefined, target: string, prefix: string): void {
  const mounted = req as MountedRequest;
  mounted.originalUrl ??= target;
  mounted.baseUrl = prefix;
  req.url = within(target, prefix);
  if (res) {
    const own = res as MountedResponse;
    // Another of the worker's classes may have made writeHead the response's own (the access
    // log's): that one is called after this one.
    if (Object.hasOwn(res, 'writeHead')) own[WRITE_HEAD_BEFORE] = own.writeHead;
    own.writeHead = writeHeadUnderMount;
  }
}

const WRITE_HEAD_BEFORE = Symbol('writeHead before the mount');
type MountedResponse = ServerResponse & { [WRITE_HEAD_BEFORE]?: ServerResponse['writeHead'] };

/**
 * A mounted app's `Location: /login` means its own /login: the browser is sent to /api/login. A
 * location already under the prefix (an app that builds its URLs from `baseUrl`), one with a
 * scheme or host, or one relative to the current path, is left as it is.
 */
function locationUnder(prefix: string, location: string): string {
  if (location.charCodeAt(0) !== SLASH || location.charCodeAt(1) === SLASH || under(location, prefix)) return location;
  return `${prefix}${location}`;
}

function writeHeadUnderMount(this: MountedResponse, status: number, message?: unknown, headers?: unknown): ServerResponse {
  const prefix = (this.req as Tagged)[MOUNT]!.prefix;
  if (!this.headersSent) {
    const set = this.getHeader('location');
    if (typeof set === 'string') this.setHeader('location', locationUnder(prefix, set));
  }
  const given = typeof message === 'object' && message !== null ? message : headers;
  const moved = given ? relocated(given, prefix) : given;
  const next = this[WRITE_HEAD_BEFORE] ?? inherited(this, 'writeHead');
  return (next as (...args: unknown[]) => ServerResponse).call(
    this,
    status,
    given === message ? moved : message,
    given === message ? undefined : moved,
  );
}

/** writeHead's own headers, with a Location under the prefix: an object, or a list of pairs or names and values. */
function relocated(headers: unknown, prefix: string): unknown {
  if (Array.isArray(headers)) {
    const pairs = Array.isArray(headers[0]);
    return pairs
      ? (headers as unknown[][]).map(([name, value]) =>
          isLocation(name) && typeof value === 'string' ? [name, locationUnder(prefix, value)] : [name, value],
        )
      : (headers as unknown[]).map((item, i) =>
          i % 2 === 1 && isLocation(headers[i - 1]) && typeof item === 'string' ? locationUnder(prefix, item) : item,
        );
  }
  for (const name of Object.keys(headers as object)) {
    const value = (headers as Record<string, unknown>)[name];
    if (isLocation(name) && typeof value === 'string') {
      const under = locationUnder(prefix, value);
      if (under !== value) return { ...(headers as object), [name]: under };
    }
  }
  return headers;
}

const isLocation = (name: unknown): boolean => typeof name === 'string' && name.length === 8 && name.toLowerCase() === 'location';
