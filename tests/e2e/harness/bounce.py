"""The sluice-bounce side of a private Postfix: pipe(8) runs the built
sluice-bounce as nobody for the VERP and feedback domains (as
contrib/postfix/bounce.*.cf describe), through a small wrapper that keeps a
copy of each report and logs the exit status."""

import os
import re
import shutil
import subprocess
import time

from . import cleanup
from .daemon import sluice_binary


def wait_until(predicate, timeout, what):
    """Polls predicate() (every 0.1 s) until true; fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


class BounceSetup:
    """The sluice-bounce side: a directory readable by nobody with the
    config, the pipe wrapper, its log, kept reports and unparsed_dir."""

    def __init__(self, redis):
        self.dir = cleanup.make_dir("bounce")
        self.redis = redis
        self.config_path = os.path.join(self.dir, "sluice.conf")
        self.log_path = os.path.join(self.dir, "bounce.log")
        self.reports = os.path.join(self.dir, "reports")
        self.unparsed = os.path.join(self.dir, "unparsed")
        for d in (self.reports, self.unparsed):
            os.mkdir(d)
            os.chmod(d, 0o1777)
        with open(self.log_path, "w"):
            pass
        os.chmod(self.log_path, 0o666)
        self.write_config()
        # pipe(8) runs it as nobody, who may not reach the build tree (a
        # checkout under /root): a copy next to the wrapper always works.
        self.binary = os.path.join(self.dir, "sluice-bounce")
        shutil.copy(sluice_binary("sluice-bounce"), self.binary)
        os.chmod(self.binary, 0o755)
        self.wrapper = os.path.join(self.dir, "pipe.sh")
        with open(self.wrapper, "w") as f:
            f.write(f"""#!/bin/sh
# Run by pipe(8) as nobody: keep the report, run sluice-bounce, log its status.
copy=$(mktemp {self.reports}/report.XXXXXX) || exit 75
cat >"$copy" || exit 75
{self.binary} -f -c {self.config_path} "$@" <"$copy" 2>>{self.log_path}
rc=$?
echo "sluice-bounce exit $rc" >>{self.log_path}
exit $rc
""")
        os.chmod(self.wrapper, 0o755)

    def write_config(self, extra=""):
        text = (f"[redis]\nport = {self.redis.port}\nconnect_timeout = 300ms\ncommand_timeout = 500ms\n\n"
                f"[log]\nlevel = debug\n\n[milter]\nverp_domain = verp.test\n\n"
                f"[bounce]\nunparsed_dir = {self.unparsed}\n\n{extra}\n")
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.config_path)

    def master_cf(self):
        return [f"sluicebounce unix - n n - 10 pipe\n"
                f"  flags=q user=nobody argv={self.wrapper} --recipient ${{recipient}} --queue-id ${{queue_id}}"]

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def exits(self):
        return re.findall(r"^sluice-bounce exit (\d+)$", self.log(), re.M)

    def run(self, report_path, *args):
        """Runs sluice-bounce by hand on a kept report; returns (status, stderr)."""
        with open(report_path, "rb") as f:
            got = subprocess.run([sluice_binary("sluice-bounce"), "-f", "-c", self.config_path, *args], stdin=f,
                                 capture_output=True, timeout=30)
        return got.returncode, got.stderr.decode(errors="replace")
