"""Shared code of the integration tests: a redis-server and starling processes in a
temp dir on free loopback ports, a tiny RESP client, raw HTTP over sockets, and a
bencode decoder.

Everything here stops only what it started, by PID, and every wait is bounded.
Python 3 standard library only.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

# Bounds of the waits below, in seconds.
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
IO_TIMEOUT = 5.0

STORAGE_UNAVAILABLE = "storage unavailable, retry later"
# Config variables of starling: scrubbed from the children's environment so the
# developer's shell cannot change what a test runs.
STARLING_ENV_VARS = ("STARLING_CONFIG", "STARLING_REDIS_URL", "STARLING_REDIS_PASSWORD",
                     "STARLING_REDIS_CLUSTER_NODES",
                     "STARLING_HTTP_LISTEN_ADDR", "STARLING_LOG_LEVEL", "STARLING_LOG_FILE",
                     "STARLING_METRICS_LISTEN_ADDR", "STARLING_AGGREGATOR_INTERVAL",
                     "STARLING_UDP_LISTEN_ADDR", "STARLING_UDP_SECRET",
                     "STARLING_UDP_PREVIOUS_SECRET")
# A sanitizer report in a starling log means a memory or UB bug, whatever the replies were.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def starling_bin():
    path = os.environ.get("STARLING_BIN")
    if not path:
        src = source_dir()
        path = os.path.join(src, "build", "starling")
    return os.path.abspath(path)


def require_binary():
    """Skips when no binary was named and none is built; fails when STARLING_BIN names a
    missing file (ctest always names the built one)."""
    path = starling_bin()
    if os.path.exists(path):
        return
    if os.environ.get("STARLING_BIN"):
        raise AssertionError("STARLING_BIN=%s does not exist" % path)
    raise unittest.SkipTest("starling binary not built: %s" % path)


def source_dir():
    src = os.environ.get("STARLING_SOURCE_DIR")
    if src:
        return src
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def redis_server_bin():
    if os.path.exists("/usr/bin/redis-server"):
        return "/usr/bin/redis-server"
    found = shutil.which("redis-server")
    if not found:
        raise unittest.SkipTest("redis-server not installed")
    return found


def free_port(host="127.0.0.1", family=socket.AF_INET):
    """A port the kernel just handed out (bind 0, read it back, close)."""
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def ipv6_available():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Polls pred() until it returns a true value (returned) or timeout seconds pass
    (AssertionError)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def metrics_port_from_log(read_log, who, timeout=10):
    """The port in the process's 'metrics listening on' line, waiting for the line: a process
    may be ready for tracker requests a moment before it logs its metrics listener."""
    def found():
        return METRICS_RE.findall(read_log())
    try:
        return int(wait_until(found, timeout, what="'metrics listening on'")[0][1])
    except AssertionError:
        raise AssertionError("no 'metrics listening on' in the %s log:\n%s"
                             % (who, read_log()[-2000:])) from None


def stop_pid(proc, timeout=STOP_TIMEOUT):
    """SIGTERM, wait, SIGKILL: for a Popen we started ourselves."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
    except ProcessLookupError:
        pass


def commandstats(redis, command):
    """calls= of one command in INFO commandstats (0 when never called)."""
    info = redis.call("INFO", "commandstats").decode()
    for line in info.splitlines():
        if line.startswith("cmdstat_%s:" % command):
            for field in line.split(":", 1)[1].split(","):
                k, _, v = field.partition("=")
                if k == "calls":
                    return int(v)
    return 0


def sanitized_binary(path=None):
    """Whether the binary (starling's by default) is built with AddressSanitizer. Its
    allocator keeps freed memory in quarantine and pads every block, so RSS says nothing
    about the program's own memory: memory bounds are checked on normal builds only."""
    with open(path or starling_bin(), "rb") as f:
        return b"__asan_init" in f.read()


