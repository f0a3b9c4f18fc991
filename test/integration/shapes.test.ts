import http from 'node:http';
import path from 'node:path';
import { request } from '../helpers/http';
import { exchange } from '../helpers/raw';
import { APPS, runToExit, serve, start } from '../helpers/unicorn';

/** Serve APP from the fixtures directory and send one request. */
async function get(app: string, urlPath = '/', args: string[] = [], init: Parameters<typeof request>[1] = {}) {
  const unicorn = await serve(app, ['--chdir', APPS, ...args]);
  return { reply: await request(`${unicorn.url()}${urlPath}`, init), unicorn };
}

describe('handler shapes, with the real frameworks', () => {
  it('a Node request listener (CommonJS default export)', async () => {
    const { reply } = await get('routes');
    expect(reply.body).toMatch(/^hello \d+/);
  });

  it('Express, by a named export', async () => {
    const { reply, unicorn } = await get('express-app:app', '/json', [], {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    expect(JSON.parse(reply.body)).toEqual({ got: { a: 1 } });
    expect((await request(unicorn.url())).body).toMatch(/^express/);
  });

  it('Koa (ES module)', async () => {
    const { reply } = await get('koa-app.mjs', '/k');
    expect(reply.body).toBe('koa /k\n');
  });

  it('Fastify, from an async factory with arguments', async () => {
    const { reply, unicorn } = await get('fastify-app:build("blue")');
    expect(JSON.parse(reply.body)).toEqual({ framework: 'fastify', name: 'blue' });
    expect(unicorn.logs.map((l) => l.msg)).toContainEqual(expect.stringMatching(/as fastify$/));
  });

  it('Hono (an object with fetch)', async () => {
    const { reply, unicorn } = await get('hono-app.mjs', '/user/7');
    expect(JSON.parse(reply.body)).toEqual({ id: '7' });
    expect((await request(unicorn.url())).body).toBe('hono\n');
  });

  it('a Fetch handler: request body and headers in, status, cookies and a stream out', async () => {
    const { reply, unicorn } = await get('fetch-handler.mjs', '/echo', [], {
      method: 'PUT',
      headers: { 'x-test': 'yes' },
      body: 'payload',
    });
    expect(JSON.parse(reply.body)).toEqual({ method: 'PUT', body: 'payload', header: 'yes' });
    const stream = await request(`${unicorn.url()}/stream`);
    expect(stream).toMatchObject({ status: 201, body: 'abc' });
    expect(stream.headers['set-cookie']).toEqual(['a=1']);
  });

  it('export default { fetch } keeps its this', async () => {
    expect((await get('fetch-object.mjs', '/p')).reply.body).toBe('fetch-object /p\n');
  });

  it('an http.Server whose request listeners are the app', async () => {
    expect((await get('http-server.js:server')).reply.body).toBe('http.Server\n');
  });

  it('TypeScript through Node type stripping, with a dotted export', async () => {
    expect((await get('typed.ts:nested.handler', '/t')).reply.body).toBe('typescript /t\n');
  });

  describe('TypeScript in a package.json that says "type": "commonjs" (what npm init -y writes)', () => {
    const project = path.join(APPS, 'ts-commonjs');

    it('loads an app written with import and export, and the .ts modules it imports', async () => {
      const unicorn = await serve('app.ts', ['--chdir', project]);
      expect((await request(`${unicorn.url()}/t`)).body).toBe('typescript in a commonjs package /t\n');
    });

    it('loads one written with module.exports as CommonJS, as before', async () => {
      const unicorn = await serve('legacy.ts', ['--chdir', project]);
      expect((await request(`${unicorn.url()}/l`)).body).toBe('legacy export default /l\n');
    });

    it('reads unicorn.config.ts there, and no process warns about type stripping', async () => {
      const unicorn = start(['-b', '127.0.0.1:0'], { cwd: project });
      await unicorn.ready(1);
      expect((await request(`${unicorn.url()}/c`)).body).toBe('typescript in a commonjs package /c\n');
      expect(unicorn.stderr).not.toMatch(/ExperimentalWarning|Warning:/);
    });
  });

  it('a JavaScript app gets no warning about type stripping on any supported Node', async () => {
    const { unicorn } = await get('routes', '/', ['-w', '2']);
    await unicorn.ready(2);
    expect(unicorn.stderr).not.toMatch(/ExperimentalWarning|Type Stripping/);
  });

  it('a directory with an index, and an ESM-only installed package', async () => {
    expect((await get('./dir-app')).reply.body).toBe('dir-app\n');
    const unicorn = await serve('my-app:handler', ['--chdir', path.join(APPS, 'pkg-root')]);
    expect((await request(unicorn.url())).body).toBe('my-app package\n');
  });

  it('calls a dotted factory on its parent object', async () => {
    expect((await get('factory-this.js:lib.build()')).reply.body).toBe('built by lib\n');
  });

  it.each([
    ['listens.js', '`if (require.main === module)`'],
    ['listens.mjs', '`if (import.meta.main)`'],
    ['listens-detected.js', '`if (import.meta.main)`'],
  ])('refuses an app that calls listen() itself while loading, saying what to change: %s', async (app, guard) => {
    const { code, unicorn } = await runToExit(['-b', '127.0.0.1:0', app], { cwd: APPS });
    expect(code).toBe(4);
    const reason = unicorn.bootFailures()[0]!.msg;
    expect(reason).toMatch(
      new RegExp(
        `^cannot load the app "${app}": importing .*${app} failed: Error: the app called listen\\(0\\) itself; unicorn listens for it \\(at http://127\\.0\\.0\\.1:\\d+\\): export the app without listening`,
      ),
    );
    // The ES module's guard on the Node the tests run on (22.18, 24.2 and later have import.meta.main).
    const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
    const hasMain = major > 24 || (major === 24 && minor >= 2) || (major === 22 && minor >= 18);
    const expected = guard.includes('import.meta') && !hasMain ? '`if (import.meta.url === pathToFileURL(process.argv[1]).href)`' : guard;
    expect(reason).toContain(`, for example behind ${expected}`);
    expect(unicorn.stdout).not.toContain('the app thinks it listens');
  });

  it('--interface node settles an ambiguous function', async () => {
    expect((await get('ambiguous.js', '/', ['--interface', 'node'])).reply.body).toBe('ambiguous but node\n');
  });
});

describe('the Fetch adapter and bad input', () => {
  it('answers 400 to a Host header that would move the path, and the app never sees it', async () => {
    const unicorn = await serve('fetch-handler.mjs', ['--chdir', APPS]);
    const reply = await request(`${unicorn.url()}/public`, { headers: { host: 'example.com/admin?' } });
    expect(reply.status).toBe(400);
    expect((await request(`${unicorn.url()}/public`)).body).toMatch(/^fetch \/public/);
  });

  it('gives a request with an empty Host (allowed: RFC 9112, 3.2) a URL on localhost, as one without', async () => {
    const unicorn = await serve('url-echo.mjs', ['--chdir', APPS]);
    const { reply } = await exchange(unicorn.url(), 'GET /empty?q=1 HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n');
    expect(reply).toMatch(/^HTTP\/1\.1 200 /);
    expect(reply).toContain('"url":"http://localhost/empty?q=1","host":""');
  });

  it('closes a keep-alive connection whose request body the app left unread', async () => {
    const unicorn = await serve('fetch-handler.mjs', ['--chdir', APPS, '-k', 'async']);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const big = 'x'.repeat(2 * 1024 * 1024);
      const ignored = await request(`${unicorn.url()}/ignore-body`, { method: 'POST', body: big, agent });
      expect(ignored).toMatchObject({ status: 200, body: 'ignored\n' });
      expect(ignored.headers.connection).toBe('close');
      expect((await request(unicorn.url(), { agent, timeoutMs: 5000 })).status).toBe(200);
    } finally {
      agent.destroy();
    }
  });

  it('drops the hop-by-hop headers of a passed-through Response', async () => {
    const unicorn = await serve('fetch-handler.mjs', ['--chdir', APPS]);
    const reply = await request(`${unicorn.url()}/upstream`, { headers: { connection: 'keep-alive' } });
    expect(reply.body).toBe('from upstream\n');
    expect(reply.headers.connection).toBe('close');
    expect(reply.headers['keep-alive']).toBeUndefined();
  });

  it('answers HEAD on an endless stream with headers at once', async () => {
    const unicorn = await serve('fetch-handler.mjs', ['--chdir', APPS]);
    const head = await request(`${unicorn.url()}/endless`, { method: 'HEAD', timeoutMs: 5000 });
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toBe('text/event-stream');
    expect((await request(unicorn.url())).status).toBe(200);
  });
});

describe('malformed HTTP', () => {
  it("is answered 400 by Node's parser, never reaches the app, and the worker keeps serving", async () => {
    const unicorn = await serve('routes.js', ['--chdir', APPS, '-k', 'async']);
    const {
      reply: answer,
      closed,
      reset,
    } = await exchange(unicorn.url(), 'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n', 10_000, {
      halfClose: true,
    });
    expect({ closed, reset }).toEqual({ closed: true, reset: false });
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(answer).not.toContain('hello');
    expect((await request(unicorn.url())).status).toBe(200);
    expect(unicorn.lines('Booting worker')).toHaveLength(1);
  });
});

describe('handler errors', () => {
  it.each([
    ['/throw', 'thrown by /throw'],
    ['/reject', 'rejected by /reject'],
  ])('%s answers 500, logs the stack, and the worker keeps serving', async (urlPath, message) => {
    const unicorn = await serve('routes.js', ['--chdir', APPS]);
    const reply = await request(`${unicorn.url()}${urlPath}`);
    expect(reply.status).toBe(500);
    expect(reply.body).toBe('Internal Server Error\n');
    expect(reply.headers['x-should-not-leak']).toBeUndefined();
    const logged = await unicorn.waitForLog((l) => l.msg === `Error handling request GET ${urlPath}`, 'the error line');
    expect((logged.err as { stack: string }).stack).toContain(message);
    expect((logged.err as { stack: string }).stack).toContain('routes.js');
    const after = await request(unicorn.url());
    expect(after.status).toBe(200);
    expect(unicorn.workerPids()).toHaveLength(1);
    expect(unicorn.lines('Booting worker')).toHaveLength(1);
  });

  it('closes the connection when the error comes after the headers', async () => {
    const unicorn = await serve('routes.js', ['--chdir', APPS]);
    await expect(request(`${unicorn.url()}/throw-after-headers`)).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
    expect((await request(unicorn.url())).status).toBe(200);
  });

  it('a Fetch handler that throws answers 500', async () => {
    const unicorn = await serve('fetch-handler.mjs', ['--chdir', APPS]);
    expect((await request(`${unicorn.url()}/throw`)).status).toBe(500);
    expect((await request(unicorn.url())).status).toBe(200);
  });
});
