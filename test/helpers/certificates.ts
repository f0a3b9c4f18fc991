/**
 * Certificates made for a test file's run (no private key is committed), in a directory of its own
 * that the file removes when its tests are done: EC P-256 keys, valid two days, for localhost and
 * 127.0.0.1. openssl makes them, as a deployment would.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
const LOCALHOST = ['-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'];

export class TestCertificates {
  /** Where the certificates are, a fresh temporary directory; a test may put its other files here. */
  readonly dir: string;

  constructor(prefix: string) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  pem(name: string): string {
    return readFileSync(this.file(name), 'utf8');
  }

  /** `name`.pem and `name`.key: a certificate for `cn` (and localhost), self-signed. */
  selfSigned(name: string, cn = 'localhost'): void {
    this.openssl(
      'req',
      '-x509',
      ...NEW_KEY,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-subj',
      `/CN=${cn}`,
      ...LOCALHOST,
    );
  }

  /** ca.pem and ca.key: a certificate authority for signed(). */
  authority(): void {
    this.openssl('req', '-x509', ...NEW_KEY, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=unicorn test CA');
  }

  /** `name`.pem and `name`.key: a certificate for `cn` (and localhost) that authority() signed. */
  signed(name: string, cn: string, serial: number): void {
    this.openssl('req', ...NEW_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`, ...LOCALHOST);
    this.openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-set_serial',
      String(serial),
      '-days',
      '2',
      '-copy_extensions',
      'copyall',
      '-out',
      `${name}.pem`,
    );
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private openssl(...args: string[]): void {
    execFileSync('/usr/bin/openssl', args, { cwd: this.dir, stdio: 'pipe' });
  }
}

/** A self-signed certificate for localhost, made before the tests of the file (or describe block)
 *  that calls this and removed after them. */
export interface LocalhostCertificate {
  /** The directory it is in, which a test may use for its other files. */
  readonly dir: string;
  readonly cert: string;
  readonly key: string;
  /** The certificate itself, to trust as a client (read once made). */
  readonly ca: string;
}

export function localhostCertificate(prefix: string): LocalhostCertificate {
  const certificates = new TestCertificates(prefix);
  let ca = '';
  beforeAll(() => {
    certificates.selfSigned('localhost');
    ca = certificates.pem('localhost.pem');
  });
  afterAll(() => certificates.remove());
  return {
    dir: certificates.dir,
    cert: certificates.file('localhost.pem'),
    key: certificates.file('localhost.key'),
    get ca() {
      return ca;
    },
  };
}
