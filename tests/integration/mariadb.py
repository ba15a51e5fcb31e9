"""A MariaDB server for the integration tests, as a Gazelle site's database: mariadbd on
127.0.0.1:<free port> and a unix socket, its datadir in its own temp dir, a database
`gazelle` and a user `starling` (password `.password`) with every right on it, over TCP
and over the socket, and Gazelle's sql_mode (GAZELLE_SQL_MODE, not strict).

    db = MariaDB().start()                   # ~2 s: mariadb-install-db, then mariadbd
    try:
        db.execute_file(GAZELLE_SCHEMA)      # tests/fixtures/gazelle_schema.sql
        db.execute("INSERT INTO ...")
        rows = db.query("SELECT ID, IRCKey FROM users_main")  # [("1", None)]
        db.query("SELECT info_hash FROM torrents")           # [("0x1F2E...",)]
        db.restart()                         # same datadir and port, data kept
    finally:
        db.cleanup()                         # SIGTERM by PID, then the temp dir goes

Queries run as MariaDB's root through the `mariadb` CLI on the socket; rows come back as
tuples of str, NULL as None, and a value of a binary column (BLOB, BINARY, VARBINARY,
UNHEX()) as "0x" + upper-case hex: torrents.info_hash reads "0x" + info_hash.hex().upper().
Why not the CLI's tab-separated batch output (-N -B): it prints NULL and the string 'NULL'
alike, with --raw a tab or newline inside a value breaks the row, and with
--binary-as-hex a binary NULL prints as "0x". Its XML output (--xml) marks a NULL with
xsi:nil; its XML writer turns a NUL byte into a space, hence --binary-as-hex. The one
loss left: the XML parser reads a CR inside a text value as LF.

Only the Python standard library and Debian's mariadb-server / mariadb-client. Every
wait is bounded; only the process started here is stopped, by PID.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import unittest
import xml.etree.ElementTree as ET

from harness import free_port, stop_pid, wait_until

# Bounds, in seconds: a 2-core CI machine running the sanitizer build's tests beside.
START_TIMEOUT = 60.0  # mariadbd from exec to answering a ping
STOP_TIMEOUT = 30.0  # a clean InnoDB shutdown, before SIGKILL
CLI_TIMEOUT = 60.0  # one mariadb-install-db or mariadb CLI run

XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
XML_DECL = '<?xml version="1.0"?>'
# The sql_mode of OPS Gazelle's development MariaDB (OPSnet/Gazelle,
# .docker/mysql/mysqld_sql_mode.cnf): MariaDB's default less STRICT_TRANS_TABLES. Ocelot's
# upserts name only the columns they change, and strict mode refuses them on Gazelle's
# tables, whose other NOT NULL columns have no default.
GAZELLE_SQL_MODE = "ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION"
# Sizes for a small test server (the defaults are a 128 MiB buffer pool, 96 MiB redo log).
INNODB_OPTIONS = ["--innodb-buffer-pool-size=32M", "--innodb-log-file-size=8M"]


class MariaDBError(Exception):
    """A mariadb CLI run that failed: the message is its stderr."""


def binaries():
    """{name: path} of the programs used here; mariadbd lives in /usr/sbin, often not
    on a user's PATH. Raises unittest.SkipTest naming the missing ones."""
    found, missing = {}, []
    for name in ("mariadbd", "mariadb-install-db", "mariadb", "mariadb-admin"):
        path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin")
        if path:
            found[name] = path
        else:
            missing.append(name)
    if missing:
        raise unittest.SkipTest("MariaDB not installed (no %s): apt-get install "
                                "mariadb-server mariadb-client" % ", ".join(missing))
    return found


def require_mariadb():
    """Skips the test when the MariaDB programs are missing (scripts/test.sh installs
    them, so in CI they exist)."""
    binaries()


def _as_root():
    # mariadbd refuses to run as root unless told to; an ordinary user needs no option.
    return ["--user=root"] if os.geteuid() == 0 else []


