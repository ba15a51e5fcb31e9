"""Every object that deploy/k8s renders (`kubectl kustomize` of the base and of each
overlay) validates against the Kubernetes schemas (npm packages kubernetes-models v5 and
yaml v2, installed into a temp dir here; k8s_validate.mjs also flags field names no
Kubernetes type has), and the rendered objects hold together: references to Secrets,
ConfigMaps and Services resolve, selectors select, every pod is locked down (non-root,
read-only root filesystem, no privilege escalation, no capabilities) with resources and
probes, the config in the ConfigMap passes both binaries' --check-config.
Skips, saying why, without node/npm, without kubectl, or when npm cannot install."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import aggregator_bin, require_aggregator, require_binary, source_dir, starling_bin

K8S = os.path.join(source_dir(), "deploy", "k8s")
KUSTOMIZATIONS = ("base", "overlays/single-redis", "overlays/redis-cluster")
VALIDATOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "k8s_validate.mjs")
NPM_PACKAGES = ("kubernetes-models@5", "yaml@2")
WORKLOADS = ("Deployment", "StatefulSet", "Job")


def install_validator(tmp):
    """Installs the npm packages beside a copy of k8s_validate.mjs; the node binary."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise unittest.SkipTest("node or npm not installed (schema validation needs npm "
                                "packages %s)" % " ".join(NPM_PACKAGES))
    try:
        r = subprocess.run([npm, "install", "--prefix", tmp, "--no-audit", "--no-fund",
                            "--no-save", "--loglevel=error"] + list(NPM_PACKAGES),
                           capture_output=True, text=True, timeout=240,
                           env=dict(os.environ, npm_config_update_notifier="false"))
    except subprocess.TimeoutExpired:
        raise unittest.SkipTest("npm install %s timed out (offline?)" % " ".join(NPM_PACKAGES))
    if r.returncode != 0:
        raise unittest.SkipTest("npm install %s failed (offline?): %s"
                                % (" ".join(NPM_PACKAGES), r.stderr.strip()[-300:]))
    shutil.copy(VALIDATOR, tmp)
    return node


