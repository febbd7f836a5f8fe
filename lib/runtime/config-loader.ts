/**
 * Runtime configuration: the engine that reads it. The keys, their defaults
 * and their checks are the schema, config.ts.
 *
 * Precedence (later wins):
 *   defaults < YAML file (--config PATH or TRACKER_CONFIG) < environment < flags
 *
 * Environment: TRACKER_ + the key path in SCREAMING_SNAKE, levels joined by
 * "__": udp.connectionIdKey -> TRACKER_UDP__CONNECTION_ID_KEY, port ->
 * TRACKER_PORT. Flags: --udp.connectionIdKey=abc or --udp.connectionIdKey abc;
 * booleans also bare (--udp.enabled) or --http.enabled=false. Lists are
 * comma-separated in the environment and in flags.
 */
import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import YAML from 'yaml';
import {
  clone,
  ConfigError,
  crossCheck,
  defaultConfig,
  FALSE_WORDS,
  getPath,
  SCHEMA_KEYS,
  SCHEMA_SECTIONS,
  SECTION_DOCS,
  setPath,
  TRUE_WORDS,
  type Config,
  type SchemaKey,
} from './config.js';

export interface LoadConfigOptions {
  /** Arguments after the script name: process.argv.slice(2). */
  argv: string[];
  env: NodeJS.ProcessEnv;
  /** Flags (names without "--") that belong to the caller, e.g. a subcommand's own options; returned in `extraFlags`. */
  extraFlags?: readonly string[];
  /** TRACKER_* variables that belong to the caller and are not config keys. */
  extraEnv?: readonly string[];
}

export interface LoadConfigResult {
  config: Config;
  printConfig: boolean;
  /** --help or -h was given. */
  help: boolean;
  /** Absolute path of the config file read, if any. */
  configFile?: string;
  /** Arguments that are not flags (e.g. the subcommand), in order. */
  positionals: string[];
  /** Values of the caller's `extraFlags` that were given: "--rate 5" -> { rate: "5" }, bare "--x" -> { x: true }. */
  extraFlags: Record<string, string | true>;
  /** Things worth logging that are not errors. */
  warnings: string[];
}

// ---------------------------------------------------------------------------
// Key tables

interface KeyInfo extends SchemaKey {
  env: string;
  flag: string;
}

function screamingSnake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

const KEYS: KeyInfo[] = SCHEMA_KEYS.map((info) => ({
  ...info,
  env: `TRACKER_${info.path.map(screamingSnake).join('__')}`,
  flag: `--${info.key}`,
}));

const BY_KEY = new Map(KEYS.map((info) => [info.key, info]));
const BY_ENV = new Map(KEYS.map((info) => [info.env, info]));
const CONFIG_ENV = 'TRACKER_CONFIG';

// ---------------------------------------------------------------------------
// Messages

function describeValue(raw: unknown, secret: boolean): string {
  if (secret && typeof raw === 'string') return `a value of ${raw.length} characters (not shown)`;
  if (raw === null || raw === undefined) return 'nothing (null)';
  if (Array.isArray(raw)) {
    const json = JSON.stringify(raw);
    return json.length > 120 ? `a list of ${raw.length} items` : json;
  }
  if (typeof raw === 'object') return 'a mapping';
  const json = JSON.stringify(raw) ?? String(raw);
  return json.length > 120 ? `${json.slice(0, 100)}..." (${String(raw).length} characters)` : json;
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const saved = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = saved;
    }
  }
  return row[b.length];
}

