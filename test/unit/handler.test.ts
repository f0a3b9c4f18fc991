import http from 'node:http';
import express from 'express';
import fastify from 'fastify';
import { Hono } from 'hono';
import Koa from 'koa';
import { UnicornError } from '../../src/shared/errors';
import { toHandler } from '../../src/worker/handler';

const shapeOf = async (app: unknown, iface: 'auto' | 'node' | 'fetch' = 'auto') => (await toHandler(app, iface, 'x')).shape;
const refusal = async (app: unknown, iface: 'auto' | 'node' | 'fetch' = 'auto'): Promise<UnicornError> => {
  try {
    await toHandler(app, iface, 'app:x');
  } catch (err) {
    if (err instanceof UnicornError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
};

describe('handler shape detection', () => {
  it('detects each shape', async () => {
    expect(await shapeOf((_req: unknown, _res: unknown) => undefined)).toBe('node');
    expect(await shapeOf(express())).toBe('node');
    expect(await shapeOf((_request: Request) => new Response('x'))).toBe('fetch');
    expect(await shapeOf(new Hono())).toBe('fetch-object');
    expect(await shapeOf({ fetch: () => new Response('x') })).toBe('fetch-object');
    expect(await shapeOf(new Koa())).toBe('koa');
    expect(await shapeOf(fastify())).toBe('fastify');
    expect(await shapeOf(http.createServer(() => undefined))).toBe('http.Server');
  });

  it('lets --interface settle what arity cannot', async () => {
    const variadic = (...args: unknown[]) => args;
    expect(await shapeOf(variadic, 'node')).toBe('node');
    expect(await shapeOf(variadic, 'fetch')).toBe('fetch');
    expect((await refusal(variadic)).message).toMatch(/say which with --interface node or --interface fetch/);
  });

  it('refuses what is not a handler, naming what it is', async () => {
    const err = await refusal({ answer: 42 });
    expect(err.exitCode).toBe(4);
    expect(err.code).toBe('UNICORN_APP_NOT_A_HANDLER');
    expect(err.message).toMatch(/^cannot load the app "app:x": it is an object \(Object\); expected a Node request listener/);
    expect((await refusal(42)).message).toMatch(/it is number 42/);
    expect((await refusal(http.createServer())).message).toMatch(/http.Server with no 'request' listener/);
  });

  it('refuses an interface that does not fit the app', async () => {
    expect((await refusal(new Hono(), 'node')).message).toMatch(/an object with a fetch method, which is not a Node request listener/);
    expect((await refusal(new Koa(), 'fetch')).message).toMatch(/a Koa application, which is not a Fetch handler/);
  });
});
