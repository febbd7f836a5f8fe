/**
 * Certificates for edge <-> swarm TLS tests, made with the `openssl` CLI
 * (scripts/install-test-deps.sh installs it): a CA that issues leaf
 * certificates (EC P-256, fast to make) with the names a test needs, and a
 * directory laid out like a Kubernetes Secret volume, updated the way the
 * kubelet updates it (new timestamped directory, `..data` symlink swapped
 * atomically), which is how cert-manager's rotations reach a pod.
 *
 *   const ca = TestCa.create(dir, 'cluster');
 *   const swarm = ca.issue('swarm-0', { dns: ['swarm-0'] });   // { certFile, keyFile, serial }
 *   const volume = new SecretVolume(join(dir, 'swarm-tls'));
 *   volume.write({ 'tls.crt': read(swarm.certFile), 'tls.key': ..., 'ca.crt': read(ca.certFile) });
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export interface IssuedCert {
  certFile: string;
  keyFile: string;
  /** Upper-case hex, as Node's PeerCertificate.serialNumber shows it. */
  serial: string;
}

export class TestCa {
  private constructor(
    readonly dir: string,
    readonly name: string,
    readonly certFile: string,
    readonly keyFile: string,
  ) {}

  static create(dir: string, name: string): TestCa {
    mkdirSync(dir, { recursive: true });
    const certFile = join(dir, `${name}-ca.pem`);
    const keyFile = join(dir, `${name}-ca.key`);
    openssl([
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', `/CN=${name} test CA`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout', keyFile, '-out', certFile,
    ]);
    return new TestCa(dir, name, certFile, keyFile);
  }

  /**
   * A leaf certificate usable by both TLS sides. `file` names the output
   * (<file>.pem, <file>.key in the CA's directory); `cn` defaults to `file`;
   * `dns`: subject alternative names (none: only the CN names it).
   */
  issue(file: string, options: { cn?: string; dns?: string[] } = {}): IssuedCert {
    const certFile = join(this.dir, `${file}.pem`);
    const keyFile = join(this.dir, `${file}.key`);
    const csr = join(this.dir, `${file}.csr`);
    const ext = join(this.dir, `${file}.ext`);
    // 16 hex digits starting with 1: positive and even-length, so Node shows it exactly like this.
    const serial = `1${randomBytes(8).toString('hex').toUpperCase().slice(1)}`;
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${options.cn ?? file}`, '-keyout', keyFile, '-out', csr]);
    const lines = ['extendedKeyUsage=serverAuth,clientAuth', 'basicConstraints=critical,CA:FALSE'];
    if (options.dns && options.dns.length > 0) lines.push(`subjectAltName=${options.dns.map((d) => `DNS:${d}`).join(',')}`);
    writeFileSync(ext, `${lines.join('\n')}\n`);
    openssl(['x509', '-req', '-in', csr, '-CA', this.certFile, '-CAkey', this.keyFile, '-set_serial', `0x${serial}`, '-days', '1', '-extfile', ext, '-out', certFile]);
    rmSync(csr, { force: true });
    rmSync(ext, { force: true });
    return { certFile, keyFile, serial };
  }
}

/**
 * A directory laid out like a Kubernetes Secret volume: `name -> ..data/name`
 * links, `..data -> ..<version>`; `write` makes a new version directory and
 * swaps `..data` in one rename, as the kubelet does.
 */
export class SecretVolume {
  private version = 0;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** Path of a file as a pod sees it. */
  path(name: string): string {
    return join(this.dir, name);
  }

  write(files: Record<string, string | Buffer>): void {
    const version = `..v${++this.version}`;
    mkdirSync(join(this.dir, version));
    for (const [name, content] of Object.entries(files)) writeFileSync(join(this.dir, version, name), content);
    const tmp = join(this.dir, '..data_tmp');
    rmSync(tmp, { force: true });
    symlinkSync(version, tmp);
    renameSync(tmp, join(this.dir, '..data'));
    for (const name of Object.keys(files)) {
      if (!existsSync(join(this.dir, name))) symlinkSync(join('..data', name), join(this.dir, name));
    }
  }

  /** Writes a key pair and a CA from files. */
  writeFrom(cert: IssuedCert, ca: TestCa): void {
    this.write({ 'tls.crt': readFileSync(cert.certFile), 'tls.key': readFileSync(cert.keyFile), 'ca.crt': readFileSync(ca.certFile) });
  }
}
