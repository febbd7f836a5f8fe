/**
 * One behavioural suite every MembershipProvider must pass (static list,
 * Kubernetes EndpointSlices, ...), in the spirit of chihaya's storage
 * conformance tests. Each test gets a fresh provider over a fresh source.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Member, MembershipProvider, MembershipSnapshot } from '../../lib/cluster/membership/types.js';

export interface MembershipUnderTest {
  provider: MembershipProvider;
  /**
   * Makes the source say: these ready members, these draining ones. Resolves
   * once the source has changed (not when the provider has noticed).
   */
  setSource(members: readonly Member[], draining?: readonly Member[]): Promise<void>;
  /** Monotonic count of work the provider causes at its source (e.g. API requests); optional. */
  activity?(): number;
  cleanup(): Promise<void>;
}

export interface ConformanceOptions {
  /** Upper bound for a source change to show up. */
  changeTimeoutMs: number;
  /**
   * Longer than the provider's debounce: a change the provider wrongly had in
   * the works by then is announced on its own, not folded into the marker
   * change that follows (the positive control of every "no change" check).
   */
  quietMs: number;
}

export const m = (name: string, address: string): Member => ({ name, address });

const names = (ms: readonly Member[]): string[] => ms.map((x) => x.name);

/** Resolves with the first snapshot satisfying `ok` (current or from a later 'change'); rejects after timeoutMs. */
export function waitForSnapshot(provider: MembershipProvider, ok: (s: MembershipSnapshot) => boolean, timeoutMs: number, what = 'membership'): Promise<MembershipSnapshot> {
  return new Promise((resolve, reject) => {
    if (ok(provider.snapshot())) return resolve(provider.snapshot());
    const onChange = (s: MembershipSnapshot): void => {
      if (!ok(s)) return;
      clearTimeout(timer);
      provider.off('change', onChange);
      resolve(s);
    };
    const timer = setTimeout(() => {
      provider.off('change', onChange);
      const s = provider.snapshot();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; have members=${JSON.stringify(s.members)} draining=${JSON.stringify(s.draining)}`));
    }, timeoutMs);
    provider.on('change', onChange);
  });
}

/** Records every 'change' until stopped. */
export function recordChanges(provider: MembershipProvider): { events: MembershipSnapshot[]; stop(): void } {
  const events: MembershipSnapshot[] = [];
  const on = (s: MembershipSnapshot): void => {
    events.push(s);
  };
  provider.on('change', on);
  return { events, stop: () => provider.off('change', on) };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function assertSortedFrozen(list: readonly Member[]): void {
  assert.ok(Object.isFrozen(list), 'lists are frozen');
  const sorted = [...names(list)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  assert.deepEqual(names(list), sorted, 'lists are sorted by name');
}

export function membershipConformance(name: string, make: (initial: readonly Member[]) => Promise<MembershipUnderTest>, opts: ConformanceOptions): void {
  const initial = [m('swarm-1', '127.0.0.1:7002'), m('swarm-0', '127.0.0.1:7001')];
  const T = opts.changeTimeoutMs;

  /**
   * Positive control for "no 'change'": the source changes (a marker member
   * joins `base`) and that is announced, as the only event after the first
   * `before`. Anything the provider announced meanwhile would be counted
   * before it.
   */
  const markerIsNextChange = async (t: MembershipUnderTest, rec: { events: MembershipSnapshot[] }, before: number, base: readonly Member[]): Promise<void> => {
    const marker = m('swarm-marker', '127.0.0.1:7999');
    await t.setSource([...base, marker]);
    await waitForSnapshot(t.provider, (s) => s.members.some((x) => x.name === marker.name), T, 'the marker member');
    assert.equal(rec.events.length, before + 1, `the marker change should be the only event after ${before}, got ${rec.events.length - before}`);
    assert.ok(rec.events[before].members.some((x) => x.name === marker.name), 'that event is the marker change');
  };

  const withProvider = async (fn: (t: MembershipUnderTest) => Promise<void>, members: readonly Member[] = initial): Promise<void> => {
    const t = await make(members);
    try {
      await fn(t);
    } finally {
      await t.provider.stop();
      await t.cleanup();
    }
  };

  test(`${name}: start() -> members reflect the source, sorted; nothing draining`, () =>
    withProvider(async (t) => {
      assert.equal(t.provider.snapshot().version, 0, 'version 0 before start');
      const rec = recordChanges(t.provider);
      await t.provider.start();
      await t.provider.start(); // idempotent
      assert.deepEqual(t.provider.members(), [m('swarm-0', '127.0.0.1:7001'), m('swarm-1', '127.0.0.1:7002')]);
      assert.deepEqual(t.provider.draining(), []);
      assertSortedFrozen(t.provider.members());
      const snap = t.provider.snapshot();
      assert.ok(snap.version >= 1);
      assert.equal(snap.members, t.provider.members());
      assert.equal(snap.draining, t.provider.draining());
      await sleep(opts.quietMs);
      assert.equal(rec.events.length, 0, 'the initial state is not announced as a change');
      await markerIsNextChange(t, rec, 0, initial);
      assert.equal(typeof t.provider.kind, 'string');
    }));

  test(`${name}: an empty source starts with no members`, () =>
    withProvider(async (t) => {
      await t.provider.start();
      assert.deepEqual(t.provider.members(), []);
      assert.deepEqual(t.provider.draining(), []);
    }, []));

  test(`${name}: add, re-address and remove members -> one 'change' each, versions increase`, () =>
    withProvider(async (t) => {
      await t.provider.start();
      const v0 = t.provider.snapshot().version;
      const rec = recordChanges(t.provider);

      await t.setSource([...initial, m('swarm-2', '127.0.0.1:7003')]);
      const s1 = await waitForSnapshot(t.provider, (s) => s.members.length === 3, T, 'swarm-2 to join');
      assert.deepEqual(names(s1.members), ['swarm-0', 'swarm-1', 'swarm-2']);
      assert.ok(s1.version > v0);
      assert.equal(t.provider.snapshot(), s1, "the event carries the provider's current snapshot");
      assertSortedFrozen(s1.members);

      await t.setSource([m('swarm-0', '127.0.0.1:7001'), m('swarm-1', '127.0.0.1:7102'), m('swarm-2', '127.0.0.1:7003')]);
      const s2 = await waitForSnapshot(t.provider, (s) => s.members.some((x) => x.address === '127.0.0.1:7102'), T, 'swarm-1 to move');
      assert.deepEqual(s2.members.find((x) => x.name === 'swarm-1'), m('swarm-1', '127.0.0.1:7102'));
      assert.ok(s2.version > s1.version);

      await t.setSource([m('swarm-1', '127.0.0.1:7102'), m('swarm-2', '127.0.0.1:7003')]);
      const s3 = await waitForSnapshot(t.provider, (s) => s.members.length === 2, T, 'swarm-0 to leave');
      assert.deepEqual(names(s3.members), ['swarm-1', 'swarm-2']);
      await sleep(opts.quietMs);
      assert.equal(rec.events.length, 3, `exactly one change per source change, got ${rec.events.length}`);
      await markerIsNextChange(t, rec, 3, s3.members);
      rec.stop();
    }));

  test(`${name}: an unchanged source emits no 'change'`, () =>
    withProvider(async (t) => {
      await t.provider.start();
      const rec = recordChanges(t.provider);
      await t.setSource([...initial].reverse());
      await sleep(opts.quietMs);
      assert.equal(rec.events.length, 0);
      await markerIsNextChange(t, rec, 0, initial);
      rec.stop();
    }));

  test(`${name}: draining members are reported apart and never as members`, () =>
    withProvider(async (t) => {
      await t.provider.start();
      await t.setSource([m('swarm-0', '127.0.0.1:7001')], [m('swarm-1', '127.0.0.1:7002')]);
      const s = await waitForSnapshot(t.provider, (x) => x.draining.length === 1, T, 'swarm-1 to drain');
      assert.deepEqual(s.members, [m('swarm-0', '127.0.0.1:7001')]);
      assert.deepEqual(s.draining, [m('swarm-1', '127.0.0.1:7002')]);
      assert.deepEqual(t.provider.draining(), s.draining);
      assertSortedFrozen(s.draining);
      await t.setSource([m('swarm-0', '127.0.0.1:7001')]);
      const s2 = await waitForSnapshot(t.provider, (x) => x.draining.length === 0, T, 'swarm-1 to be gone');
      assert.deepEqual(names(s2.members), ['swarm-0']);
    }));

  test(`${name}: the source can go empty and come back`, () =>
    withProvider(async (t) => {
      await t.provider.start();
      await t.setSource([]);
      await waitForSnapshot(t.provider, (s) => s.members.length === 0, T, 'no members');
      await t.setSource([m('swarm-7', '127.0.0.1:7007')]);
      const s = await waitForSnapshot(t.provider, (x) => x.members.length === 1, T, 'swarm-7');
      assert.deepEqual(s.members, [m('swarm-7', '127.0.0.1:7007')]);
    }));

  test(`${name}: stop() is final: no events, no work, start() rejects`, () =>
    withProvider(async (t) => {
      await t.provider.start();
      const rec = recordChanges(t.provider);
      await t.provider.stop();
      await t.provider.stop(); // idempotent
      const before = t.activity?.();
      const last = t.provider.snapshot();
      // Positive control: a live twin, started after the stop, sees the same source change.
      const twin = await make(initial);
      try {
        await twin.provider.start();
        await t.setSource([m('swarm-9', '127.0.0.1:7009')]);
        await twin.setSource([m('swarm-9', '127.0.0.1:7009')]);
        await waitForSnapshot(twin.provider, (s) => s.members.some((x) => x.name === 'swarm-9'), T, 'the twin to see swarm-9');
      } finally {
        await twin.provider.stop();
        await twin.cleanup();
      }
      assert.equal(rec.events.length, 0, 'no change after stop');
      assert.deepEqual(t.provider.members(), last.members, 'lists frozen at stop');
      if (before !== undefined) assert.equal(t.activity!(), before, 'no work at the source after stop');
      await assert.rejects(t.provider.start(), /after stop/);
      rec.stop();
    }));
}
