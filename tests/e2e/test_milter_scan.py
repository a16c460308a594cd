"""Content scanning by sluice-milter through a real Postfix, against real
spamd, rspamd and clamd (harness/scanners.py): what the client sees at end
of DATA (550 5.7.1 reject, 451 4.7.1 tempfail), what the sink receives
(nothing, or the message with X-Spam-* / X-Virus-* headers that the DKIM
signatures cover and that verify), Postfix's hold queue for quarantine, the
milter's `scan=NAME:VERDICT` log entries, per-account thresholds, max_size,
and failures: a scanner stopped (refused) or hung (SIGSTOP) gets its
on_failure action within its timeout, and with several scanners end of
message waits for the slowest, not for the sum.

Each class starts its scanner daemons once (spamd and rspamd are slow to
start) and reconfigures the milter per test with a reload."""

import collections
import json
import re
import smtplib
import sys
import time

from harness import E2ETestCase, PostfixInstance, RedisServer, Sink, cleanup, ports, swaks
from harness.dkim_keys import DualSigningCase, signed_headers
from harness.milter import MilterDaemon
from harness.scanners import (ClamdDaemon, RspamdDaemon, SpamdDaemon, clean_message, eicar_message,
                              gtube_message)

kUsers = {"alice": "alice-pw", "bob": "bob-pw"}
# The SASL login as the milter sees it ({auth_authen}): Cyrus adds the realm.
kAlice = "alice@example.test"
kStatus = re.compile(r"^(Yes|No), score=(-?\d+(?:\.\d+)?) required=(-?\d+(?:\.\d+)?)")
# A whole SMTP transaction whose scanner hangs with timeout 1s: the timeout
# plus Postfix, the milter and a loaded machine.
kHungTransaction = 5.0


def scanner(name, daemon_or_address, kind=None, **keys):
    """A [scanner NAME] section; keys in the order given (timeout="1s")."""
    address = getattr(daemon_or_address, "address", daemon_or_address)
    if kind is None:
        kind = {SpamdDaemon: "spamd", RspamdDaemon: "rspamd", ClamdDaemon: "clamd"}[type(daemon_or_address)]
    lines = [f"[scanner {name}]", f"type = {kind}", f"address = {address}"]
    lines += [f"{key} = {value}" for key, value in keys.items()]
    return "\n".join(lines) + "\n"


def dead_address():
    """inet:127.0.0.1:PORT where nothing listens: connection refused."""
    port = ports.free_port()
    assert not ports.can_connect(port)
    return f"inet:{ports.kHost}:{port}"


