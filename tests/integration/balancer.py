"""A real load balancer for the integration tests: nginx (Debian's `nginx`, and
`libnginx-mod-stream` for UDP) in the foreground, in its own temp prefix, on free loopback
ports, balancing HTTP and UDP round-robin over starling frontends. Stopped with SIGQUIT by
PID (then SIGKILL if it lingers).

The configuration is what README "Behind a load balancer" describes: HTTP over upstream
keep-alive connections, the client's address appended to X-Forwarded-For, connections to
the frontends made from one address of their own (`proxy_bind`), failed attempts passed
to the next frontend; UDP through the stream module, each datagram a session of its own
so that each may go to another frontend.

Python 3 standard library only.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest

from harness import START_TIMEOUT, STOP_TIMEOUT, free_port, wait_until

NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"


def nginx_bin():
    """nginx's path; skips the test when it is not installed (scripts/test.sh installs it)."""
    for path in ("/usr/sbin/nginx", shutil.which("nginx")):
        if path and os.path.exists(path):
            return path
    raise unittest.SkipTest("nginx not installed (Debian package nginx)")


def require_stream_module():
    if not os.path.exists(NGINX_STREAM_MODULE):
        raise unittest.SkipTest("nginx's stream module not installed (Debian package "
                                "libnginx-mod-stream): %s" % NGINX_STREAM_MODULE)


