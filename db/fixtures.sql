-- Example site data for trying private mode locally (npm run private:db loads
-- it after db/schema.sql). Idempotent: loading it again resets these rows.
-- Passkeys are 32 characters; announce URLs are
--   http://127.0.0.1:6969/<torrent_pass>/announce

REPLACE INTO users_main (ID, Enabled, torrent_pass, DownMultiplier, UpMultiplier, DisableDownload, TrackerHide) VALUES
  (1, '1', 'alice000000000000000000000000001', 1, 1, 0, 0),   -- an ordinary user
  (2, '1', 'bob00000000000000000000000000002', 1, 2, 0, 0),   -- double upload credit
  (3, '1', 'carol000000000000000000000000003', 1, 1, 1, 0),  -- may not leech (DisableDownload)
  (4, '2', 'dave0000000000000000000000000004', 1, 1, 0, 0),  -- disabled account: passkey refused
  (5, '1', 'eve00000000000000000000000000005', 0.5, 1, 0, 1); -- half download credit, hidden address

-- info_hash: SHA-1 of a name, so the hashes are stable and easy to recompute.
REPLACE INTO torrents (ID, GroupID, TorrentType, info_hash, DownMultiplier, UpMultiplier, Status) VALUES
  (1, 1, 'anime', UNHEX(SHA1('fixture torrent 1')), 1, 1, 0),  -- ordinary
  (2, 2, 'anime', UNHEX(SHA1('fixture torrent 2')), 1, 1, 0),  -- its group is freeleech (below)
  (3, 3, 'music', UNHEX(SHA1('fixture torrent 3')), 0, 1, 0),  -- freeleech torrent
  (4, 4, 'anime', UNHEX(SHA1('fixture torrent 4')), 1, 2, 0),  -- double upload torrent
  (5, 5, 'anime', UNHEX(SHA1('fixture torrent 5')), 1, 1, 1);  -- pruned (a seeder un-prunes it)

REPLACE INTO torrent_group_freeleech (ID, GroupID, Type, DownMultiplier, UpMultiplier) VALUES
  (1, 2, 'anime', 0, 1);

-- peer_id prefixes of common clients (Azureus-style "-XX1234-" and aria2's "A2-").
REPLACE INTO approved_clients (id, peer_id, archived) VALUES
  (1, '-qB', 0),   -- qBittorrent
  (2, '-TR', 0),   -- Transmission
  (3, '-DE', 0),   -- Deluge
  (4, '-LT', 0),   -- libtorrent (rasterbar) based
  (5, '-lt', 0),   -- rtorrent (libtorrent rakshasa)
  (6, 'A2-', 0),   -- aria2
  (7, '-UT', 1);   -- archived: no longer approved

REPLACE INTO mod_core (mod_option, mod_setting) VALUES ('global_freeleech', 0);
