"""Bare metal: `cmake --install` of the build under test puts both binaries, the default
config and the systemd units (deploy/systemd/) under the prefix, the units naming the
installed paths; the installed binaries accept the installed config; the units pass
`systemd-analyze verify` without a warning, keep their sandbox (`systemd-analyze security`)
and allow the descriptors the connection limit needs."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import require_aggregator, require_binary, source_dir, starling_bin

UNITS = ("starling.service", "starling@.service", "starling-aggregator.service")
# Sandboxing every unit keeps (README, "Bare metal").
SANDBOX = ("DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
           "PrivateTmp=yes", "PrivateDevices=yes", "CapabilityBoundingSet=\n",
           "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "SystemCallFilter=@system-service",
           "MemoryDenyWriteExecute=yes")
# frontend/http_accept.c: FD_RESERVE, kept for everything but client connections.
FD_RESERVE = 32
# `systemd-analyze security` scores 0 (locked down) to 10; "OK" ends at 2.0 (systemd 252).
MAX_EXPOSURE = 2.0


def build_dir():
    return os.path.dirname(starling_bin())


def cmake_install(prefix, destdir=None):
    cmake = shutil.which("cmake")
    if cmake is None:
        raise unittest.SkipTest("cmake not installed")
    if not os.path.exists(os.path.join(build_dir(), "cmake_install.cmake")):
        raise unittest.SkipTest("%s is not a CMake build directory" % build_dir())
    env = dict(os.environ)
    env.pop("DESTDIR", None)
    if destdir:
        env["DESTDIR"] = destdir
    r = subprocess.run([cmake, "--install", build_dir(), "--prefix", prefix], env=env,
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError("cmake --install failed:\n" + r.stdout + r.stderr)
    return r.stdout


def unit_value(text, key):
    values = re.findall(r"^%s=(.*)$" % re.escape(key), text, re.M)
    return values[-1] if values else None


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_binary()
        require_aggregator()
        cls.tmp = tempfile.mkdtemp(prefix="starling-install-")
        cls.prefix = os.path.join(cls.tmp, "prefix")
        cls.log = cmake_install(cls.prefix)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.prefix, *parts)

    def unit(self, name):
        with open(self.path("lib", "systemd", "system", name)) as f:
            return f.read()

    def test_files_installed(self):
        for binary in ("starling", "starling-aggregator"):
            p = self.path("bin", binary)
            self.assertTrue(os.access(p, os.X_OK), p)
        with open(self.path("etc", "starling", "config.json")) as f, \
                open(os.path.join(source_dir(), "config.json")) as g:
            self.assertEqual(f.read(), g.read())
        for unit in UNITS:
            self.assertTrue(os.path.exists(self.path("lib", "systemd", "system", unit)), unit)
            self.assertIn(unit, self.log)

    def test_installed_binaries_accept_installed_config(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("STARLING_")}
        for binary in ("starling", "starling-aggregator"):
            r = subprocess.run([self.path("bin", binary), "--config",
                                self.path("etc", "starling", "config.json"), "--check-config"],
                               env=env, capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_units_name_the_installed_paths(self):
        for unit, binary, config in (
                ("starling.service", "starling", "config.json"),
                ("starling@.service", "starling", "%i.json"),
                ("starling-aggregator.service", "starling-aggregator", "config.json")):
            text = self.unit(unit)
            self.assertNotIn("@BINDIR@", text)
            self.assertNotIn("@SYSCONFDIR@", text)
            self.assertEqual(unit_value(text, "ExecStart"), "%s --config %s" % (
                self.path("bin", binary), self.path("etc", "starling", config)))
            self.assertEqual(unit_value(text, "EnvironmentFile"),
                             "-" + self.path("etc", "starling", "starling.env"))

    def test_destdir_stays_out_of_the_units(self):
        # Packaging: DESTDIR stages the files, the units name the final paths.
        stage = os.path.join(self.tmp, "stage")
        cmake_install("/usr/local", destdir=stage)
        unit = os.path.join(stage, "usr", "local", "lib", "systemd", "system", "starling.service")
        with open(unit) as f:
            text = f.read()
        self.assertEqual(unit_value(text, "ExecStart"),
                         "/usr/local/bin/starling --config /usr/local/etc/starling/config.json")
        self.assertTrue(os.path.exists(os.path.join(stage, "usr", "local", "bin", "starling")))

    def test_sandboxing_and_limits(self):
        with open(os.path.join(source_dir(), "config.json")) as f:
            cfg = json.load(f)
        # Client connections plus what the frontend keeps for itself, at the defaults.
        needed = (cfg["http_listen_limit"] + FD_RESERVE + len(cfg["http_listen_addr"]) +
                  len(cfg["udp_listen_addr"]) + 2 * cfg["redis"]["connections"])
        for unit in UNITS:
            text = self.unit(unit)
            for option in SANDBOX:
                self.assertIn("\n" + option, text, "%s lacks %s" % (unit, option.strip()))
            self.assertEqual(unit_value(text, "RestartPreventExitStatus"), "2", unit)
            nofile = int(unit_value(text, "LimitNOFILE"))
            if unit.startswith("starling-aggregator"):
                continue
            self.assertGreaterEqual(nofile, needed, "%s: LimitNOFILE below what "
                                    "http_listen_limit %d needs" % (unit, cfg["http_listen_limit"]))

    def analyze(self, *args, cwd=None):
        tool = shutil.which("systemd-analyze")
        if tool is None:
            self.skipTest("systemd-analyze not installed")
        return subprocess.run([tool] + list(args), capture_output=True, text=True, timeout=60,
                              cwd=cwd)

    def test_systemd_analyze_verify(self):
        unit_dir = self.path("lib", "systemd", "system")
        # The template is verified as an instance (its files sit beside it).
        for unit in ("starling.service", "starling@edge1.service", "starling-aggregator.service"):
            r = self.analyze("verify", os.path.join(unit_dir, unit), cwd=unit_dir)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            # verify exits 0 on unknown or malformed settings: any word about our units fails.
            ours = [line for line in (r.stdout + r.stderr).splitlines()
                    if "starling" in line]
            self.assertEqual(ours, [], unit)

    def test_systemd_analyze_security(self):
        unit_dir = self.path("lib", "systemd", "system")
        for unit in ("starling.service", "starling@edge1.service", "starling-aggregator.service"):
            r = self.analyze("security", "--offline=yes", os.path.join(unit_dir, unit),
                             cwd=unit_dir)
            if r.returncode != 0 and "offline" in r.stderr:
                self.skipTest("systemd-analyze security --offline unsupported: " + r.stderr)
            m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
            self.assertIsNotNone(m, r.stdout[-500:] + r.stderr)
            self.assertLessEqual(float(m.group(1)), MAX_EXPOSURE, unit + "\n" + r.stdout)


if __name__ == "__main__":
    unittest.main()
