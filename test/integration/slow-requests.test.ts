/**
 * hooks/slow-requests: the real bin/unicorn with the plugin, one async worker, routes.js. The
 * threshold is 200 ms, so the plugin looks at the requests in flight every 100 ms.
 */
import http from 'node:http';
import path from 'node:path';
import { request } from '../helpers/http';
import { APPS, type LogLine, ROOT, runToExit, serve, type Unicorn } from '../helpers/unicorn';

const ROUTES = path.join(APPS, 'routes.js');
const CONFIGS = path.join(ROOT, 'test', 'fixtures', 'config');
const FROM_ENV = { env: { UNICORN_SLOW_REQUEST_THRESHOLD: '200ms' } };
const WITH_PLUGIN = ['-k', 'async', '--hook', 'slow-requests'];

const isSlow = (url: string) => (line: LogLine) => line.msg.startsWith('Slow request: ') && line.url === url;
const isRunning = (url: string) => (line: LogLine) => line.msg.startsWith('Request still running: ') && line.url === url;

/** Wait for the `Slow request` line of `url`. */
const slowLine = (unicorn: Unicorn, url: string) => unicorn.waitForLog(isSlow(url), `the Slow request line of ${url}`);

/** A request the client ends when it likes: `handling` resolves once the worker has sent headers. */
function held(url: string) {
  let req!: http.ClientRequest;
  const handling = new Promise<void>((resolve, reject) => {
    req = http.get(url, { agent: false }, (res) => {
      res.on('error', () => {}); // cut short by abort(), on purpose
      res.resume();
      resolve();
    });
    req.on('error', reject);
  });
  return {
    handling,
    /** Close the connection with the response unfinished, as a client that gives up. */
    abort: () => {
      req.on('error', () => {}); // the reset this causes is the point
      req.destroy();
    },
  };
}

describe('slow-requests', () => {
  it('logs nothing for a fast request, and one line for one over the threshold once it is done', async () => {
    const unicorn = await serve(ROUTES, WITH_PLUGIN, FROM_ENV);
    expect((await request(`${unicorn.url()}/`)).status).toBe(200);
    expect((await request(`${unicorn.url()}/slow?ms=400`)).status).toBe(200);

    const line = await slowLine(unicorn, '/slow?ms=400');
    expect(line).toMatchObject({ level: 'warn', role: 'worker', worker: 1, method: 'GET', status: 200, aborted: false });
    expect(line.msg).toMatch(/^Slow request: GET \/slow\?ms=400 took \d+ms \(status 200\)$/);
    // Node's timers count whole milliseconds of the event loop's clock, read before the request was
    // dispatched: a 400 ms timer can end a fraction of a millisecond short of 400 by performance.now().
    expect(line.durationMs).toBeGreaterThanOrEqual(399);
    expect(line.durationMs).toBeLessThan(5000);
    // The only worker handled `/` before `/slow`, and logs in order: had `/` been logged, it would
    // be above by now. No wait needed to prove the negative.
    expect(unicorn.logs.filter((l) => l.url === '/')).toEqual([]);
    expect(unicorn.logs.filter(isSlow('/slow?ms=400'))).toHaveLength(1);
    // The check every 100 ms sees it past 200 ms at most once (usually once; a check the machine
    // delays past the request's end may not see it at all).
    expect(unicorn.logs.filter(isRunning('/slow?ms=400')).length).toBeLessThanOrEqual(1);
  });

  it('reports a request held past the threshold once while it runs, and as aborted when its client gives up', async () => {
    const unicorn = await serve(ROUTES, WITH_PLUGIN, FROM_ENV);
    const hold = '/hold?ms=60000';
    const client = held(`${unicorn.url()}${hold}`);
    await client.handling;

    const running = await unicorn.waitForLog(isRunning(hold), 'the Request still running line');
    expect(running).toMatchObject({ level: 'warn', worker: 1, method: 'GET', status: null, aborted: false });
    expect(running.durationMs).toBeGreaterThan(200);
    expect(running.msg).toMatch(/^Request still running: GET \/hold\?ms=60000 for [\d.]+m?s$/);
    expect(unicorn.logs.filter(isSlow(hold))).toEqual([]);

    // Let several checks pass while it is still held: another request of 400 ms (four checks) ends
    // meanwhile, and its line is the event to wait for.
    await request(`${unicorn.url()}/slow?ms=400`);
    await slowLine(unicorn, '/slow?ms=400');
    expect(unicorn.logs.filter(isRunning(hold))).toHaveLength(1);
    expect(unicorn.logs.filter(isSlow(hold))).toEqual([]);

    client.abort();
    const done = await slowLine(unicorn, hold);
    // The app had sent its headers (200) but not the body.
    expect(done).toMatchObject({ level: 'warn', worker: 1, method: 'GET', status: 200, aborted: true });
    expect(done.msg).toMatch(/^Slow request: GET \/hold\?ms=60000 took [\d.]+m?s \(status 200, aborted\)$/);
    expect(done.durationMs).toBeGreaterThanOrEqual(running.durationMs as number);
    expect(unicorn.logs.filter(isRunning(hold))).toHaveLength(1);
  });

  it("takes the threshold from the config file's plugin options, over the environment variable", async () => {
    const config = path.join(CONFIGS, 'slow-requests.mjs');
    const unicorn = await serve(ROUTES, ['-k', 'async', '-c', config], { env: { UNICORN_SLOW_REQUEST_THRESHOLD: '1h' } });
    expect(unicorn.lines('Slow-request logging: ')).toMatchObject([
      { role: 'arbiter', thresholdMs: 200, msg: 'Slow-request logging: requests over 200ms are logged (option threshold)' },
    ]);
    await request(`${unicorn.url()}/slow?ms=400`);
    expect(await slowLine(unicorn, '/slow?ms=400')).toMatchObject({ status: 200, aborted: false });
  });

  it.each([
    [
      'the environment variable',
      [...WITH_PLUGIN, ROUTES],
      { UNICORN_SLOW_REQUEST_THRESHOLD: 'fast' },
      '',
      'UNICORN_SLOW_REQUEST_THRESHOLD "fast" is not accepted',
    ],
    [
      'the option',
      ['-c', path.join(CONFIGS, 'slow-requests-bad.mjs'), ROUTES],
      {},
      ' (test/fixtures/config/slow-requests-bad.mjs: plugins[0])',
      'option threshold 0 is not accepted',
    ],
  ])('refuses a bad threshold from %s: exit 2, naming it, the value and what is accepted', async (_, args, env, where, named) => {
    const { code, stderr, unicorn } = await runToExit(args, { env });
    expect(code).toBe(2);
    const lines = stderr.split('\n').filter((line) => line !== '' && !line.startsWith('{'));
    expect(lines).toEqual([
      `unicorn: error: the plugin "slow-requests"${where} failed to set up: ${named}: expected a duration such as 30s, 2m or 500ms, or a number of seconds; more than 0`,
    ]);
    expect(unicorn.lines('Booting worker')).toEqual([]);
  });
});
