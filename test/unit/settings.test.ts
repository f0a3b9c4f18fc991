import { describeSettings, inapplicable, resolveSettings as resolveAll, resolveLayers, SETTINGS } from '../../src/config/settings';
import { WORKERS_FORMS } from '../../src/config/worker-count';
import { refusal } from '../helpers/refusal';

const resolveSettings = (...args: Parameters<typeof resolveAll>) => resolveAll(...args).settings;

describe('resolveSettings', () => {
  it('has the documented defaults', () => {
    const s = resolveSettings('app', {}, {});
    expect(s).toMatchObject({
      workers: 1,
      bind: [{ kind: 'tcp', host: '127.0.0.1', port: 8000 }],
      backlog: 2048,
      workerClass: 'sync',
      workerConnections: 1000,
      keepAlive: 5000,
      timeout: 30_000,
      workerBootTimeout: 60_000,
      bootAttempts: 3,
      gracefulTimeout: 30_000,
      maxRequests: 0,
      maxRequestsJitter: 0,
      maxWorkerMemory: 0,
      maxWorkerLifetime: 0,
      maxWorkerLifetimeJitter: 0,
      pid: undefined,
      chdir: undefined,
      interface: 'auto',
      certfile: undefined,
      keyfile: undefined,
      caCerts: undefined,
      certReqs: 'none',
      http2: false,
      limitRequestLine: 4094,
      limitRequestFields: 100,
      limitRequestFieldSize: 8190,
      limitRequestBody: 0,
      headerTimeout: 10_000,
      app: { module: 'app', exportPath: [] },
    });
  });

  it("reads the request limits, 0 as Gunicorn's no limit and its ceilings as the most", () => {
    const s = resolveSettings(
      'app',
      {
        limitRequestLine: '8190',
        limitRequestFields: '32768',
        limitRequestFieldSize: '16K',
        limitRequestBody: '10MB',
        headerTimeout: '2.5s',
      },
      {},
    );
    expect(s).toMatchObject({
      limitRequestLine: 8190,
      limitRequestFields: 32768,
      limitRequestFieldSize: 16 * 1024,
      limitRequestBody: 10 * 1024 * 1024,
      headerTimeout: 2500,
    });
    const off = resolveSettings(
      'app',
      { limitRequestLine: '0', limitRequestFields: '0', limitRequestFieldSize: '0', headerTimeout: '0' },
      {},
    );
    expect(off).toMatchObject({ limitRequestLine: 0, limitRequestFields: 0, limitRequestFieldSize: 0, headerTimeout: 0 });
  });

  it('takes WEB_CONCURRENCY and PORT from the environment, and flags over both', () => {
    const env = { WEB_CONCURRENCY: '3', PORT: '5000' };
    expect(resolveSettings('app', {}, env)).toMatchObject({ workers: 3, bind: [{ host: '0.0.0.0', port: 5000 }] });
    expect(resolveSettings('app', { workers: '5', bind: ['127.0.0.1:1'] }, env)).toMatchObject({
      workers: 5,
      bind: [{ host: '127.0.0.1', port: 1 }],
    });
  });

  it('says where each value came from', () => {
    const { sources } = resolveAll('app', { workers: '2' }, { WEB_CONCURRENCY: '3', PORT: '80' });
    // PORT moves the default bind, and is named as its source.
    expect(sources).toMatchObject({ workers: '--workers', bind: 'PORT', backlog: 'default' });
    expect(resolveAll('app', {}, {}).sources.bind).toBe('default');
    expect(resolveAll('app', {}, { WEB_CONCURRENCY: '3' }).sources.workers).toBe('WEB_CONCURRENCY');
  });

  it('names settings that do not apply to the worker class', () => {
    expect(inapplicable(resolveAll('app', { keepAlive: '2s' }, {}))).toEqual([
      '--keep-alive applies to the async worker class only; with sync it has no effect',
    ]);
    expect(inapplicable(resolveAll('app', { keepAlive: '2s', workerClass: 'async' }, {}))).toEqual([]);
  });

  it('ties a setting only to a worker class --worker-class accepts', () => {
    const classes = SETTINGS.filter((s) => s.onlyFor).map((s) => s.onlyFor!);
    expect(classes.length).toBeGreaterThan(0);
    for (const workerClass of classes) expect(resolveSettings('app', { workerClass }, {}).workerClass).toBe(workerClass);
  });

  it('collects repeated binds in order', () => {
    const s = resolveSettings('app', { bind: ['127.0.0.1:1', 'unix:/tmp/a.sock'] }, {});
    expect(s.bind).toEqual([
      { kind: 'tcp', host: '127.0.0.1', port: 1 },
      { kind: 'unix', path: '/tmp/a.sock' },
    ]);
  });

  it('resolves relative unix sockets against --chdir', () => {
    const s = resolveSettings('app', { chdir: '/tmp', bind: ['unix:x.sock'] }, {}, '/');
    expect(s.bind).toEqual([{ kind: 'unix', path: '/tmp/x.sock' }]);
  });

  it('reads the supervision settings, with a pidfile path relative to --chdir', () => {
    const s = resolveSettings(
      'app',
      {
        maxRequests: '1000',
        maxRequestsJitter: '50',
        maxWorkerMemory: '512MB',
        maxWorkerLifetime: '1h',
        maxWorkerLifetimeJitter: '5m',
        workerBootTimeout: '0',
        bootAttempts: '0',
        chdir: '/tmp',
        pid: 'u.pid',
      },
      {},
      '/',
    );
    expect(s).toMatchObject({
      maxRequests: 1000,
      maxRequestsJitter: 50,
      maxWorkerMemory: 512 * 1024 * 1024,
      maxWorkerLifetime: 3_600_000,
      maxWorkerLifetimeJitter: 300_000,
      workerBootTimeout: 0,
      bootAttempts: 0,
      pid: '/tmp/u.pid',
    });
    expect(refusal(() => resolveSettings('app', { bootAttempts: '2.5' }, {})).message).toBe(
      '--boot-attempts "2.5" is not accepted: expected a whole number (0 for no limit)',
    );
  });

  it.each([
    ['none', 'none'],
    ['optional', 'optional'],
    ['Required', 'required'],
    // Gunicorn's cert_reqs: Python's ssl.CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED.
    ['0', 'none'],
    ['1', 'optional'],
    ['2', 'required'],
  ])('reads --cert-reqs %s as %s', (raw, certReqs) => {
    expect(resolveSettings('app', { certReqs: raw }, {})).toMatchObject({ certReqs });
  });

  it.each([
    [{ certReqs: '3' }, {}, `--cert-reqs "3" is not accepted: expected none, optional or required (or Gunicorn's 0, 1 or 2)`],
    [{ maxRequests: '-1' }, {}, '--max-requests "-1" is not accepted: expected a whole number (0 for no limit)'],
    [
      { maxWorkerMemory: 'lots' },
      {},
      '--max-worker-memory "lots" is not accepted: expected a size such as 512MB, 1.5GB or 800K (binary units: 1K = 1024 bytes), a number of bytes, or 0 for no limit',
    ],
    [
      { maxWorkerLifetime: 'forever' },
      {},
      '--max-worker-lifetime "forever" is not accepted: expected a duration such as 30s, 2m or 500ms, or a number of seconds',
    ],
    [
      { pid: '/no/such/dir/u.pid' },
      {},
      '--pid "/no/such/dir/u.pid" is not accepted: expected a file path in an existing directory (no such directory: /no/such/dir)',
    ],
    [{ workers: 'four' }, {}, `--workers "four" is not accepted: expected ${WORKERS_FORMS}`],
    [{ workers: '0' }, {}, `--workers "0" is not accepted: expected ${WORKERS_FORMS}`],
    [{}, { WEB_CONCURRENCY: '-2' }, `WEB_CONCURRENCY "-2" is not accepted: expected ${WORKERS_FORMS}`],
    [{}, { PORT: 'http' }, 'PORT "http" is not accepted: expected a port number (0 to 65535)'],
    [{ workerClass: 'gevent' }, {}, '--worker-class "gevent" is not accepted: expected sync or async'],
    [{ interface: 'wsgi' }, {}, '--interface "wsgi" is not accepted: expected auto, node or fetch'],
    [{ timeout: 'soon' }, {}, '--timeout "soon" is not accepted: expected a duration such as 30s, 2m or 500ms, or a number of seconds'],
    [
      { bind: ['::1'] },
      {},
      '--bind "::1" is not accepted: expected HOST:PORT, [IPv6]:PORT, HOST (port 8000), unix:PATH or fd://N (an IPv6 address needs brackets, as in [::1]:8000)',
    ],
    [{ chdir: '/no/such/dir' }, {}, '--chdir "/no/such/dir" is not accepted: expected an existing directory (no such directory)'],
    [{ limitRequestLine: '8191' }, {}, '--limit-request-line "8191" is not accepted: expected a whole number from 0 (no limit) to 8190'],
    [{ limitRequestLine: '-1' }, {}, '--limit-request-line "-1" is not accepted: expected a whole number from 0 (no limit) to 8190'],
    [{ limitRequestFields: '32769' }, {}, '--limit-request-fields "32769" is not accepted: expected a whole number from 0 to 32768'],
    [
      { limitRequestFieldSize: 'long' },
      {},
      '--limit-request-field-size "long" is not accepted: expected a size such as 512MB, 1.5GB or 800K (binary units: 1K = 1024 bytes), a number of bytes, or 0 for no limit',
    ],
    [
      { limitRequestBody: '-5' },
      {},
      '--limit-request-body "-5" is not accepted: expected a size such as 512MB, 1.5GB or 800K (binary units: 1K = 1024 bytes), a number of bytes, or 0 for no limit',
    ],
    [
      { headerTimeout: 'never' },
      {},
      '--header-timeout "never" is not accepted: expected a duration such as 30s, 2m or 500ms, or a number of seconds',
    ],
  ])('refuses %j %j', (flags, env, message) => {
    const err = refusal(() => resolveSettings('app', flags, env));
    expect(err.message).toBe(message);
    expect(err.exitCode).toBe(2);
  });

  it('refuses a malformed app argument', () => {
    const err = refusal(() => resolveSettings('app:1x', {}, {}));
    expect(err.message).toMatch(/^the app "app:1x" is not accepted: "1x" is not a JavaScript identifier; expected MODULE or MODULE:EXPORT/);
    expect(err.exitCode).toBe(2);
  });
});

