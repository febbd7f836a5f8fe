/**
 * Client approval (chihaya `clientapproval`): which BitTorrent clients may
 * announce, by the start of their peer_id. Most clients use the Azureus
 * style "-XXvvvv-" (dash, two letters naming the client, four version
 * characters, dash), so "-qB" is every qBittorrent and "-qB46" only 4.6.x;
 * README.md lists the common ones. chihaya compares 6-character client ids
 * ("qB4650", the peer_id without its leading dash); a prefix is the same
 * with the dash ("-qB4650") and may be shorter or longer.
 *
 *   allow  only peer_ids that start with one of the prefixes announce
 *   deny   every client but those
 *
 * Scrapes carry no peer_id and are not checked.
 */
import { refusal, type HookAnnounce, type PreHook, type Refusal } from '../pipeline/hook.js';

export const CLIENT_NOT_APPROVED = refusal('unapproved client: this tracker does not accept announces from your BitTorrent client');

export class ClientApproval implements PreHook {
  readonly name = 'clientApproval';
  /** Prefixes by their first character: a peer_id is compared with the few that can match. */
  private readonly byFirst = new Map<string, string[]>();

  constructor(
    readonly mode: 'allow' | 'deny',
    prefixes: readonly string[],
  ) {
    for (const prefix of prefixes) {
      if (prefix.length < 1 || prefix.length > 20 || /[^\x00-\xff]/.test(prefix)) {
        throw new RangeError(`peer_id prefix ${JSON.stringify(prefix)} must be 1 to 20 one-byte characters`);
      }
      const list = this.byFirst.get(prefix[0]);
      if (list) list.push(prefix);
      else this.byFirst.set(prefix[0], [prefix]);
    }
  }

  /** Whether `peerId` (20 latin1 characters) starts with one of the prefixes. */
  listed(peerId: string): boolean {
    const candidates = this.byFirst.get(peerId[0]);
    if (candidates === undefined) return false;
    for (let i = 0; i < candidates.length; i++) if (peerId.startsWith(candidates[i])) return true;
    return false;
  }

  announce(announce: HookAnnounce): Refusal | undefined {
    return this.listed(announce.peerId) === (this.mode === 'allow') ? undefined : CLIENT_NOT_APPROVED;
  }
}