class ScanCase(DualSigningCase, E2ETestCase):
    """A sink, a private Redis (the milter's statistics; without it the
    milter would try 127.0.0.1:6379), a dual-signing milter and Postfix
    with SASL users alice and bob, plus the scanner daemons named in
    `daemons`."""

    daemons = ()

    @classmethod
    def setUpClass(cls):
        signing = cls.make_dual_keys()
        factories = {"spamd": SpamdDaemon, "rspamd": RspamdDaemon, "clamd": ClamdDaemon}
        for kind in cls.daemons:
            t0 = time.monotonic()
            setattr(cls, kind, cls.enterClassContext(factories[kind]()))
            print(f"  {kind} ready in {time.monotonic() - t0:.1f}s", file=sys.stderr, flush=True)
        cls.sink = cls.enterClassContext(Sink())
        cls.redis = cls.enterClassContext(RedisServer())
        cls.milter = cls.enterClassContext(MilterDaemon(keys=cls.keys, signing=signing,
                                                        milter_keys=cls.redis_section()))
        cls.postfix = cls.enterClassContext(PostfixInstance(
            relay=cls.sink, sasl_users=kUsers,
            main_cf={"smtpd_milters": cls.milter.socket_spec,
                     "milter_default_action": "tempfail",
                     "milter_protocol": "6"}))

    def setUp(self):
        self.postfix.wait_queue_empty(30)
        self.sink.clear()

    # --- configuration and sending ---------------------------------------

    @classmethod
    def redis_section(cls):
        return f"[redis]\nhost = {ports.kHost}\nport = {cls.redis.port}\n"

    def configure(self, *sections):
        """Reloads the milter with these [scanner] sections (and nothing
        else beyond the signing set-up and Redis)."""
        self.milter.reload(milter_keys="\n".join((self.redis_section(),) + sections))
        self.mark_log()

    def mark_log(self):
        """assertScanLogged looks at the milter log from here on."""
        self._log_mark = len(self.milter.log())

    def send(self, data, user="alice"):
        """swaks as `user` (SASL); returns (Result, seconds)."""
        t0 = time.monotonic()
        result = swaks.send(self.postfix, sender=f"{user}@example.test", to="bob@example.net", data=data,
                            auth=(user, kUsers[user]), timeout=60)
        return result, time.monotonic() - t0

    def timed_data(self, data, user="alice"):
        """(code, reply text, seconds from sending the message to the
        server's answer to it): the end-of-message wait alone."""
        with smtplib.SMTP(ports.kHost, self.postfix.port, local_hostname="client.example.test",
                          timeout=60) as smtp:
            smtp.ehlo()
            smtp.login(user, kUsers[user])
            smtp.mail(f"{user}@example.test")
            smtp.rcpt("bob@example.net")
            t0 = time.monotonic()
            try:
                code, reply = smtp.data(data)
            except smtplib.SMTPDataError as e:
                code, reply = e.smtp_code, e.smtp_error
            return code, reply.decode(errors="replace"), time.monotonic() - t0

    def delivered(self):
        """The one message the sink got (after the queue drained)."""
        self.postfix.wait_queue_empty(60)
        got = self.sink.wait_for(1, 30)
        self.assertEqual(len(got), 1, got)
        return got[0]

    def deliver(self, data, user="alice"):
        result, _ = self.send(data, user)
        self.assertSmtpOk(result)
        return self.delivered()

    # --- assertions --------------------------------------------------------

    def assertScanLogged(self, name, verdict, timeout=5.0):
        """A message line logged since mark_log() has NAME:VERDICT among
        its `scan=` items ("NAME:VERDICT(detail)/Nms", comma-separated;
        a detail may hold spaces). Returns that item."""
        item = re.compile(rf"(?:^|,){re.escape(name)}:{verdict}(?:\(.*?\))?/\d+ms")
        deadline = time.monotonic() + timeout
        while True:
            new = self.milter.log()[self._log_mark:]
            for line in new.splitlines():
                _, found, scans = line.partition(" scan=")
                m = item.search(scans) if found else None
                if m:
                    return m.group(0)
            if time.monotonic() >= deadline:
                self.fail(f"no scan item {item.pattern!r} in the milter log since the reload:\n{new[-3000:]}")
            time.sleep(0.05)

    def assertRejected(self, result, text=None):
        """550 5.7.1 at end of DATA (with `text` if given), nothing
        delivered, nothing queued."""
        self.assertSmtpFails(result, 26, f"550 5.7.1 {text}" if text else "550 5.7.1")
        self.postfix.wait_queue_empty(10)
        self.assertEqual(self.sink.count(), 0)

    def assertNothingDelivered(self):
        time.sleep(0.3)  # a delivery would have begun by now
        self.assertEqual(self.sink.count(), 0, [m.raw[:500] for m in self.sink.messages()])

    def assertTagged(self, got, prefix="X-Spam", status="Yes", symbol=None):
        """PREFIX-Status "Yes|No, score=S required=R", PREFIX-Score S,
        PREFIX-Symbols (with `symbol`), all three under every DKIM
        signature, and both verifiers accept. Returns (score, required)."""
        msg = got.message
        value = msg.get(f"{prefix}-Status")
        self.assertIsNotNone(value, got.header_block.decode(errors="replace"))
        m = kStatus.match(str(value))
        self.assertTrue(m, f"{prefix}-Status: {value}")
        self.assertEqual(m.group(1), status, f"{prefix}-Status: {value}")
        score, required = float(m.group(2)), float(m.group(3))
        self.assertAlmostEqual(float(str(msg.get(f"{prefix}-Score"))), score, places=1)
        symbols = msg.get(f"{prefix}-Symbols")
        self.assertIsNotNone(symbols, got.header_block.decode(errors="replace"))
        if symbol:
            self.assertIn(symbol, str(symbols))
        self.assertCovered(got, [f"{prefix}-Status", f"{prefix}-Score", f"{prefix}-Symbols"])
        return score, required

    def assertCovered(self, got, names):
        """Every DKIM signature's h= lists `names`; both verifiers accept."""
        lists = signed_headers(got.raw)
        self.assertEqual(len(lists), 2, got.header_block)
        for h in lists:
            for name in names:
                self.assertIn(name.lower(), h, f"h={':'.join(h)}")
        self.assertVerifies(got.raw)

    def hold_queue(self):
        """postqueue -j entries in the hold queue."""
        out = cleanup.run(["/usr/sbin/postqueue", "-c", self.postfix.etc, "-j"],
                          env={"MAIL_CONFIG": self.postfix.etc}).stdout
        entries = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        return [e for e in entries if e.get("queue_name") == "hold"]

    def delete_held(self):
        cleanup.run(["/usr/sbin/postsuper", "-c", self.postfix.etc, "-d", "ALL", "hold"],
                    env={"MAIL_CONFIG": self.postfix.etc})


