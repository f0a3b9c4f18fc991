import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HeldSockets } from '../../src/emperor/held-sockets';
import type { Logger } from '../../src/shared/log';
import { refusal } from '../helpers/refusal';

const log = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Logger;
const tempDir = () => mkdtempSync(path.join(tmpdir(), 'unicorn-held-'));

describe('HeldSockets', () => {
  it('binds a unix socket at its path (the temporary name gone), holds what connects before and after accept, and removes the file on close', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'app.sock');
    const held = HeldSockets.bind([{ kind: 'unix', path: file }], 511, log);
    expect(readdirSync(dir)).toEqual(['app.sock']);
    expect(held.fds).toHaveLength(1);
    const early = net.connect(file);
    await new Promise((resolve) => early.once('connect', resolve));
    let started = 0;
    await new Promise<void>((resolve) => {
      held.accept(() => {
        started++;
        if (started === 2) resolve();
      });
      net.connect(file);
    });
    expect(held.holding).toBe(2);
    // Nothing is refused while no vassal runs: the held connections stay open, unread.
    expect(early.destroyed).toBe(false);
    held.close();
    expect(existsSync(file)).toBe(false);
    expect(held.holding).toBe(0);
  });

  it('refuses an address it cannot bind, naming it: a host name (no lookup), a directory that does not exist', () => {
    expect(refusal(() => HeldSockets.bind([{ kind: 'tcp', host: 'localhost', port: 8000 }], 511, log)).message).toMatch(
      /localhost:8000.*IP address/,
    );
    const missing = path.join(tempDir(), 'no', 'app.sock');
    expect(refusal(() => HeldSockets.bind([{ kind: 'unix', path: missing }], 511, log)).message).toMatch(
      new RegExp(`${missing}: no such directory for the socket file`),
    );
  });
});