describe('proxy settings', () => {
  it("trust loopback by default (Gunicorn's FORWARDED_ALLOW_IPS too), and read PROXY headers only when asked", () => {
    expect(resolveSettings('app', {}, {})).toMatchObject({
      forwardedAllowIps: ['127.0.0.1', '::1'],
      proxyProtocol: false,
      proxyAllowFrom: ['127.0.0.1', '::1'],
      proxyProtocolTimeout: 10_000,
    });
    expect(resolveSettings('app', {}, { FORWARDED_ALLOW_IPS: '10.0.0.0/8, 127.0.0.1' }).forwardedAllowIps).toEqual([
      '10.0.0.0/8,127.0.0.1',
    ]);
    expect(resolveSettings('app', { forwardedAllowIps: ['*'], proxyProtocol: true }, {})).toMatchObject({
      forwardedAllowIps: ['*'],
      proxyProtocol: true,
    });
  });

  it("take a config file's list or string, an empty list for none, and print them comma separated", () => {
    const fromFile = (values: Record<string, unknown>) =>
      resolveLayers({ raw: 'app', source: 'command line' }, [{ label: 'unicorn.config.mjs: ', names: 'keys', values }], {});
    const resolved = fromFile({ forwardedAllowIps: ['10.0.0.0/8', '192.168.0.1'], proxyAllowFrom: [] });
    expect(resolved.settings).toMatchObject({ forwardedAllowIps: ['10.0.0.0/8', '192.168.0.1'], proxyAllowFrom: [] });
    const printed = describeSettings(resolved, 'command line');
    expect(printed).toMatch(/^forwardedAllowIps +10\.0\.0\.0\/8,192\.168\.0\.1 +unicorn\.config\.mjs: forwardedAllowIps$/m);
    expect(printed).toMatch(/^proxyAllowFrom +\(none\) +unicorn\.config\.mjs: proxyAllowFrom$/m);
    expect(fromFile({ forwardedAllowIps: '10.0.0.0/8' }).settings.forwardedAllowIps).toEqual(['10.0.0.0/8']);
  });

  it.each([
    [
      { forwardedAllowIps: ['10.0.0.0/33'] },
      '--forwarded-allow-ips "10.0.0.0/33" is not accepted: expected IP addresses or networks (10.0.0.0/8, fd00::/8), comma separated; * for every peer; an empty value for none, unix sockets included ("10.0.0.0/33" has a bad prefix length: an IPv4 network\'s is 0 to 32)',
    ],
    [
      { proxyAllowFrom: ['127.0.0.1,lb.internal'] },
      '--proxy-allow-from "127.0.0.1,lb.internal" is not accepted: expected IP addresses or networks (10.0.0.0/8, fd00::/8), comma separated; * for every peer; an empty value for none, unix sockets included ("lb.internal" is not an IP address or network)',
    ],
    [
      { proxyProtocolTimeout: '0' },
      '--proxy-protocol-timeout "0" is not accepted: expected a duration such as 30s, 2m or 500ms, or a number of seconds, more than 0 (a connection cannot be given no time)',
    ],
  ])('refuse %j', (flags, message) => {
    const err = refusal(() => resolveSettings('app', flags, {}));
    expect(err.message).toBe(message);
    expect(err.exitCode).toBe(2);
  });
});