function suggest(wanted: string, candidates: Iterable<string>): string {
  let best = '';
  let bestDistance = Infinity;
  const w = wanted.toLowerCase();
  for (const candidate of candidates) {
    const d = levenshtein(w, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best !== '' && bestDistance <= Math.max(2, Math.floor(wanted.length / 4)) ? `; did you mean "${best}"?` : '';
}

function unknownKeyError(key: string, source: string, suggestion: string): ConfigError {
  return new ConfigError(key, `config key "${key}": unknown key (from ${source})${suggestion}`);
}

function sectionKeyError(key: string, source: string, how: string): ConfigError {
  const children = KEYS.filter((info) => info.key.startsWith(`${key}.`)).map((info) => info.key.slice(key.length + 1));
  return new ConfigError(key, `config key "${key}": is a section, not a value (from ${source}); set its keys instead, ${how}: ${children.join(', ')}`);
}

// ---------------------------------------------------------------------------
// Applying values

class Loader {
  readonly config = defaultConfig();
  readonly sources = new Map<string, string>();

  set(info: KeyInfo, raw: unknown, source: string): void {
    const result = info.field.coerce(raw);
    if (!result.ok) {
      let message = `config key "${info.key}": must be ${info.field.allowed}, got ${describeValue(raw, info.field.secret)} (from ${source})`;
      if (result.detail) message += `; ${result.detail}`;
      throw new ConfigError(info.key, message);
    }
    setPath(this.config, info.path, result.value);
    this.sources.set(info.key, source);
  }

  source(key: string): string {
    return this.sources.get(key) ?? 'default';
  }

  applyYaml(value: unknown, prefix: string, file: string): void {
    if (value === null || value === undefined) return; // empty file, or a section with every key commented out
    const where = prefix === '' ? 'the top level' : `"${prefix}"`;
    if (typeof value !== 'object' || Array.isArray(value)) {
      const key = prefix === '' ? 'config' : prefix;
      throw new ConfigError(key, `config file "${file}": ${where} must be a mapping of keys, got ${describeValue(value, false)}`);
    }
    for (const [name, child] of Object.entries(value as Record<string, unknown>)) {
      const key = prefix === '' ? name : `${prefix}.${name}`;
      const source = `file ${file}`;
      const info = BY_KEY.get(key);
      if (info) this.set(info, child, source);
      else if (SCHEMA_SECTIONS.has(key)) this.applyYaml(child, key, file);
      else {
        const siblings = [...BY_KEY.keys(), ...SCHEMA_SECTIONS].filter((k) => k.lastIndexOf('.') === key.lastIndexOf('.') && k.startsWith(prefix));
        throw unknownKeyError(key, source, suggest(key, siblings));
      }
    }
  }
}

function readConfigFile(file: string): unknown {
  let textContent: string;
  try {
    textContent = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : `cannot read it: ${(error as Error).message}`;
    throw new ConfigError('config', `config file "${file}": ${reason}`);
  }
  const doc = YAML.parseDocument(textContent, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError('config', `config file "${file}": invalid YAML: ${doc.errors[0].message}`);
  }
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError('config', `config file "${file}": invalid YAML: ${(error as Error).message}`);
  }
}

// Kubernetes injects <SERVICE>_PORT=tcp://..., <SERVICE>_SERVICE_HOST, ... for every
// Service in the namespace; a Service named "tracker..." collides with our prefix.
const SERVICE_LINK_NAME = /^TRACKER(_[A-Z0-9_]+)?_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT_\d+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?)$/;
const SERVICE_LINK_PORT = /^TRACKER(_[A-Z0-9_]+)?_PORT$/;
const SERVICE_LINK_VALUE = /^(tcp|udp|sctp):\/\/[^\s]+:\d+$/;

function isServiceLink(name: string, value: string): boolean {
  return SERVICE_LINK_NAME.test(name) || (SERVICE_LINK_PORT.test(name) && SERVICE_LINK_VALUE.test(value));
}

// ---------------------------------------------------------------------------
// argv

interface ParsedArgs {
  flags: Array<{ info: KeyInfo; raw: string; source: string }>;
  configFile?: string;
  printConfig: boolean;
  help: boolean;
  positionals: string[];
  extraFlags: Record<string, string | true>;
}

