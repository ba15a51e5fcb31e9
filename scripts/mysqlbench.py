#!/usr/bin/env python3
"""Measures driver "mysql" under announce load: deltas applied per second, MySQL CPU per
1,000 announces and the accounting lag, at the default flush interval (3 s).

    scripts/mysqlbench.py [--users N] [--torrents N] [--seconds S] [--connections C]

Starts, on loopback and in temp dirs (stopped by PID): a mariadbd with Gazelle's tables
(tests/fixtures/gazelle_schema.sql) holding N users and N torrents (the passkeys and
info_hashes of scripts/bench/hashes.py, so scripts/bench/tracker.lua's private mode
announces as them), a redis-server, one private-mode frontend and one aggregator with
driver "mysql" (defaults but for the database's address). Then wrk (one thread, C
connections, the steady workload over a pool of 100,000 peers) announces for S seconds,
and the script waits until every delta reached MySQL. Prints the figures; exits non-zero
when an announce failed.

Needs a build (build/starling, build/starling-aggregator: STARLING_BIN /
STARLING_AGGREGATOR_BIN), wrk, mariadb-server and redis-server (scripts/test.sh installs
them). Bounded: the load runs S seconds, every wait has a timeout.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "scripts", "bench"))
import promtext  # noqa: E402
from harness import (Aggregator, RedisServer, Starling, http_get,  # noqa: E402
                     wait_until)
from hashes import ih_bytes, passkey  # noqa: E402
import mariadb  # noqa: E402
from mariadb import MariaDB  # noqa: E402


SITE = "MysqlBench0123456789abcdefABCDEF"
TICKS = os.sysconf("SC_CLK_TCK")
PEERS = 100000


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def metric(port, name, default=0):
    """A value of the aggregator's /metrics, or default when it does not answer in time."""
    try:
        r = http_get(port, "/metrics")
    except OSError:
        return default
    return promtext.value(promtext.parse(r.body), name) or 0


