"""Observability artefacts (deploy/prometheus, deploy/grafana) against the real binaries:
`promtool check metrics` on each binary's /metrics (a redis-server, a frontend and an
aggregator started here, after an announce and a pass); the alerting rules pass
`promtool check rules` and their unit tests (`promtool test rules`); every expression of
the rules and the dashboard uses only metric names, labels and label values the binaries
really export, and parses as PromQL; the dashboard is a well-formed Grafana model."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promtext
from harness import (Aggregator, RedisServer, Starling, announce, http_get, random_hash,
                     random_peer_id, require_aggregator, require_binary, source_dir,
                     wait_until)

DEPLOY = os.path.join(source_dir(), "deploy")
ALERTS = os.path.join(DEPLOY, "prometheus", "alerts.yml")
ALERTS_TEST = os.path.join(DEPLOY, "prometheus", "alerts_test.yml")
DASHBOARD = os.path.join(DEPLOY, "grafana", "starling.json")
# Labels Prometheus adds to every scraped series, and the histogram bucket bound.
TARGET_LABELS = {"instance", "job"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# What the dashboard must show (the list): at least these families.
DASHBOARD_MUST_USE = {
    "starling_http_requests_total", "starling_udp_requests_total",
    "starling_http_request_duration_seconds", "starling_redis_calls_total",
    "starling_redis_errors_total", "starling_redis_timeouts_total", "starling_torrents",
    "starling_seeders", "starling_leechers", "starling_peers", "starling_aggregator_leader",
    "starling_aggregator_last_pass_timestamp_seconds", "starling_http_open_connections",
}
METRIC_RE = re.compile(r"\b(starling_[a-zA-Z0-9_]+)(\{[^}]*\})?")
MATCHER_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"')
GROUPING_RE = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")


def promtool():
    tool = shutil.which("promtool")
    if tool is None:
        raise unittest.SkipTest("promtool not installed (Debian package prometheus)")
    return tool


def alert_exprs():
    """[(alert name, expr)] from alerts.yml, read without a YAML library: `expr:` either
    holds the expression or starts a `|` block."""
    out = []
    with open(ALERTS) as f:
        lines = f.read().split("\n")
    name = None
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"\s*- alert: (\S+)", line)
        if m:
            name = m.group(1)
        m = re.match(r"(\s*)expr: (.*)$", line)
        if m:
            if m.group(2).strip() == "|":
                indent = len(m.group(1))
                block = []
                i += 1
                while i < len(lines) and (lines[i].strip() == "" or
                                          len(lines[i]) - len(lines[i].lstrip()) > indent):
                    block.append(lines[i].strip())
                    i += 1
                out.append((name, " ".join(block)))
                continue
            out.append((name, m.group(2).strip()))
        i += 1
    return out


def dashboard_panels(dash):
    for p in dash["panels"]:
        yield p
        for q in p.get("panels", []):
            yield q


def dashboard_exprs(dash):
    return [(p["title"], t["expr"]) for p in dashboard_panels(dash)
            for t in p.get("targets", [])]


def as_promql(expr):
    """A dashboard query with Grafana's variables replaced by what they stand for."""
    return (expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
            .replace('"$instance"', '".*"'))


