/**
 * Private mode's gate (private.enabled; always first in the order): who may
 * announce, from the site's database as the edge's catalog copy holds it
 * (lib/private/catalog/). The passkey is the first segment of the path the
 * client announced to: HTTP `/<passkey>/announce`, the WebSocket URL
 * `wss://host/<passkey>`, UDP's BEP 41 URL data `udp://host:port/<passkey>/announce`
 * (private.udp = bep41). Gazelle sites issue 32-character passkeys
 * (users_main.torrent_pass); anything else is refused before any lookup.
 *
 * An admitted announce carries the user to the swarm (AnnounceContext:
 * user id, multipliers, approved client id, TrackerHide, the reported bytes)
 * for its accounting. Refusals are built once and never echo the passkey:
 * clients show them, and they end up in logs and screenshots.
 *
 * The catalog is read through a function, so a background reload swaps the
 * whole copy in between two announces. Lookups are a Map get (user), an
 * open-addressing probe (torrent) and a prefix scan over the approved
 * clients (a few dozen at most): nothing grows with the swarm.
 */
import { NOT_FOUND, type Catalog } from '../../../lib/private/catalog/catalog.js';
import type { RequestParams } from '../../../lib/tracker/params.js';
import { refusal, type AnnounceContext, type HookAnnounce, type PreHook, type Refusal } from '../pipeline/hook.js';

/** users_main.torrent_pass is 32 characters on Gazelle sites (kuroneko checks the same length). */
export const PASSKEY_LENGTH = 32;

export const PASSKEY_MISSING = refusal('this is a private tracker: announce to the URL in the .torrent you downloaded from the site (it carries your passkey)');
export const PASSKEY_UNKNOWN = refusal('unknown passkey: download the .torrent again from the site');
export const CANNOT_LEECH = refusal('your account may not download: seed, or contact the site\'s staff');
export const UNREGISTERED_TORRENT = refusal('unregistered torrent');
export const UNAPPROVED_CLIENT = refusal('unapproved client: see the site\'s list of allowed clients');
export const PORT_NOT_ALLOWED = refusal('port not allowed: set your client to listen on a port between 1024 and 65535');
export const SCRAPE_OFF = refusal('scrape is not served by this tracker');

/**
 * The passkey in `path` (its first segment when that is exactly
 * PASSKEY_LENGTH characters long), or undefined.
 */
export function passkeyOf(path: string): string | undefined {
  const n = path.length;
  if (n < PASSKEY_LENGTH + 1 || path.charCodeAt(0) !== 47) return undefined;
  if (n > PASSKEY_LENGTH + 1 && path.charCodeAt(PASSKEY_LENGTH + 1) !== 47) return undefined;
  return path.slice(1, PASSKEY_LENGTH + 1);
}

export interface PasskeyOptions {
  /** The catalog copy in use (CatalogReloader.current). */
  catalog: () => Catalog;
  /** private.strictPort: refuse ports below 1024. */
  strictPort: boolean;
  /** private.scrape: whether /<passkey>/scrape is answered. */
  scrape: boolean;
}

export class PasskeyApproval implements PreHook {
  readonly name = 'passkey';

  constructor(private readonly options: PasskeyOptions) {}

  announce(announce: HookAnnounce, context: AnnounceContext): Refusal | undefined {
    const passkey = passkeyOf(announce.params.path);
    if (passkey === undefined) return PASSKEY_MISSING;
    const catalog = this.options.catalog();
    const user = catalog.user(passkey);
    if (user === NOT_FOUND) return PASSKEY_UNKNOWN;
    const wt = announce.type === 'wt-announce';
    const leeching = wt ? announce.left !== 0 : announce.left > 0;
    if (leeching && !catalog.userCanLeech(user)) return CANNOT_LEECH;
    if (catalog.torrent(announce.infoHash) === NOT_FOUND) return UNREGISTERED_TORRENT;
    const client = catalog.client(announce.peerId);
    if (client === NOT_FOUND) return UNAPPROVED_CLIENT;
    if (!wt && this.options.strictPort && portOf(announce.endpoint) < 1024) return PORT_NOT_ALLOWED;
    context.userId = catalog.userId(user);
    context.userUpMultiplier = catalog.userUpMultiplier(user);
    context.userDownMultiplier = catalog.userDownMultiplier(user);
    context.clientId = client;
    context.hideAddress = catalog.userHidesAddress(user);
    context.uploaded = announce.uploaded;
    context.downloaded = announce.downloaded;
    return undefined;
  }

  /** Scrapes and WebTorrent answers: only registered torrents. */
  torrent(infoHash: string): Refusal | undefined {
    return this.options.catalog().torrent(infoHash) === NOT_FOUND ? UNREGISTERED_TORRENT : undefined;
  }

  /** A scrape: private.scrape on, and a known passkey in its path. */
  scrape(params: RequestParams): Refusal | undefined {
    if (!this.options.scrape) return SCRAPE_OFF;
    const passkey = passkeyOf(params.path);
    if (passkey === undefined) return PASSKEY_MISSING;
    return this.options.catalog().user(passkey) === NOT_FOUND ? PASSKEY_UNKNOWN : undefined;
  }
}

/** The port of a compact endpoint (the last two bytes, big-endian). */
function portOf(endpoint: Uint8Array): number {
  const n = endpoint.length;
  return (endpoint[n - 2] << 8) | endpoint[n - 1];
}

export const UDP_OFF = refusal('this private tracker does not serve UDP: use the http announce URL from the .torrent you downloaded from the site');

/** UDP's only hook in private mode with private.udp = off: every announce and scrape is refused (counted as the passkey hook's). */
export class PrivateUdpOff implements PreHook {
  readonly name = 'passkey';

  announce(): Refusal {
    return UDP_OFF;
  }

  scrape(): Refusal {
    return UDP_OFF;
  }
}