class MariaDB:
    """One mariadbd on 127.0.0.1:<port> and <dir>/mysqld.sock; see the module doc."""

    host = "127.0.0.1"
    database = "gazelle"
    user = "starling"
    password = "starling-test-pw"

    def __init__(self, port=None, sql_mode=GAZELLE_SQL_MODE):
        # sql_mode=None: MariaDB's own default (strict).
        self.bins = binaries()
        self.port = port or free_port()
        self.sql_mode = sql_mode
        self.dir = None
        self.proc = None

    @property
    def socket(self):
        return os.path.join(self.dir, "mysqld.sock")

    @property
    def log_path(self):
        return os.path.join(self.dir, "mariadb.log")

    def start(self):
        """Initialises a datadir in a new temp dir, starts mariadbd on it and creates the
        database and the user. Returns self."""
        assert self.dir is None, "start() once; restart() starts it again"
        self.dir = tempfile.mkdtemp(prefix="starling-mariadb-")
        try:
            self._install()
            self._run_server()
            self.execute(
                "CREATE DATABASE `{db}`;"
                "CREATE USER '{u}'@'127.0.0.1' IDENTIFIED BY '{pw}';"
                "CREATE USER '{u}'@'localhost' IDENTIFIED BY '{pw}';"
                "GRANT ALL ON `{db}`.* TO '{u}'@'127.0.0.1';"
                "GRANT ALL ON `{db}`.* TO '{u}'@'localhost';"
                .format(db=self.database, u=self.user, pw=self.password), db=None)
        except BaseException:
            self.cleanup()  # nothing left running or on disk
            raise
        return self

    def _install(self):
        # No test database, no host names (only 'localhost' and IPs are used); the same
        # InnoDB sizes as the server's, so its first start does not resize the redo log.
        # It is a shell script running `mariadbd --bootstrap`: in a session of its own, so
        # that a timeout kills both by the script's process group.
        proc = subprocess.Popen([self.bins["mariadb-install-db"], "--no-defaults",
                                 "--datadir=" + os.path.join(self.dir, "data"),
                                 "--auth-root-authentication-method=normal", "--skip-test-db",
                                 "--skip-name-resolve", *_as_root(), *INNODB_OPTIONS],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=CLI_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise AssertionError("mariadb-install-db took over %.0f s" % CLI_TIMEOUT) from None
        if proc.returncode != 0:
            raise AssertionError("mariadb-install-db exited with %d:\n%s"
                                 % (proc.returncode, out[-3000:]))

    def _run_server(self):
        assert self.proc is None or self.proc.poll() is not None
        # stdout/stderr go to the error log too: mariadbd reports some start-up failures
        # (a bad option, running as root) before it opens --log-error.
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([
                self.bins["mariadbd"], "--no-defaults", *_as_root(),
                "--datadir=" + os.path.join(self.dir, "data"),
                "--socket=" + self.socket, "--port=%d" % self.port,
                "--bind-address=" + self.host,
                "--pid-file=" + os.path.join(self.dir, "mariadbd.pid"),
                "--log-error=" + self.log_path, "--tmpdir=" + self.dir,
                "--skip-name-resolve", *INNODB_OPTIONS,
                # Commits reach the OS at once and the disk about once a second: a killed
                # mariadbd loses nothing committed, only a machine crash would.
                "--innodb-flush-log-at-trx-commit=2",
                # What Debian's own server config (50-server.cnf) sets; the built-in
                # default is latin1.
                "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
                *([] if self.sql_mode is None else ["--sql-mode=" + self.sql_mode]),
            ], stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.dir)

        def answers():
            if self.proc.poll() is not None:
                raise AssertionError("mariadbd exited with %s:\n%s"
                                     % (self.proc.returncode, self.log_tail()))
            try:
                r = subprocess.run([self.bins["mariadb-admin"], "--no-defaults",
                                    "--socket=" + self.socket, "--user=root",
                                    "--connect-timeout=2", "ping"],
                                   stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
            except subprocess.TimeoutExpired:
                return False
            return r.returncode == 0
        try:
            wait_until(answers, START_TIMEOUT, interval=0.1, what="mariadbd to answer a ping")
        except AssertionError:
            if self.proc.poll() is not None:
                raise  # it exited: the message has the log
            stop_pid(self.proc, timeout=STOP_TIMEOUT)
            raise AssertionError("mariadbd did not answer a ping within %.0f s:\n%s"
                                 % (START_TIMEOUT, self.log_tail())) from None

    def _cli(self, args, db, **kwargs):
        cmd = [self.bins["mariadb"], "--no-defaults", "--socket=" + self.socket,
               "--user=root", "--batch", "--default-character-set=utf8mb4", *args]
        if db:
            cmd.append(db)
        r = subprocess.run(cmd, capture_output=True, timeout=CLI_TIMEOUT, **kwargs)
        if r.returncode != 0:
            raise MariaDBError(r.stderr.decode(errors="replace").strip())
        return r.stdout

    def query(self, sql, db="gazelle"):
        """Runs sql (one or more statements) as root; returns the rows of every result
        set, in order: tuples of str, NULL as None, binary values as "0x<HEX>"."""
        out = self._cli(["--xml", "--binary-as-hex"], db, input=sql.encode())
        rows = []
        # One XML document per statement with a result set.
        for doc in out.decode().split(XML_DECL)[1:]:
            for row in ET.fromstring(doc).iter("row"):
                rows.append(tuple(None if f.get(XSI_NIL) == "true" else (f.text or "")
                                  for f in row.iter("field")))
        return rows

    def execute(self, sql, db="gazelle"):
        """Runs statements whose results do not matter."""
        self.query(sql, db)

    def execute_file(self, path, db="gazelle"):
        """Runs an SQL file (a fixture), as `mariadb gazelle < path`."""
        with open(path, "rb") as f:
            self._cli([], db, stdin=f)

    def log_tail(self, size=3000):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-size:]
        except (OSError, TypeError):
            return ""

    def stop(self):
        """SIGTERM by PID (a clean shutdown), SIGKILL after STOP_TIMEOUT."""
        stop_pid(self.proc, timeout=STOP_TIMEOUT)

    def kill(self):
        """SIGKILL by PID: InnoDB recovers on the next start."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)

    def restart(self):
        """Starts mariadbd again on the same datadir and port (stopping it first if it
        runs); nothing is initialised again."""
        self.stop()
        self._run_server()
        return self

    def cleanup(self):
        self.stop()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
