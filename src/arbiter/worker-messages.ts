/**
 * What a worker's message changes in the arbiter's view of it: readiness, heartbeats and counts,
 * why it could not boot, and its own requests to be replaced. Taken in the loop, one at a time
 * (services such as a listener asked for are answered at once by worker-channel.ts).
 */
import type { ToArbiter, WorkerCounts } from '../ipc';
import type { Logger } from '../shared/log';
import type { BootAttempts } from './boot-attempts';
import type { StatsRequests } from './stats';
import type { Supervision } from './supervision';
import type { WorkerChannels } from './worker-channel';
import type { WorkerRecord } from './worker-process';

export interface WorkerMessageContext {
  now: () => number;
  log: Logger;
  bootAttempts: BootAttempts;
  supervision: Pick<Supervision, 'retireServed' | 'replaceOverMemory'>;
  statsRequests: StatsRequests;
  channels: WorkerChannels;
}

export function takeWorkerMessage(record: WorkerRecord, message: ToArbiter, context: WorkerMessageContext): void {
  const { now, supervision } = context;
  switch (message.type) {
    case 'unicorn:ready':
      if (record.servesHeld && record.state === 'stopping') return serveHeldThenStop(record, context);
      if (record.state !== 'booting') return;
      record.state = 'ready';
      record.everReady = true;
      context.bootAttempts.ready();
      record.readyAt = record.lastBeat = now();
      context.log.info({ workerId: record.id, workerPid: record.pid }, `Worker (pid:${record.pid}) ready`);
      if (record.retireRequested) supervision.retireServed(record);
      context.channels.relay.ready(record.id);
      break;
    case 'unicorn:heartbeat':
      record.lastBeat = now();
      takeCounts(record, message, now());
      if (message.published) record.published = { ...record.published, ...message.published };
      break;
    case 'unicorn:boot-failed':
      record.bootError = { message: message.message, code: message.code };
      break;
    case 'unicorn:boot-step':
      record.bootStep = message.step;
      break;
    case 'unicorn:report':
      takeCounts(record, message, now());
      context.statsRequests.answered(record.id, message.seq);
      break;
    case 'unicorn:over-memory':
      record.rss = message.rss;
      supervision.replaceOverMemory(record, message.heap);
      break;
    case 'unicorn:retire':
      record.requests = message.requests;
      // A worker that accepts on its first listener before the others may ask while booting.
      if (record.state === 'booting') record.retireRequested = true;
      else supervision.retireServed(record);
      break;
  }
}

/** A worker the stop let boot for the connections the arbiter held: it takes them (a sync one asks
 *  once it drains, as stopping sync workers do), then stops as the others did. */
function serveHeldThenStop(record: WorkerRecord, context: WorkerMessageContext): void {
  record.everReady = true;
  record.readyAt = record.lastBeat = context.now();
  if (!record.sync) context.channels.relay.passAll(record.id);
  context.channels.send(record, { type: 'unicorn:shutdown' });
}

function takeCounts(record: WorkerRecord, counts: WorkerCounts, now: number): void {
  record.requests = counts.requests;
  record.inFlight = counts.inFlight;
  record.elu = counts.elu;
  record.connections = counts.connections;
  record.rss = counts.rss;
  record.accessLogDropped = counts.accessLogDropped;
  record.mounts = counts.mounts;
  record.countsAt = now;
}