class ExportedMetrics:
    """{family: {"type": t, "labels": {label: {values}}}} of a frontend and an aggregator
    run here, after two announces and a pass that published them."""
    texts = None
    families = None

    @classmethod
    def load(cls):
        if cls.families is not None:
            return
        require_binary()
        require_aggregator()
        redis = RedisServer().start()
        fe = agg = None
        try:
            fe = Starling(redis).start()
            ih = random_hash()
            announce(fe.port, ih, random_peer_id(), 6881, left=0)
            r = announce(fe.port, ih, random_peer_id(), 6882)
            assert r.status == 200 and b"failure reason" not in r.body, r.body
            agg = Aggregator(redis, config={"aggregator": {"interval": "1s"}}).start()

            def fetch(port):
                r = http_get(port, "/metrics")
                assert r.status == 200, r.status
                return r.body

            # The frontend reports its counters once a second; a pass then publishes them.
            def published():
                text = fetch(agg.metrics_port)
                fams = promtext.parse(text)
                samples = fams.get("starling_requests_total", {"samples": []})["samples"]
                return text if samples and promtext.value(fams, "starling_torrents") >= 1 \
                    else None
            agg_text = wait_until(published, 15, interval=0.2,
                                  what="the aggregator to publish a pass with requests")
            cls.texts = {"starling": fetch(fe.metrics_port), "starling-aggregator": agg_text}
        finally:
            reports = []
            for p in (agg, fe):
                if p is not None:
                    reports.append(p.cleanup())
            redis.cleanup()
            for report in reports:
                if report:
                    raise AssertionError("sanitizer report:\n" + report)
        fams = {}
        for text in cls.texts.values():
            for name, fam in promtext.parse(text).items():
                labels = {}
                for _, lab, _ in fam["samples"]:
                    for k, v in lab.items():
                        labels.setdefault(k, set()).add(v)
                fams[name] = {"type": fam["type"], "labels": labels}
        cls.families = fams