def load_site(db, users, torrents):
    """The site's rows, as a site inserts them, in multi-row INSERTs."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        for start in range(0, users, 5000):
            rows = ["(%d, 'u%d', 'u%d@example.org', 'x', 's', '', 2, '%s', '1')"
                    % (u + 1, u, u, passkey(u)) for u in range(start, min(users, start + 5000))]
            f.write("INSERT INTO users_main (ID, Username, Email, PassHash, Secret, Title, "
                    "PermissionID, torrent_pass, Enabled) VALUES %s;\n" % ", ".join(rows))
        for start in range(0, torrents, 5000):
            rows = ["(%d, 1, 1, X'%s', 1, 'a', 1000000, NOW())" % (i + 1, ih_bytes(i).hex())
                    for i in range(start, min(torrents, start + 5000))]
            f.write("INSERT INTO torrents (ID, GroupID, UserID, info_hash, FileCount, FileList, "
                    "Size, Time) VALUES %s;\n" % ", ".join(rows))
        path = f.name
    try:
        db.execute_file(path)
    finally:
        os.unlink(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=100000)
    ap.add_argument("--torrents", type=int, default=100000)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--connections", type=int, default=32)
    # A site's database is sized for its data (the tests' 32M pool measures the disk, not
    # the driver: a way to see a slow database).
    ap.add_argument("--buffer-pool", default="1G", help="innodb_buffer_pool_size")
    args = ap.parse_args()
    mariadb.INNODB_OPTIONS = ["--innodb-buffer-pool-size=" + args.buffer_pool,
                              "--innodb-log-file-size=256M"]
    os.environ.setdefault("STARLING_BIN", os.path.join(ROOT, "build", "starling"))
    os.environ.setdefault("STARLING_AGGREGATOR_BIN",
                          os.path.join(ROOT, "build", "starling-aggregator"))
    db, redis, fe, agg = MariaDB(), RedisServer(), None, None
    try:
        t0 = time.time()
        db.start()
        db.execute_file(os.path.join(ROOT, "tests", "fixtures", "gazelle_schema.sql"))
        load_site(db, args.users, args.torrents)
        print("site: %d users, %d torrents loaded into MariaDB in %.1f s"
              % (args.users, args.torrents, time.time() - t0))
        redis.start()
        config = {"private_enabled": True, "site_password": SITE, "driver": "mysql",
                  "mysql": {"host": "127.0.0.1", "port": db.port, "user": db.user,
                            "database": db.database}}
        fe = Starling(redis, config).start(wait_ready=False)
        t1 = time.time()
        agg = Aggregator(redis, config, env={"STARLING_MYSQL_PASSWORD": db.password}).start()
        wait_until(lambda: metric(agg.metrics_port, "starling_aggregator_mysql_reloads_total") >= 1,
                   600, interval=0.2, what="the first reload")
        print("reload: %.1f s for the first load into Redis (aggregator RSS %s)"
              % (time.time() - t1, open("/proc/%d/status" % agg.pid).read().split("VmHWM:")[1]
                 .split("\n")[0].strip()))
        wait_until(lambda: b"failure" not in http_get(
            fe.port, "/%s/announce?info_hash=%s&peer_id=-SB0001-000000000000&port=1&left=0"
            "&uploaded=0&downloaded=0&compact=1" % (passkey(0), "".join(
                "%%%02x" % b for b in ih_bytes(0)))).body, 30, what="user 0's announce")

        mysqld_cpu0, agg_cpu0 = cpu_seconds(db.proc.pid), cpu_seconds(agg.pid)
        flushes0 = metric(agg.metrics_port, "starling_aggregator_mysql_flushes_total")
        lua = os.path.join(ROOT, "scripts", "bench", "tracker.lua")
        wrk = subprocess.Popen(
            ["timeout", str(args.seconds + 60), "wrk", "-t1", "-c%d" % args.connections,
             "-d%ds" % args.seconds, "-s", lua, "http://127.0.0.1:%d/" % fe.port, "--",
             "announce", str(args.torrents), str(PEERS), "7", "steady", str(args.users)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        lag_max, unanswered = 0.0, 0
        while wrk.poll() is None:
            lag = metric(agg.metrics_port, "starling_aggregator_accounting_lag_seconds", None)
            if lag is None:
                unanswered += 1
            else:
                lag_max = max(lag_max, lag)
            time.sleep(0.5)
        out = wrk.stdout.read().decode()
        result = [line for line in out.splitlines() if line.startswith("BENCHRESULT")]
        if wrk.returncode != 0 or not result:
            print(out)
            return 1
        kv = dict(part.split("=", 1) for part in result[0].split()[1:])
        announces, failures = int(kv["requests"]), int(kv.get("failures", 0))
        t_load = time.time()

        def drained():
            return not (redis.call("KEYS", "*:acct:pending") +
                        redis.call("KEYS", "*:acct:draining"))
        wait_until(drained, 300, interval=0.2, what="every delta in MySQL")
        drain_s = time.time() - t_load
        mysqld_cpu = cpu_seconds(db.proc.pid) - mysqld_cpu0
        agg_cpu = cpu_seconds(agg.pid) - agg_cpu0
        entries = metric(agg.metrics_port, "starling_aggregator_accounting_entries_total")
        flushes = metric(agg.metrics_port, "starling_aggregator_mysql_flushes_total") - flushes0
        up = db.query("SELECT SUM(Uploaded), SUM(Downloaded) FROM users_main")[0]
        peers = db.query("SELECT COUNT(*) FROM xbt_files_users")[0][0]
        print("load: %d announces in %d s (%.0f/s), %d failures, %d connections"
              % (announces, args.seconds, announces / args.seconds, failures, args.connections))
        print("flushes: %d (every 3 s), %d peer entries applied, %.0f entries/s over the run"
              % (flushes, entries, entries / (args.seconds + drain_s)))
        print("mysqld CPU: %.2f s = %.1f ms per 1,000 announces; aggregator CPU %.2f s = "
              "%.1f ms per 1,000" % (mysqld_cpu, 1e6 * mysqld_cpu / announces, agg_cpu,
                                      1e6 * agg_cpu / announces))
        print("lag: at most %.1f s during the load; the last deltas reached MySQL %.1f s "
              "after it" % (lag_max, drain_s))
        print("flush: the longest took %.2f s; /metrics did not answer %d of its probes "
              "during the load" % (metric(agg.metrics_port,
                                          "starling_aggregator_mysql_flush_max_seconds"),
                                   unanswered))
        print("MySQL: users_main sums %s / %s, xbt_files_users %s rows"
              % (up[0], up[1], peers))
        return 0 if failures == 0 else 1
    finally:
        for p in (agg, fe):
            if p is not None:
                p.cleanup()
        redis.cleanup()
        db.cleanup()


if __name__ == "__main__":
    sys.exit(main())
