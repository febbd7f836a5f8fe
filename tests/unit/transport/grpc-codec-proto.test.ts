/**
 * The hand-written wire codec (lib/transport/grpc/codec.ts) field by field
 * against proto/tracker.proto itself, parsed with protobufjs at test time:
 * no generated code and no hand-made samples in between. For every message
 * the two batches reach, a value with every field set (distinct, non-default
 * values; every oneof arm; two elements per repeated field) is encoded by
 * protobufjs and decoded by codec.ts, and
 * - each field must arrive in the domain value under its camelCase name
 *   (oneof arms as the value's `type` or `kind`, ids beside), with the
 *   value protobufjs encoded (bytes as latin1 ids or Uint8Array);
 * - codec.ts must encode that domain value back to the same bytes.
 * A field added to the .proto and not to codec.ts, or one whose number or
 * type differs, fails here with its path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import * as fast from '../../../lib/transport/grpc/codec.js';
import { REPO_ROOT } from '../../support/tracker-process.js';

const PROTO = readFileSync(join(REPO_ROOT, 'proto', 'tracker.proto'), 'utf8');
const PACKAGE = 'tracker.v1';
const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: Number, bytes: Array, defaults: false, arrays: false, oneofs: false };

type Plain = Record<string, unknown>;

/** Builds values with every field set to a value no other field has. */
class Sampler {
  private next = 300;
  readonly reached = new Set<string>();

  /** One value per arm of the type's oneof (one value when it has none). */
  values(type: protobuf.Type): Plain[] {
    this.reached.add(type.fullName.slice(1));
    const arms = type.oneofsArray.length === 0 ? [undefined] : type.oneofsArray[0].fieldsArray;
    if (type.oneofsArray.length > 1) throw new Error(`${type.name}: more than one oneof; teach this sampler`);
    return arms.map((arm) => {
      const out: Plain = {};
      for (const field of type.fieldsArray) {
        if (field.partOf && field !== arm) continue;
        out[field.name] = field.repeated ? [this.one(field), this.one(field)] : this.one(field);
      }
      return out;
    });
  }

  private one(field: protobuf.Field): unknown {
    const resolved = field.resolve().resolvedType;
    if (resolved instanceof protobuf.Type) return this.values(resolved)[0];
    if (resolved instanceof protobuf.Enum) return Math.max(...Object.values(resolved.values));
    const n = this.next++;
    switch (field.type) {
      case 'uint32':
      case 'fixed32':
        return n;
      case 'int32':
      case 'sint32':
      case 'sfixed32':
        return -n;
      case 'uint64':
      case 'int64':
      case 'sint64':
      case 'fixed64':
      case 'sfixed64':
        return 2 ** 40 + n;
      case 'double':
      case 'float':
        return n + 0.5;
      case 'bool':
        return true;
      case 'string':
        return `é-${n}-🙂`;
      case 'bytes':
        return Buffer.from(Array.from({ length: 20 }, (_, i) => (n * 7 + i * 13) & 0xff));
      default:
        throw new Error(`${field.parent?.name}.${field.name}: type ${field.type} has no sample; teach this sampler`);
    }
  }
}

/** Paths where `got` differs from `want` (both protobufjs plain objects). */
function differences(want: unknown, got: unknown, path: string, out: string[]): void {
  if (Array.isArray(want) || Array.isArray(got)) {
    const w = (want ?? []) as unknown[];
    const g = (got ?? []) as unknown[];
    if (w.length !== g.length && (typeof w[0] !== 'object' || w.length === 0)) {
      out.push(`${path}: ${JSON.stringify(w)} became ${JSON.stringify(g)}`);
      return;
    }
    for (let i = 0; i < Math.max(w.length, g.length); i++) differences(w[i], g[i], `${path}[${i}]`, out);
    return;
  }
  if (typeof want === 'object' && want !== null && typeof got === 'object' && got !== null) {
    for (const key of new Set([...Object.keys(want), ...Object.keys(got)])) {
      differences((want as Plain)[key], (got as Plain)[key], `${path}.${key}`, out);
    }
    return;
  }
  if (JSON.stringify(want) !== JSON.stringify(got)) {
    out.push(`${path}: ${want === undefined ? 'not in the .proto value but' : JSON.stringify(want)} ${got === undefined ? 'is lost' : `became ${JSON.stringify(got)}`}`);
  }
}

