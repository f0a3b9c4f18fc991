/**
 * TLS material: the certificate, private key and CA certificates the settings name, read and
 * checked by the arbiter at start and again on each HUP, and handed to every worker it forks with
 * that configuration (worker/tls.ts serves with it).
 *
 * The arbiter reads the files, not each worker, for the reasons the config file's text travels to
 * the workers (docs/DESIGN.md, Hooks): every worker of a configuration serves the same certificate,
 * and a file broken on disk (a renewal half done) cannot keep a crashed worker from coming back,
 * nor a key readable only by the user that started unicorn keep one from booting.
 */
import type { KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { badTls, show } from '../shared/errors';
import type { Settings, Sources } from './settings';

// Loaded only when a certificate is given: node:tls with node:crypto adds some 5 MB to the resident
// memory of an arbiter that serves plain HTTP (benchmarks/RESULTS.md).
const crypto = () => require('node:crypto') as typeof import('node:crypto');
const tls = () => require('node:tls') as typeof import('node:tls');

/** What a worker serves TLS with: PEM text, as it was when the configuration was read. */
export interface TlsMaterial {
  /** The certificate chain (and the key, when no --keyfile is given). */
  cert: string;
  key: string;
  ca: string | undefined;
}

export interface LoadedTls {
  material: TlsMaterial;
  /** Not refused, but worth saying: a certificate out of its dates, a CA file nothing uses. */
  warnings: string[];
}

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;
const ENCRYPTED_KEY = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: *4,ENCRYPTED/;

/**
 * Read and check the TLS files the settings name: undefined when TLS is off. Refuses (exit 2,
 * naming the setting as its source gave it, the file and what is wrong) a file that cannot be
 * read, a certificate or key that is not PEM, an encrypted key, a key that is not the
 * certificate's, a CA file without certificates, and settings that need TLS without it.
 */
export function loadTls(settings: Settings, sources: Sources, now: number = Date.now()): LoadedTls | undefined {
  const { certfile, keyfile, caCerts, certReqs } = settings;
  if (certfile === undefined) {
    refuseWithoutTls(settings, sources);
    return undefined;
  }
  const certText = readText(certfile, sources.certfile);
  const cert = parseCertificate(certText, certfile, sources.certfile);
  const keyText = keyfile === undefined ? certText : readText(keyfile, sources.keyfile);
  const key = parseKey(keyText, keyfile, sources.keyfile, certfile, sources.certfile);
  if (!cert.checkPrivateKey(key)) {
    const [keySource, keyFile] = keyfile === undefined ? [sources.certfile, certfile] : [sources.keyfile, keyfile];
    throw badTls(
      `${keySource} ${show(keyFile)} is not accepted: its private key is not the one of the certificate in ` +
        `${sources.certfile} ${show(certfile)} (${cert.subject.replace(/\n/g, ', ')}); expected the key that certificate was issued for`,
    );
  }
  const ca = caCerts === undefined ? undefined : readText(caCerts, sources.caCerts);
  if (ca !== undefined) checkCaCertificates(ca, caCerts!, sources.caCerts);
  if (certReqs !== 'none' && ca === undefined) {
    throw badTls(
      `${sources.certReqs} ${show(certReqs)} needs --ca-certs: the CA certificates a client certificate must be signed by ` +
        "(client certificates are not checked against the system's public CAs, which sign certificates for anyone's domain)",
    );
  }
  const material = { cert: certText, key: keyText, ca };
  try {
    // What a worker will do with it: anything OpenSSL still refuses is refused here, before binding.
    tls().createSecureContext(material);
  } catch (err) {
    throw badTls(`${sources.certfile} ${show(certfile)} cannot serve TLS: ${(err as Error).message}`, err);
  }
  return { material, warnings: tlsWarnings(settings, sources, cert, now) };
}

/** --keyfile, --ca-certs, --cert-reqs and --http2 mean nothing without a certificate. */
function refuseWithoutTls(settings: Settings, sources: Sources): void {
  const { keyfile, caCerts, certReqs, http2 } = settings;
  if (http2) {
    throw badTls(
      `${sources.http2} needs TLS: give --certfile and --keyfile as well ` +
        '(clients ask for HTTP/2 in the TLS handshake, ALPN; cleartext HTTP/2, h2c, is not served)',
    );
  }
  if (keyfile !== undefined) {
    throw badTls(`${sources.keyfile} ${show(keyfile)} is given without --certfile: give the certificate it is the key of with --certfile`);
  }
  const given = caCerts !== undefined ? 'caCerts' : certReqs !== 'none' ? 'certReqs' : undefined;
  if (given !== undefined) {
    throw badTls(
      `${sources[given]} ${show(settings[given])} needs TLS: give --certfile and --keyfile as well; without a certificate unicorn serves plain HTTP`,
    );
  }
}

function readText(file: string, source: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw badTls(`${source} ${show(file)} cannot be read: ${(err as Error).message}`, err);
  }
}

