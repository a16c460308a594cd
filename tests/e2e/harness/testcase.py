"""E2ETestCase: unittest.TestCase with the assertions e2e tests share.

Fixtures are entered with unittest's own enterContext() (per test) or
enterClassContext() (per class, in setUpClass): they stop in reverse order
even when a test fails; cleanup.stop_all() catches whatever an interrupt
skipped. On a failure run.py prints the log tails of the live fixtures.
"""

import unittest


class E2ETestCase(unittest.TestCase):
    maxDiff = None

    def assertSmtpOk(self, result, msg=""):
        """result: swaks.Result; fails with the transcript unless rc == 0."""
        rc, transcript = result
        if rc != 0:
            self.fail(f"{msg + ': ' if msg else ''}swaks exit {rc}, want 0; "
                      f"transcript:\n{transcript}")

    def assertSmtpFails(self, result, rc, reply, msg=""):
        """Fails unless swaks exited with `rc` and `reply` (e.g. "535 5.7.8")
        appears in a server line of the transcript."""
        got_rc, transcript = result
        server_lines = [line for line in transcript.splitlines()
                        if line.startswith("<")]
        if got_rc != rc or not any(reply in line for line in server_lines):
            self.fail(f"{msg + ': ' if msg else ''}got exit {got_rc}, want "
                      f"{rc} with reply {reply!r}; transcript:\n{transcript}")
