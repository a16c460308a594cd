"""sluicectl against a real private redis-server: the config it is given is
the one it uses, an outage is reported with exit status 69, and -n checks
the configuration file with file:line errors."""

import os
import subprocess

from harness import E2ETestCase, RedisServer, cleanup, sluice_binary


def write_config(directory, text):
    path = os.path.join(directory, "sluice.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


class SluicectlTest(E2ETestCase):

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.enterClassContext(RedisServer())
        cls.dir = cleanup.make_dir("sluicectl")
        cls.ctl = sluice_binary("sluicectl")

    def run_ctl(self, *args):
        return subprocess.run([self.ctl, *args], capture_output=True, text=True,
                              timeout=30, stdin=subprocess.DEVNULL)

    def test_status_reports_the_configured_redis(self):
        conf = write_config(self.dir, f"[redis]\nport = {self.redis.port}\n")
        got = self.run_ctl("-c", conf, "status")
        self.assertEqual(got.returncode, 0, got.stdout + got.stderr)
        self.assertIn(f"127.0.0.1:{self.redis.port}: reachable", got.stdout)
        # The harness's Redis runs without appendonly: status must say so.
        self.assertIn("warning    appendonly is off", got.stdout)

    def test_status_exits_69_when_redis_is_down(self):
        conf = write_config(self.dir, f"[redis]\nport = {self.redis.port}\n")
        self.redis.stop()
        try:
            got = self.run_ctl("-c", conf, "status")
        finally:
            self.redis.start()
        self.assertEqual(got.returncode, 69, got.stdout + got.stderr)
        self.assertIn("UNREACHABLE", got.stdout)

    def test_check_config_reports_file_line_and_reason(self):
        good = write_config(self.dir, "[redis]\nport = 6380\n")
        got = self.run_ctl("-c", good, "-n")
        self.assertEqual((got.returncode, got.stdout.strip()),
                         (0, f"{good}: configuration OK"))
        bad = write_config(self.dir, "[redis]\n\nprot = 6380\n")
        got = self.run_ctl("-c", bad, "-n")
        self.assertEqual(got.returncode, 1)
        self.assertEqual(got.stderr.strip(),
                         f'{bad}:3: unknown key "prot" in [redis] (did you mean "port"?)')