function parseCertificate(text: string, file: string, source: string): X509Certificate {
  try {
    return new (crypto().X509Certificate)(text);
  } catch (err) {
    throw badTls(
      `${source} ${show(file)} is not accepted: it holds no PEM certificate (${(err as Error).message}); ` +
        'expected the certificate as a -----BEGIN CERTIFICATE----- block, its intermediates after it',
      err,
    );
  }
}

function parseKey(text: string, keyfile: string | undefined, keySource: string, certfile: string, certSource: string): KeyObject {
  const [source, file] = keyfile === undefined ? [certSource, certfile] : [keySource, keyfile];
  if (ENCRYPTED_KEY.test(text)) {
    throw badTls(
      `${source} ${show(file)} is not accepted: its private key is encrypted; expected an unencrypted key ` +
        '(`openssl pkey -in KEY -out PLAIN` writes one; keep it readable by the user unicorn starts as only)',
    );
  }
  try {
    return crypto().createPrivateKey(text);
  } catch (err) {
    if (keyfile === undefined) {
      throw badTls(
        `${certSource} ${show(certfile)} holds no private key, and no --keyfile is given: give the key with --keyfile, or put it in the certificate file`,
        err,
      );
    }
    throw badTls(
      `${source} ${show(file)} is not accepted: it holds no PEM private key (${(err as Error).message}); ` +
        'expected a -----BEGIN PRIVATE KEY----- (or RSA or EC PRIVATE KEY) block',
      err,
    );
  }
}

/** OpenSSL itself skips what it cannot read in a CA file: a file of nothing would verify no one. */
function checkCaCertificates(text: string, file: string, source: string): void {
  const blocks = text.match(CERTIFICATE_BLOCK) ?? [];
  if (blocks.length === 0) {
    throw badTls(
      `${source} ${show(file)} is not accepted: it holds no PEM certificate; expected one or more CA certificates as -----BEGIN CERTIFICATE----- blocks`,
    );
  }
  blocks.forEach((block, i) => {
    try {
      new (crypto().X509Certificate)(block);
    } catch (err) {
      throw badTls(
        `${source} ${show(file)} is not accepted: its certificate number ${i + 1} cannot be read (${(err as Error).message})`,
        err,
      );
    }
  });
}

function tlsWarnings(settings: Settings, sources: Sources, cert: X509Certificate, now: number): string[] {
  const warnings: string[] = [];
  const { certfile } = settings;
  if (Date.parse(cert.validTo) < now) warnings.push(`The certificate in ${certfile} expired on ${cert.validTo}: clients will refuse it`);
  else if (Date.parse(cert.validFrom) > now)
    warnings.push(`The certificate in ${certfile} is not valid before ${cert.validFrom}: clients will refuse it until then`);
  if (settings.caCerts !== undefined && settings.certReqs === 'none') {
    warnings.push(`${sources.caCerts} has no effect with --cert-reqs none: client certificates are not asked for`);
  }
  return warnings;
}
