/**
 * The worker's options for the proxies in front of it: forwarded headers and the PROXY protocol.
 */
import type { WorkerBoot } from '../ipc';
import type { Logger } from '../shared/log';
import { compilePeerList } from '../shared/trusted-peers';
import { forwardedApplier } from './forwarded';
import type { WorkerServerOptions } from './server';

/** Forwarded headers and the PROXY protocol, each only where its setting asks for it: without, the
 *  request path and the accept path are as they would be without the feature. */
export function proxyOptions(
  settings: WorkerBoot['settings'],
  log: Logger,
): { [K in 'forwarded' | 'proxyProtocol']: WorkerServerOptions[K] | undefined } {
  const forwardedPeers = compilePeerList(settings.forwardedAllowIps);
  return {
    forwarded: forwardedPeers && forwardedApplier(forwardedPeers),
    proxyProtocol: settings.proxyProtocol
      ? {
          trusted: compilePeerList(settings.proxyAllowFrom) ?? (() => false),
          allowFrom: settings.proxyAllowFrom.filter(Boolean).join(',') || 'none',
          timeoutMs: settings.proxyProtocolTimeout,
          log,
        }
      : undefined,
  };
}
