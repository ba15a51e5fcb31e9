"""The shipped deployment stays valid (deploy/): every config file passes both binaries'
--check-config and trusts no proxy range; the secrets fail closed; the Kubernetes
kustomizations render (kubectl kustomize), every YAML file passes yamllint, the compose
file passes `docker compose config`, its nginx config passes `nginx -t`; the image's
HEALTHCHECK script tells a live metrics listener from a dead one.
Each tool-based check skips, saying which tool is missing, when that tool is absent.
Schema validation: test_deploy_schema.py; the cluster bootstrap: test_deploy_cluster.py."""

import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (RedisServer, Starling, aggregator_bin, announce, bdecode, free_port,
                     http_get, random_hash, random_peer_id, require_aggregator, require_binary,
                     source_dir, split_peers, starling_bin, stop_pid, wait_until)

DEPLOY = os.path.join(source_dir(), "deploy")
K8S = os.path.join(DEPLOY, "k8s")
OVERLAYS = ("single-redis", "redis-cluster")
# Every config file a deployment ships, and what it is for.
CONFIGS = {
    "k8s/base/starling-config.json": "Kubernetes base (and the image's default)",
    "k8s/overlays/redis-cluster/starling-config.json": "Kubernetes, Redis Cluster overlay",
    "compose/starling.json": "docker compose",
}


def scrubbed_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STARLING_")}
    env.update(extra)
    return env


def check_config(binary, path, **env):
    return subprocess.run([binary, "--config", path, "--check-config"], env=scrubbed_env(**env),
                          capture_output=True, text=True, timeout=10)


def kustomize_dirs():
    return [os.path.join(K8S, "base")] + [os.path.join(K8S, "overlays", o) for o in OVERLAYS]


class ConfigTest(unittest.TestCase):
    def setUp(self):
        require_binary()
        require_aggregator()

    def test_every_config_passes_check_config(self):
        for rel in CONFIGS:
            for binary in (starling_bin(), aggregator_bin()):
                with self.subTest(config=rel, binary=os.path.basename(binary)):
                    r = check_config(binary, os.path.join(DEPLOY, rel))
                    self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                    self.assertIn("config ok", r.stdout)

    def test_cluster_seeds_come_from_the_environment(self):
        # The redis-cluster overlay sets STARLING_REDIS_CLUSTER_NODES on both Deployments;
        # the binaries must start with it (ignored by a binary without cluster routing,
        # parsed by one with it), and its value must be a list of host:port.
        overlay = os.path.join(K8S, "overlays", "redis-cluster")
        with open(os.path.join(overlay, "cluster-seeds.yaml")) as f:
            seeds = re.findall(r"name: STARLING_REDIS_CLUSTER_NODES\s+value: (\S+)", f.read())
        self.assertEqual(len(seeds), 2, "both Deployments get the seeds")
        self.assertEqual(seeds[0], seeds[1])
        nodes = seeds[0].split(",")
        self.assertEqual(len(nodes), 6)
        for node in nodes:
            self.assertRegex(node, r"^redis-cluster-[0-5]\.redis-cluster-headless:6379$")
        path = os.path.join(overlay, "starling-config.json")
        for binary in (starling_bin(), aggregator_bin()):
            r = check_config(binary, path, STARLING_REDIS_CLUSTER_NODES=seeds[0])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # The key is not in any file --check-config reads (a binary without cluster
        # routing refuses unknown keys).
        for rel in CONFIGS:
            with open(os.path.join(DEPLOY, rel)) as f:
                self.assertNotIn("cluster_nodes", f.read(), rel)

    def test_trusts_only_single_proxy_addresses(self):
        # A trusted range (the pod network, 10.0.0.0/8) would let anything in it (other
        # pods, SNAT'd outside clients) choose the address recorded for it with
        # X-Forwarded-For. Only exact proxy addresses may be trusted, and a header is only
        # read when some proxy is.
        for rel in CONFIGS:
            with self.subTest(config=rel):
                with open(os.path.join(DEPLOY, rel)) as f:
                    cfg = json.load(f)
                proxies = cfg.get("trusted_proxies", [])
                for cidr in proxies:
                    net = ipaddress.ip_network(cidr)
                    self.assertEqual(net.num_addresses, 1,
                                     "trusted_proxies %s is a range, not one proxy" % cidr)
                if cfg.get("real_ip_header", ""):
                    self.assertTrue(proxies, "real_ip_header set with no proxy to trust")

    def test_kubernetes_configs_differ_only_in_the_redis_host(self):
        with open(os.path.join(K8S, "base", "starling-config.json")) as f:
            base = json.load(f)
        with open(os.path.join(K8S, "overlays", "redis-cluster", "starling-config.json")) as f:
            cluster = json.load(f)
        self.assertEqual(base["redis"]["host"], "redis")
        self.assertEqual(cluster["redis"]["host"], "redis-cluster")
        cluster["redis"]["host"] = "redis"
        self.assertEqual(base, cluster, "the overlay's config drifted from the base's")

    def test_placeholder_udp_secret_is_refused(self):
        # The base ships a placeholder: an unedited deployment must not come up with a
        # secret anyone can read in this repository. A frontend refuses it (status 2).
        with open(os.path.join(K8S, "base", "kustomization.yaml")) as f:
            found = re.findall(r"^\s*- udp-secret=(.*)$", f.read(), re.M)
        self.assertEqual(len(found), 1)
        r = check_config(starling_bin(), os.path.join(K8S, "base", "starling-config.json"),
                         STARLING_UDP_SECRET=found[0])
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("udp_secret: shorter than 16 bytes", r.stderr)
        self.assertNotIn(found[0], r.stderr, "the error shows the secret")