function parseArgs(argv: readonly string[], extraFlags: ReadonlySet<string>): ParsedArgs {
  const out: ParsedArgs = { flags: [], printConfig: false, help: false, positionals: [], extraFlags: {} };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h') {
      out.help = true;
      continue;
    }
    if (!arg.startsWith('--') || arg === '--') {
      if (arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg)) {
        throw new ConfigError(arg, `config key "${arg}": unknown flag; flags are written --key or --key=value (see --help)`);
      }
      out.positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);
    const next = argv[i + 1];
    const nextIsValue = next !== undefined && !next.startsWith('--');
    const takeValue = (): string | undefined => {
      if (inline !== undefined) return inline;
      if (nextIsValue) {
        i++;
        return next;
      }
      return undefined;
    };
    const requireValue = (what: string): string => {
      const value = takeValue();
      if (value === undefined) throw new ConfigError(what, `config key "${what}": flag --${name} needs a value (--${name}=VALUE or --${name} VALUE)`);
      return value;
    };

    if (name === 'print-config' || name === 'help') {
      let on = true;
      if (inline !== undefined) {
        const word = inline.trim().toLowerCase();
        if (!TRUE_WORDS.has(word) && !FALSE_WORDS.has(word)) {
          throw new ConfigError(name, `config key "${name}": must be true or false, got ${JSON.stringify(inline)} (from flag --${name})`);
        }
        on = TRUE_WORDS.has(word);
      }
      if (name === 'help') out.help = on;
      else out.printConfig = on;
      continue;
    }
    if (name === 'config') {
      const value = requireValue('config');
      if (value.trim() === '') throw new ConfigError('config', 'config key "config": must be a file path, got "" (from flag --config)');
      out.configFile = value;
      continue;
    }
    if (extraFlags.has(name)) {
      out.extraFlags[name] = takeValue() ?? true;
      continue;
    }
    const info = BY_KEY.get(name);
    if (!info) {
      if (SCHEMA_SECTIONS.has(name)) throw sectionKeyError(name, `flag --${name}`, 'e.g. --' + name + '.KEY=VALUE');
      const candidates = [...BY_KEY.keys(), 'config', 'print-config', 'help', ...extraFlags];
      throw unknownKeyError(name, `flag --${name}`, suggest(name, candidates).replace(/"([^"]+)"\?$/, '"--$1"?'));
    }
    let raw: string;
    if (info.field.kind === 'boolean') {
      if (inline !== undefined) raw = inline;
      else if (next !== undefined && /^(true|false)$/i.test(next)) {
        raw = next; // --udp.enabled false
        i++;
      } else raw = 'true'; // bare --udp.enabled
    } else raw = requireValue(info.key);
    out.flags.push({ info, raw, source: `flag --${name}` });
  }
  return out;
}

// ---------------------------------------------------------------------------
// Public API

export function loadConfig(opts: LoadConfigOptions): LoadConfigResult {
  const extraFlags = new Set(opts.extraFlags ?? []);
  const extraEnv = new Set(opts.extraEnv ?? []);
  const args = parseArgs(opts.argv, extraFlags);
  const loader = new Loader();
  const warnings: string[] = [];

  const envConfig = opts.env[CONFIG_ENV];
  const fileArg = args.configFile ?? (envConfig !== undefined && envConfig.trim() !== '' ? envConfig : undefined);
  let configFile: string | undefined;
  if (fileArg !== undefined) {
    configFile = resolvePath(fileArg);
    loader.applyYaml(readConfigFile(configFile), '', configFile);
  }

  for (const name of Object.keys(opts.env).sort()) {
    if (!name.startsWith('TRACKER_') || name === CONFIG_ENV || extraEnv.has(name)) continue;
    const value = opts.env[name];
    if (value === undefined) continue;
    const info = BY_ENV.get(name);
    if (info && !(name === 'TRACKER_PORT' && SERVICE_LINK_VALUE.test(value.trim()))) {
      loader.set(info, value, `env ${name}`);
      continue;
    }
    if (isServiceLink(name, value.trim())) {
      warnings.push(`ignored environment variable ${name}: it looks like a Kubernetes service link; set enableServiceLinks: false in the pod spec`);
      continue;
    }
    const sectionKey = [...SCHEMA_SECTIONS].find((s) => `TRACKER_${s.split('.').map(screamingSnake).join('__')}` === name);
    if (sectionKey) throw sectionKeyError(sectionKey, `env ${name}`, `e.g. ${name}__KEY`);
    const guess = name
      .slice('TRACKER_'.length)
      .split('__')
      .map((part) => part.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()))
      .join('.');
    throw unknownKeyError(guess, `env ${name}`, suggest(name, [...BY_ENV.keys(), CONFIG_ENV]));
  }

  for (const flag of args.flags) loader.set(flag.info, flag.raw, flag.source);

  crossCheck(loader, warnings);

  const result: LoadConfigResult = {
    config: loader.config,
    printConfig: args.printConfig,
    help: args.help,
    positionals: args.positionals,
    extraFlags: args.extraFlags,
    warnings,
  };
  if (configFile !== undefined) result.configFile = configFile;
  return result;
}

