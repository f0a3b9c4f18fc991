/** The control protocol's two roles (protocol.ts) and the vassal table (format-vassals.ts), without a server. */
import { formatVassals } from '../../src/control/format-vassals';
import { parseRequest } from '../../src/control/protocol';

describe("an emperor's requests", () => {
  it('are read with their names, and refused when a name is missing, empty, a path or not a string', () => {
    expect(parseRequest('{"command":"reload"}', 'emperor')).toEqual({ command: 'reload' });
    expect(parseRequest('{"command":"reload","name":"site-a"}', 'emperor')).toEqual({ command: 'reload', name: 'site-a' });
    expect(parseRequest('{"command":"stop","name":"site-a"}', 'emperor')).toEqual({ command: 'stop', name: 'site-a' });
    expect(parseRequest('{"command":"start","name":"site-a"}', 'emperor')).toEqual({ command: 'start', name: 'site-a' });
    expect(parseRequest('{"command":"shutdown","quick":true}', 'emperor')).toEqual({ command: 'shutdown', quick: true });
    expect(parseRequest('{"command":"stats"}', 'emperor')).toEqual({ command: 'stats' });
    for (const bad of [
      '{"command":"stop"}',
      '{"command":"stop","name":""}',
      '{"command":"start","name":"../x"}',
      '{"command":"reload","name":3}',
    ])
      expect(parseRequest(bad, 'emperor')).toEqual({ refused: `the ${JSON.parse(bad).command} request's arguments are not valid: ${bad}` });
    expect(parseRequest('{"command":"stpo","name":"a"}', 'emperor')).toEqual({
      refused: 'unknown command "stpo"; the commands are stats, reload [NAME], stop NAME, start NAME, shutdown',
    });
  });

  it("are the other role's at an arbiter, and an arbiter's are the other role's at an emperor", () => {
    expect(parseRequest('{"command":"reload","name":"site-a"}')).toEqual({
      refused: expect.stringMatching(/^reload NAME is for an emperor/),
    });
    expect(parseRequest('{"command":"stop","name":"site-a"}')).toEqual({ refused: expect.stringMatching(/^stop NAME is for an emperor/) });
    expect(parseRequest('{"command":"reload"}')).toEqual({ command: 'reload' });
    expect(parseRequest('{"command":"scale","count":2}', 'emperor')).toEqual({
      refused: expect.stringMatching(new RegExp(`^scale is for a single server, and this is an emperor \\(pid ${process.pid}\\)`)),
    });
  });
});

describe('the vassal table', () => {
  it('says when there are no vassals', () => {
    const text = formatVassals({ pid: 7, version: '1.2.3', uptime: 65_000, vassals: [] });
    expect(text).toBe(
      'unicorn 1.2.3 emperor (pid 7), up 1m05s: 0 vassals\nWorkers: 0, memory 0B\n\n(no vassals: no config file in the directory)\n',
    );
  });
});