class KustomizeTest(unittest.TestCase):
    """Renders each kustomization and checks what the issue asks of it, as text (the
    objects themselves are checked in test_deploy_schema.py)."""

    @classmethod
    def setUpClass(cls):
        cls.kubectl = shutil.which("kubectl")
        cls.rendered = {}
        if cls.kubectl is None:
            return
        for d in kustomize_dirs():
            r = subprocess.run([cls.kubectl, "kustomize", d], capture_output=True, text=True,
                               timeout=60)
            cls.rendered[os.path.basename(d)] = (r.returncode, r.stdout, r.stderr)

    def out(self, name):
        if self.kubectl is None:
            self.skipTest("kubectl not installed (kubectl kustomize renders the manifests)")
        rc, out, err = self.rendered[name]
        self.assertEqual(rc, 0, err)
        return out

    def kinds(self, text):
        return sorted(re.findall(r"^kind: (\S+)$", text, re.M))

    def test_every_kustomization_renders(self):
        for d in kustomize_dirs():
            with self.subTest(kustomization=os.path.basename(d)):
                self.assertIn("kind: Deployment", self.out(os.path.basename(d)))

    def test_base(self):
        out = self.out("base")
        kinds = self.kinds(out)
        for kind in ("Namespace", "ConfigMap", "Secret", "Deployment", "Service",
                     "HorizontalPodAutoscaler", "PodDisruptionBudget"):
            self.assertIn(kind, kinds)
        self.assertEqual(kinds.count("Deployment"), 2)
        self.assertEqual(out.count("externalTrafficPolicy: Local"), 2, "HTTP and UDP Services")
        self.assertIn("protocol: UDP", out)
        self.assertIn("topologySpreadConstraints", out)
        self.assertNotIn("StatefulSet", kinds, "the base has no Redis of its own")

    def test_single_redis_overlay(self):
        out = self.out("single-redis")
        kinds = self.kinds(out)
        self.assertIn("StatefulSet", kinds)
        self.assertIn("NetworkPolicy", kinds)
        self.assertIn("appendonly yes", out)
        self.assertNotIn("STARLING_REDIS_CLUSTER_NODES", out)
        self.assertNotIn("cluster-enabled", out)

    def test_redis_cluster_overlay(self):
        out = self.out("redis-cluster")
        kinds = self.kinds(out)
        for kind in ("StatefulSet", "Job", "NetworkPolicy"):
            self.assertIn(kind, kinds)
        self.assertIn("replicas: 6", out)
        self.assertIn("cluster-enabled yes", out)
        self.assertEqual(out.count("name: STARLING_REDIS_CLUSTER_NODES"), 2)
        self.assertIn('"host": "redis-cluster"', out)
        self.assertNotIn('"host": "redis",', out, "the base's config was not replaced")


