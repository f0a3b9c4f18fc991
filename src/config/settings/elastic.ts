/** Elastic workers: stopping them all when idle and starting them on the next connection, and the
 *  worker count following the load (docs/elastic.md). */

import { badUsage } from '../../shared/errors';
import { DURATION_FORMS, formatDuration } from '../duration';
import { duration, OFF_SWITCH, wholeNumber } from './parsers';
import { type Parser, spec } from './spec';

/** A share of the time, as the workers' event-loop utilisation is one. */
const ratio: Parser<number> = (raw) => {
  const value = raw.trim();
  return /^(0|1|0?\.\d+|[01]\.0*)$/.test(value) ? Number(value) : { refused: '' };
};
const RATIO_FORMS = 'a number from 0 to 1 (a share of the time, such as 0.7)';
/** --scale-up-at 0 would add workers with no load at all, up to MAX; --scale-window 0 would average
 *  over nothing and never add one: neither is a setting anyone means. */
const aboveZero =
  (parse: Parser<number>): Parser<number> =>
  (raw, ctx) => {
    const value = parse(raw, ctx);
    return value === 0 ? { refused: '' } : value;
  };
const POSITIVE_RATIO_FORMS = 'a number above 0, up to 1 (a share of the time, such as 0.7)';
const POSITIVE_DURATION_FORMS = DURATION_FORMS.replace(/^a duration /, 'a duration above 0, ');
/** Only --workers MIN:MAX reads the --scale-* settings. */
const ADAPTIVE = 'with --workers MIN:MAX';

/** The elastic section. */
export const ELASTIC_SETTINGS = [
  spec({
    key: 'idleTimeout',
    flags: '--idle-timeout <DURATION>',
    section: 'elastic',
    description:
      'stop every worker after this long without a request or an open connection; the arbiter keeps the sockets, and the ' +
      'next connection starts the workers again and is served by the first one ready; 0 for never; not with --reuse-port',
    accepted: DURATION_FORMS,
    parse: duration,
    defaultValue: () => 0,
    defaultText: '0 (never)',
  }),
  spec({
    key: 'scaleUpAt',
    flags: '--scale-up-at <RATIO>',
    section: 'elastic',
    description:
      `${ADAPTIVE}: add workers when the ready workers' mean event-loop utilisation (the share of time their event loop ` +
      'was running code, from their heartbeats), averaged over --scale-window, is at least this; as many as would bring it ' +
      'back under it (at least twice as many at 0.95 and above, where it cannot tell how many more), up to MAX',
    accepted: POSITIVE_RATIO_FORMS,
    parse: aboveZero(ratio),
    defaultValue: () => 0.7,
    defaultText: '0.7',
  }),
  spec({
    key: 'scaleDownAt',
    flags: '--scale-down-at <RATIO>',
    section: 'elastic',
    description:
      `${ADAPTIVE}: remove one worker (the idlest, after it has finished its requests) when their mean event-loop ` +
      'utilisation has been at most this over the last --scale-down-after and over the last --scale-window, and the ' +
      'workers left would stay under --scale-up-at with the same load',
    accepted: RATIO_FORMS,
    parse: ratio,
    defaultValue: () => 0.3,
    defaultText: '0.3',
  }),
  spec({
    key: 'scaleBacklog',
    flags: '--scale-backlog <N>',
    section: 'elastic',
    description:
      `${ADAPTIVE}: add a worker when at least this many connections wait in the accept queues of the TCP listeners ` +
      '(read on Linux), however busy the event loops look (a sync worker waiting on I/O); 0 to ignore the queues',
    accepted: 'a whole number (0 to ignore the accept queues)',
    parse: wholeNumber(0),
    defaultValue: () => 16,
    defaultText: '16',
  }),
  spec({
    key: 'scaleWindow',
    flags: '--scale-window <DURATION>',
    section: 'elastic',
    description: `${ADAPTIVE}: the span the utilisation is averaged over before it adds workers (never reaching back past the last change)`,
    accepted: POSITIVE_DURATION_FORMS,
    parse: aboveZero(duration),
    defaultValue: () => 5000,
    defaultText: '5s',
  }),
  spec({
    key: 'scaleCooldown',
    flags: '--scale-cooldown <DURATION>',
    section: 'elastic',
    description: `${ADAPTIVE}: the least time between two changes of the count, the load's or a manual one (TTIN, TTOU, ctl scale)`,
    accepted: DURATION_FORMS,
    parse: duration,
    defaultValue: () => 5000,
    defaultText: '5s',
  }),
  spec({
    key: 'scaleDownAfter',
    flags: '--scale-down-after <DURATION>',
    section: 'elastic',
    description: `${ADAPTIVE}: how long the load must have been low, since the last change, before a worker is removed`,
    accepted: DURATION_FORMS,
    parse: duration,
    defaultValue: () => 30_000,
    defaultText: '30s',
  }),
  spec({
    key: 'onDemand',
    flags: '--on-demand',
    section: 'elastic',
    description:
      'start this vassal only when its first connection arrives; the emperor holds its sockets meanwhile ' +
      '(unicorn emperor only, docs/emperor.md)',
    ...OFF_SWITCH,
  }),
] as const;

/** --on-demand is the emperor's to act on: a unicorn started on its own has no one to hold its
 *  sockets while it is not running. `vassal`: the name it was started under by an emperor, if any. */
export function refuseOnDemandAlone(settings: { onDemand: boolean }, sources: { onDemand: string }, vassal: string | undefined): void {
  if (!settings.onDemand || vassal !== undefined) return;
  throw badUsage(
    `${sources.onDemand} is not accepted here: an on-demand app is started by \`unicorn emperor DIR\` on its first connection ` +
      "(docs/emperor.md); a unicorn started on its own serves at once, so remove it, or put the config file in the emperor's directory",
  );
}

/**
 * --idle-timeout needs the shared sockets: while no worker runs the arbiter accepts on a copy of
 * each (docs/elastic.md), and --reuse-port's sockets are each a worker's own. `sources` names how
 * each was given (a flag, a config-file key).
 */
export function refuseIdleWithReusePort(
  settings: { idleTimeout: number; reusePort: boolean },
  sources: { idleTimeout: string; reusePort: string },
): void {
  if (settings.idleTimeout === 0 || !settings.reusePort) return;
  throw badUsage(
    `${sources.idleTimeout} ${formatDuration(settings.idleTimeout)} is not accepted with ${sources.reusePort}: ` +
      'scaling to zero accepts on the shared sockets while no worker runs, and --reuse-port gives each worker its own; use one or the other',
  );
}
