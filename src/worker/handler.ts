import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { HandlerInterface } from '../config/settings';
import { kindOf } from '../shared/describe';
import { appError } from '../shared/errors';
import { type FetchHandler, fetchListener } from './fetch';

/** What every app becomes: a Node request listener, plus `upgrade` listeners when it has some. */
export type NodeListener = (req: IncomingMessage, res: ServerResponse) => unknown;

type UpgradeListener = (...args: unknown[]) => void;

export interface Handler {
  /** The detected shape, for the boot log line. */
  shape: Shape;
  listener: NodeListener;
  upgrade: UpgradeListener[];
  /** Whether an upgrade request is for `upgrade` (Node's shouldUpgradeCallback): several apps decide by
   *  path (site.ts). Without it, every one is while there are upgrade listeners, as Node decides. */
  takesUpgrade?: (req: IncomingMessage) => boolean;
}

/** 'mounts': several apps or static directories, each with its own shape (site.ts). */
export type Shape = 'node' | 'fetch' | 'fetch-object' | 'koa' | 'fastify' | 'http.Server' | 'mounts';

export const SHAPES_ACCEPTED =
  'a Node request listener (req, res), a Fetch handler (request) => Response, an object with a fetch method, ' +
  'a Koa application, a Fastify instance or an http.Server with request listeners';

type AnyRecord = Record<string, unknown>;

const isFastify = (app: AnyRecord) => app.server instanceof http.Server && typeof app.ready === 'function';
const isKoa = (app: AnyRecord) => typeof app.callback === 'function' && typeof app.use === 'function';
const hasFetch = (app: AnyRecord) => typeof app.fetch === 'function';

/**
 * Turn whatever the app's export is into a request listener, detecting its shape (see the README's
 * table). `iface` settles what arity alone cannot: a function of other than one or two-plus
 * parameters, or an app that is meant to be used the other way.
 */
export async function toHandler(app: unknown, iface: HandlerInterface, appName: string): Promise<Handler> {
  const refuse = (reason: string) => appError('UNICORN_APP_NOT_A_HANDLER', appName, reason);
  const notFor = (shape: string, kind: HandlerInterface) =>
    refuse(`it is ${shape}, which is not a ${kind === 'node' ? 'Node request listener' : 'Fetch handler'} as --interface ${kind} asks`);

  if (typeof app === 'object' && app !== null) {
    const record = app as AnyRecord;
    if (app instanceof http.Server || isFastify(record)) {
      const shape: Shape = app instanceof http.Server ? 'http.Server' : 'fastify';
      if (iface === 'fetch') throw notFor(shape === 'fastify' ? 'a Fastify instance' : 'an http.Server', iface);
      if (shape === 'fastify') await (record.ready as () => Promise<unknown>).call(app);
      return fromServer(shape === 'fastify' ? (record.server as http.Server) : (app as http.Server), shape, refuse);
    }
    if (isKoa(record)) {
      if (iface === 'fetch') throw notFor('a Koa application', iface);
      return { shape: 'koa', listener: (record.callback as () => NodeListener).call(app), upgrade: [] };
    }
    if (hasFetch(record)) {
      if (iface === 'node') throw notFor('an object with a fetch method', iface);
      const fetch = record.fetch as FetchHandler;
      return { shape: 'fetch-object', listener: fetchListener((request, env) => fetch.call(app, request, env)), upgrade: [] };
    }
  }
  if (typeof app === 'function') {
    const kind = iface !== 'auto' ? iface : app.length === 1 ? 'fetch' : app.length >= 2 ? 'node' : undefined;
    if (kind === 'node') return { shape: 'node', listener: app as NodeListener, upgrade: [] };
    if (kind === 'fetch') return { shape: 'fetch', listener: fetchListener(app as FetchHandler), upgrade: [] };
    throw refuse(
      `it is ${kindOf(app)}, so it is not clear whether it is a Node request listener (req, res) or a Fetch handler (request); ` +
        'say which with --interface node or --interface fetch',
    );
  }
  throw refuse(`it is ${kindOf(app)}; expected ${SHAPES_ACCEPTED}`);
}

/** An http.Server's request listeners are the app; its upgrade listeners come along. */
function fromServer(server: http.Server, shape: Shape, refuse: (reason: string) => Error): Handler {
  const listeners = server.listeners('request') as NodeListener[];
  if (listeners.length === 0) throw refuse(`it is an http.Server with no 'request' listener`);
  const listener: NodeListener =
    listeners.length === 1
      ? (req, res) => listeners[0]!.call(server, req, res)
      : (req, res) => {
          for (const l of listeners) l.call(server, req, res);
        };
  return { shape, listener, upgrade: server.listeners('upgrade') as UpgradeListener[] };
}

/**
 * --http2 with an app that cannot take node:http2's requests is refused when the worker loads it
 * (exit 4), rather than crashing the worker at every HTTP/2 request: Express (4 and 5) gives each
 * request the prototype of its own request object, made from node:http's IncomingMessage, and the
 * Http2ServerRequest it is given loses its own getters (`url`, `method`, `headers`) that way
 * (expressjs/express#3388).
 */
export function refuseIfNotForHttp2(app: unknown, appName: string): void {
  const listeners = app instanceof http.Server ? app.listeners('request') : [app];
  if (!listeners.some(replacesRequestPrototype)) return;
  throw appError(
    'UNICORN_APP_NOT_HTTP2',
    appName,
    "it is an Express app, which does not work over HTTP/2 (it swaps each request for one made from node:http's " +
      'IncomingMessage); serve it without --http2 (HTTPS over HTTP/1.1 is served the same), or with an app that takes ' +
      "node:http2's requests (Koa, Fastify, a Fetch handler)",
  );
}

const replacesRequestPrototype = (candidate: unknown): boolean => {
  const request = typeof candidate === 'function' ? (candidate as { request?: unknown }).request : undefined;
  return typeof request === 'object' && request !== null && request instanceof http.IncomingMessage;
};
