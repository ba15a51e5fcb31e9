"""The MariaDB harness (mariadb.py) with the Gazelle schema fixture
(tests/fixtures/gazelle_schema.sql): a site's rows read back as Ocelot reads them (a
binary info_hash, NULLs), Ocelot's writes, InnoDB transactions, data kept across a
restart and a SIGKILL, and the `starling` user's logins over TCP and the socket. One
mariadbd for the whole class; each test uses its own IDs."""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import source_dir
from mariadb import MariaDB, MariaDBError, require_mariadb

SCHEMA = os.path.join(source_dir(), "tests", "fixtures", "gazelle_schema.sql")
TABLES = ["torrents", "users_freeleeches", "users_main", "xbt_client_whitelist",
          "xbt_files_users", "xbt_snatched"]
INFO_HASH = bytes(range(0xEC, 0x100))  # 20 bytes, none of them text
PEER_ID = b"-ST0001-" + bytes(range(12))
PASSKEY = "0123456789abcdef0123456789abcdef"


def add_user(db, uid, enabled="1", visible="1"):
    """A user row as a site inserts it: every NOT NULL column without a default."""
    db.execute("INSERT INTO users_main (ID, Username, Email, PassHash, Secret, Title, "
               "PermissionID, torrent_pass, Enabled, Visible) VALUES "
               "(%d, 'user%d', 'u%d@example.org', 'x', 's', '', 2, '%s', '%s', '%s')"
               % (uid, uid, uid, PASSKEY[:-4] + "%04d" % uid, enabled, visible))


def add_torrent(db, tid, info_hash, free="0"):
    db.execute("INSERT INTO torrents (ID, GroupID, UserID, info_hash, FileCount, FileList, "
               "Size, FreeTorrent, Time) VALUES (%d, 1, 1, UNHEX('%s'), 1, 'a.flac', 1000, "
               "'%s', NOW())" % (tid, info_hash.hex(), free))


class MariaDBHarnessTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_mariadb()
        cls.db = MariaDB()
        cls.addClassCleanup(cls.db.cleanup)
        cls.db.start()
        cls.db.execute_file(SCHEMA)

    def count(self, sql):
        return int(self.db.query(sql)[0][0])

    def test_schema(self):
        self.assertEqual([r[0] for r in self.db.query("SHOW TABLES")], TABLES)
        rows = self.db.query("SELECT ENGINE, TABLE_COLLATION FROM information_schema.TABLES "
                             "WHERE TABLE_SCHEMA = 'gazelle'")
        self.assertEqual(set(rows), {("InnoDB", "utf8mb3_general_ci")})
        pk = self.db.query("SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
                           "WHERE TABLE_SCHEMA = 'gazelle' AND TABLE_NAME = 'xbt_files_users' "
                           "AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION")
        self.assertEqual(pk, [("peer_id",), ("fid",), ("uid",)])

    def test_site_rows_read_as_ocelot_reads_them(self):
        add_user(self.db, 101)
        add_user(self.db, 102, visible="0")
        add_user(self.db, 103, enabled="2")  # disabled: not loaded
        add_torrent(self.db, 101, INFO_HASH, free="2")
        self.db.execute("INSERT INTO users_freeleeches (UserID, TorrentID, Time) "
                        "VALUES (101, 101, NOW()), (102, 101, NOW());"
                        "UPDATE users_freeleeches SET Expired = 1 WHERE UserID = 102;"
                        "INSERT INTO xbt_client_whitelist (peer_id, vstring) "
                        "VALUES ('-TS101-', NULL), ('-TS102-', 'NULL')")
        # The queries of OPSnet/Ocelot's src/db.cpp (load_users, load_tokens, ...).
        users = self.db.query("SELECT ID, can_leech, torrent_pass, (Visible='0' OR "
                              "IP='127.0.0.1') AS Protected FROM users_main "
                              "WHERE Enabled='1' AND ID BETWEEN 100 AND 199 ORDER BY ID")
        self.assertEqual(users, [("101", "1", PASSKEY[:-4] + "0101", "0"),
                                 ("102", "1", PASSKEY[:-4] + "0102", "1")])
        self.assertEqual(self.db.query("SELECT ID, info_hash, FreeTorrent, Snatched "
                                       "FROM torrents WHERE ID = 101"),
                         [("101", "0x" + INFO_HASH.hex().upper(), "2", "0")])
        self.assertEqual(self.db.query("SELECT uf.UserID, t.info_hash FROM users_freeleeches "
                                       "AS uf JOIN torrents AS t ON t.ID = uf.TorrentID "
                                       "WHERE uf.Expired = '0' AND t.ID = 101"),
                         [("101", "0x" + INFO_HASH.hex().upper())])
        # A NULL, the string 'NULL' and '' are three different values.
        self.assertEqual(self.db.query("SELECT peer_id, vstring FROM xbt_client_whitelist "
                                       "WHERE peer_id LIKE '-TS10%' ORDER BY peer_id;"
                                       "SELECT ''"),
                         [("-TS101-", None), ("-TS102-", "NULL"), ("",)])
        # Text comes back as it went in: tabs, newlines, markup, UTF-8.
        title = "a\tb\nc <&> \u00e9\u2713"
        self.db.execute("UPDATE users_main SET Title = '%s' WHERE ID = 101" % title)
        self.assertEqual(self.db.query("SELECT Title FROM users_main WHERE ID = 101"),
                         [(title,)])

    def test_ocelot_writes(self):
        add_user(self.db, 201)
        add_torrent(self.db, 201, bytes(range(20)))
        # WhatCD/Ocelot's flush_users and flush_torrents: upserts naming only the columns
        # they change, which Gazelle's (non-strict) sql_mode lets through.
        for _ in range(2):
            self.db.execute(
                "INSERT INTO users_main (ID, Uploaded, Downloaded) VALUES (201, 10, 3) "
                "ON DUPLICATE KEY UPDATE Uploaded = Uploaded + VALUES(Uploaded), "
                "Downloaded = Downloaded + VALUES(Downloaded);"
                "INSERT INTO torrents (ID,Seeders,Leechers,Snatched,Balance) "
                "VALUES (201,1,2,1,0) ON DUPLICATE KEY UPDATE Seeders=VALUES(Seeders), "
                "Leechers=VALUES(Leechers), Snatched=Snatched+VALUES(Snatched), "
                "Balance=VALUES(Balance), last_action = "
                "IF(VALUES(Seeders) > 0, NOW(), last_action);"
                "INSERT INTO users_freeleeches (UserID, TorrentID, Downloaded) "
                "VALUES (201, 201, 7) ON DUPLICATE KEY UPDATE "
                "Downloaded = Downloaded + VALUES(Downloaded)")
        self.assertEqual(self.db.query("SELECT Uploaded, Downloaded FROM users_main "
                                       "WHERE ID = 201"), [("20", "6")])
        self.assertEqual(self.db.query("SELECT Seeders, Leechers, Snatched, last_action > "
                                       "'2000-01-01' FROM torrents WHERE ID = 201"),
                         [("1", "2", "2", "1")])
        self.assertEqual(self.db.query("SELECT Downloaded FROM users_freeleeches "
                                       "WHERE UserID = 201"), [("14",)])
        # A peer (the raw 20-byte peer_id) and a snatch, as flush_peers and flush_snatches.
        self.db.execute("INSERT INTO xbt_files_users (uid,fid,active,uploaded,downloaded,"
                        "upspeed,downspeed,remaining,corrupt,timespent,announced,ip,peer_id,"
                        "useragent,mtime) VALUES (201,201,1,5,6,0,0,100,0,0,1,'127.0.0.1',"
                        "UNHEX('%s'),'test/1.0',UNIX_TIMESTAMP()) ON DUPLICATE KEY UPDATE "
                        "active=VALUES(active);"
                        "INSERT INTO xbt_snatched (uid, fid, tstamp, IP) "
                        "VALUES (201, 201, UNIX_TIMESTAMP(), '127.0.0.1')"
                        % PEER_ID.hex())
        self.assertEqual(self.db.query("SELECT uid, peer_id, remaining FROM xbt_files_users "
                                       "WHERE fid = 201"),
                         [("201", "0x" + PEER_ID.hex().upper(), "100")])
        self.assertEqual(self.count("SELECT COUNT(*) FROM xbt_snatched WHERE fid = 201"), 1)
        # MariaDB's default (strict) sql_mode refuses the same upsert.
        with self.assertRaisesRegex(MariaDBError, "1364.*'Username' doesn't have a default"):
            self.db.execute("SET SESSION sql_mode = 'STRICT_TRANS_TABLES';"
                            "INSERT INTO users_main (ID, Uploaded, Downloaded) "
                            "VALUES (201, 1, 1) ON DUPLICATE KEY UPDATE Uploaded = 0")

    def test_transactions(self):
        add_user(self.db, 301)
        sql = ("START TRANSACTION; UPDATE users_main SET Uploaded = %d WHERE ID = 301; %s;"
               "SELECT Uploaded FROM users_main WHERE ID = 301")
        self.assertEqual(self.db.query(sql % (5, "ROLLBACK")), [("0",)])
        self.assertEqual(self.db.query(sql % (6, "COMMIT")), [("6",)])
        # A session that ends inside a transaction (here on an error) leaves nothing.
        with self.assertRaisesRegex(MariaDBError, "nosuch"):
            self.db.execute("START TRANSACTION; UPDATE users_main SET Uploaded = 7 "
                            "WHERE ID = 301; SELECT * FROM nosuch")
        self.assertEqual(self.count("SELECT Uploaded FROM users_main WHERE ID = 301"), 6)

    def test_restart_and_kill_keep_committed_data(self):
        add_user(self.db, 401)
        port, socket_path = self.db.port, self.db.socket
        self.db.restart()  # SIGTERM, start again
        self.assertEqual(self.count("SELECT COUNT(*) FROM users_main WHERE ID = 401"), 1)
        self.db.execute("UPDATE users_main SET Uploaded = 9 WHERE ID = 401")
        self.db.kill()  # SIGKILL: InnoDB recovers the commit from its redo log
        with self.assertRaises(MariaDBError):
            self.db.query("SELECT 1")
        self.db.restart()
        self.assertEqual(self.count("SELECT Uploaded FROM users_main WHERE ID = 401"), 9)
        self.assertEqual((self.db.port, self.db.socket), (port, socket_path))

    def starling_cli(self, *where, password=None):
        """The mariadb CLI logged in as the starling user: who it is and what it sees."""
        return subprocess.run(
            [self.db.bins["mariadb"], "--no-defaults", *where, "--user=" + self.db.user,
             "--password=" + (password or self.db.password), "--batch",
             "--skip-column-names", "--execute=SELECT CURRENT_USER(), COUNT(*) "
             "FROM xbt_client_whitelist", self.db.database],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)

    def test_starling_user_logs_in_over_tcp_and_socket(self):
        whitelisted = self.count("SELECT COUNT(*) FROM xbt_client_whitelist")
        tcp = ("--host=" + self.db.host, "--port=%d" % self.db.port, "--protocol=tcp")
        for where, account in ((tcp, "starling@127.0.0.1"),
                               (("--socket=" + self.db.socket,), "starling@localhost")):
            r = self.starling_cli(*where)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, "%s\t%d\n" % (account, whitelisted))
        r = self.starling_cli(*tcp, password="wrong")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Access denied", r.stderr)


if __name__ == "__main__":
    unittest.main()