def udp_free_port(host="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


class Nginx:
    """One nginx master (and one worker, so round-robin is one sequence) in a temp prefix.

    http_upstreams / udp_upstreams: [(host, port)] of the frontends (either may be empty).
    upstream_addr: the address nginx connects to the frontends from (`proxy_bind`): the
    frontends trust exactly that one for X-Forwarded-For. UDP datagrams leave from
    upstream_addr too, and from the client's own source port (`$remote_port`; nginx sets
    SO_REUSEADDR on such a socket), so that a client's connect and announce reach the
    frontends from one address and port whatever session carries them: BEP 15 connection
    IDs are bound to that pair. With an ephemeral port per session instead (proxy_bind
    without a port, or none), every announce that lands on a new session is refused
    `invalid connection id`. Two clients with the same source port on different addresses
    share one address and port towards the frontends: fine for these tests, not for
    production (README "Behind a load balancer").
    """

    def __init__(self, http_upstreams=(), udp_upstreams=(), upstream_addr="127.0.0.2",
                 listen_host="127.0.0.1", keepalive=16, fail_timeout="10s", http_listen6=False):
        self.dir = tempfile.mkdtemp(prefix="starling-nginx-")
        # The worker runs as nobody (nginx drops root): it must reach its temp paths.
        os.chmod(self.dir, 0o755)
        self.http_upstreams = list(http_upstreams)
        self.udp_upstreams = list(udp_upstreams)
        self.upstream_addr = upstream_addr
        self.listen_host = listen_host
        self.keepalive = keepalive
        self.fail_timeout = fail_timeout
        self.http_port = free_port(listen_host) if self.http_upstreams else None
        # http_listen6: HTTP also on [::1] (IPv6 clients; the frontends stay on IPv4).
        self.http_port6 = (free_port("::1", socket.AF_INET6)
                           if self.http_upstreams and http_listen6 else None)
        self.udp_port = udp_free_port(listen_host) if self.udp_upstreams else None
        self.conf_path = os.path.join(self.dir, "nginx.conf")
        self.log_path = os.path.join(self.dir, "nginx.log")
        self.proc = None
        self.logfile = None
        with open(self.conf_path, "w") as f:
            f.write(self.conf())

    def conf(self):
        lines = []
        if self.udp_upstreams:
            require_stream_module()
            lines.append("load_module %s;" % NGINX_STREAM_MODULE)
        lines += [
            "worker_processes 1;",
            "pid nginx.pid;",
            "error_log stderr notice;",
            "events { worker_connections 1024; }",
        ]
        if self.http_upstreams:
            servers = "".join(
                "    server %s:%d max_fails=1 fail_timeout=%s;\n" % (h, p, self.fail_timeout)
                for h, p in self.http_upstreams)
            lines.append(
                "http {\n"
                "  access_log off;\n"
                "  client_body_temp_path tmp/body;\n"
                "  proxy_temp_path tmp/proxy;\n"
                "  fastcgi_temp_path tmp/fastcgi;\n"
                "  uwsgi_temp_path tmp/uwsgi;\n"
                "  scgi_temp_path tmp/scgi;\n"
                "  upstream starling {\n"
                "%s"
                "    keepalive %d;\n"
                "  }\n"
                "  server {\n"
                "    listen %s:%d;\n"
                "%s"
                "    location / {\n"
                "      proxy_pass http://starling;\n"
                # Upstream keep-alive: HTTP/1.1 without the client's Connection header.
                "      proxy_http_version 1.1;\n"
                "      proxy_set_header Connection \"\";\n"
                # starling reads the last entry: the one nginx appends.
                "      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
                "      proxy_bind %s;\n"
                # A refused connection, a reset or a close before the reply head: the
                # request goes to the next frontend (GETs are idempotent, so nginx retries
                # them; an announce applied twice is a re-announce).
                "      proxy_next_upstream error timeout;\n"
                "      proxy_next_upstream_tries 3;\n"
                "      proxy_connect_timeout 1s;\n"
                "      proxy_read_timeout 5s;\n"
                # Which frontend answered (the last one tried), for the tests.
                "      add_header X-Upstream $upstream_addr always;\n"
                "    }\n"
                "  }\n"
                "}" % (servers, self.keepalive, self.listen_host, self.http_port,
                       "    listen [::1]:%d;\n" % self.http_port6 if self.http_port6 else "",
                       self.upstream_addr))
        if self.udp_upstreams:
            servers = "".join("    server %s:%d;\n" % (h, p) for h, p in self.udp_upstreams)
            lines.append(
                "stream {\n"
                "  upstream starling_udp {\n"
                "%s"
                "  }\n"
                "  server {\n"
                "    listen %s:%d udp;\n"
                "    proxy_pass starling_udp;\n"
                "    proxy_bind %s:$remote_port;\n"
                # One datagram, one reply, one session: the next datagram of the same client
                # is balanced again.
                "    proxy_requests 1;\n"
                "    proxy_responses 1;\n"
                "    proxy_timeout 2s;\n"
                "  }\n"
                "}" % (servers, self.listen_host, self.udp_port, self.upstream_addr))
        return "\n".join(lines) + "\n"

    @property
    def http_addr(self):
        return (self.listen_host, self.http_port)

    @property
    def udp_addr(self):
        return (self.listen_host, self.udp_port)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def start(self):
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        os.chmod(os.path.join(self.dir, "tmp"), 0o777)
        self.logfile = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [nginx_bin(), "-p", self.dir, "-c", "nginx.conf", "-e", "stderr",
             "-g", "daemon off;"],
            stdin=subprocess.DEVNULL, stdout=self.logfile, stderr=self.logfile, cwd=self.dir)

        def listening():
            if self.proc.poll() is not None:
                raise AssertionError("nginx exited with %s; log:\n%s"
                                     % (self.proc.returncode, self.log()[-3000:]))
            if self.http_port is None:
                return "start worker process" in self.log()
            try:
                socket.create_connection(self.http_addr, timeout=1.0).close()
                return True
            except OSError:
                return False
        wait_until(listening, START_TIMEOUT, what="nginx to listen")
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGQUIT (graceful) by PID, then SIGKILL if it has not exited."""
        if self.alive():
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
        if self.logfile is not None:
            self.logfile.close()
            self.logfile = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def bound_socket(host, kind=socket.SOCK_STREAM, timeout=5.0):
    """A socket bound to a loopback address of its own (127.0.0.3, ...): a distinct client
    address as the balancer sees it."""
    s = socket.socket(socket.AF_INET, kind)
    s.settimeout(timeout)
    s.bind((host, 0))
    return s