const camel = (name: string): string => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
/** Fields whose domain name is not the camelCase of the .proto's (the lead fixed both names). */
const DOMAIN_NAMES: Record<string, string> = {
  'tracker.v1.AnnounceRequest.user_up': 'userUpMultiplier',
  'tracker.v1.AnnounceRequest.user_down': 'userDownMultiplier',
};

/** `protoValue` (a protobufjs plain object of `type`) against the domain value codec.ts decoded from it. */
function compareMessage(type: protobuf.Type, protoValue: Plain, domain: Plain, path: string, out: string[]): void {
  for (const field of type.fieldsArray) {
    if (!(field.name in protoValue)) continue;
    const value = protoValue[field.name];
    const here = `${path}.${field.name}`;
    if (field.partOf) {
      // A oneof arm: the domain value is the arm's fields, with the arm's name as its discriminant.
      const discriminant = domain.type ?? domain.kind;
      if (discriminant !== field.name.replace(/_/g, '-')) out.push(`${here}: decoded as ${JSON.stringify(discriminant)}`);
      else compareMessage(field.resolve().resolvedType as protobuf.Type, value as Plain, domain, here, out);
      continue;
    }
    const key = DOMAIN_NAMES[`${type.fullName.slice(1)}.${field.name}`] ?? camel(field.name);
    if (!(key in domain) || domain[key] === undefined) {
      out.push(`${here}: not in the domain value as "${key}" (codec.ts does not read it, or the domain model names it otherwise)`);
      continue;
    }
    if (field.repeated) {
      const want = value as unknown[];
      const got = domain[key] as unknown[];
      if (!Array.isArray(got) || got.length !== want.length) out.push(`${here}: ${want.length} items became ${JSON.stringify(got)}`);
      else for (let i = 0; i < want.length; i++) compareValue(field, want[i], got[i], `${here}[${i}]`, out);
    } else {
      compareValue(field, value, domain[key], here, out);
    }
  }
}

function compareValue(field: protobuf.Field, want: unknown, got: unknown, path: string, out: string[]): void {
  const resolved = field.resolve().resolvedType;
  if (resolved instanceof protobuf.Type) {
    compareMessage(resolved, want as Plain, got as Plain, path, out);
    return;
  }
  if (field.type === 'bytes') {
    const bytes = typeof got === 'string' ? Buffer.from(got, 'latin1') : got instanceof Uint8Array ? Buffer.from(got) : undefined;
    if (bytes === undefined || !bytes.equals(want as Buffer)) out.push(`${path}: bytes ${(want as Buffer).toString('hex')} became ${JSON.stringify(got)}`);
    return;
  }
  if (got !== want) out.push(`${path}: ${JSON.stringify(want)} became ${JSON.stringify(got)}`);
}

interface CheckResult {
  /** What codec.ts drops, adds or changes, by message path; empty when it matches the .proto. */
  readonly problems: string[];
  /** Message types the samples reached. */
  readonly reached: Set<string>;
}

