-- Tables private mode reads and writes: the ones chihaya "kuroneko" uses on a
-- Gazelle-style site, with its column names and types.
--
-- A site that already has these tables keeps them: the tracker only needs
--   * the columns below to exist,
--   * the keys below (the writes are INSERT ... ON DUPLICATE KEY UPDATE on
--     users_main.ID, torrents.ID, transfer_history (uid, fid) and
--     transfer_ips (uid, fid, ip, client_id)),
--   * a default for every NOT NULL column the tracker does not write
--     (MariaDB's strict mode checks them even when the row exists).
-- Columns and tables it does not know are left alone.
--
-- Load it with: mariadb <database> < db/schema.sql   (idempotent)

-- Users: who may announce (Enabled = '1'), with which passkey, how their
-- traffic is credited. The tracker adds to Uploaded/Downloaded (credited)
-- and rawup/rawdl (as reported).
CREATE TABLE IF NOT EXISTS users_main (
  ID              INT UNSIGNED         NOT NULL AUTO_INCREMENT,
  Uploaded        BIGINT UNSIGNED      NOT NULL DEFAULT 0,
  Downloaded      BIGINT UNSIGNED      NOT NULL DEFAULT 0,
  Enabled         ENUM('0', '1', '2')  NOT NULL DEFAULT '0',
  torrent_pass    CHAR(32)             NOT NULL DEFAULT '',
  rawup           BIGINT UNSIGNED      NOT NULL DEFAULT 0,
  rawdl           BIGINT UNSIGNED      NOT NULL DEFAULT 0,
  DownMultiplier  FLOAT                NOT NULL DEFAULT 1,
  UpMultiplier    FLOAT                NOT NULL DEFAULT 1,
  DisableDownload TINYINT(1)           NOT NULL DEFAULT 0,
  TrackerHide     TINYINT(1)           NOT NULL DEFAULT 0,
  PRIMARY KEY (ID),
  KEY torrent_pass (torrent_pass)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Torrents the site serves. Status = 1: pruned (a seeder's announce undoes it).
-- The tracker sets Seeders, Leechers, last_action (Unix time) and adds to Snatched.
CREATE TABLE IF NOT EXISTS torrents (
  ID             INT(10)                 NOT NULL AUTO_INCREMENT,
  GroupID        INT(10)                 NOT NULL DEFAULT 0,
  TorrentType    ENUM('anime', 'music')  NOT NULL DEFAULT 'anime',
  info_hash      BINARY(20)              NOT NULL,
  Leechers       INT(6)                  NOT NULL DEFAULT 0,
  Seeders        INT(6)                  NOT NULL DEFAULT 0,
  last_action    INT                     NOT NULL DEFAULT 0,
  Snatched       INT UNSIGNED            NOT NULL DEFAULT 0,
  DownMultiplier FLOAT                   NOT NULL DEFAULT 1,
  UpMultiplier   FLOAT                   NOT NULL DEFAULT 1,
  Status         INT                     NOT NULL DEFAULT 0,
  PRIMARY KEY (ID),
  UNIQUE KEY InfoHash (info_hash)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Freeleech and multipliers for a whole group of one type (DownMultiplier 0 = freeleech).
CREATE TABLE IF NOT EXISTS torrent_group_freeleech (
  ID             INT(10)                 NOT NULL AUTO_INCREMENT,
  GroupID        INT(10)                 NOT NULL DEFAULT 0,
  Type           ENUM('anime', 'music')  NOT NULL DEFAULT 'anime',
  DownMultiplier FLOAT                   NOT NULL DEFAULT 1,
  UpMultiplier   FLOAT                   NOT NULL DEFAULT 1,
  PRIMARY KEY (ID),
  UNIQUE KEY GroupID (GroupID, Type)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- One row per (user, torrent): the tracker adds traffic and times, and sets
-- the current state. snatched counts completions, snatched_time is the first.
CREATE TABLE IF NOT EXISTS transfer_history (
  uid           INT      NOT NULL DEFAULT 0,
  fid           INT      NOT NULL DEFAULT 0,
  uploaded      BIGINT   NOT NULL DEFAULT 0,
  downloaded    BIGINT   NOT NULL DEFAULT 0,
  seeding       TINYINT  NOT NULL DEFAULT 0,
  seedtime      INT(30)  NOT NULL DEFAULT 0,
  activetime    INT(30)  NOT NULL DEFAULT 0,
  hnr           TINYINT  NOT NULL DEFAULT 0,
  remaining     BIGINT   NOT NULL DEFAULT 0,
  active        TINYINT  NOT NULL DEFAULT 0,
  starttime     INT      NOT NULL DEFAULT 0,
  last_announce INT      NOT NULL DEFAULT 0,
  snatched      INT      NOT NULL DEFAULT 0,
  snatched_time INT      NULL DEFAULT 0,
  PRIMARY KEY (uid, fid),
  KEY fid (fid),
  KEY last_announce (last_announce, active)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- One row per (user, torrent, address, client): traffic from each address
-- and approved client (client_id = approved_clients.id). ip is the IPv4
-- address as an integer, 127.0.0.1 for users with TrackerHide, 0 for IPv6
-- peers (the column has no room for them).
CREATE TABLE IF NOT EXISTS transfer_ips (
  last_announce INT UNSIGNED       NOT NULL DEFAULT 0,
  starttime     INT UNSIGNED       NOT NULL DEFAULT 0,
  uid           INT UNSIGNED       NOT NULL DEFAULT 0,
  fid           INT UNSIGNED       NOT NULL DEFAULT 0,
  ip            INT UNSIGNED       NOT NULL DEFAULT 0,
  client_id     MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
  uploaded      BIGINT UNSIGNED    NOT NULL DEFAULT 0,
  downloaded    BIGINT UNSIGNED    NOT NULL DEFAULT 0,
  port          SMALLINT UNSIGNED  NULL,
  PRIMARY KEY (uid, fid, ip, client_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Clients allowed to announce, by peer_id prefix (e.g. "-qB4" for qBittorrent 4.x).
CREATE TABLE IF NOT EXISTS approved_clients (
  id       MEDIUMINT UNSIGNED NOT NULL AUTO_INCREMENT,
  peer_id  VARCHAR(42)        NOT NULL,
  archived TINYINT(1)         NOT NULL DEFAULT 0,
  PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Site settings; the tracker reads mod_option = 'global_freeleech' (1 = on).
CREATE TABLE IF NOT EXISTS mod_core (
  mod_option  VARCHAR(121) NOT NULL,
  mod_setting INT(12)      NOT NULL DEFAULT 0,
  PRIMARY KEY (mod_option)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
