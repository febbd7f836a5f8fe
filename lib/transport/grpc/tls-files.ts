/**
 * The certificate, private key and CA bundle of edge <-> swarm TLS, read
 * from files and re-read when they change (cert-manager rotates them in
 * place; see lib/runtime/watch-files.ts), as a grpc-js CertificateProvider:
 * the credentials built on it (credentials.ts) use the newest material for
 * every new connection, and connections already open keep theirs, so a
 * rotation drops no stream.
 *
 * A set of files is taken only whole and consistent: every file parses, the
 * key matches the certificate, and Node accepts them together. Otherwise the
 * previous set stays in force and the failure is logged and counted (a
 * rotation caught half-written is simply read again on the next change or
 * periodic check). At start, a bad set is an error naming the file.
 */
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import type { experimental } from '@grpc/grpc-js';
import { silentLogger, type Logger } from '../../runtime/logger.js';
import { watchFiles, type FileWatch } from '../../runtime/watch-files.js';

type CertificateProvider = experimental.CertificateProvider;
type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

export interface TlsFilePaths {
  /** PEM certificate chain this process presents; '' = none (an edge without a client certificate). */
  certFile: string;
  keyFile: string;
  /** PEM CA bundle that verifies the other side; '' = none. */
  caFile: string;
}

export interface TlsFilesOptions extends TlsFilePaths {
  /** How each file is named in errors, e.g. the config key. Defaults: the role of the file. */
  labels?: Partial<Record<keyof TlsFilePaths, string>>;
  /** Re-read when the files change. Default true. */
  watch?: boolean;
  /** Periodic re-check (ms) in case a change event is missed. Default 15 000. */
  pollIntervalMs?: number;
  logger?: Logger;
}

interface Material {
  cert?: Buffer;
  key?: Buffer;
  ca?: Buffer;
  digest: string;
  /** The leaf certificate's expiry, seconds since the epoch (0 without a certificate). */
  notAfter: number;
  /** Subject and serial of the leaf certificate, for logs. */
  describe: string;
}

export class TlsFilesError extends Error {
  override readonly name = 'TlsFilesError';
}

export class TlsFiles implements CertificateProvider {
  private material: Material;
  private watch: FileWatch | undefined;
  private reloading: Promise<void> | undefined;
  private ok = 0;
  private failed = 0;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();

  private constructor(
    private readonly options: TlsFilesOptions,
    material: Material,
    private readonly logger: Logger,
  ) {
    this.material = material;
  }

  /** Reads and checks the files (throws TlsFilesError naming the file) and starts watching them. */
  static async load(options: TlsFilesOptions): Promise<TlsFiles> {
    if ((options.certFile === '') !== (options.keyFile === '')) throw new TlsFilesError(`${label(options, 'certFile')} and ${label(options, 'keyFile')} go together: set both or neither`);
    if (options.certFile === '' && options.caFile === '') throw new TlsFilesError(`TLS needs ${label(options, 'certFile')} or ${label(options, 'caFile')}`);
    const files = new TlsFiles(options, await readMaterial(options), options.logger ?? silentLogger);
    files.warnIfExpired();
    if (options.watch !== false) {
      const paths = [options.certFile, options.keyFile, options.caFile].filter((p) => p !== '');
      files.watch = watchFiles(paths, () => void files.reload(), { pollIntervalMs: options.pollIntervalMs, logger: files.logger });
    }
    return files;
  }

  get hasIdentity(): boolean {
    return this.options.certFile !== '';
  }

  get hasCa(): boolean {
    return this.options.caFile !== '';
  }

  /** Reloads that changed the material / that failed and kept the previous one. */
  get reloadsOk(): number {
    return this.ok;
  }

  get reloadsFailed(): number {
    return this.failed;
  }

  /** Expiry of the certificate in force, seconds since the epoch (0 without one). */
  get notAfter(): number {
    return this.material.notAfter;
  }