def validate(node, tmp, yaml_text):
    r = subprocess.run([node, os.path.join(tmp, "k8s_validate.mjs")], input=yaml_text,
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError("k8s_validate.mjs failed: " + r.stderr[-2000:])
    return json.loads(r.stdout)


def matches(selector, labels):
    """Whether a label map matches a selector (a plain map, or matchLabels/Expressions)."""
    if "matchLabels" in selector or "matchExpressions" in selector:
        plain = selector.get("matchLabels", {})
    else:
        plain = selector
    if any(labels.get(k) != v for k, v in plain.items()):
        return False
    for e in selector.get("matchExpressions", []):
        v = labels.get(e["key"])
        if e["operator"] == "In" and v not in e["values"]:
            return False
        if e["operator"] == "NotIn" and v in e["values"]:
            return False
        if e["operator"] == "Exists" and v is None:
            return False
    return True


class Rendered:
    def __init__(self, objects):
        self.objects = objects

    def of(self, kind):
        return [o for o in self.objects if o["kind"] == kind]

    def named(self, kind, name):
        found = [o for o in self.of(kind) if o["metadata"]["name"] == name]
        return found[0] if found else None

    def generated(self, kind, base):
        """A generated ConfigMap or Secret by its name before the hash suffix."""
        found = [o for o in self.of(kind) if o["metadata"]["name"].rsplit("-", 1)[0] == base]
        return found[0] if len(found) == 1 else None

    def workloads(self):
        return [o for o in self.objects if o["kind"] in WORKLOADS]

    def pod_labels(self):
        return [(w, w["spec"]["template"]["metadata"]["labels"]) for w in self.workloads()]


class SchemaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.kubectl = shutil.which("kubectl")
        if cls.kubectl is None:
            raise unittest.SkipTest("kubectl not installed (kubectl kustomize renders the "
                                    "manifests)")
        cls.tmp = tempfile.mkdtemp(prefix="starling-k8s-schema-")
        try:
            cls.node = install_validator(cls.tmp)
        except unittest.SkipTest:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise
        cls.results = {}
        for k in KUSTOMIZATIONS:
            r = subprocess.run([cls.kubectl, "kustomize", os.path.join(K8S, k)],
                               capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                raise AssertionError("kubectl kustomize %s: %s" % (k, r.stderr))
            cls.results[k] = validate(cls.node, cls.tmp, r.stdout)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def each(self):
        for k in KUSTOMIZATIONS:
            with self.subTest(kustomization=k):
                yield k, Rendered(self.results[k]["objects"])

    def test_validator_catches_errors(self):
        # The check can fail: a wrong type and a misspelt optional field are both reported.
        bad = ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n"
               "  replicas: three\n  selector: {matchLabels: {a: b}}\n  template:\n"
               "    metadata: {labels: {a: b}}\n    spec:\n      containers:\n"
               "        - name: c\n          image: i\n"
               "          securityContext: {readOnlyRootFileSystem: true}\n")
        errors = validate(self.node, self.tmp, bad)["errors"]
        self.assertTrue(any("replicas" in e for e in errors), errors)
        self.assertTrue(any("readOnlyRootFileSystem" in e for e in errors), errors)

    def test_objects_validate(self):
        for k in KUSTOMIZATIONS:
            with self.subTest(kustomization=k):
                res = self.results[k]
                self.assertGreater(len(res["objects"]), 5)
                self.assertEqual(res["errors"], [])

    def test_everything_in_the_namespace(self):
        for _, r in self.each():
            for o in r.objects:
                if o["kind"] != "Namespace":
                    self.assertEqual(o["metadata"].get("namespace"), "starling",
                                     "%s/%s" % (o["kind"], o["metadata"]["name"]))

    def test_pods_are_locked_down(self):
        for _, r in self.each():
            for w in r.workloads():
                name = "%s/%s" % (w["kind"], w["metadata"]["name"])
                pod = w["spec"]["template"]["spec"]
                self.assertIs(pod.get("automountServiceAccountToken"), False, name)
                psc = pod.get("securityContext", {})
                self.assertIs(psc.get("runAsNonRoot"), True, name)
                self.assertNotEqual(psc.get("runAsUser"), 0, name)
                self.assertEqual(psc.get("seccompProfile", {}).get("type"), "RuntimeDefault",
                                 name)
                for c in pod["containers"] + pod.get("initContainers", []):
                    sc = c.get("securityContext", {})
                    self.assertIs(sc.get("readOnlyRootFilesystem"), True, name)
                    self.assertIs(sc.get("allowPrivilegeEscalation"), False, name)
                    self.assertIn("ALL", sc.get("capabilities", {}).get("drop", []), name)
                    self.assertNotIn("add", sc.get("capabilities", {}), name)
                    res = c.get("resources", {})
                    self.assertIn("memory", res.get("limits", {}), name)
                    self.assertIn("memory", res.get("requests", {}), name)
                    self.assertIn("cpu", res.get("requests", {}), name)
                    if w["kind"] != "Job":
                        self.assertIn("readinessProbe", c, name)
                        self.assertIn("livenessProbe", c, name)

    def test_frontends(self):
        for _, r in self.each():
            fe = r.named("Deployment", "starling")
            self.assertNotIn("replicas", fe["spec"], "the autoscaler owns the count")
            pod = fe["spec"]["template"]["spec"]
            c = pod["containers"][0]
            ports = {p["name"]: p for p in c["ports"]}
            self.assertEqual(ports["udp"]["protocol"], "UDP")
            self.assertEqual(c["readinessProbe"]["httpGet"]["path"], "/readyz")
            self.assertEqual(c["livenessProbe"]["httpGet"]["path"], "/healthz")
            self.assertEqual(c["readinessProbe"]["httpGet"]["port"], "metrics")
            spread = {t["topologyKey"] for t in pod["topologySpreadConstraints"]}
            self.assertIn("kubernetes.io/hostname", spread)
            # The drain (shutdown_timeout, 10 s) and the preStop pause fit the grace period.
            self.assertGreaterEqual(pod["terminationGracePeriodSeconds"], 15)
            env = {e["name"]: e for e in c["env"]}
            self.assertIn("secretKeyRef", env["STARLING_UDP_SECRET"]["valueFrom"])
            hpa = r.named("HorizontalPodAutoscaler", "starling")
            self.assertEqual(hpa["spec"]["scaleTargetRef"]["name"], "starling")
            self.assertEqual(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment")
            self.assertGreaterEqual(hpa["spec"]["minReplicas"], 3)
            agg = r.named("Deployment", "starling-aggregator")
            self.assertEqual(agg["spec"]["replicas"], 2)

    def test_services(self):
        for _, r in self.each():
            lb = [s for s in r.of("Service") if s["spec"].get("type") == "LoadBalancer"]
            self.assertEqual({p["protocol"] for s in lb for p in s["spec"]["ports"]},
                             {"TCP", "UDP"})
            for s in r.of("Service"):
                name = s["metadata"]["name"]
                if s["spec"].get("type") in ("LoadBalancer", "NodePort"):
                    self.assertEqual(s["spec"].get("externalTrafficPolicy"), "Local",
                                     "%s: client addresses would be SNAT'd" % name)
                pods = [(w, labels) for w, labels in r.pod_labels()
                        if matches(s["spec"]["selector"], labels)]
                self.assertTrue(pods, "Service %s selects no pod" % name)
                for p in s["spec"]["ports"]:
                    target = p.get("targetPort", p["port"])
                    for w, _ in pods:
                        cports = [cp for c in w["spec"]["template"]["spec"]["containers"]
                                  for cp in c.get("ports", [])]
                        self.assertTrue(any(cp.get("name") == target or
                                            cp["containerPort"] == target for cp in cports),
                                        "Service %s: no port %s in %s" % (
                                            name, target, w["metadata"]["name"]))

    def test_disruption_budgets_select(self):
        for _, r in self.each():
            for pdb in r.of("PodDisruptionBudget"):
                self.assertTrue(any(matches(pdb["spec"]["selector"], labels)
                                    for _, labels in r.pod_labels()),
                                pdb["metadata"]["name"])

    def test_references_resolve(self):
        for _, r in self.each():
            for w in r.workloads():
                pod = w["spec"]["template"]["spec"]
                for v in pod.get("volumes", []):
                    if "configMap" in v:
                        self.assertIsNotNone(r.named("ConfigMap", v["configMap"]["name"]),
                                             v["configMap"]["name"])
                for c in pod["containers"]:
                    for e in c.get("env", []):
                        ref = e.get("valueFrom", {}).get("secretKeyRef")
                        if ref is None:
                            continue
                        secret = r.named("Secret", ref["name"])
                        self.assertIsNotNone(secret, ref["name"])
                        self.assertIn(ref["key"], secret.get("data", {}), ref)

    def test_config_map_passes_check_config(self):
        require_binary()
        require_aggregator()
        for k, r in self.each():
            cm = r.generated("ConfigMap", "starling-config")
            config = cm["data"]["config.json"]
            cfg = json.loads(config)
            for deployment in ("starling", "starling-aggregator"):
                c = r.named("Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]
                env = {k: v for k, v in os.environ.items() if not k.startswith("STARLING_")}
                # The plain values the pod sets (secrets come from the Secret, tested apart).
                env.update({e["name"]: e["value"] for e in c.get("env", []) if "value" in e})
                with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
                    f.write(config)
                    f.flush()
                    binary = starling_bin() if deployment == "starling" else aggregator_bin()
                    p = subprocess.run([binary, "--config", f.name, "--check-config"],
                                       env=env, capture_output=True, text=True, timeout=10)
                self.assertEqual(p.returncode, 0, "%s %s: %s" % (k, deployment,
                                                                  p.stdout + p.stderr))
            if k == "base":
                continue  # Redis comes with an overlay
            svc = r.named("Service", cfg["redis"]["host"])
            self.assertIsNotNone(svc, "redis.host %r is no Service" % cfg["redis"]["host"])
            self.assertIn(cfg["redis"]["port"], [p["port"] for p in svc["spec"]["ports"]])

    def test_only_the_tracker_reaches_redis(self):
        for k, r in self.each():
            if k == "base":
                continue
            redis = [w for w in r.workloads() if w["kind"] == "StatefulSet"]
            self.assertEqual(len(redis), 1)
            redis_labels = redis[0]["spec"]["template"]["metadata"]["labels"]
            policies = [n for n in r.of("NetworkPolicy")
                        if matches(n["spec"]["podSelector"], redis_labels)]
            self.assertEqual(len(policies), 1, "one NetworkPolicy guards Redis")
            pol = policies[0]["spec"]
            self.assertIn("Ingress", pol["policyTypes"])
            allowed = set()
            for rule in pol["ingress"]:
                ports = {p["port"] for p in rule.get("ports", [])}
                self.assertTrue(ports, "a rule open on every port")
                for peer in rule["from"]:
                    self.assertEqual(set(peer), {"podSelector"}, "only pods of this namespace")
                    for w, labels in r.pod_labels():
                        if matches(peer["podSelector"], labels) and 6379 in ports:
                            allowed.add(w["metadata"]["name"])
            expected = {"starling", "starling-aggregator"}
            if k.endswith("redis-cluster"):
                expected |= {"redis-cluster", "redis-cluster-bootstrap"}
            self.assertEqual(allowed, expected)

    def test_cluster_seeds_name_the_nodes(self):
        r = Rendered(self.results["overlays/redis-cluster"]["objects"])
        sts = r.named("StatefulSet", "redis-cluster")
        self.assertEqual(sts["spec"]["replicas"], 6)
        headless = r.named("Service", sts["spec"]["serviceName"])
        self.assertEqual(headless["spec"]["clusterIP"], "None")
        seeds = set()
        for name in ("starling", "starling-aggregator"):
            env = {e["name"]: e.get("value") for e in
                   r.named("Deployment", name)["spec"]["template"]["spec"]["containers"][0]["env"]}
            seeds.add(env["STARLING_REDIS_CLUSTER_NODES"])
        job = r.named("Job", "redis-cluster-bootstrap")
        env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
        seeds.add(env["REDIS_CLUSTER_NODES"])
        self.assertEqual(len(seeds), 1, "the frontends, the aggregator and the Job disagree")
        expected = ["redis-cluster-%d.%s:6379" % (i, headless["metadata"]["name"])
                    for i in range(6)]
        self.assertEqual(seeds.pop().split(","), expected)
        # The Job's script is the one in the repo.
        cm = r.generated("ConfigMap", "redis-cluster-bootstrap")
        with open(os.path.join(K8S, "overlays", "redis-cluster", "bootstrap.sh")) as f:
            self.assertEqual(cm["data"]["bootstrap.sh"], f.read())


if __name__ == "__main__":
    unittest.main()
