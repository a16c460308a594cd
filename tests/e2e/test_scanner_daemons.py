"""Self-test of harness/scanners.py: spamd, rspamd and clamd start on free
loopback ports, know GTUBE / EICAR, pass ham, hang and resume, and leave no
process behind. Prints each scanner's own median scan latency (direct, over
its protocol, no milter): informational, only sanity-checked."""

import signal
import sys
import time

from harness import E2ETestCase
from harness.scanners import (ClamdDaemon, RspamdDaemon, SpamdDaemon, clean_message, eicar_message,
                              gtube_message, mark_message, median_latency)


class ScannerDaemonCase(E2ETestCase):
    """Starts cls.factory() once; the tests share it."""

    factory = None
    kLatencyLimit = 5.0  # seconds: only "it answers in reasonable time"

    @classmethod
    def setUpClass(cls):
        t0 = time.monotonic()
        cls.daemon = cls.enterClassContext(cls.factory())
        cls.start_seconds = time.monotonic() - t0

    def assertNoProcessLeft(self, daemon):
        left = daemon.processes()
        self.assertEqual(left, [], f"{daemon!r} left processes {left}")

    def report_latency(self, raw, what):
        seconds = median_latency(self.daemon, raw, 20)
        print(f"  {type(self.daemon).__name__} {what}: median of 20 direct scans {seconds * 1000:.1f} ms "
              f"(start took {self.start_seconds:.1f}s)", file=sys.stderr, flush=True)
        self.assertLess(seconds, self.kLatencyLimit)

    def check_hang_and_resume(self, ham):
        daemon = self.daemon
        with daemon.hung():
            t0 = time.monotonic()
            with self.assertRaises(OSError):  # socket.timeout is an OSError
                daemon.scan(ham, timeout=0.5)
            self.assertLess(time.monotonic() - t0, 3.0)
        # The request sent while it hung may still be in its queue.
        self.assertTrue(daemon.wait_answer(lambda: daemon.scan(ham).verdict == "clean", 30))

    def check_stop_leaves_nothing(self, ham):
        daemon = self.daemon
        pids = daemon.processes()
        self.assertTrue(pids)
        daemon.hang()  # the hardest case: stopped processes must die too
        daemon.stop()
        self.assertNoProcessLeft(daemon)
        self.assertFalse(daemon.ping())
        daemon.start()  # same port
        self.assertEqual(daemon.scan(ham).verdict, "clean")


class SpamdDaemonTest(ScannerDaemonCase):
    factory = SpamdDaemon

    def test_gtube_is_spam_and_ham_is_clean(self):
        spam = self.daemon.scan(gtube_message())
        self.assertEqual(spam.verdict, "spam", spam.reply)
        self.assertGreaterEqual(spam.score, 1000)
        self.assertEqual(spam.required, 5.0)
        self.assertIn("GTUBE", spam.symbols)
        ham = self.daemon.scan(clean_message())
        self.assertEqual(ham.verdict, "clean", ham.reply)
        self.assertLess(ham.score, 5.0)
        self.assertTrue(self.daemon.address.startswith("inet:127.0.0.1:"))

    def test_latency(self):
        self.report_latency(gtube_message(), "GTUBE")

    def test_hang_and_resume(self):
        self.check_hang_and_resume(clean_message())

    def test_stop_leaves_no_process(self):
        self.check_stop_leaves_nothing(clean_message())


class RspamdDaemonTest(ScannerDaemonCase):
    factory = RspamdDaemon

    def test_gtube_is_spam_and_ham_is_clean(self):
        spam = self.daemon.scan(gtube_message())
        self.assertEqual(spam.verdict, "spam", spam.reply)
        self.assertEqual(spam.reply["action"], "reject")
        self.assertIn("GTUBE", spam.symbols)
        ham = self.daemon.scan(clean_message())
        self.assertEqual(ham.verdict, "clean", ham.reply)
        self.assertEqual(ham.reply["action"], "no action")

    def test_no_dns_leaves_the_host(self):
        # A dead loopback port replaces the resolver of /etc/resolv.conf,
        # and the fuzzy module (which resolves rspamd.com at start) is off.
        log = self.daemon.log()
        self.assertNotIn("from resolv.conf", log, "rspamd read resolv.conf")
        self.assertNotIn("fuzzy1.rspamd.com", log, "rspamd resolved its fuzzy servers")

    def test_latency(self):
        self.report_latency(gtube_message(), "GTUBE")
        self.report_latency(clean_message(), "ham")

    def test_hang_and_resume(self):
        self.check_hang_and_resume(clean_message())

    def test_stop_leaves_no_process(self):
        workers = self.daemon.processes()
        self.assertGreaterEqual(len(workers), 3, "main, normal, controller...")
        self.check_stop_leaves_nothing(clean_message())


class ClamdDaemonTest(ScannerDaemonCase):
    factory = ClamdDaemon

    def test_eicar_and_mark_are_found_ham_is_clean(self):
        for encoding in ("base64", "plain"):
            got = self.daemon.scan(eicar_message(encoding))
            self.assertEqual((got.verdict, got.virus), ("virus", "Sluice.Test.EICAR.UNOFFICIAL"), encoding)
        got = self.daemon.scan(mark_message())
        self.assertEqual((got.verdict, got.virus), ("virus", "Sluice.Test.Mark.UNOFFICIAL"))
        self.assertEqual(self.daemon.scan(clean_message()).verdict, "clean")
        self.assertEqual(self.daemon.scan(gtube_message()).verdict, "clean")

    def test_latency(self):
        self.report_latency(eicar_message(), "EICAR attachment")

    def test_hang_and_resume(self):
        self.check_hang_and_resume(clean_message())

    def test_stop_leaves_no_process(self):
        self.check_stop_leaves_nothing(clean_message())

    def test_sigterm_of_a_hung_daemon_is_not_enough_but_stop_is(self):
        # SIGTERM stays pending on a stopped process: stop() must SIGCONT.
        self.daemon.hang()
        self.daemon.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        self.assertTrue(self.daemon.running)
        self.daemon.stop()
        self.assertNoProcessLeft(self.daemon)
        self.daemon.start()
        self.assertTrue(self.daemon.ping())