class SpamdScanTest(ScanCase):
    daemons = ("spamd",)

    def test_gtube_is_rejected_with_the_configured_text(self):
        self.configure(scanner("spam", self.spamd, on_spam="reject", reject_text="Spam is not welcome here"))
        result, _ = self.send(gtube_message())
        self.assertRejected(result, "Spam is not welcome here")
        self.assertScanLogged("spam", "spam")

    def test_gtube_is_tagged_and_the_signatures_cover_the_headers(self):
        self.configure(scanner("spam", self.spamd, on_spam="add-header"))
        got = self.deliver(gtube_message())
        score, required = self.assertTagged(got, status="Yes", symbol="GTUBE")
        self.assertGreaterEqual(score, 1000)
        self.assertEqual(required, 5.0)
        self.assertScanLogged("spam", "spam")

    def test_clean_message_is_tagged_no_when_asked(self):
        self.configure(scanner("spam", self.spamd, on_clean="add-header", on_spam="reject"))
        got = self.deliver(clean_message())
        score, required = self.assertTagged(got, status="No")
        self.assertLess(score, required)
        self.assertScanLogged("spam", "clean")

    def test_gtube_is_tempfailed(self):
        self.configure(scanner("spam", self.spamd, on_spam="tempfail"))
        result, _ = self.send(gtube_message())
        self.assertSmtpFails(result, 26, "451 4.7.1")
        self.assertNothingDelivered()

    def test_gtube_is_quarantined_in_the_hold_queue(self):
        self.configure(scanner("spam", self.spamd, on_spam="quarantine"))
        self.addCleanup(self.delete_held)
        result, _ = self.send(gtube_message())
        self.assertSmtpOk(result)
        queue_id = re.search(r"queued as ([0-9A-F]+)", result.transcript).group(1)
        deadline = time.monotonic() + 10
        while not self.hold_queue() and time.monotonic() < deadline:
            time.sleep(0.1)
        held = self.hold_queue()
        self.assertEqual([e["queue_id"] for e in held], [queue_id], self.postfix.mailq())
        self.assertNothingDelivered()
        self.assertScanLogged("spam", "spam")

    def test_forged_verdict_headers_are_replaced(self):
        forged = ("X-Spam-Status: No, score=-5.0 required=5.0\nX-Spam-Score: -5.0\n"
                  "X-Spam-Symbols: ALL_TRUSTED\n")
        self.configure(scanner("spam", self.spamd, on_spam="add-header"))
        data = gtube_message()
        head, _, body = data.partition(b"\r\n\r\n")
        got = self.deliver(head + b"\r\n" + forged.replace("\n", "\r\n").encode() + b"\r\n" + body)
        for name in ("X-Spam-Status", "X-Spam-Score", "X-Spam-Symbols"):
            self.assertEqual(len(got.headers(name)), 1, got.header_block)
        self.assertNotIn(b"ALL_TRUSTED", got.header_block)
        self.assertTagged(got, status="Yes", symbol="GTUBE")

    def test_refused_connection_gets_on_failure_accept(self):
        self.configure(scanner("spam", dead_address(), kind="spamd", on_spam="reject", on_failure="accept"))
        got = self.deliver(gtube_message())
        self.assertVerifies(got.raw)
        self.assertScanLogged("spam", "failure")

    def test_refused_connection_gets_on_failure_tempfail(self):
        self.configure(scanner("spam", dead_address(), kind="spamd", on_failure="tempfail"))
        result, _ = self.send(clean_message())
        self.assertSmtpFails(result, 26, "451 4.7.1")
        self.assertNothingDelivered()
        self.assertScanLogged("spam", "failure")

    def test_hung_spamd_times_out_and_on_failure_applies(self):
        self.configure(scanner("spam", self.spamd, timeout="1s", on_spam="reject", on_failure="accept"))
        with self.spamd.hung():
            result, seconds = self.send(gtube_message())
        self.assertSmtpOk(result)
        self.assertLess(seconds, kHungTransaction, "the SMTP transaction took too long")
        self.assertGreaterEqual(seconds, 1.0, "the milter did not wait for the timeout")
        self.assertVerifies(self.delivered().raw)
        self.assertScanLogged("spam", "failure")

    def test_message_over_max_size_skips_the_scanner(self):
        self.configure(scanner("spam", self.spamd, max_size="4K", on_spam="reject"))
        small = gtube_message()
        self.assertLess(len(small), 4096)
        result, _ = self.send(small)
        self.assertRejected(result)  # the scanner is in force below max_size
        big = gtube_message(padding=12 * 1024)
        self.assertGreater(len(big), 4096)
        self.mark_log()
        got = self.deliver(big)
        self.assertVerifies(got.raw)
        self.assertScanLogged("spam", "skipped")


