"""The command line: --version, --check (every problem as FILE:LINE:COL), bad configs."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import certs
from harness import HERE, WAYGATE_BIN, free_port, proxy_config

REPO_ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
REPO_CONFIG = os.path.join(REPO_ROOT, "config", "waygate.yaml")

# Line numbers matter: the test expects a message on each marked line.
BAD_CONFIG = """\
workers: 1
bogus_key: 1                       # line 2: unknown key
timeouts:
  upstream_connect: 5 parsecs      # line 4: bad duration
  header_reed: 1s                  # line 5: unknown nested key
limits:
  max_body_bytes: 10 megabytes     # line 7: bad size
listeners:
  - name: web
    address: 127.0.0.1:{port}
routes:
  - hosts: ["*"]
    paths:
      - prefix: /
        cluster: nowhere           # line 15: unknown cluster
clusters:
  - name: up
    endpoints: [127.0.0.1:9]
"""
BAD_LINES = {2: "bogus_key", 4: None, 5: "header_reed", 7: None, 15: "nowhere"}


class CliTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not os.access(WAYGATE_BIN, os.X_OK):
            raise unittest.SkipTest(f"waygate binary not found at {WAYGATE_BIN}")

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="waygate-cli-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_waygate(self, *args, timeout=30):
        return subprocess.run([WAYGATE_BIN, *args], capture_output=True, timeout=timeout,
                              text=True, errors="replace")

    def messages(self, output, path):
        """{line: message} for every 'path:LINE:COL: message' in output."""
        found = {}
        for m in re.finditer(rf"^{re.escape(path)}:(\d+):(\d+): ?(.*)$", output, re.M):
            self.assertGreaterEqual(int(m.group(2)), 1, f"column must be 1-based: {m.group(0)}")
            found.setdefault(int(m.group(1)), m.group(3))
        return found

    def test_version_prints_version_and_exits_zero(self):
        out = self.run_waygate("--version")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout + out.stderr, r"\d+\.\d+\.\d+")

    def test_check_accepts_good_config(self):
        path = self.write("good.yaml", proxy_config(free_port(), {"up": ["127.0.0.1:9"]},
                                                    timeouts={"drain": "1m"},
                                                    limits={"max_body_bytes": "10MiB"}))
        out = self.run_waygate("--check", path)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_check_accepts_the_shipped_example_config(self):
        out = self.run_waygate("--check", REPO_CONFIG)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_check_accepts_the_example_in_the_config_reference(self):
        """The annotated config opening docs/config.md is one a user can copy."""
        with open(os.path.join(REPO_ROOT, "docs", "config.md"), encoding="utf-8") as f:
            example = re.search(r"```yaml\n(.*?)```", f.read(), re.S).group(1)
        path = self.write("example.yaml", example)
        # The certificates it names, as a user would have them beside the file.
        cert_dir = os.path.join(os.path.dirname(path), "certs")
        os.makedirs(cert_dir, exist_ok=True)
        certs.get("example").copy_to(cert_dir, "example")
        certs.get("example_ec").copy_to(cert_dir, "example-ec")
        out = self.run_waygate("--check", path)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_check_reports_every_problem_with_location(self):
        path = self.write("bad.yaml", BAD_CONFIG.format(port=free_port()))
        out = self.run_waygate("--check", path)
        output = out.stdout + out.stderr
        self.assertEqual(out.returncode, 1, output)
        found = self.messages(output, path)
        self.assertEqual(set(BAD_LINES) - set(found), set(),
                         f"missing FILE:LINE:COL messages for some lines; output:\n{output}")
        for line, word in BAD_LINES.items():
            if word:
                self.assertIn(word, found[line], f"line {line}'s message should name {word!r}")

    def check_single_problem(self, text, line):
        path = self.write("one.yaml", text)
        out = self.run_waygate("--check", path)
        output = out.stdout + out.stderr
        self.assertEqual(out.returncode, 1, output)
        self.assertIn(line, self.messages(output, path), output)

    def good_lines(self):
        return proxy_config(free_port(), {"up": ["127.0.0.1:9"]}).splitlines()

    def test_check_rejects_unknown_key(self):
        lines = self.good_lines()
        lines.insert(1, "frobnicate: true")
        self.check_single_problem("\n".join(lines) + "\n", 2)

    def test_check_rejects_bad_duration(self):
        lines = self.good_lines()
        lines[1:1] = ["timeouts:", "  drain: 5 fortnights"]
        self.check_single_problem("\n".join(lines) + "\n", 3)

    def test_check_rejects_unknown_cluster(self):
        text = proxy_config(free_port(), {"up": ["127.0.0.1:9"]},
                            routes=[{"hosts": ["*"], "paths": [{"prefix": "/",
                                                                "cluster": "missing"}]}])
        line = next(i for i, l in enumerate(text.splitlines(), 1) if "missing" in l)
        self.check_single_problem(text, line)

    def test_check_rejects_yaml_syntax_error(self):
        lines = self.good_lines()
        lines.insert(1, "listeners: [unclosed")
        path = self.write("syntax.yaml", "\n".join(lines) + "\n")
        out = self.run_waygate("--check", path)
        output = out.stdout + out.stderr
        self.assertEqual(out.returncode, 1, output)
        self.assertTrue(self.messages(output, path), output)

    def test_check_of_missing_file_fails(self):
        path = os.path.join(self.dir, "absent.yaml")
        out = self.run_waygate("--check", path)
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertIn(path, out.stdout + out.stderr)

    def test_run_with_bad_config_exits_nonzero(self):
        path = self.write("bad.yaml", BAD_CONFIG.format(port=free_port()))
        out = self.run_waygate("--config", path)
        self.assertNotEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertTrue(self.messages(out.stdout + out.stderr, path))

    def test_unknown_flag_exits_nonzero(self):
        out = self.run_waygate("--no-such-flag")
        self.assertNotEqual(out.returncode, 0)


if __name__ == "__main__":
    unittest.main()
