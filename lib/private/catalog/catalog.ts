/**
 * One immutable copy of what private mode knows about the site: users by
 * passkey, torrents by info-hash, approved clients, global freeleech.
 *
 * Built by the loader from the database and swapped in whole by the
 * reloader; nothing changes a Catalog after `build()`. Lookups are for the
 * request path: a probe returning a small integer (an entry's index; users
 * by a Map of passkeys, torrents by the packed InfoHashIndex), then
 * typed-array reads by that index, so a lookup allocates nothing and an
 * entry is a few bytes beside its key instead of an object per user or
 * torrent (bytes per entry: tests/unit/private/catalog.test.ts measures them).
 */

import { InfoHashIndex } from './hash-index.js';

/** User flags (users_main). */
export const USER_DISABLE_DOWNLOAD = 1;
export const USER_TRACKER_HIDE = 2;

/** Torrent flags (torrents). */
export const TORRENT_PRUNED = 1;

export const NOT_FOUND = -1;

export class Catalog {
  /** Seconds since the epoch at which the rows were read. */
  readonly loadedAt: number;
  readonly globalFreeleech: boolean;

  constructor(
    private readonly userIndex: ReadonlyMap<string, number>,
    private readonly userIds: Uint32Array,
    private readonly userUp: Float64Array,
    private readonly userDown: Float64Array,
    private readonly userFlags: Uint8Array,
    private readonly torrentIndex: InfoHashIndex,
    private readonly torrentIds: Uint32Array,
    private readonly torrentUp: Float64Array,
    private readonly torrentDown: Float64Array,
    private readonly torrentFlags: Uint8Array,
    private readonly clientPrefixes: readonly string[],
    private readonly clientIds: readonly number[],
    globalFreeleech: boolean,
    loadedAt: number,
  ) {
    this.globalFreeleech = globalFreeleech;
    this.loadedAt = loadedAt;
  }

  get users(): number {
    return this.userIndex.size;
  }
  get torrents(): number {
    return this.torrentIndex.size;
  }
  get clients(): number {
    return this.clientPrefixes.length;
  }

  /** The user with this passkey (users_main.torrent_pass, Enabled = '1'), or NOT_FOUND. */
  user(passkey: string): number {
    return this.userIndex.get(passkey) ?? NOT_FOUND;
  }
  userId(user: number): number {
    return this.userIds[user];
  }
  userUpMultiplier(user: number): number {
    return this.userUp[user];
  }
  userDownMultiplier(user: number): number {
    return this.userDown[user];
  }
  /** DisableDownload: the user may not leech. */
  userCanLeech(user: number): boolean {
    return (this.userFlags[user] & USER_DISABLE_DOWNLOAD) === 0;
  }
  /** TrackerHide: the user's address is recorded as 127.0.0.1. */
  userHidesAddress(user: number): boolean {
    return (this.userFlags[user] & USER_TRACKER_HIDE) !== 0;
  }

  /** The torrent with this info-hash (20 bytes as a latin1 string), or NOT_FOUND. */
  torrent(infoHash: string): number {
    return this.torrentIndex.get(infoHash);
  }
  torrentId(torrent: number): number {
    return this.torrentIds[torrent];
  }
  /** The torrent's UpMultiplier times its group's (torrent_group_freeleech). */
  torrentUpMultiplier(torrent: number): number {
    return this.torrentUp[torrent];
  }
  /** The torrent's DownMultiplier times its group's; 0 under global freeleech. */
  torrentDownMultiplier(torrent: number): number {
    return this.globalFreeleech ? 0 : this.torrentDown[torrent];
  }
  /** Status = 1: pruned by the site; a seeder's announce un-prunes it. */
  torrentPruned(torrent: number): boolean {
    return (this.torrentFlags[torrent] & TORRENT_PRUNED) !== 0;
  }

  /** The approved_clients.id whose peer_id prefix this peer_id starts with, or NOT_FOUND (not approved). */
  client(peerId: string): number {
    const prefixes = this.clientPrefixes;
    for (let i = 0; i < prefixes.length; i++) if (peerId.startsWith(prefixes[i])) return this.clientIds[i];
    return NOT_FOUND;
  }
}