class LintTest(unittest.TestCase):
    def yaml_files(self):
        out = []
        for root, _, files in os.walk(DEPLOY):
            out += [os.path.join(root, f) for f in files if f.endswith((".yml", ".yaml"))]
        return sorted(out)

    def test_yamllint(self):
        yamllint = shutil.which("yamllint")
        if yamllint is None:
            self.skipTest("yamllint not installed (Debian package yamllint)")
        files = self.yaml_files()
        self.assertGreater(len(files), 10)
        # Flow mappings ({a: b}) keep the manifests short; a long value alone on its line
        # (the seed lists) is fine; no document-start marker required.
        conf = ("{extends: default, rules: {document-start: disable, "
                "line-length: {max: 120, allow-non-breakable-inline-mappings: true}, "
                "braces: {min-spaces-inside: 0, max-spaces-inside: 1}, "
                "brackets: {min-spaces-inside: 0, max-spaces-inside: 1}, "
                "comments: {min-spaces-from-content: 1}, truthy: {check-keys: false}}}")
        r = subprocess.run([yamllint, "-f", "parsable", "-d", conf] + files,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_kubectl_output_is_clean_yaml(self):
        yamllint = shutil.which("yamllint")
        kubectl = shutil.which("kubectl")
        if yamllint is None or kubectl is None:
            self.skipTest("yamllint or kubectl not installed")
        for d in kustomize_dirs():
            r = subprocess.run([kubectl, "kustomize", d], capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            lint = subprocess.run([yamllint, "-f", "parsable", "-d",
                                   "{extends: relaxed, rules: {line-length: disable}}", "-"],
                                  input=r.stdout, capture_output=True, text=True, timeout=60)
            self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)


def compose_command():
    """The argv prefix of a working `docker compose` (v2) or `docker-compose` (v1), or None."""
    docker = shutil.which("docker")
    if docker:
        r = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=20)
        if r.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    return None


class ComposeTest(unittest.TestCase):
    def setUp(self):
        self.compose_file = os.path.join(DEPLOY, "docker-compose.yml")
        with open(self.compose_file) as f:
            self.text = f.read()

    def run_config(self, **env):
        cmd = compose_command()
        if cmd is None:
            self.skipTest("neither `docker compose` nor docker-compose is installed")
        e = {k: v for k, v in os.environ.items() if not k.startswith("STARLING_")}
        e.update(env)
        return subprocess.run(cmd + ["-f", self.compose_file, "config"], env=e,
                              capture_output=True, text=True, timeout=60,
                              cwd=tempfile.gettempdir())

    def test_compose_config(self):
        r = self.run_config(STARLING_UDP_SECRET="0123456789abcdef0123456789")
        self.assertEqual(r.returncode, 0, r.stderr)
        for service in ("redis:", "starling-1:", "starling-2:", "aggregator:", "nginx:"):
            self.assertIn("  " + service, r.stdout)
        self.assertIn("6969/udp", r.stdout.replace("protocol: udp", "6969/udp"))
        self.assertIn("appendonly", r.stdout)
        self.assertIn("read_only: true", r.stdout)

    def test_compose_refuses_a_missing_udp_secret(self):
        r = self.run_config()
        self.assertNotEqual(r.returncode, 0, "compose config passed without STARLING_UDP_SECRET")
        self.assertIn("STARLING_UDP_SECRET", r.stdout + r.stderr)

    def test_frontends_trust_exactly_the_balancer(self):
        with open(os.path.join(DEPLOY, "compose", "starling.json")) as f:
            cfg = json.load(f)
        nginx = self.text[self.text.index("\n  nginx:"):]
        addr = re.search(r"backend: \{ipv4_address: ([0-9.]+)\}", nginx).group(1)
        self.assertEqual(cfg["trusted_proxies"], [addr + "/32"])
        self.assertEqual(cfg["real_ip_header"], "X-Forwarded-For")
        with open(os.path.join(DEPLOY, "compose", "nginx.conf")) as f:
            conf = f.read()
        # The proxy overwrites the header: a client's own X-Forwarded-For never passes.
        self.assertRegex(conf, r"proxy_set_header X-Forwarded-For \$remote_addr;")
        self.assertNotIn("$proxy_add_x_forwarded_for", conf)

    def test_nginx_config(self):
        nginx, module = nginx_with_stream()
        with open(os.path.join(DEPLOY, "compose", "nginx.conf")) as f:
            conf = f.read()
        # Debian's nginx loads the stream module; the containers' names resolve only in
        # compose, so loopback stands in for them.
        conf = "load_module %s;\n" % module + re.sub(r"starling-\d:", "127.0.0.1:", conf)
        with tempfile.TemporaryDirectory() as d:
            os.mkdir(os.path.join(d, "logs"))
            path = os.path.join(d, "nginx.conf")
            with open(path, "w") as f:
                f.write(conf)
            r = subprocess.run([nginx, "-t", "-p", d, "-c", path, "-e", "stderr"],
                               capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)