class PromtoolTest(unittest.TestCase):
    def test_check_metrics_of_each_binary(self):
        tool = promtool()
        ExportedMetrics.load()
        for binary, text in ExportedMetrics.texts.items():
            with self.subTest(binary=binary):
                r = subprocess.run([tool, "check", "metrics"], input=text,
                                   capture_output=True, timeout=30)
                out = (r.stdout + r.stderr).decode(errors="replace")
                self.assertEqual(r.returncode, 0, out)
                self.assertEqual(out.strip(), "", "promtool lint findings")

    def test_check_rules(self):
        r = subprocess.run([promtool(), "check", "rules", ALERTS], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"SUCCESS: \d+ rules found")

    def test_alert_unit_tests(self):
        r = subprocess.run([promtool(), "test", "rules", ALERTS_TEST], capture_output=True,
                           text=True, timeout=60, cwd=os.path.dirname(ALERTS_TEST))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # Every alert has a case.
        with open(ALERTS_TEST) as f:
            tested = set(re.findall(r"alertname: (\S+)", f.read()))
        untested = {name for name, _ in alert_exprs()} - tested
        # Warnings about single events, cheap to reason about, are left to check rules.
        untested -= {"StarlingRedisReconnecting", "StarlingAcceptFailures",
                     "StarlingAnnounceLatencyHigh", "StarlingAggregatorLongCalls"}
        self.assertEqual(untested, set(), "alerts without a promtool test case")

    def test_dashboard_queries_parse(self):
        # promtool parses every dashboard query as a recording rule's expression.
        with open(DASHBOARD) as f:
            dash = json.load(f)
        rules = ["groups:", "  - name: dashboard", "    rules:"]
        for i, (_, expr) in enumerate(dashboard_exprs(dash)):
            rules += ["      - record: dashboard:query%d" % i,
                      "        expr: %s" % json.dumps(as_promql(expr))]
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
            f.write("\n".join(rules) + "\n")
            f.flush()
            r = subprocess.run([promtool(), "check", "rules", f.name], capture_output=True,
                               text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class NamesTest(unittest.TestCase):
    """Each query names only what exists: a typo or a renamed metric shows an empty
    panel or an alert that never fires, silently."""

    @classmethod
    def setUpClass(cls):
        ExportedMetrics.load()
        cls.families = ExportedMetrics.families
        with open(DASHBOARD) as f:
            cls.dash = json.load(f)

    def family(self, name):
        if name in self.families:
            return name
        for sfx in HISTOGRAM_SUFFIXES:
            base = name[:-len(sfx)]
            if name.endswith(sfx) and self.families.get(base, {}).get("type") == "histogram":
                return base
        return None

    def check_expr(self, where, expr):
        used = []
        for m in METRIC_RE.finditer(expr):
            if expr[m.start() - 1:m.start()] in (":",):
                continue  # a recording rule's name, not ours
            fam = self.family(m.group(1))
            self.assertIsNotNone(fam, "%s: %s is not exported by starling or "
                                 "starling-aggregator" % (where, m.group(1)))
            used.append((m.group(1), fam))
            labels = self.families[fam]["labels"]
            for label, op, value in MATCHER_RE.findall(m.group(2) or ""):
                if label in TARGET_LABELS:
                    continue
                self.assertIn(label, labels, "%s: %s has no label %s" % (where, fam, label))
                if op == "=":
                    self.assertIn(value, labels[label],
                                  "%s: %s{%s} never takes %r" % (where, fam, label, value))
                elif op == "=~" and "$" not in value:
                    for alt in value.split("|"):
                        self.assertIn(alt, labels[label],
                                      "%s: %s{%s} never takes %r" % (where, fam, label, alt))
        self.assertTrue(used, "%s: no starling metric in %r" % (where, expr))
        known = set(TARGET_LABELS)
        for name, fam in used:
            known |= set(self.families[fam]["labels"])
            if name.endswith("_bucket"):
                known.add("le")
        for group in GROUPING_RE.findall(expr):
            for label in (x.strip() for x in group.split(",")):
                if label:
                    self.assertIn(label, known, "%s: grouping by %s, which no metric of "
                                  "the expression has" % (where, label))

    def test_alert_expressions(self):
        exprs = alert_exprs()
        self.assertGreaterEqual(len(exprs), 8)
        for name, expr in exprs:
            with self.subTest(alert=name):
                self.check_expr("alert " + name, expr)

    def test_dashboard_expressions(self):
        exprs = dashboard_exprs(self.dash)
        for title, expr in exprs:
            with self.subTest(panel=title):
                self.check_expr("panel " + title, as_promql(expr))
        used = {self.family(m) for _, e in exprs for m, _ in METRIC_RE.findall(e)}
        self.assertEqual(DASHBOARD_MUST_USE - used, set(), "families the dashboard lacks")

    def test_the_checker_catches_a_wrong_name(self):
        # The check above can fail: a misspelt name, label and value are each caught.
        for bad in ('rate(starling_http_request_total[5m])',
                    'starling_http_requests_total{endpont="announce"}',
                    'starling_http_requests_total{result="storage_bsy"}',
                    'sum by (action) (starling_http_requests_total)'):
            with self.subTest(expr=bad):
                with self.assertRaises(AssertionError):
                    self.check_expr("self-test", bad)


class DashboardTest(unittest.TestCase):
    def test_grafana_model(self):
        with open(DASHBOARD) as f:
            dash = json.load(f)
        self.assertEqual(dash["uid"], "starling")
        self.assertIsInstance(dash["schemaVersion"], int)
        variables = {v["name"]: v for v in dash["templating"]["list"]}
        self.assertEqual(variables["datasource"]["type"], "datasource")
        self.assertEqual(variables["datasource"]["query"], "prometheus")
        panels = list(dashboard_panels(dash))
        ids = [p["id"] for p in panels]
        self.assertEqual(len(ids), len(set(ids)), "panel ids repeat")
        cells = set()
        for p in panels:
            g = p["gridPos"]
            self.assertTrue(0 <= g["x"] and g["w"] > 0 and g["x"] + g["w"] <= 24, p["title"])
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    self.assertNotIn((x, y), cells, "panel %r overlaps another" % p["title"])
                    cells.add((x, y))
            if p["type"] == "row":
                continue
            self.assertEqual(p["datasource"]["uid"], "${datasource}", p["title"])
            self.assertTrue(p["targets"], p["title"])
            refs = [t["refId"] for t in p["targets"]]
            self.assertEqual(len(refs), len(set(refs)), p["title"])
        rows = [p["title"] for p in panels if p["type"] == "row"]
        self.assertIn("Per node", rows)


if __name__ == "__main__":
    unittest.main()