  /** Re-reads the files; a changed, consistent set replaces the current one. Never throws. */
  reload(): Promise<void> {
    // One read at a time; a change noticed meanwhile is caught by the next event or poll.
    this.reloading ??= this.readAgain().finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  close(): void {
    this.watch?.close();
    this.watch = undefined;
  }

  // ------------------------------------------------------------ CertificateProvider (grpc-js)

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    process.nextTick(listener, this.caUpdate());
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    process.nextTick(listener, this.identityUpdate());
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  // ------------------------------------------------------------ internals

  private caUpdate(): experimental.CaCertificateUpdate | null {
    return this.material.ca ? { caCertificate: this.material.ca } : null;
  }

  private identityUpdate(): experimental.IdentityCertificateUpdate | null {
    const { cert, key } = this.material;
    return cert && key ? { certificate: cert, privateKey: key } : null;
  }

  private async readAgain(): Promise<void> {
    let next: Material;
    try {
      next = await readMaterial(this.options);
    } catch (error) {
      // Logged each time it is tried: a change event or the periodic check, not per request.
      this.failed++;
      this.logger.error('TLS files reload failed; keeping the previous certificate', { error: (error as Error).message });
      return;
    }
    if (next.digest === this.material.digest) return;
    this.material = next;
    this.ok++;
    this.logger.info('TLS files reloaded: new connections use them', { certificate: next.describe });
    this.warnIfExpired();
    const ca = this.caUpdate();
    const identity = this.identityUpdate();
    for (const listener of this.caListeners) listener(ca);
    for (const listener of this.identityListeners) listener(identity);
  }

  private warnIfExpired(): void {
    const { notAfter, describe } = this.material;
    if (notAfter > 0 && notAfter * 1000 < Date.now()) {
      this.logger.error('TLS certificate has expired: the other side will refuse it', { certificate: describe, file: this.options.certFile });
    }
  }
}

function label(options: TlsFilesOptions, which: keyof TlsFilePaths): string {
  return options.labels?.[which] ?? which;
}

async function readOne(options: TlsFilesOptions, which: keyof TlsFilePaths): Promise<Buffer | undefined> {
  const path = options[which];
  if (path === '') return undefined;
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new TlsFilesError(`${label(options, which)} "${path}": ${code === 'ENOENT' ? 'file not found' : `cannot read it: ${(error as Error).message}`}`);
  }
}

async function readMaterial(options: TlsFilesOptions): Promise<Material> {
  const [cert, key, ca] = await Promise.all([readOne(options, 'certFile'), readOne(options, 'keyFile'), readOne(options, 'caFile')]);
  let notAfter = 0;
  let describe = 'none';
  if (cert && key) {
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(cert);
    } catch (error) {
      throw new TlsFilesError(`${label(options, 'certFile')} "${options.certFile}": not a PEM certificate (${(error as Error).message})`);
    }
    let privateKey;
    try {
      privateKey = createPrivateKey(key);
    } catch (error) {
      throw new TlsFilesError(`${label(options, 'keyFile')} "${options.keyFile}": not a PEM private key (${(error as Error).message})`);
    }
    if (!leaf.checkPrivateKey(privateKey)) {
      throw new TlsFilesError(`${label(options, 'keyFile')} "${options.keyFile}" is not the key of ${label(options, 'certFile')} "${options.certFile}"`);
    }
    notAfter = Math.floor(Date.parse(leaf.validTo) / 1000);
    describe = `${leaf.subject.replace(/\n/g, ', ')}; serial ${leaf.serialNumber}`;
  }
  if (ca) {
    try {
      new X509Certificate(ca);
    } catch (error) {
      throw new TlsFilesError(`${label(options, 'caFile')} "${options.caFile}": not a PEM certificate bundle (${(error as Error).message})`);
    }
  }
  try {
    createSecureContext({ cert, key, ca });
  } catch (error) {
    throw new TlsFilesError(`TLS files (${[options.certFile, options.keyFile, options.caFile].filter((p) => p !== '').join(', ')}) are not usable together: ${(error as Error).message}`);
  }
  const hash = createHash('sha256');
  for (const part of [cert, key, ca]) hash.update(part ?? '').update('\0');
  return { cert, key, ca, digest: hash.digest('hex'), notAfter, describe };
}
