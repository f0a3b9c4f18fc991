import type { IncomingMessage, ServerResponse } from 'node:http';
import slowRequests, { readThreshold } from '../../hooks/slow-requests';
import type { Hooks, RequestInfo, WorkerSelf } from '../../src/hooks/types';

describe('slow-requests threshold', () => {
  it.each([
    [undefined, {}, 1000, 'default'],
    [{}, {}, 1000, 'default'],
    [{ threshold: '500ms' }, {}, 500, 'option threshold'],
    [{ threshold: '2s' }, {}, 2000, 'option threshold'],
    // Numbers are seconds, as for every unicorn duration (--timeout 30, `timeout: 30`).
    [{ threshold: 0.5 }, {}, 500, 'option threshold'],
    [{ threshold: '1.5' }, {}, 1500, 'option threshold'],
    [{ threshold: '250ms' }, { UNICORN_SLOW_REQUEST_THRESHOLD: '1h' }, 250, 'option threshold'],
    [undefined, { UNICORN_SLOW_REQUEST_THRESHOLD: '200ms' }, 200, 'UNICORN_SLOW_REQUEST_THRESHOLD'],
    [undefined, { UNICORN_SLOW_REQUEST_THRESHOLD: '3' }, 3000, 'UNICORN_SLOW_REQUEST_THRESHOLD'],
    [undefined, { UNICORN_SLOW_REQUEST_THRESHOLD: '' }, 1000, 'default'],
  ])('%j with %j is %d ms (%s)', (options, env, ms, source) => {
    expect(readThreshold(options, env)).toEqual({ ms, source });
  });

  const accepted = 'expected a duration such as 30s, 2m or 500ms, or a number of seconds; more than 0';
  it.each([
    [{ threshold: 'soon' }, {}, `option threshold "soon" is not accepted: ${accepted}`],
    [{ threshold: 0 }, {}, `option threshold 0 is not accepted: ${accepted}`],
    [{ threshold: '0ms' }, {}, `option threshold "0ms" is not accepted: ${accepted}`],
    [{ threshold: -1 }, {}, `option threshold -1 is not accepted: ${accepted}`],
    [{ threshold: Infinity }, {}, `option threshold Infinity is not accepted: ${accepted}`],
    [{ threshold: true }, {}, `option threshold true is not accepted: ${accepted}`],
    [{ threshold: 'soon' }, { UNICORN_SLOW_REQUEST_THRESHOLD: '1s' }, `option threshold "soon" is not accepted: ${accepted}`],
    [undefined, { UNICORN_SLOW_REQUEST_THRESHOLD: 'fast' }, `UNICORN_SLOW_REQUEST_THRESHOLD "fast" is not accepted: ${accepted}`],
    [{ treshold: '1s' }, {}, 'unknown option "treshold" (did you mean "threshold"?); the options are threshold'],
    ['500ms', {}, `the options "500ms" is not accepted: expected an object such as { threshold: '500ms' }`],
  ])('refuses %j with %j', (options, env, message) => {
    expect(() => readThreshold(options, env)).toThrow(message);
  });
});

describe('slow-requests hooks', () => {
  const warn = jest.fn();
  const worker = { log: { warn, info: jest.fn() } } as unknown as WorkerSelf;
  const req = (url: string) => ({ method: 'GET', url }) as IncomingMessage;
  const res = {} as ServerResponse;
  const info = (duration: number, aborted = false): RequestInfo => ({ duration, status: 200, aborted });
  let hooks: Hooks;

  beforeEach(() => {
    jest.useFakeTimers();
    warn.mockClear();
    hooks = slowRequests({ threshold: '200ms' });
  });
  afterEach(() => {
    hooks.workerExit?.({} as never, worker);
    jest.useRealTimers();
  });

  it('starts its one timer in postWorkerInit, not when set up, and stops it in workerExit and workerInt', () => {
    expect(jest.getTimerCount()).toBe(0);
    hooks.postWorkerInit!(worker);
    expect(jest.getTimerCount()).toBe(1);
    hooks.workerExit!({} as never, worker);
    expect(jest.getTimerCount()).toBe(0);
    hooks.postWorkerInit!(worker);
    hooks.workerInt!(worker);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('reports a request still running past the threshold once, and only those', () => {
    hooks.postWorkerInit!(worker);
    const [old, young] = [req('/old'), req('/young')];
    hooks.preRequest!(worker, old);
    jest.advanceTimersByTime(150);
    hooks.preRequest!(worker, young);
    // Checks every 100 ms: at 200 ms /old is not past the threshold yet, at 300 ms it is; /young is not.
    jest.advanceTimersByTime(150);
    expect(warn.mock.calls).toEqual([
      [{ method: 'GET', url: '/old', status: null, durationMs: 300, aborted: false }, 'Request still running: GET /old for 300ms'],
    ]);
    jest.advanceTimersByTime(1000);
    expect(warn.mock.calls.map(([, msg]) => msg)).toEqual([
      'Request still running: GET /old for 300ms',
      'Request still running: GET /young for 250ms',
    ]);
  });

  it('logs a request done after the threshold, not one done within it, and forgets both', () => {
    hooks.postWorkerInit!(worker);
    const [fast, slow] = [req('/fast'), req('/slow')];
    hooks.preRequest!(worker, fast);
    hooks.preRequest!(worker, slow);
    hooks.postRequest!(worker, fast, res, info(200));
    hooks.postRequest!(worker, slow, res, info(1234.5, true));
    expect(warn.mock.calls).toEqual([
      [
        { method: 'GET', url: '/slow', status: 200, durationMs: 1235, aborted: true },
        'Slow request: GET /slow took 1.2s (status 200, aborted)',
      ],
    ]);
    jest.advanceTimersByTime(1000);
    expect(warn).toHaveBeenCalledTimes(1);
  });
});