def nginx_with_stream():
    """(nginx binary, stream module path), or SkipTest."""
    nginx = shutil.which("nginx") or (os.path.exists("/usr/sbin/nginx") and "/usr/sbin/nginx")
    module = "/usr/lib/nginx/modules/ngx_stream_module.so"
    if not nginx:
        raise unittest.SkipTest("nginx not installed")
    if not os.path.exists(module):
        raise unittest.SkipTest("nginx's stream module not installed (libnginx-mod-stream)")
    return nginx, module


class ComposeBalancerTest(unittest.TestCase):
    """deploy/compose/nginx.conf run for real (Debian's nginx, on loopback) in front of two
    frontends configured as deploy/compose/starling.json, loopback standing in for the
    compose network: HTTP and UDP announces through it reach both frontends, a client's
    own X-Forwarded-For never decides its recorded address, and every UDP client's
    connect and announce work through the balancer."""

    SECRET = "compose-test-secret-0123456789"

    def setUp(self):
        require_binary()
        self.nginx_bin, module = nginx_with_stream()
        self.redis = RedisServer().start()
        self.addCleanup(self.redis.cleanup)
        with open(os.path.join(DEPLOY, "compose", "starling.json")) as f:
            base = json.load(f)
        self.frontends = []
        for _ in range(2):
            cfg = json.loads(json.dumps(base))
            cfg.update(http_listen_addr="127.0.0.1:0", udp_listen_addr="127.0.0.1:0",
                       metrics_listen_addr="127.0.0.1:0", udp_secret=self.SECRET,
                       trusted_proxies=["127.0.0.1/32"])  # nginx's address here
            cfg["redis"].update(host="127.0.0.1", port=self.redis.port)
            fe = Starling(config=cfg)
            self.addCleanup(fe.finish)
            fe.start(wait_ready=False)
            self.frontends.append(fe)
        with open(os.path.join(DEPLOY, "compose", "nginx.conf")) as f:
            conf = f.read()
        self.port = free_port()
        for i, fe in enumerate(self.frontends, 1):
            conf = conf.replace("server starling-%d:6969" % i, "server 127.0.0.1:%d" % fe.port,
                                1)
            conf = conf.replace("server starling-%d:6969" % i,
                                "server 127.0.0.1:%d" % fe.udp_port, 1)
        self.assertNotRegex(conf, r"server starling-", "an upstream left unreplaced")
        conf = conf.replace("listen 6969 udp", "listen 127.0.0.1:%d udp" % self.port)
        conf = conf.replace("listen 6969;", "listen 127.0.0.1:%d;" % self.port)
        conf = conf.replace("pid /tmp/nginx.pid;", "pid nginx.pid;")
        self.dir = tempfile.mkdtemp(prefix="starling-compose-nginx-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        os.mkdir(os.path.join(self.dir, "logs"))
        path = os.path.join(self.dir, "nginx.conf")
        with open(path, "w") as f:
            f.write("load_module %s;\n" % module + conf)
        self.nginx_log = open(os.path.join(self.dir, "nginx.log"), "wb")
        self.addCleanup(self.nginx_log.close)
        self.nginx = subprocess.Popen([self.nginx_bin, "-p", self.dir, "-c", path, "-e", "stderr",
                                       "-g", "daemon off;"], stdin=subprocess.DEVNULL,
                                      stdout=self.nginx_log, stderr=self.nginx_log)
        self.addCleanup(self.stop_nginx)

        def up():
            self.assertIsNone(self.nginx.poll(), self.log())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                r = announce(self.port, random_hash(), random_peer_id(), 1, event="stopped",
                             timeout=2.0)
            except OSError:
                return False
            return r.status == 200 and b"failure reason" not in r.body
        wait_until(up, 10, interval=0.1, what="nginx and the frontends to answer")

    def log(self):
        with open(os.path.join(self.dir, "nginx.log"), errors="replace") as f:
            return f.read()[-2000:]

    def stop_nginx(self):
        if self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)
            try:
                self.nginx.wait(timeout=5)
            except subprocess.TimeoutExpired:
                stop_pid(self.nginx)

    def announces(self, fe, proto):
        text = http_get(fe.metrics_port, "/metrics").body.decode()
        name = ('starling_http_requests_total{endpoint="announce",result="ok"}' if proto == "http"
                else 'starling_udp_requests_total{action="announce",result="ok"}')
        return int(re.search(re.escape(name) + r" (\d+)", text).group(1))

    def test_http_through_the_balancer(self):
        ih = random_hash()
        # A seeder that claims another address in its own header: nginx overwrites it.
        r = announce(self.port, ih, random_peer_id(), 7001, left=0,
                     headers=["X-Forwarded-For: 203.0.113.7"])
        self.assertNotIn(b"failure reason", r.body)
        for i in range(6):
            r = announce(self.port, ih, random_peer_id(), 7100 + i)
            self.assertEqual(r.status, 200)
            peers = split_peers(bdecode(r.body)[b"peers"])
            self.assertIn(("127.0.0.1", 7001), peers)
            self.assertNotIn("203.0.113.7", [ip for ip, _ in peers])
        for fe in self.frontends:
            self.assertGreater(self.announces(fe, "http"), 0, "a frontend got no announce")

    def test_udp_through_the_balancer(self):
        ih = random_hash()
        for i in range(6):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.settimeout(5)
                u.sendto(struct.pack(">QII", 0x41727101980, 0, i), ("127.0.0.1", self.port))
                action, tid, cid = struct.unpack(">IIQ", u.recv(64))
                self.assertEqual((action, tid), (0, i))
                u.sendto(struct.pack(">QII20s20sQQQIIIiH", cid, 1, 100 + i, ih,
                                     random_peer_id(), 0, 1000, 0, 0, 0, 0, 50, 7200 + i),
                         ("127.0.0.1", self.port))
                reply = u.recv(2048)
                action, tid = struct.unpack(">II", reply[:8])
                self.assertEqual((action, tid), (1, 100 + i),
                                 "announce %d through nginx: %r" % (i, reply))
                self.assertEqual(struct.unpack(">I", reply[12:16])[0], i + 1, "leechers")
        for fe in self.frontends:
            self.assertGreater(self.announces(fe, "udp"), 0, "a frontend got no UDP announce")


