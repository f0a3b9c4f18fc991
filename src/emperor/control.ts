/**
 * The emperor's control socket: `unicorn ctl` against an emperor lists the vassals and reloads,
 * stops or starts one by name. The socket, its file and the protocol are the arbiter's
 * (src/control/server.ts, protocol.ts); what is done is the emperor's (EmperorControl).
 */
import type { ControlReply, EmperorRequest } from '../control/protocol';
import { ControlServer, type Reply } from '../control/server';
import { UnicornError } from '../shared/errors';
import type { Logger } from '../shared/log';
import { VERSION } from '../shared/version';
import type { EmperorControl } from './types';

/**
 * Serve `control` at `setting`: a path, undefined for the default place (`PID.sock` in the directory
 * an arbiter's goes, docs/ctl.md), false for no socket. Throws a UnicornError when a given path cannot
 * be used; resolves undefined when there is none (false, or a default directory that is not private,
 * which is logged). The socket file is removed when the process exits.
 */
export async function serveEmperorControl(
  setting: string | false | undefined,
  control: EmperorControl,
  log: Logger,
): Promise<ControlServer<'emperor'> | undefined> {
  const startedAt = Date.now();
  const onRequest = (request: EmperorRequest, reply: Reply) => {
    if (request.command === 'stats') {
      const emperor = { pid: process.pid, version: VERSION, uptime: Date.now() - startedAt, vassals: control.vassals() };
      return reply.send({ ok: true, message: 'stats', emperor });
    }
    log.info({ request }, `Handling control command: ${describe(request)}`);
    // A refusal may be thrown before any promise is made: it is an answer too, never the emperor's end.
    const done = new Promise<string>((resolve) => resolve(perform(control, request)));
    if (request.command === 'shutdown') {
      // Answered at once, as an arbiter does: the shutdown ends with the process, before its answer
      // could be written; the connection closes as it exits, which is how ctl learns that it has.
      const how = request.quick ? 'quickly' : 'gracefully';
      reply.send({ ok: true, message: `Shutting down ${how} (pid ${process.pid}): stopping ${count(control)}`, untilExit: true });
      done.catch((err: unknown) => log.error({ err }, `Shutdown failed: ${(err as Error)?.message ?? String(err)}`));
      return;
    }
    done.then(
      (message) => reply.send({ ok: true, message }),
      (err: unknown) => reply.send(refusal(err, log)),
    );
  };
  return ControlServer.start({ role: 'emperor', setting, predecessor: undefined, log, onRequest });
}

function perform(control: EmperorControl, request: Exclude<EmperorRequest, { command: 'stats' }>): Promise<string> {
  switch (request.command) {
    case 'reload':
      return request.name === undefined ? control.reloadAll() : control.reload(request.name);
    case 'stop':
      return control.stop(request.name);
    case 'start':
      return control.start(request.name);
    case 'shutdown':
      return control.shutdown(request.quick);
  }
}

const count = (control: EmperorControl) => {
  const n = control.vassals().length;
  return `${n} vassal${n === 1 ? '' : 's'}`;
};

/** `reload site-a`, `reload (every vassal)`, `shutdown --quick`: for the log line. */
function describe(request: EmperorRequest): string {
  if (request.command === 'shutdown') return request.quick ? 'shutdown --quick' : 'shutdown';
  if ('name' in request && request.name !== undefined) return `${request.command} ${request.name}`;
  return `${request.command} (every vassal)`;
}

/** A refusal the emperor made says itself; anything else is a fault, logged whole and named in a line. */
function refusal(err: unknown, log: Logger): ControlReply {
  if (err instanceof UnicornError) return { ok: false, error: err.message };
  log.error({ err }, `Control command failed: ${(err as Error)?.message ?? String(err)}`);
  return { ok: false, error: `the emperor failed: ${(err as Error)?.message ?? String(err)} (its log has the details)` };
}