/** Multipliers of a torrent group (torrent_group_freeleech), keyed by "GroupID/Type". */
export interface GroupMultipliers {
  up: number;
  down: number;
}

/** Collects rows into typed arrays that grow by doubling, then freezes them into a Catalog. */
export class CatalogBuilder {
  private userIndex = new Map<string, number>();
  private userIds = new Uint32Array(1024);
  private userUp = new Float64Array(1024);
  private userDown = new Float64Array(1024);
  private userFlags = new Uint8Array(1024);
  private readonly torrentIndex = new InfoHashIndex();
  private torrentIds = new Uint32Array(1024);
  private torrentUp = new Float64Array(1024);
  private torrentDown = new Float64Array(1024);
  private torrentFlags = new Uint8Array(1024);
  private readonly clientPrefixes: string[] = [];
  private readonly clientIds: number[] = [];
  private readonly groups = new Map<string, GroupMultipliers>();
  private globalFreeleech = false;

  /** Group multipliers must be added before the torrents of the group. */
  addGroup(groupId: number, type: string, up: number, down: number): void {
    this.groups.set(`${groupId}/${type}`, { up, down });
  }

  addUser(id: number, passkey: string, up: number, down: number, disableDownload: boolean, trackerHide: boolean): void {
    if (this.userIndex.has(passkey)) return; // a duplicate passkey: the first (lowest ID, as queried) keeps it
    const i = this.userIndex.size;
    if (i === this.userIds.length) {
      this.userIds = grow(this.userIds);
      this.userUp = grow(this.userUp);
      this.userDown = grow(this.userDown);
      this.userFlags = grow(this.userFlags);
    }
    this.userIndex.set(passkey, i);
    this.userIds[i] = id;
    this.userUp[i] = up;
    this.userDown[i] = down;
    this.userFlags[i] = (disableDownload ? USER_DISABLE_DOWNLOAD : 0) | (trackerHide ? USER_TRACKER_HIDE : 0);
  }

  addTorrent(id: number, infoHash: string, up: number, down: number, pruned: boolean, groupId: number, type: string): void {
    const i = this.torrentIndex.add(infoHash);
    if (i === NOT_FOUND) return; // a duplicate, or not 20 bytes
    if (i === this.torrentIds.length) {
      this.torrentIds = grow(this.torrentIds);
      this.torrentUp = grow(this.torrentUp);
      this.torrentDown = grow(this.torrentDown);
      this.torrentFlags = grow(this.torrentFlags);
    }
    const group = this.groups.get(`${groupId}/${type}`);
    this.torrentIds[i] = id;
    this.torrentUp[i] = up * (group?.up ?? 1);
    this.torrentDown[i] = down * (group?.down ?? 1);
    this.torrentFlags[i] = pruned ? TORRENT_PRUNED : 0;
  }

  addClient(id: number, peerIdPrefix: string): void {
    if (peerIdPrefix === '') return; // would approve every client
    this.clientPrefixes.push(peerIdPrefix);
    this.clientIds.push(id);
  }

  setGlobalFreeleech(on: boolean): void {
    this.globalFreeleech = on;
  }

  build(loadedAt: number): Catalog {
    const users = this.userIndex.size;
    const torrents = this.torrentIndex.size;
    return new Catalog(
      this.userIndex,
      this.userIds.slice(0, users),
      this.userUp.slice(0, users),
      this.userDown.slice(0, users),
      this.userFlags.slice(0, users),
      this.torrentIndex.freeze(),
      this.torrentIds.slice(0, torrents),
      this.torrentUp.slice(0, torrents),
      this.torrentDown.slice(0, torrents),
      this.torrentFlags.slice(0, torrents),
      this.clientPrefixes.slice(),
      this.clientIds.slice(),
      this.globalFreeleech,
      loadedAt,
    );
  }
}

function grow<T extends Uint32Array | Float64Array | Uint8Array>(array: T): T {
  const bigger = new (array.constructor as new (length: number) => T)(array.length * 2);
  bigger.set(array);
  return bigger;
}

/** A Catalog with nothing in it: what a tracker serves before its first load (it is not ready then). */
export const EMPTY_CATALOG: Catalog = new CatalogBuilder().build(0);
