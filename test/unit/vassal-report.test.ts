import { runState, VassalReports } from '../../src/arbiter/vassal/report';

describe('vassal reports', () => {
  it('the state: starting until a worker first serves, then serving, idle or waking as scale to zero says, stopping above all', () => {
    expect(runState(false, 'serving', false)).toBe('starting');
    expect(runState(false, 'serving', true)).toBe('serving');
    expect(runState(false, 'idle', true)).toBe('idle');
    expect(runState(false, 'waking', true)).toBe('waking');
    expect(runState(true, 'idle', true)).toBe('stopping');
  });

  it('adds the workers memory to the arbiter own, and dates the last request by when the count grew', () => {
    const reports = new VassalReports();
    const workers = [{ rss: 30 }, { rss: 40 }] as never;
    expect(reports.report('serving', { rss: 10, requests: 0, workers }, 1000)).toEqual({
      state: 'serving',
      workers: 2,
      rss: 80,
      requests: 0,
      lastRequestAt: null,
    });
    expect(reports.report('serving', { rss: 10, requests: 3, workers }, 2000).lastRequestAt).toBe(2000);
    expect(reports.report('idle', { rss: 10, requests: 3, workers: [] }, 3000)).toEqual({
      state: 'idle',
      workers: 0,
      rss: 10,
      requests: 3,
      lastRequestAt: 2000,
    });
  });
});