class ImageTest(unittest.TestCase):
    def setUp(self):
        with open(os.path.join(DEPLOY, "Dockerfile")) as f:
            self.dockerfile = f.read()
        self.healthcheck = os.path.join(DEPLOY, "docker", "healthcheck.sh")

    def final_stage(self):
        return self.dockerfile[self.dockerfile.rindex("\nFROM "):]

    def test_dockerfile(self):
        self.assertGreaterEqual(len(re.findall(r"^FROM ", self.dockerfile, re.M)), 2,
                                "multi-stage")
        final = self.final_stage()
        user = re.search(r"^USER (\S+)$", final, re.M)
        self.assertIsNotNone(user, "the runtime stage sets a USER")
        self.assertNotIn(user.group(1).split(":")[0], ("0", "root"))
        self.assertRegex(final, r"HEALTHCHECK .*\n?.*starling-healthcheck")
        for tool in ("gcc", "cmake", "-dev", "make"):
            self.assertNotIn(tool, final, "build tools in the runtime stage")
        # Every file the Dockerfile copies exists.
        for src in re.findall(r"^COPY (?!--from)(.*) \S+$", self.dockerfile, re.M):
            for path in src.split():
                self.assertTrue(os.path.exists(os.path.join(source_dir(), path)), path)

    def test_healthcheck_script(self):
        require_binary()
        bash = shutil.which("bash")
        if bash is None:
            self.skipTest("bash not installed")
        # /healthz answers 200 while the process runs, with or without Redis.
        fe = Starling(config={"redis": {"port": free_port(), "connect_timeout": "100ms"}})
        try:
            fe.start(wait_ready=False)
            r = subprocess.run([bash, self.healthcheck, str(fe.metrics_port)],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 0, r.stderr)
            port = fe.metrics_port
        finally:
            fe.finish()
        r = subprocess.run([bash, self.healthcheck, str(port)], capture_output=True, text=True,
                           timeout=10)
        self.assertEqual(r.returncode, 1, "healthy with nothing listening")
        # A listener that answers something else than 200 is unhealthy too.
        redis = RedisServer().start()
        try:
            r = subprocess.run([bash, self.healthcheck, str(redis.port)], capture_output=True,
                               text=True, timeout=10)
            self.assertEqual(r.returncode, 1, "healthy on a non-HTTP listener")
        finally:
            redis.cleanup()


if __name__ == "__main__":
    unittest.main()