function formatValue(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => JSON.stringify(item)).join(', ')}]`;
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}

export interface ConfigYamlOptions {
  /** Write each key's doc, allowed values, env and flag as comments. Default true. */
  comments?: boolean;
  /** Replace secret values (udp.connectionIdKey) with a placeholder. Default true. */
  redactSecrets?: boolean;
}

/** The given config as YAML, in schema order. */
export function configToYaml(config: Config, options: ConfigYamlOptions = {}): string {
  const comments = options.comments ?? true;
  const redact = options.redactSecrets ?? true;
  const lines: string[] = [];
  if (comments) {
    lines.push(
      '# Tracker configuration. Every key is listed with its default.',
      '# Precedence (later wins): defaults < this file (--config PATH or TRACKER_CONFIG)',
      '#   < environment (TRACKER_*) < command-line flags.',
    );
  }
  let open: string[] = [];
  for (const info of KEYS) {
    const sectionPath = info.path.slice(0, -1);
    const section = sectionPath.join('.');
    const indent = '  '.repeat(sectionPath.length);
    if (section !== open.join('.')) {
      let common = 0;
      while (common < open.length && common < sectionPath.length && open[common] === sectionPath[common]) common++;
      for (let level = common; level < sectionPath.length; level++) {
        const name = sectionPath.slice(0, level + 1).join('.');
        if (comments) {
          lines.push('');
          if (SECTION_DOCS[name]) lines.push(`${'  '.repeat(level)}# ${SECTION_DOCS[name]}`);
        }
        lines.push(`${'  '.repeat(level)}${sectionPath[level]}:`);
      }
      open = sectionPath;
    }
    const value = getPath(config, info.path);
    const shown = info.field.secret && redact && value !== '' ? '"<redacted>"' : formatValue(value);
    if (comments) {
      if (sectionPath.length === 0) lines.push('');
      lines.push(`${indent}# ${info.field.doc}`);
      lines.push(`${indent}# ${info.field.allowed}; env ${info.env}; flag ${info.flag}`);
    }
    lines.push(`${indent}${info.path.at(-1)}: ${shown}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Every key with its doc as a comment; valid YAML that loads back to the defaults. */
export function defaultConfigYaml(): string {
  return configToYaml(defaultConfig(), { comments: true });
}

/** Help text for --help: every key with its flag, env variable, default and doc. */
export function configHelp(): string {
  const lines = [
    'Configuration (later wins): defaults < --config FILE / TRACKER_CONFIG < TRACKER_* env < flags',
    '  --config PATH          YAML config file (env TRACKER_CONFIG)',
    '  --print-config         print every key with its default (not values set by file, env or flags) as commented YAML, and exit',
    '  --help, -h             show this help',
    '',
  ];
  for (const info of KEYS) {
    lines.push(`  ${info.flag}=${info.field.kind === 'boolean' ? 'true|false' : 'VALUE'}   (env ${info.env}, default ${formatValue(info.field.defaultValue)})`);
    lines.push(`      ${info.field.doc} Must be ${info.field.allowed}.`);
  }
  return `${lines.join('\n')}\n`;
}

/** Every key with its env name, flag and default (for docs and tests). */
export function configKeys(): Array<{ key: string; env: string; flag: string; defaultValue: unknown; doc: string; allowed: string }> {
  return KEYS.map((info) => ({
    key: info.key,
    env: info.env,
    flag: info.flag,
    defaultValue: clone(info.field.defaultValue),
    doc: info.field.doc,
    allowed: info.field.allowed,
  }));
}