class RspamdScanTest(ScanCase):
    daemons = ("rspamd",)

    def test_gtube_is_rejected(self):
        self.configure(scanner("rspamd", self.rspamd, on_spam="reject"))
        result, _ = self.send(gtube_message())
        self.assertRejected(result)
        self.assertScanLogged("rspamd", "spam")

    def test_gtube_is_tagged_and_the_signatures_cover_the_headers(self):
        self.configure(scanner("rspamd", self.rspamd, on_spam="add-header"))
        got = self.deliver(gtube_message())
        self.assertTagged(got, status="Yes", symbol="GTUBE")
        self.assertScanLogged("rspamd", "spam")

    def test_account_threshold_overrides_the_verdict(self):
        # rspamd scores GTUBE 15 (its reject score): spam by its own verdict,
        # but not at alice's threshold of 1000. Bob has none.
        self.configure(scanner("rspamd", self.rspamd, on_clean="add-header", on_spam="reject",
                               account_thresholds=f"{kAlice}=1000, carol@example.test=3"))
        got = self.deliver(gtube_message(), user="alice")
        score, required = self.assertTagged(got, status="No", symbol="GTUBE")
        self.assertEqual(required, 1000.0)
        self.assertGreaterEqual(score, 15.0)
        self.assertScanLogged("rspamd", "clean")
        self.sink.clear()
        result, _ = self.send(gtube_message(), user="bob")
        self.assertRejected(result)
        self.assertScanLogged("rspamd", "spam")

    def test_hung_rspamd_times_out_and_on_failure_tempfail_applies(self):
        self.configure(scanner("rspamd", self.rspamd, timeout="1s", on_failure="tempfail"))
        with self.rspamd.hung():
            result, seconds = self.send(clean_message())
        self.assertSmtpFails(result, 26, "451 4.7.1")
        self.assertLess(seconds, kHungTransaction, "the SMTP transaction took too long")
        self.assertNothingDelivered()
        self.assertIn("timed out", self.assertScanLogged("rspamd", "failure"))

    def test_global_threshold_overrides_the_verdict(self):
        # A clean message (score about 0) is spam at threshold -50.
        self.configure(scanner("rspamd", self.rspamd, threshold="-50", on_spam="add-header"))
        got = self.deliver(clean_message())
        score, required = self.assertTagged(got, status="Yes")
        self.assertEqual(required, -50.0)
        self.assertGreaterEqual(score, required)


