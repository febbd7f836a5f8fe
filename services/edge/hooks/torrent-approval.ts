/**
 * Torrent approval (chihaya `torrentapproval`): the access list as a hook.
 * In mode `allow` only listed info-hashes are served, in `deny` every one
 * but those (accessList.mode); the list itself (file, reloads) is
 * access-list.ts. Built only when accessList.mode is not off. Announces
 * for a refused torrent are refused, scrapes report it as unknown, and
 * WebTorrent answers for it are refused.
 */
import type { InfoHashPolicy } from '../access-list.js';
import { refusal, type PreHook, type Refusal } from '../pipeline/hook.js';

export const TORRENT_NOT_ALLOWED = refusal('torrent not allowed on this tracker');

export class TorrentApproval implements PreHook {
  readonly name = 'torrentApproval';

  constructor(private readonly policy: InfoHashPolicy) {}

  announce(announce: { readonly infoHash: string }): Refusal | undefined {
    return this.policy.allows(announce.infoHash) ? undefined : TORRENT_NOT_ALLOWED;
  }

  torrent(infoHash: string): Refusal | undefined {
    return this.policy.allows(infoHash) ? undefined : TORRENT_NOT_ALLOWED;
  }
}
