"""The command line, config validation (exit status 2 naming the key) and environment
overrides."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (STARLING_ENV_VARS, STORAGE_UNAVAILABLE, RedisServer, Starling,
                     aggregator_bin, announce, announce_reply, compact4, failure, free_port,
                     key, random_hash, random_peer_id, require_aggregator, require_binary,
                     run_starling, source_dir, starling_bin)


class CliTest(unittest.TestCase):
    def setUp(self):
        require_binary()
        self.dir = tempfile.mkdtemp(prefix="starling-cli-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        # A port nothing listens on, so a config wrongly accepted cannot reach anything.
        self.dead_port = free_port()

    def write(self, name, content):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(content if isinstance(content, str) else json.dumps(content))
        return path

    def bad(self, cfg):
        """A bad config with harmless listen/redis settings around it."""
        full = {"http_listen_addr": "127.0.0.1:0",
                "redis": {"host": "127.0.0.1", "port": self.dead_port}}
        for k, v in cfg.items():
            if k == "redis":
                full["redis"] = dict(full["redis"], **v)
            else:
                full[k] = v
        return full

    def test_version(self):
        rc, out, err = run_starling(["--version"])
        self.assertEqual(rc, 0, err)
        with open(os.path.join(source_dir(), "CMakeLists.txt")) as f:
            version = re.search(r"project\(starling VERSION ([0-9.]+)", f.read()).group(1)
        self.assertIn(version, out + err)

    def test_help(self):
        rc, out, err = run_starling(["--help"])
        self.assertEqual(rc, 0, err)
        for option in ("--config", "--check-config", "--version"):
            self.assertIn(option, out + err)

    def test_unknown_option(self):
        rc, out, err = run_starling(["--no-such-option"])
        self.assertNotEqual(rc, 0)
        self.assertNotIn("http listening", err)

    def test_repo_config_is_valid(self):
        path = os.path.join(source_dir(), "config.json")
        self.assertTrue(os.path.exists(path), "the repo has no config.json")
        rc, out, err = run_starling(["--config", path, "--check-config"])
        self.assertEqual(rc, 0, err)

    def test_repo_config_is_the_default(self):
        # README: config.json is the documented default. Spot-check the documented values.
        path = os.path.join(source_dir(), "config.json")
        self.assertTrue(os.path.exists(path), "the repo has no config.json")
        with open(path) as f:
            cfg = json.load(f)
        documented = {"announce": "30m", "min_announce": "15m", "default_num_want": 50,
                      "max_num_want": 200, "allow_ip_spoofing": False,
                      "dual_stacked_peers": True, "respect_af": False,
                      "purge_inactive_torrents": True, "allow_full_scrape": False,
                      "max_scrape_hashes": 74, "real_ip_header": "", "trusted_proxies": [],
                      "http_read_timeout": "30s", "http_write_timeout": "10s",
                      "http_request_timeout": "5s", "http_listen_limit": 4096,
                      "http_max_request_bytes": 8192, "log_level": "info",
                      "local_subnet_priority": False, "local_subnet_v4_prefix": 24,
                      "local_subnet_v6_prefix": 48, "local_subnet_cidrs": []}
        for k, v in documented.items():
            if k in cfg:
                self.assertEqual(cfg[k], v, k)

    def test_minimal_configs_are_valid(self):
        for text in ("{}", '{"redis": {}}'):
            rc, out, err = run_starling(["--config", self.write("c.json", text),
                                         "--check-config"])
            self.assertEqual(rc, 0, "%s: %s" % (text, err))

    def test_every_documented_key_accepted(self):
        cfg = {"announce": "1h30m", "min_announce": "1.5s", "default_num_want": 10,
               "max_num_want": 1000, "allow_ip_spoofing": True, "dual_stacked_peers": False,
               "respect_af": True, "purge_inactive_torrents": False, "allow_full_scrape": True,
               "max_scrape_hashes": 10, "real_ip_header": "X-Real-IP",
               "trusted_proxies": ["10.0.0.0/8", "::1/128", "127.0.0.1"],
               "http_listen_addr": ["127.0.0.1:0", "[::1]:0"], "http_read_timeout": "250ms",
               "http_write_timeout": "1s", "http_request_timeout": "2s",
               "http_listen_limit": 16, "http_max_request_bytes": 4096, "log_level": "warn",
               "local_subnet_priority": True, "local_subnet_v4_prefix": 16,
               "local_subnet_v6_prefix": 56, "local_subnet_cidrs": ["100.64.0.0/10", "fd00::/8"],
               "redis": {"url": "redis://u:p@127.0.0.1:%d/3" % self.dead_port,
                         "host": "127.0.0.1", "port": self.dead_port, "unix_socket": "",
                         "user": "", "password": "", "db": 1, "connect_timeout": "1s",
                         "command_timeout": "500ms", "connections": 3}}
        rc, out, err = run_starling(["--config", self.write("c.json", cfg), "--check-config"])
        self.assertEqual(rc, 0, err)
        cfg["http_listen_addr"] = "127.0.0.1:0,[::1]:0"
        rc, out, err = run_starling(["--config", self.write("c.json", cfg), "--check-config"])
        self.assertEqual(rc, 0, err)

    BAD = [
        ("bogus_key", {"bogus_key": 1}),
        ("hots", {"redis": {"hots": "127.0.0.1"}}),
        ("announce", {"announce": "5x"}),
        ("announce", {"announce": "-5m"}),
        ("min_announce", {"min_announce": ""}),
        ("command_timeout", {"redis": {"command_timeout": "fast"}}),
        ("trusted_proxies", {"trusted_proxies": ["10.0.0.0/33"]}),
        ("trusted_proxies", {"trusted_proxies": ["not-a-cidr"]}),
        ("max_num_want", {"max_num_want": "5"}),
        ("max_num_want", {"max_num_want": 1001}),
        ("allow_ip_spoofing", {"allow_ip_spoofing": "yes"}),
        ("local_subnet_v4_prefix", {"local_subnet_v4_prefix": 33}),
        ("local_subnet_cidrs", {"local_subnet_cidrs": ["100.64.0.0/33"]}),
        ("http_listen_addr", {"http_listen_addr": "nonsense"}),
        ("http_listen_addr", {"http_listen_addr": "127.0.0.1:70000"}),
        ("log_level", {"log_level": "verbose"}),
        ("port", {"redis": {"port": "6379"}}),
    ]

    def test_bad_values_exit_2_naming_the_key(self):
        for name, cfg in self.BAD:
            path = self.write("bad.json", self.bad(cfg))
            for args in (["--config", path, "--check-config"], ["--config", path]):
                with self.subTest(config=cfg, args=args[2:]):
                    rc, out, err = run_starling(args)
                    self.assertEqual(rc, 2, "%s: rc %d, stderr %r" % (cfg, rc, err))
                    self.assertIn(name, err)
                    self.assertNotIn("http listening", err)

    def test_unreadable_files_exit_2(self):
        for args in (["--config", self.write("broken.json", '{"announce": "30m",')],
                     ["--config", self.write("list.json", "[]")],
                     ["--config", os.path.join(self.dir, "missing.json")]):
            for extra in (["--check-config"], []):
                rc, out, err = run_starling(args + extra)
                self.assertEqual(rc, 2, "%s: %r" % (args + extra, err))
                self.assertTrue(err.strip(), "no message on stderr")

    def test_bad_environment_exits_2(self):
        good = self.write("good.json", self.bad({}))
        for var, value in (("STARLING_LOG_LEVEL", "loud"),
                           ("STARLING_REDIS_URL", "http://127.0.0.1:1"),
                           ("STARLING_HTTP_LISTEN_ADDR", "nonsense")):
            rc, out, err = run_starling(["--config", good, "--check-config"], env={var: value})
            self.assertEqual(rc, 2, "%s=%s: %r" % (var, value, err))
            self.assertIn(var, err)

    def test_errors_never_show_values(self):
        # README: an error names the file, the line and column or the key; never a value,
        # which may be a secret under the wrong key or on a broken line.
        secret = "hunter2-0123456789"
        cases = [
            # The issue's example: jansson would say `unexpected newline near '"hunter2...`.
            ('{"udp_secret": "%s\n"}' % secret, ":1:34: line break inside a string"),
            ('{"redis": {"password": %s}}' % secret, ":1:"),
            ('{"udp_secret": "%s", "udp_secret": "%s"}' % (secret, secret),
             ":1:49: duplicate key"),
            ('{\n  "log_level": "%s"\n}' % secret[:7], ': "log_level": bad value'),
            ('{"announce": "%s"}' % secret, ': "announce": bad duration'),
            ('{"trusted_proxies": ["%s"]}' % secret, ': "trusted_proxies[0]": not an address'),
            ('{"redis": {"url": "redis://:%s@h:99999"}}' % secret, ': "redis.url": bad port'),
        ]
        for text, want in cases:
            path = self.write("bad.json", text)
            with self.subTest(config=text):
                rc, out, err = run_starling(["--config", path, "--check-config"])
                self.assertEqual(rc, 2, err)
                self.assertIn("starling: config: " + path + want, err)
                self.assertNotIn("hunter", out + err)
        good = self.write("good.json", self.bad({}))
        for var, value in (("STARLING_REDIS_URL", "redis://:%s@h:99999" % secret),
                           ("STARLING_REDIS_URL", secret),
                           ("STARLING_METRICS_LISTEN_ADDR", secret),
                           ("STARLING_LOG_LEVEL", secret),
                           ("STARLING_AGGREGATOR_INTERVAL", secret)):
            with self.subTest(var=var, value=value):
                rc, out, err = run_starling(["--config", good, "--check-config"],
                                            env={var: value})
                self.assertEqual(rc, 2, err)
                self.assertIn(var, err)
                self.assertNotIn("hunter", out + err)

    def test_short_udp_secret_refused(self):
        # A short secret could be found offline from one connect reply: exit 2, saying how
        # to make a good one; empty (a random per-process secret) stays allowed.
        how = "head -c 32 /dev/urandom | base64"
        for key in ("udp_secret", "udp_previous_secret"):
            for secret in ("x", "fifteen-bytes!!"):
                path = self.write("bad.json", self.bad({"udp_secret": "s" * 16, key: secret}))
                with self.subTest(key=key, secret=secret):
                    rc, out, err = run_starling(["--config", path, "--check-config"])
                    self.assertEqual(rc, 2, err)
                    self.assertIn(key + ": shorter than 16 bytes", err)
                    self.assertIn(how, err)
                    self.assertNotIn(secret, err.replace(key, ""))
        for var in ("STARLING_UDP_SECRET", "STARLING_UDP_PREVIOUS_SECRET"):
            rc, out, err = run_starling(["--check-config"],
                                        env={var: "fifteen-bytes!!",
                                             "STARLING_REDIS_URL": "redis://127.0.0.1:1"})
            self.assertEqual(rc, 2, err)
            self.assertIn(how, err)
        for secret in ("", "sixteen-bytes!!!", "a" * 255):
            path = self.write("good.json", self.bad({"udp_secret": secret,
                                                     "udp_previous_secret": secret}))
            rc, out, err = run_starling(["--config", path, "--check-config"])
            self.assertEqual(rc, 0, err)

    def test_starling_config_variable(self):
        good = self.write("good.json", self.bad({}))
        bad = self.write("bad.json", self.bad({"bogus_key": 1}))
        rc, out, err = run_starling(["--check-config"], env={"STARLING_CONFIG": good})
        self.assertEqual(rc, 0, err)
        rc, out, err = run_starling(["--check-config"], env={"STARLING_CONFIG": bad})
        self.assertEqual(rc, 2, err)
        self.assertIn("bogus_key", err)
        # --config beats STARLING_CONFIG.
        rc, out, err = run_starling(["--config", good, "--check-config"],
                                    env={"STARLING_CONFIG": bad})
        self.assertEqual(rc, 0, err)


class SharedCliTest(unittest.TestCase):
    """The command line both binaries share (common/process.c): the same options, messages
    and exit statuses, each under its own name; the aggregator adds --once."""

    def setUp(self):
        require_binary()
        require_aggregator()
        self.dir = tempfile.mkdtemp(prefix="starling-cli-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        with open(os.path.join(source_dir(), "CMakeLists.txt")) as f:
            self.version = re.search(r"project\(starling VERSION ([0-9.]+)", f.read()).group(1)

    def binaries(self):
        for name, path, own in (("starling", starling_bin(), ()),
                                ("starling-aggregator", aggregator_bin(), ("--once",))):
            with self.subTest(binary=name):
                yield name, path, own

    def run_binary(self, path, args):
        env = {k: v for k, v in os.environ.items() if k not in STARLING_ENV_VARS}
        p = subprocess.run([path] + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                           env=env, timeout=10)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

    def write(self, cfg):
        path = os.path.join(self.dir, "c.json")
        with open(path, "w") as f:
            json.dump(dict(cfg, redis={"host": "127.0.0.1", "port": free_port()}), f)
        return path

    def assert_usage(self, text, name, own):
        self.assertTrue(text.startswith("usage: %s [--config PATH]" % name), text)
        for option in ("--config PATH", "--check-config", "--help", "--version") + own:
            self.assertIn("\n  %s " % option, text)
        for line in text.splitlines():
            self.assertLessEqual(len(line), 80, line)

    def test_help_and_version(self):
        for name, path, own in self.binaries():
            for flag in ("--help", "-h"):
                rc, out, err = self.run_binary(path, [flag])
                self.assertEqual((rc, err), (0, ""))
                self.assert_usage(out, name, own)
            for flag in ("--version", "-v"):
                self.assertEqual(self.run_binary(path, [flag]),
                                 (0, "%s %s\n" % (name, self.version), ""))

    def test_bad_command_lines_exit_2_with_the_usage(self):
        for name, path, own in self.binaries():
            rc, out, err = self.run_binary(path, ["--no-such-option"])
            self.assertEqual((rc, out), (2, ""))
            self.assertIn("usage: %s" % name, err)
            rc, out, err = self.run_binary(path, ["--check-config", "stray"])
            self.assertEqual((rc, out), (2, ""))
            first, rest = err.split("\n", 1)
            self.assertEqual(first, '%s: unexpected argument "stray"' % name)
            self.assert_usage(rest, name, own)
            rc, out, err = self.run_binary(path, ["--config"])
            self.assertEqual(rc, 2, err)

    def test_config(self):
        for name, path, own in self.binaries():
            good = self.write({})
            rc, out, err = self.run_binary(path, ["--config", good, "--check-config"])
            self.assertEqual((rc, err), (0, ""))
            self.assertTrue(out.startswith("%s: config ok" % name), out)
            bad = self.write({"bogus_key": 1})
            for extra in (["--check-config"], own):
                rc, out, err = self.run_binary(path, ["--config", bad] + list(extra))
                self.assertEqual((rc, out), (2, ""))
                self.assertTrue(err.startswith("%s: config: " % name), err)
                self.assertIn("bogus_key", err)

    def test_unopenable_log_file_exits_1(self):
        for name, path, own in self.binaries():
            log = os.path.join(self.dir, "missing-dir", "x.log")
            rc, out, err = self.run_binary(path, ["--config", self.write({"log_file": log})]
                                           + list(own))
            self.assertEqual((rc, out), (1, ""))
            self.assertEqual(err, '%s: log_file "%s": cannot open\n' % (name, log))


class EnvOverrideTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_binary()
        cls.redis = RedisServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.redis.cleanup()

    def run_tracker(self, config, env, **kw):
        t = Starling(None, config, env=env, **kw)

        def stop():
            report = t.cleanup()
            self.assertIsNone(report, "sanitizer report in starling log")
        self.addCleanup(stop)
        return t

    def redis_cfg(self, port):
        return {"host": "127.0.0.1", "port": port, "command_timeout": "300ms",
                "connect_timeout": "300ms"}

    def test_listen_addr_from_env(self):
        port = free_port()
        t = self.run_tracker({"http_listen_addr": "127.0.0.1:0",
                              "redis": self.redis_cfg(self.redis.port)},
                             {"STARLING_HTTP_LISTEN_ADDR": "127.0.0.1:%d" % port}).start()
        self.assertEqual(t.listeners, [("127.0.0.1", port)])
        lines = [l for l in t.log().splitlines() if "http listening on" in l]
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], r'^ts=\S+ level=info msg="http listening on 127\.0\.0\.1:%d"$'
                         % port)
        r = announce(port, random_hash(), random_peer_id(), 6881)
        self.assertEqual(r.body, announce_reply(0, 1))

    def test_listen_addr_list_from_env(self):
        p1, p2 = free_port(), free_port()
        while p2 == p1:
            p2 = free_port()
        t = self.run_tracker({"redis": self.redis_cfg(self.redis.port)},
                             {"STARLING_HTTP_LISTEN_ADDR": "127.0.0.1:%d,127.0.0.1:%d" % (p1, p2)}
                             ).start()
        self.assertEqual(sorted(t.listeners), sorted([("127.0.0.1", p1), ("127.0.0.1", p2)]))
        h = random_hash()
        self.assertEqual(announce(p1, h, random_peer_id(), 7001).body, announce_reply(0, 1))
        self.assertEqual(announce(p2, h, random_peer_id(), 7002).body,
                         announce_reply(0, 2, bytes([127, 0, 0, 1]) + (7001).to_bytes(2, "big")))

    def test_empty_variable_ignored(self):
        port = free_port()
        t = self.run_tracker({"http_listen_addr": "127.0.0.1:%d" % port,
                              "redis": self.redis_cfg(self.redis.port)},
                             {"STARLING_HTTP_LISTEN_ADDR": "", "STARLING_REDIS_URL": ""}).start()
        self.assertEqual(t.listeners, [("127.0.0.1", port)])

    def test_redis_url_from_env(self):
        dead = free_port()
        t = self.run_tracker({"redis": self.redis_cfg(dead)},
                             {"STARLING_REDIS_URL": "redis://127.0.0.1:%d/1" % self.redis.port})
        t.start()  # waits until announces are answered by redis
        h = random_hash()
        r = announce(t.port, h, random_peer_id(), 6881)
        self.assertEqual(r.body, announce_reply(0, 1))
        with self.redis.client() as c:
            self.assertEqual(c.call("EXISTS", key(h, "leechers")), 0)  # not in db 0
            self.assertEqual(c.call("SELECT", "1"), b"OK")
            self.assertEqual(c.call("EXISTS", key(h, "leechers")), 1)


class RedisConnectionConfigTest(unittest.TestCase):
    """redis.password / STARLING_REDIS_PASSWORD, redis.unix_socket and unix:// URLs."""

    def run_tracker(self, redis_cfg, env=None):
        t = Starling(None, {"redis": dict({"command_timeout": "300ms",
                                           "connect_timeout": "300ms"}, **redis_cfg)},
                     env=env)

        def stop():
            report = t.cleanup()
            self.assertIsNone(report, "sanitizer report in starling log")
        self.addCleanup(stop)
        return t

    def redis(self, **kw):
        require_binary()
        r = RedisServer(**kw)
        self.addCleanup(r.cleanup)
        return r.start()

    def test_password(self):
        r = self.redis(password="s3cret")
        t = self.run_tracker({"port": r.port}, env={"STARLING_REDIS_PASSWORD": "s3cret"}).start()
        h = random_hash()
        self.assertEqual(announce(t.port, h, random_peer_id(), 6881).body, announce_reply(0, 1))
        with r.client() as c:
            self.assertEqual(c.call("EXISTS", key(h, "leechers")), 1)
        t2 = self.run_tracker({"port": r.port, "password": "s3cret"}).start()
        self.assertEqual(announce(t2.port, h, random_peer_id(), 6882).body,
                         announce_reply(0, 2, compact4("127.0.0.1", 6881)))

    def test_wrong_password(self):
        r = self.redis(password="s3cret")
        t = self.run_tracker({"port": r.port, "password": "wrong"}).start(wait_ready=False)
        time.sleep(0.5)
        for _ in range(2):
            res = announce(t.port, random_hash(), random_peer_id(), 6881, timeout=5.0)
            self.assertEqual(res.body, failure(STORAGE_UNAVAILABLE))
        t.assert_alive()

    def test_unix_socket(self):
        r = self.redis(unix_socket=True)
        t = self.run_tracker({"host": "127.0.0.1", "port": free_port(),
                              "unix_socket": r.unix_socket}).start()
        h = random_hash()
        self.assertEqual(announce(t.port, h, random_peer_id(), 6881).body, announce_reply(0, 1))
        with r.client() as c:
            self.assertEqual(c.call("EXISTS", key(h, "leechers")), 1)

    def test_unix_url_with_db(self):
        r = self.redis(unix_socket=True)
        t = self.run_tracker({"url": "unix://%s?db=2" % r.unix_socket}).start()
        h = random_hash()
        self.assertEqual(announce(t.port, h, random_peer_id(), 6881).body, announce_reply(0, 1))
        with r.client() as c:
            self.assertEqual(c.call("EXISTS", key(h, "leechers")), 0)
            self.assertEqual(c.call("SELECT", "2"), b"OK")
            self.assertEqual(c.call("EXISTS", key(h, "leechers")), 1)


if __name__ == "__main__":
    unittest.main()