class ClamdScanTest(ScanCase):
    daemons = ("clamd",)

    def test_eicar_is_rejected_plain_and_base64(self):
        self.configure(scanner("av", self.clamd, on_spam="reject"))
        for encoding in ("plain", "base64"):
            with self.subTest(encoding):
                self.sink.clear()
                result, _ = self.send(eicar_message(encoding))
                self.assertRejected(result)
        self.assertIn("Sluice.Test.EICAR", self.assertScanLogged("av", "virus"))

    def test_eicar_is_tagged_with_the_virus_name(self):
        self.configure(scanner("av", self.clamd, on_spam="add-header"))
        got = self.deliver(eicar_message("base64"))
        status = str(got.message.get("X-Virus-Status"))
        self.assertRegex(status, r"^Infected \(Sluice\.Test\.EICAR(\.UNOFFICIAL)?\)")
        self.assertCovered(got, ["X-Virus-Status"])

    def test_clean_message_passes(self):
        self.configure(scanner("av", self.clamd, on_clean="accept", on_spam="reject"))
        got = self.deliver(clean_message())
        self.assertNotIn(b"X-Virus-", got.header_block)
        self.assertVerifies(got.raw)
        self.assertScanLogged("av", "clean")

    def test_stopped_clamd_gets_on_failure(self):
        self.addCleanup(self.clamd.start)
        self.clamd.stop()
        self.assertFalse(ports.can_connect(self.clamd.port))
        with self.subTest("accept"):
            self.configure(scanner("av", self.clamd, on_spam="reject", on_failure="accept"))
            got = self.deliver(eicar_message())
            self.assertVerifies(got.raw)
            self.assertScanLogged("av", "failure")
        with self.subTest("tempfail"):
            self.sink.clear()
            self.configure(scanner("av", self.clamd, on_spam="reject", on_failure="tempfail"))
            result, _ = self.send(clean_message())
            self.assertSmtpFails(result, 26, "451 4.7.1")
            self.assertNothingDelivered()
            self.assertScanLogged("av", "failure")


class AllScannersTest(ScanCase):
    """spamd, rspamd and clamd on every message at once."""

    daemons = ("spamd", "rspamd", "clamd")

    def all_three(self, timeout="10s", **keys):
        return (scanner("spam", self.spamd, timeout=timeout, **keys),
                scanner("rspamd", self.rspamd, timeout=timeout, **keys),
                scanner("av", self.clamd, **keys))

    def test_clean_message_passes_all_three_signed(self):
        self.configure(*self.all_three(on_spam="reject", on_failure="tempfail"))
        got = self.deliver(clean_message())
        self.assertVerifies(got.raw)
        for name in ("spam", "rspamd", "av"):
            self.assertScanLogged(name, "clean")

    def test_end_of_message_waits_for_the_slowest_not_the_sum(self):
        self.configure(*self.all_three(timeout="1s", on_spam="reject", on_failure="accept"))
        code, reply, baseline = self.timed_data(clean_message())
        self.assertEqual(code, 250, reply)
        self.postfix.wait_queue_empty(30)
        with self.spamd.hung(), self.rspamd.hung():
            code, reply, seconds = self.timed_data(clean_message())
        print(f"  end of DATA: {baseline:.2f}s with three scanners, {seconds:.2f}s with two of them hung "
              "(timeout 1s each)", file=sys.stderr, flush=True)
        self.assertEqual(code, 250, reply)
        self.assertGreaterEqual(seconds, 1.0, "answered before the timeout: were the scanners hung?")
        # Waiting for each hung scanner in turn would take 2 s.
        self.assertLess(seconds, 1.9, "end of message waited for the sum of the timeouts")
        got = self.sink.wait_for(2, 30)
        self.assertVerifies(got[-1].raw)
        self.assertScanLogged("spam", "failure")
        self.assertScanLogged("rspamd", "failure")
        self.assertScanLogged("av", "clean")

    def scan_stats(self, account, day):
        got = self.redis.command("HGETALL", f"sluice:v1:scan:{account}:{day}")
        return collections.Counter({got[i].decode(): int(got[i + 1]) for i in range(0, len(got), 2)})

    def test_statistics_count_each_scanned_message_per_account(self):
        # The class shares one Redis: compare before and after.
        self.configure(*self.all_three(on_spam="add-header"))
        day = int(time.time()) // 86400
        before = self.scan_stats(kAlice, day)
        for data in (gtube_message(), eicar_message(), clean_message()):
            self.sink.clear()
            self.deliver(data)
        self.assertScanLogged("av", "virus")
        if int(time.time()) // 86400 != day:
            self.skipTest("midnight UTC passed during the test")
        after = self.scan_stats(kAlice, day)
        self.assertEqual(dict(after - before), {"scanned": 3, "spam": 1, "virus": 1})
        ttl = self.redis.command("TTL", f"sluice:v1:scan:{kAlice}:{day}")
        self.assertTrue(34 * 86400 < ttl <= 35 * 86400, ttl)
