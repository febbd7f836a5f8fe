import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StaticMembership, formatMemberList, parseMemberList } from '../../../lib/cluster/membership/static.js';
import { parseHostPort, validateMembers } from '../../../lib/cluster/membership/types.js';
import { membershipConformance, m } from '../../support/membership-conformance.js';

test('parseMemberList: the flag syntax', () => {
  assert.deepEqual(parseMemberList('swarm-0=127.0.0.1:7001,swarm-1=127.0.0.1:7002'), [m('swarm-0', '127.0.0.1:7001'), m('swarm-1', '127.0.0.1:7002')]);
  assert.deepEqual(parseMemberList(' swarm-1 = 127.0.0.1:7002 ,\n swarm-0=[::1]:7001\n'), [m('swarm-1', '127.0.0.1:7002'), m('swarm-0', '[::1]:7001')]);
  assert.deepEqual(parseMemberList('s=swarm-0.swarm.tracker.svc.cluster.local:7001'), [m('s', 'swarm-0.swarm.tracker.svc.cluster.local:7001')]);
  assert.deepEqual(parseMemberList('solo=localhost:1'), [m('solo', 'localhost:1')]);
  assert.equal(formatMemberList(parseMemberList('b=127.0.0.1:2,a=127.0.0.1:1')), 'a=127.0.0.1:1,b=127.0.0.1:2');
});

test('parseMemberList: clear errors', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /static member list is empty: expected name=host:port/],
    ['   ', /is empty/],
    ['swarm-0=127.0.0.1:7001,', /entry 2 is empty \(stray comma\?\)/],
    ['swarm-0=127.0.0.1:7001,,swarm-1=127.0.0.1:7002', /entry 2 is empty/],
    ['swarm-0', /entry 1 "swarm-0" has no '='/],
    ['=127.0.0.1:7001', /has no name before '='/],
    ['swarm-0=', /has no address after '='/],
    ['swarm-0=127.0.0.1', /has no port/],
    ['swarm-0=127.0.0.1:0', /port 0 outside 1..65535/],
    ['swarm-0=127.0.0.1:65536', /port 65536 outside/],
    ['swarm-0=127.0.0.1:70a', /invalid port "70a"/],
    ['swarm-0=::1:7001', /bracket IPv6 hosts/],
    ['swarm-0=[::1]7001', /expected \[ipv6\]:port/],
    ['swarm-0=[127.0.0.1]:7001', /not an IPv6 address/],
    ['swarm-0=300.1.1.1:7001', /not an IPv4 address or hostname/],
    ['swarm-0=bad_host:7001', /not an IPv4 address or hostname/],
    ['swarm 0=127.0.0.1:7001', /member name "swarm 0" is invalid/],
    ['-swarm=127.0.0.1:7001', /member name "-swarm" is invalid/],
    ['swarm-0=127.0.0.1:7001,swarm-0=127.0.0.1:7002', /duplicate member name "swarm-0"/],
    ['swarm-0=127.0.0.1:7001,swarm-1=127.0.0.1:7001', /members "swarm-0" and "swarm-1" share address 127.0.0.1:7001/],
  ];
  for (const [spec, re] of cases) assert.throws(() => parseMemberList(spec), re, `spec ${JSON.stringify(spec)}`);
  assert.throws(() => parseMemberList('swarm-0=127.0.0.1'), /entry 1/);
});

test('parseHostPort / validateMembers', () => {
  assert.deepEqual(parseHostPort('[2001:db8::1]:443'), { host: '2001:db8::1', port: 443 });
  assert.deepEqual(parseHostPort('10.0.0.1:7001'), { host: '10.0.0.1', port: 7001 });
  assert.throws(() => validateMembers([m('a', '127.0.0.1:1'), m('a', '127.0.0.1:2')], 'x'), /^Error: x: duplicate member name "a"/);
  assert.deepEqual(validateMembers([m('b', '127.0.0.1:2'), m('a', '127.0.0.1:1')]).map((x) => x.name), ['a', 'b']);
});

test('StaticMembership: validates at construction and on update (a bad update changes nothing)', async () => {
  assert.throws(() => new StaticMembership('swarm-0=127.0.0.1:1,swarm-0=127.0.0.1:2'), /duplicate member name/);
  assert.throws(() => new StaticMembership([m('a', '127.0.0.1:1')], [m('a', '127.0.0.1:2')]), /both a member and draining/);
  const p = new StaticMembership('swarm-0=127.0.0.1:7001');
  await p.start();
  assert.throws(() => p.update('swarm-0=127.0.0.1:7001,swarm-1=nope'), /has no port/);
  assert.deepEqual(p.members(), [m('swarm-0', '127.0.0.1:7001')]);
  let events = 0;
  p.on('change', () => events++);
  assert.equal(p.update('swarm-0=127.0.0.1:7001'), false);
  assert.equal(p.update('swarm-0=127.0.0.1:7001,swarm-1=127.0.0.1:7002'), true);
  assert.equal(events, 1);
  await p.stop();
  assert.equal(p.update('swarm-5=127.0.0.1:7005'), false);
  assert.equal(events, 1);
});

test('StaticMembership: update before start replaces the lists without an event', async () => {
  const p = new StaticMembership([m('a', '127.0.0.1:1')]);
  let events = 0;
  p.on('change', () => events++);
  assert.equal(p.update([m('b', '127.0.0.1:2')]), false);
  await p.start();
  assert.deepEqual(p.members(), [m('b', '127.0.0.1:2')]);
  assert.equal(p.snapshot().version, 1);
  assert.equal(events, 0);
  await p.stop();
});

membershipConformance(
  'static',
  async (initial) => {
    const provider = new StaticMembership(initial);
    return {
      provider,
      async setSource(members, draining = []) {
        provider.update(members, draining);
      },
      async cleanup() {},
    };
  },
  { changeTimeoutMs: 1000, quietMs: 20 },
);