def rss_bytes(pid):
    """Resident memory of a process (VmRSS), in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for pid %d" % pid)


def random_hash():
    return os.urandom(20)


def random_peer_id():
    return b"-ST0001-" + os.urandom(12)


# ---------------------------------------------------------------------------
# RESP client

class RedisError(Exception):
    pass


class RespClient:
    """A blocking RESP2 client: binary-safe bulk strings, arrays, ints, errors.
    An error reply is returned as a RedisError instance (not raised) so tests can
    assert on it; call() raises it instead."""

    def __init__(self, port, host="127.0.0.1", timeout=IO_TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @staticmethod
    def encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            elif isinstance(a, int):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def send(self, *args):
        """Sends one command without reading its reply (see read_reply)."""
        self.sock.sendall(self.encode(args))

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("redis closed the connection")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read_reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return RedisError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read_reply() for _ in range(n)]
        raise ConnectionError("bad RESP line %r" % line)

    def execute(self, *args):
        self.send(*args)
        return self.read_reply()

    def call(self, *args):
        reply = self.execute(*args)
        if isinstance(reply, RedisError):
            raise reply
        return reply


# ---------------------------------------------------------------------------
# redis-server

class RedisServer:
    """A redis-server on 127.0.0.1:<free port>, data dir in its own temp dir."""

    def __init__(self, port=None, password=None, unix_socket=False):
        self.port = port or free_port()
        self.password = password
        self.dir = tempfile.mkdtemp(prefix="starling-redis-")
        self.unix_socket = os.path.join(self.dir, "redis.sock") if unix_socket else None
        self.proc = None
        self.log_path = os.path.join(self.dir, "redis.log")
        self.conf_path = os.path.join(self.dir, "redis.conf")
        with open(self.conf_path, "w") as f:
            f.write("port %d\n" % self.port)
            f.write("bind 127.0.0.1\n")
            f.write('save ""\n')
            f.write("appendonly no\n")
            f.write("dir %s\n" % self.dir)
            f.write("pidfile %s\n" % os.path.join(self.dir, "redis.pid"))
            f.write("daemonize no\n")
            f.write("logfile %s\n" % self.log_path)
            f.write("enable-debug-command yes\n")
            if password:
                f.write("requirepass %s\n" % password)
            if self.unix_socket:
                f.write("unixsocket %s\nunixsocketperm 700\n" % self.unix_socket)

    def start(self):
        assert self.proc is None or self.proc.poll() is not None
        self.proc = subprocess.Popen([redis_server_bin(), self.conf_path],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, cwd=self.dir)

        def pong():
            if self.proc.poll() is not None:
                raise AssertionError("redis-server exited with %s: %s"
                                     % (self.proc.returncode, self.log_tail()))
            try:
                with self.client(timeout=1.0) as c:
                    return c.execute("PING") == b"PONG"
            except (OSError, RedisError):
                return False
        wait_until(pong, START_TIMEOUT, what="redis-server to answer PING")
        return self

    def log_tail(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def client(self, timeout=IO_TIMEOUT):
        c = RespClient(self.port, timeout=timeout)
        if self.password:
            c.call("AUTH", self.password)
        return c

    def call(self, *args):
        with self.client() as c:
            return c.call(*args)

    def stop(self):
        stop_pid(self.proc)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------
# starling

LISTEN_RE = re.compile(r'http listening on (\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d+)')
METRICS_RE = re.compile(r'metrics listening on (\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d+)')
UDP_LISTEN_RE = re.compile(r'udp listening on (\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d+)')


class Starling:
    """One starling process. `config` is written as JSON (the redis host/port of
    `redis` are filled in unless the config names them). Ports of the listeners are
    parsed from the log into self.listeners: [(host, port)], host without brackets."""

    def __init__(self, redis=None, config=None, env=None, args=None, expect_listeners=None,
                 preexec_fn=None):
        # preexec_fn: run in the child before the binary (e.g. to set a resource limit).
        self.preexec_fn = preexec_fn
        self.dir = tempfile.mkdtemp(prefix="starling-")
        self.config = dict(config or {})
        self.config.setdefault("http_listen_addr", "127.0.0.1:0")
        # Many processes run at once: the metrics endpoint gets a free port too.
        self.config.setdefault("metrics_listen_addr", "127.0.0.1:0")
        self.config.setdefault("udp_listen_addr", "127.0.0.1:0")
        if redis is not None:
            rc = dict(self.config.get("redis", {}))
            if "url" not in rc:
                rc.setdefault("host", "127.0.0.1")
                rc.setdefault("port", redis.port)
            rc.setdefault("command_timeout", "300ms")
            rc.setdefault("connect_timeout", "300ms")
            self.config["redis"] = rc
        self.config_path = os.path.join(self.dir, "config.json")
        with open(self.config_path, "w") as f:
            json.dump(self.config, f, indent=2)
        self.log_path = os.path.join(self.dir, "starling.log")
        self.env = env or {}
        self.args = args
        if expect_listeners is None:
            addrs = self.env.get("STARLING_HTTP_LISTEN_ADDR") or self.config["http_listen_addr"]
            if isinstance(addrs, str):
                addrs = [a for a in addrs.split(",") if a.strip()]
            expect_listeners = len(addrs)
        self.expect_listeners = expect_listeners
        self.proc = None
        self.listeners = []

    @property
    def port(self):
        """The port of the first IPv4 listener (or the first listener)."""
        for host, port in self.listeners:
            if ":" not in host:
                return port
        return self.listeners[0][1]

    def addr(self, family=socket.AF_INET):
        for host, port in self.listeners:
            if (":" in host) == (family == socket.AF_INET6):
                return host, port
        raise AssertionError("no listener of family %s in %r" % (family, self.listeners))

    @property
    def udp_listeners(self):
        """[(host, port)] of the UDP (BEP 15) sockets, from the log's `udp listening on`
        lines (host without brackets); waits (bounded) for the first one."""
        def found():
            self.assert_alive()
            return UDP_LISTEN_RE.findall(self.log())
        hits = wait_until(found, START_TIMEOUT, what="starling to log 'udp listening on'")
        return [(h.strip("[]"), int(p)) for h, p in hits]

    def udp_addr(self, family=socket.AF_INET):
        """(host, port) of the first UDP socket of that family."""
        for host, port in self.udp_listeners:
            if (":" in host) == (family == socket.AF_INET6):
                return host, port
        raise AssertionError("no UDP socket of family %s in %r" % (family, self.udp_listeners))

    @property
    def udp_port(self):
        """The port of the first IPv4 UDP socket."""
        return self.udp_addr(socket.AF_INET)[1]

    @property
    def metrics_port(self):
        """The port of the /metrics endpoint, from the log."""
        return metrics_port_from_log(self.log, "starling")

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def start(self, wait_ready=True):
        env = {k: v for k, v in os.environ.items() if k not in STARLING_ENV_VARS}
        env.update(self.env)
        args = self.args if self.args is not None else ["--config", self.config_path]
        self.logfile = open(self.log_path, "wb")
        self.proc = subprocess.Popen([starling_bin()] + args, stdin=subprocess.DEVNULL,
                                     stdout=self.logfile, stderr=self.logfile, env=env,
                                     cwd=self.dir, preexec_fn=self.preexec_fn)

        def listening():
            if self.proc.poll() is not None:
                raise AssertionError("starling exited with %s before listening; log:\n%s"
                                     % (self.proc.returncode, self.log()[-3000:]))
            found = LISTEN_RE.findall(self.log())
            if len(found) >= self.expect_listeners:
                return found
            return None
        found = wait_until(listening, START_TIMEOUT,
                           what="starling to log %d 'http listening on'" % self.expect_listeners)
        self.listeners = [(h.strip("[]"), int(p)) for h, p in found]
        if wait_ready:
            self.wait_ready()
        return self

    def wait_readyz(self, timeout=START_TIMEOUT):
        """Until /readyz answers 200 (Redis reached and the shared tables loaded), for
        nodes whose announces a policy may refuse."""
        wait_until(lambda: self.assert_alive() or
                   http_get(self.metrics_port, "/readyz").status == 200, timeout,
                   what="/readyz")

    def wait_ready(self, timeout=START_TIMEOUT):
        """Until an announce is answered by Redis (not `storage unavailable`)."""
        probe_hash = random_hash()
        probe_peer = random_peer_id()
        last = [None]

        def ready():
            self.assert_alive()
            try:
                r = announce(self.port, probe_hash, probe_peer, 1, event="stopped",
                             timeout=2.0)
            except OSError as e:
                last[0] = e
                return False
            last[0] = r.body
            return r.status == 200 and b"failure reason" not in r.body
        try:
            wait_until(ready, timeout, interval=0.1, what="starling to reach redis")
        except AssertionError:
            raise AssertionError("starling never became ready; last reply %r; log:\n%s"
                                 % (last[0], self.log()[-3000:]))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def assert_alive(self):
        if not self.alive():
            raise AssertionError("starling exited with %s; log:\n%s"
                                 % (self.proc.returncode if self.proc else None,
                                    self.log()[-3000:]))

    def sanitizer_report(self):
        text = self.log()
        for marker in SANITIZER_MARKERS:
            i = text.find(marker)
            if i >= 0:
                return text[max(0, i - 200):i + 3000]
        return None

    def stop(self):
        if self.alive():
            # Let it notice connections the test just closed: shutdown with open
            # connections is tested on its own (test_shutdown.py).
            time.sleep(0.1)
        stop_pid(self.proc)
        if getattr(self, "logfile", None):
            self.logfile.close()
            self.logfile = None

    def finish(self):
        """Stops the process and fails on what went wrong in it: a sanitizer report in its
        log, or its death before the stop."""
        alive = self.alive()
        log = self.log()[-3000:]
        report = self.cleanup()
        if report:
            raise AssertionError("sanitizer report in starling log:\n" + report)
        if not alive:
            raise AssertionError("starling died; log:\n" + log)

    def cleanup(self):
        """Stops the process; returns a sanitizer report found in its log, if any."""
        self.stop()
        report = self.sanitizer_report()
        shutil.rmtree(self.dir, ignore_errors=True)
        return report


# ---------------------------------------------------------------------------
# starling-aggregator

LEADER_ACQUIRED = "leader: acquired"


def aggregator_bin():
    """STARLING_AGGREGATOR_BIN, else the file starling-aggregator next to the frontend."""
    path = os.environ.get("STARLING_AGGREGATOR_BIN")
    if not path:
        path = os.path.join(os.path.dirname(starling_bin()), "starling-aggregator")
    return os.path.abspath(path)


def require_aggregator():
    """As require_binary(), for starling-aggregator: skips when it is not built (unless
    STARLING_AGGREGATOR_BIN names it, then a missing file fails)."""
    path = aggregator_bin()
    if os.path.exists(path):
        return
    if os.environ.get("STARLING_AGGREGATOR_BIN"):
        raise AssertionError("STARLING_AGGREGATOR_BIN=%s does not exist" % path)
    raise unittest.SkipTest("starling-aggregator binary not built: %s" % path)


def readme_metrics(heading):
    """{name: type} from the README's metrics table that follows the line starting with
    `heading` (e.g. "`starling` metrics"); {} when the README is not there."""
    try:
        with open(os.path.join(source_dir(), "README.md")) as f:
            text = f.read()
    except OSError:
        return {}
    out = {}
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith(heading)]
    if not starts:
        return {}
    for line in lines[starts[0] + 1:]:
        if not line.startswith("|"):
            if out:
                break
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) < 2 or cells[0] in ("name", "") or set(cells[0]) <= set("-: "):
            continue
        for name in re.findall(r"`([^`]+)`", cells[0]):
            out[re.sub(r"\{.*", "", name)] = cells[1]
    return out


class Aggregator:
    """One starling-aggregator process, configured like Starling: `config` is written as
    JSON, the redis host/port of `redis` filled in, aggregator.metrics_listen_addr
    defaults to a free loopback port. stdout and stderr go to self.log_path."""

    def __init__(self, redis=None, config=None, env=None):
        self.dir = tempfile.mkdtemp(prefix="starling-aggregator-")
        self.config = json.loads(json.dumps(config or {}))  # a deep copy
        agg = self.config.setdefault("aggregator", {})
        agg.setdefault("metrics_listen_addr", "127.0.0.1:0")
        if redis is not None:
            rc = self.config.setdefault("redis", {})
            if "url" not in rc:
                rc.setdefault("host", "127.0.0.1")
                rc.setdefault("port", redis.port)
            rc.setdefault("command_timeout", "1s")
            rc.setdefault("connect_timeout", "300ms")
        self.config_path = os.path.join(self.dir, "config.json")
        with open(self.config_path, "w") as f:
            json.dump(self.config, f, indent=2)
        self.log_path = os.path.join(self.dir, "aggregator.log")
        self.env = env or {}
        self.proc = None
        self.logfile = None

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    @property
    def pid(self):
        return self.proc.pid

    @property
    def metrics_port(self):
        return metrics_port_from_log(self.log, "aggregator")

    def _spawn(self, extra_args):
        env = {k: v for k, v in os.environ.items() if k not in STARLING_ENV_VARS}
        env.update(self.env)
        if self.logfile is None:
            self.logfile = open(self.log_path, "ab")
        self.proc = subprocess.Popen([aggregator_bin(), "--config", self.config_path]
                                     + list(extra_args), stdin=subprocess.DEVNULL,
                                     stdout=self.logfile, stderr=self.logfile, env=env,
                                     cwd=self.dir)

    def start(self):
        """A long-running aggregator; returns once its metrics endpoint listens (or at
        once when metrics are disabled)."""
        self._spawn([])
        if self.config["aggregator"].get("metrics_listen_addr", "") == "":
            return self

        def listening():
            if self.proc.poll() is not None:
                raise AssertionError("starling-aggregator exited with %s; log:\n%s"
                                     % (self.proc.returncode, self.log()[-3000:]))
            return METRICS_RE.search(self.log())
        wait_until(listening, START_TIMEOUT, what="starling-aggregator 'metrics listening on'")
        return self

    def run_once(self, timeout=START_TIMEOUT):
        """`starling-aggregator --once` to completion: its exit status."""
        self._spawn(["--once"])
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("starling-aggregator --once still running after %.0fs; "
                                 "log:\n%s" % (timeout, self.log()[-3000:]))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def assert_alive(self):
        if not self.alive():
            raise AssertionError("starling-aggregator exited with %s; log:\n%s"
                                 % (self.proc.returncode if self.proc else None,
                                    self.log()[-3000:]))

    def sanitizer_report(self):
        text = self.log()
        for marker in SANITIZER_MARKERS:
            i = text.find(marker)
            if i >= 0:
                return text[max(0, i - 200):i + 3000]
        return None

    def kill(self):
        """SIGKILL, by PID."""
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)

    def stop(self):
        stop_pid(self.proc)
        if self.logfile is not None:
            self.logfile.close()
            self.logfile = None

    def cleanup(self):
        """Stops the process; returns a sanitizer report found in its log, if any."""
        self.stop()
        report = self.sanitizer_report()
        shutil.rmtree(self.dir, ignore_errors=True)
        return report


def run_starling(args, env=None, timeout=10.0):
    """Runs the binary to completion (for CLI tests): (returncode, stdout, stderr)."""
    full_env = {k: v for k, v in os.environ.items() if k not in STARLING_ENV_VARS}
    full_env.update(env or {})
    p = subprocess.run([starling_bin()] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, env=full_env, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


# ---------------------------------------------------------------------------
# HTTP over raw sockets

def pct(data):
    """Percent-encodes every byte."""
    if isinstance(data, str):
        data = data.encode()
    return "".join("%%%02X" % b for b in data)


class Response:
    def __init__(self, version, status, reason, headers, body, raw):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # [(lowercased name, value)]
        self.body = body
        self.raw = raw

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.raw[:300])


class Conn:
    """One client connection speaking raw bytes."""

    def __init__(self, port, host="127.0.0.1", timeout=IO_TIMEOUT, source=None):
        # source: the local address to connect from (e.g. "127.0.0.3": another client).
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if source is not None:
            self.sock.bind((source, 0))
        self.sock.connect((host, port))
        self.buf = b""
        self.eof = False

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            raise ConnectionError("connection closed by server; buffered %r" % self.buf)
        self.buf += data

    def read_response(self, timeout=IO_TIMEOUT):
        """Reads one response (status line, headers, Content-Length body)."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            self._fill(max(0.01, deadline - time.monotonic()))
        head, rest = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        m = re.match(rb"^(HTTP/1\.[01]) (\d{3})(?: (.*))?$", lines[0])
        if not m:
            raise AssertionError("bad status line %r" % lines[0])
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise AssertionError("bad header line %r" % line)
            headers.append((name.strip().lower().decode(), value.strip().decode()))
        lengths = [v for k, v in headers if k == "content-length"]
        if len(lengths) != 1:
            raise AssertionError("reply without exactly one Content-Length: %r" % head)
        n = int(lengths[0])
        self.buf = rest
        while len(self.buf) < n:
            self._fill(max(0.01, deadline - time.monotonic()))
        body, self.buf = self.buf[:n], self.buf[n:]
        return Response(m.group(1).decode(), int(m.group(2)),
                        (m.group(3) or b"").decode(), headers, body,
                        head + b"\r\n\r\n" + body)

    def wait_closed(self, timeout):
        """True when the server closes the connection within timeout seconds (any bytes
        it sends first are kept in self.buf), False when it is still open."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                self._fill(left)
            except ConnectionError:
                return True
            except socket.timeout:
                return False

    def request(self, target, headers=(), version="HTTP/1.1", method="GET",
                timeout=IO_TIMEOUT):
        self.send(build_request(target, headers, version, method))
        return self.read_response(timeout)


def build_request(target, headers=(), version="HTTP/1.1", method="GET"):
    lines = ["%s %s %s" % (method, target, version), "Host: tracker.test"]
    lines += list(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def http_get(port, target, headers=(), host="127.0.0.1", version="HTTP/1.1",
             timeout=IO_TIMEOUT):
    """One request on a new connection, closed afterwards."""
    with Conn(port, host, timeout) as c:
        return c.request(target, list(headers) + ["Connection: close"], version,
                         timeout=timeout)


def announce_target(info_hash, peer_id, port, left=100, uploaded=0, downloaded=0,
                    event=None, compact=1, numwant=None, extra=()):
    q = ["info_hash=" + pct(info_hash), "peer_id=" + pct(peer_id), "port=%d" % port,
         "uploaded=%d" % uploaded, "downloaded=%d" % downloaded, "left=%d" % left]
    if event is not None:
        q.append("event=" + event)
    if compact is not None:
        q.append("compact=%s" % compact)
    if numwant is not None:
        q.append("numwant=%s" % numwant)
    q += list(extra)
    return "/announce?" + "&".join(q)


def announce(server_port, info_hash, peer_id, port, host="127.0.0.1", headers=(),
             timeout=IO_TIMEOUT, **kw):
    return http_get(server_port, announce_target(info_hash, peer_id, port, **kw), headers,
                    host=host, timeout=timeout)


def scrape_target(*hashes):
    if not hashes:
        return "/scrape"
    return "/scrape?" + "&".join("info_hash=" + pct(h) for h in hashes)


def scrape(server_port, *hashes, host="127.0.0.1", timeout=IO_TIMEOUT):
    return http_get(server_port, scrape_target(*hashes), host=host, timeout=timeout)


# ---------------------------------------------------------------------------
# bencode

class BencodeError(ValueError):
    pass


def bdecode(data):
    """Decodes a whole bencoded value (bytes keys); refuses trailing bytes, unsorted or
    duplicate dict keys, and non-canonical integers."""
    value, end = _bdecode(data, 0)
    if end != len(data):
        raise BencodeError("trailing bytes at %d in %r" % (end, data))
    return value


def _bdecode(data, i):
    if i >= len(data):
        raise BencodeError("truncated")
    c = data[i:i + 1]
    if c == b"i":
        end = data.index(b"e", i)
        text = data[i + 1:end]
        if not re.fullmatch(rb"-?(0|[1-9][0-9]*)", text) or text == b"-0":
            raise BencodeError("bad integer %r" % text)
        return int(text), end + 1
    if c == b"l":
        i += 1
        out = []
        while data[i:i + 1] != b"e":
            v, i = _bdecode(data, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        i += 1
        out = {}
        last = None
        while data[i:i + 1] != b"e":
            k, i = _bdecode(data, i)
            if not isinstance(k, bytes):
                raise BencodeError("non-string key")
            if last is not None and k <= last:
                raise BencodeError("dict keys not sorted: %r after %r" % (k, last))
            last = k
            v, i = _bdecode(data, i)
            out[k] = v
        return out, i + 1
    if c.isdigit():
        colon = data.index(b":", i)
        n = int(data[i:colon])
        start = colon + 1
        if start + n > len(data):
            raise BencodeError("truncated string")
        return data[start:start + n], start + n
    raise BencodeError("bad byte %r at %d" % (c, i))


def bstr(s):
    if isinstance(s, str):
        s = s.encode()
    return b"%d:%s" % (len(s), s)


def failure(reason):
    """The exact bytes of a refusal."""
    return b"d14:failure reason" + bstr(reason) + b"e"


def announce_reply(complete, incomplete, peers=b"", peers6=b"", interval=1800,
                   min_interval=900):
    """The exact bytes of a compact announce reply."""
    return (b"d8:completei%de10:incompletei%de8:intervali%de12:min intervali%de"
            b"5:peers%s6:peers6%se" % (complete, incomplete, interval, min_interval,
                                       bstr(peers), bstr(peers6)))


def compact4(ip, port):
    return socket.inet_pton(socket.AF_INET, ip) + port.to_bytes(2, "big")


def compact6(ip, port):
    return socket.inet_pton(socket.AF_INET6, ip) + port.to_bytes(2, "big")


def split_peers(blob):
    """compact IPv4 peers -> [(ip, port)]"""
    assert len(blob) % 6 == 0, "peers of %d bytes" % len(blob)
    return [(socket.inet_ntop(socket.AF_INET, blob[i:i + 4]),
             int.from_bytes(blob[i + 4:i + 6], "big")) for i in range(0, len(blob), 6)]


def split_peers6(blob):
    assert len(blob) % 18 == 0, "peers6 of %d bytes" % len(blob)
    return [(socket.inet_ntop(socket.AF_INET6, blob[i:i + 16]),
             int.from_bytes(blob[i + 16:i + 18], "big")) for i in range(0, len(blob), 18)]


def key(info_hash, kind):
    return "{%s}:%s" % (info_hash.hex(), kind)


def now_ms():
    return int(time.time() * 1000)


# ---------------------------------------------------------------------------
# TestCase bases

class TrackerTestCase(unittest.TestCase):
    """One redis-server and one starling for the whole class (tests use fresh random
    hashes so they do not interfere). Subclasses set CONFIG (and LISTEN)."""

    CONFIG = {}
    NODES = 1
    # True: a node is ready when /readyz says so (the shared tables loaded: its announces
    # may be refused by a policy); False: when an announce reaches Redis.
    READY_BY_READYZ = False

    @classmethod
    def setUpClass(cls):
        require_binary()
        cls.redis = RedisServer()
        cls.nodes = []
        try:
            cls.redis.start()
            for _ in range(cls.NODES):
                node = Starling(cls.redis, cls.CONFIG)
                cls.nodes.append(node.start(wait_ready=not cls.READY_BY_READYZ))
            for node in cls.nodes if cls.READY_BY_READYZ else ():
                node.wait_readyz()
        except BaseException:
            cls._cleanup_processes()
            raise
        cls.tracker = cls.nodes[0]
        cls.port = cls.tracker.port

    @classmethod
    def _cleanup_processes(cls):
        reports = []
        for node in getattr(cls, "nodes", []):
            report = node.cleanup()
            if report:
                reports.append(report)
        cls.redis.cleanup()
        return reports

    @classmethod
    def tearDownClass(cls):
        alive = [n.alive() for n in cls.nodes]
        logs = [n.log()[-3000:] for n in cls.nodes]
        reports = cls._cleanup_processes()
        if reports:
            raise AssertionError("sanitizer report in starling log:\n" + "\n".join(reports))
        if not all(alive):
            raise AssertionError("starling died during the tests; log:\n" + "\n".join(logs))

    # helpers --------------------------------------------------------------

    def announce(self, info_hash, peer_id, port, node=None, **kw):
        node = node or self.tracker
        r = announce(node.port, info_hash, peer_id, port, **kw)
        self.assertEqual(r.status, 200, r)
        return r

    def announce_ok(self, info_hash, peer_id, port, **kw):
        """An announce that must succeed: returns the decoded reply dict."""
        r = self.announce(info_hash, peer_id, port, **kw)
        d = bdecode(r.body)
        self.assertNotIn(b"failure reason", d, r.body)
        return d

    def scrape_counts(self, info_hash, node=None):
        node = node or self.tracker
        r = scrape(node.port, info_hash)
        self.assertEqual(r.status, 200, r)
        d = bdecode(r.body)
        entry = d[b"files"][info_hash]
        return entry[b"complete"], entry[b"incomplete"], entry[b"downloaded"]

    def rcall(self, *args):
        return self.redis.call(*args)