/** Puts `proto` (the text of a .proto file) against codec.ts, both batch directions. */
function checkCodecAgainst(proto: string): CheckResult {
  const root = protobuf.parse(proto, { keepCase: true }).root.resolveAll();
  const sampler = new Sampler();
  const problems: string[] = [];
  /** `roundTrip` decodes protobufjs's bytes with codec.ts, checks the domain values, and encodes them again with codec.ts. */
  const compare = (type: protobuf.Type, sample: Plain, roundTrip: (bytes: Buffer) => Uint8Array, name: string): void => {
    const want = type.encode(type.fromObject(sample)).finish();
    let again: Uint8Array;
    try {
      again = roundTrip(Buffer.from(want));
    } catch (error) {
      problems.push(`${name}: codec.ts could not decode and re-encode it: ${String(error)}`);
      return;
    }
    if (Buffer.compare(Buffer.from(want), Buffer.from(again)) === 0) return;
    const found: string[] = [];
    let decoded: Plain | undefined;
    try {
      decoded = type.toObject(type.decode(again), TO_OBJECT);
    } catch (error) {
      found.push(`${name}: codec.ts wrote bytes the .proto cannot decode: ${String(error)}`);
    }
    if (decoded) differences(type.toObject(type.fromObject(sample), TO_OBJECT), decoded, name, found);
    problems.push(...(found.length > 0 ? found : [`${name}: same fields, different bytes (field order or encoding)`]));
  };

  const EdgeBatch = root.lookupType(`${PACKAGE}.EdgeBatch`);
  const edge = sampler.values(EdgeBatch)[0];
  // One Request per arm, with the consecutive ids codec.ts writes (firstId, firstId + 1, ...).
  const requests = sampler.values(root.lookupType(`${PACKAGE}.Request`)).map((r, i) => ({ ...r, id: 70000 + i }));
  edge.requests = requests;
  const Request = root.lookupType(`${PACKAGE}.Request`);
  compare(EdgeBatch, edge, (bytes) => {
    const decoded = fast.decodeEdgeBatch(bytes);
    const unknown = decoded.requests.findIndex((r) => r === undefined);
    if (unknown >= 0) throw new Error(`Request arm ${Object.keys(requests[unknown]).find((k) => k !== 'id')} is unknown to codec.ts`);
    if (decoded.tableIdentity !== edge.table_identity) problems.push(`EdgeBatch.table_identity: ${String(edge.table_identity)} became ${decoded.tableIdentity}`);
    requests.forEach((request, i) => compareMessage(Request, request, { id: decoded.ids[i], ...decoded.requests[i] }, `EdgeBatch.requests[${i}]`, problems));
    return fast.encodeEdgeBatch({ firstId: decoded.ids[0], requests: decoded.requests as never, tableIdentity: decoded.tableIdentity });
  }, 'EdgeBatch');

  const SwarmBatch = root.lookupType(`${PACKAGE}.SwarmBatch`);
  const swarm = sampler.values(SwarmBatch)[0];
  const Reply = root.lookupType(`${PACKAGE}.Reply`);
  const WtRelay = root.lookupType(`${PACKAGE}.WtRelay`);
  const replies = (swarm.replies = sampler.values(Reply));
  const relays = (swarm.relays = sampler.values(WtRelay));
  compare(SwarmBatch, swarm, (bytes) => {
    const decoded = fast.decodeSwarmBatch(bytes);
    replies.forEach((reply, i) => compareMessage(Reply, reply, { id: decoded.ids[i], ...decoded.replies[i] }, `SwarmBatch.replies[${i}]`, problems));
    if (decoded.relays.length !== relays.length) problems.push(`SwarmBatch.relays: ${relays.length} became ${decoded.relays.length} (an arm codec.ts does not know is dropped)`);
    relays.forEach((relay, i) => {
      const got = decoded.relays[i];
      if (got) compareMessage(WtRelay, relay, { socket: got.socket, ...got.message }, `SwarmBatch.relays[${i}]`, problems);
    });
    return fast.encodeSwarmBatch(decoded.ids, decoded.replies, decoded.relays);
  }, 'SwarmBatch');
  return { problems, reached: sampler.reached };
}

/**
 * Every message type the RPCs of `service` reach, through fields at any depth.
 * Only service Swarm (edge <-> swarm, the hot path) goes through codec.ts;
 * service Handoff (swarm <-> swarm, a cold path) uses the protobufjs code
 * generated from the .proto, which cannot drift from it.
 */
