"""The shipped deployment stays valid: its config passes both binaries' --check-config,
and the Kubernetes manifests render (when kubectl is installed; offline, no cluster)."""

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import aggregator_bin, require_binary, source_dir, starling_bin


class DeployTest(unittest.TestCase):
    def setUp(self):
        require_binary()
        self.config = os.path.join(source_dir(), "deploy", "k8s", "base", "starling-config.json")

    def check(self, binary):
        env = {k: v for k, v in os.environ.items() if not k.startswith("STARLING_")}
        r = subprocess.run([binary, "--config", self.config, "--check-config"], env=env,
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("config ok", r.stdout)

    def test_frontend_accepts_deploy_config(self):
        self.check(starling_bin())

    def test_aggregator_accepts_deploy_config(self):
        self.check(aggregator_bin())

    def test_trusts_only_single_proxy_addresses(self):
        # deploy/ ships no HTTP proxy. A trusted range (the pod network, 10.0.0.0/8) would
        # let anything in it (other pods, SNAT'd outside clients) choose the address
        # recorded for it with X-Forwarded-For. Only exact proxy addresses may be trusted,
        # and a header is only read when some proxy is.
        with open(self.config) as f:
            cfg = json.load(f)
        proxies = cfg.get("trusted_proxies", [])
        for cidr in proxies:
            net = ipaddress.ip_network(cidr)
            self.assertEqual(net.num_addresses, 1,
                             "trusted_proxies %s is a range, not one proxy" % cidr)
        if cfg.get("real_ip_header", ""):
            self.assertTrue(proxies, "real_ip_header set with no proxy to trust")

    def test_manifests_render(self):
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            self.skipTest("kubectl not installed")
        r = subprocess.run([kubectl, "kustomize", os.path.join(source_dir(), "deploy", "k8s", "overlays", "single-redis")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        for kind in ("Deployment", "Service", "ConfigMap", "Namespace"):
            self.assertIn("kind: " + kind, r.stdout)
        self.assertIn("name: starling-aggregator", r.stdout)
        self.assertIn("protocol: UDP", r.stdout)


if __name__ == "__main__":
    unittest.main()
