/** TLS and HTTP/2: the certificate, its key, client certificates (the files are read by config/tls.ts). */

import { existingFile, fromTable, OFF_SWITCH } from './parsers';
import { spec } from './spec';

/** Client certificates: not asked for; asked for (one given must verify); or required. */
export type CertReqs = 'none' | 'optional' | 'required';

/** Gunicorn's cert_reqs is the number of Python's ssl.CERT_* constant: 0, 1 or 2. */
const CERT_REQS: Record<string, CertReqs> = {
  none: 'none',
  optional: 'optional',
  required: 'required',
  '0': 'none',
  '1': 'optional',
  '2': 'required',
};

/** The tls section. */
export const TLS_SETTINGS = [
  spec({
    key: 'certfile',
    flags: '--certfile <FILE>',
    section: 'tls',
    description: 'serve HTTPS with this PEM certificate (the certificate first, then its intermediates); read again on HUP',
    accepted: 'an existing file',
    parse: existingFile,
    defaultValue: () => undefined,
    defaultText: 'none (plain HTTP)',
  }),
  spec({
    key: 'keyfile',
    flags: '--keyfile <FILE>',
    section: 'tls',
    description: "the certificate's PEM private key, unencrypted; read again on HUP",
    accepted: 'an existing file',
    parse: existingFile,
    defaultValue: () => undefined,
    defaultText: 'the key in --certfile',
  }),
  spec({
    key: 'caCerts',
    flags: '--ca-certs <FILE>',
    section: 'tls',
    description: 'PEM CA certificates a client certificate must be signed by (see --cert-reqs); read again on HUP',
    accepted: 'an existing file',
    parse: existingFile,
    defaultValue: () => undefined,
    defaultText: 'none',
  }),
  spec({
    key: 'certReqs',
    flags: '--cert-reqs <MODE>',
    section: 'tls',
    description:
      'client certificates: none (not asked for), optional (asked for; one given must be signed by --ca-certs) or required (a connection without one is refused)',
    accepted: "none, optional or required (or Gunicorn's 0, 1 or 2)",
    parse: fromTable(CERT_REQS),
    defaultValue: () => 'none' as const,
    defaultText: 'none',
  }),
  spec({
    key: 'http2',
    flags: '--http2',
    section: 'tls',
    description: 'serve HTTP/2 to clients that ask for it in the TLS handshake (ALPN), HTTP/1.1 to the others; needs --certfile',
    ...OFF_SWITCH,
  }),
] as const;