function messagesOf(proto: string, service: string): string[] {
  const root = protobuf.parse(proto, { keepCase: true }).root.resolveAll();
  const found = new Set<string>();
  const visit = (type: protobuf.Type): void => {
    if (found.has(type.fullName)) return;
    found.add(type.fullName);
    for (const field of type.fieldsArray) if (field.resolvedType instanceof protobuf.Type) visit(field.resolvedType);
  };
  for (const method of root.lookupService(`${PACKAGE}.${service}`).methodsArray) {
    visit(method.resolvedRequestType!);
    visit(method.resolvedResponseType!);
  }
  return [...found].map((name) => name.slice(1));
}

/** The .proto with `line` added at the end of message `message`'s body. */
function withField(message: string, line: string): string {
  const start = PROTO.indexOf(`message ${message} {`);
  assert.ok(start >= 0, `the .proto has a message ${message}`);
  const end = PROTO.indexOf('\n}', start);
  return PROTO.slice(0, end) + `\n  ${line}` + PROTO.slice(end);
}

test('codec.ts carries every field of every message of service Swarm in proto/tracker.proto, byte for byte, both batch directions', () => {
  const { problems, reached } = checkCodecAgainst(PROTO);
  assert.deepEqual(problems, []);
  assert.deepEqual([...reached].sort(), messagesOf(PROTO, 'Swarm').sort(), 'every message type service Swarm reaches is exercised');
  const ns = protobuf.parse(PROTO, { keepCase: true }).root.lookup(PACKAGE) as protobuf.Namespace;
  const declared = ns.nestedArray.filter((n): n is protobuf.Type => n instanceof protobuf.Type).map((t) => t.fullName.slice(1));
  const services = ns.nestedArray.filter((n): n is protobuf.Service => n instanceof protobuf.Service).map((x) => x.name);
  assert.deepEqual(services.sort(), ['Handoff', 'Swarm'], 'a new service says here whether codec.ts or generated code carries it');
  const used = new Set(services.flatMap((name) => messagesOf(PROTO, name)));
  assert.deepEqual(declared.filter((name) => !used.has(name)), [], 'every message type of the .proto is reached by a service');
});

test('the check fails, naming the field, when the .proto has a field codec.ts does not know', () => {
  const problems = checkCodecAgainst(withField('AnnounceRequest', 'uint64 corrupt = 16;')).problems;
  assert.ok(problems.some((p) => p.includes('EdgeBatch.requests[0].announce.corrupt')), problems.join('\n'));
  const nested = checkCodecAgainst(withField('SessionDescription', 'string mid = 3;')).problems;
  assert.ok(nested.some((p) => /relays\[\d\]\.(offer|answer)\.(offer|answer)\.mid/.test(p)), nested.join('\n'));
  const reply = checkCodecAgainst(withField('WtAnnounceReply', 'uint32 seeders_relayed = 5;')).problems;
  assert.ok(reply.some((p) => p.includes('.wt_announce.seeders_relayed')), reply.join('\n'));
});

test('the check fails when a field changes its number or type in the .proto', () => {
  const renumbered = checkCodecAgainst(PROTO.replace('int32 numwant = 6;', 'int32 numwant = 16;')).problems;
  assert.ok(renumbered.some((p) => p.includes('announce.numwant')), renumbered.join('\n'));
  // Same wire type, so the bytes alone would survive the round trip: the value does not.
  const retyped = checkCodecAgainst(PROTO.replace('uint64 left = 5;', 'sint64 left = 5;')).problems;
  assert.ok(retyped.some((p) => p.includes('announce.left')), retyped.join('\n'));
});

test('the check fails when the .proto has a request or reply arm codec.ts does not know', () => {
  const arm = PROTO.replace('WtScrapeRequest wt_scrape = 7;', 'WtScrapeRequest wt_scrape = 7;\n    ScrapeRequest scrape_v2 = 8;');
  const problems = checkCodecAgainst(arm).problems;
  assert.ok(problems.some((p) => p.includes('scrape_v2')), problems.join('\n'));
});
