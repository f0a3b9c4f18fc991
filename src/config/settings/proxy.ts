/** What a trusted proxy in front may say about the client: forwarded headers, the PROXY protocol. */

import { PEER_LIST_FORMS, parsePeerList } from '../../shared/trusted-peers';
import { DURATION_FORMS } from '../duration';
import { duration, OFF_SWITCH } from './parsers';
import { type Parser, spec } from './spec';

/** Trusted peers: addresses, networks or `*`, checked here so that a typo is refused at startup. */
const peerList: Parser<string> = (raw) => {
  const list = parsePeerList(raw);
  return typeof list === 'string' ? list : { refused: list.problem };
};

/** The proxy section. */
export const PROXY_SETTINGS = [
  spec({
    key: 'forwardedAllowIps',
    flags: '--forwarded-allow-ips <LIST>',
    section: 'proxy',
    description:
      'peers whose X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host and Forwarded headers set the client address, scheme and host the app and the access log see (docs/proxies.md); peers on a unix socket too, unless the list is empty; repeatable',
    accepted: PEER_LIST_FORMS,
    env: 'FORWARDED_ALLOW_IPS',
    repeatable: true,
    parse: peerList,
    defaultValue: () => ['127.0.0.1', '::1'],
    defaultText: '127.0.0.1,::1',
  }),
  spec({
    key: 'proxyProtocol',
    flags: '--proxy-protocol',
    section: 'proxy',
    description:
      'read a PROXY protocol header (v1 or v2, as HAProxy and cloud load balancers send it) where a connection from a --proxy-allow-from peer starts; its address becomes the client address',
    ...OFF_SWITCH,
  }),
  spec({
    key: 'proxyAllowFrom',
    flags: '--proxy-allow-from <LIST>',
    section: 'proxy',
    description:
      'with --proxy-protocol, the peers a PROXY header is accepted from; one from any other peer closes the connection; peers on a unix socket too, unless the list is empty; repeatable',
    accepted: PEER_LIST_FORMS,
    repeatable: true,
    parse: peerList,
    defaultValue: () => ['127.0.0.1', '::1'],
    defaultText: '127.0.0.1,::1',
  }),
  spec({
    key: 'proxyProtocolTimeout',
    flags: '--proxy-protocol-timeout <DURATION>',
    section: 'proxy',
    description:
      'with --proxy-protocol, how long a new connection has to send its PROXY header (or, without one, its first bytes) before it is closed',
    accepted: `${DURATION_FORMS}, more than 0`,
    parse: (raw, ctx) => {
      const value = duration(raw, ctx);
      return value === 0 ? { refused: 'a connection cannot be given no time' } : value;
    },
    defaultValue: () => 10_000,
    defaultText: '10s',
  }),
] as const;
