"""sluice-bounce through a real Postfix: a recipient the sink refuses with
550 5.1.1 bounces to the VERP address, pipe(8) runs sluice-bounce, and the
next message to that recipient is refused at RCPT by sluice-policyd; an ARF
complaint sent to the feedback address suppresses too; with Redis down the
bounce waits in Postfix's deferred queue (exit 75) and is applied once when
Redis is back; the reputation breaker pauses an account and `sluicectl
reputation` shows and resumes it.

Postfix delivers the VERP domain (verp.test) and the feedback domain
(feedback.test) to a pipe(8) service, as contrib/postfix/bounce.*.cf
describe, running sluice-bounce as nobody through a small wrapper that keeps
a copy of each report and logs the exit status."""

import email.utils
import glob
import os
import re
import stat
import subprocess

from harness import E2ETestCase, PostfixInstance, RedisServer, Sink, sluice_binary, swaks
from harness.bounce import BounceSetup, wait_until
from harness.messages import crlf
from harness.milter import MilterDaemon
from harness.policyd import PolicyDaemon

kAccount = "alice@example.test"  # the SASL login as Postfix reports it (realm example.test)
kUnknown = "550 5.1.1 <{0}>: Recipient address rejected: User unknown in virtual mailbox table"
kIdPattern = re.compile(rb"^X-Sluice-ID: ([0-9a-z]{26})\r?$", re.M)


def mail(to):
    return crlf(f"From: Alice <alice@example.test>\nTo: {to}\nSubject: offer\n"
                f"Date: {email.utils.formatdate()}\n"
                f"Message-ID: {email.utils.make_msgid('b', 'example.test')}\n\nHello.\n")


class BouncePostfixTest(E2ETestCase):

    @classmethod
    def setUpClass(cls):
        # Persistent (appendonly) so a stop and start keeps the message records.
        cls.redis = cls.enterClassContext(RedisServer(args=["--appendonly", "yes"]))
        cls.sink = cls.enterClassContext(Sink(rcpt={
            "bob@example.net": kUnknown.format("bob@example.net"),
            "dave@example.net": kUnknown.format("dave@example.net"),
            "erin@example.net": kUnknown.format("erin@example.net"),
        }))
        cls.policyd = cls.enterClassContext(PolicyDaemon(cls.redis))
        cls.milter = cls.enterClassContext(MilterDaemon(
            milter_keys=f"verp = yes\nverp_domain = verp.test\n\n[redis]\nport = {cls.redis.port}\n"))
        cls.bounce = BounceSetup(cls.redis)
        service = f"check_policy_service inet:127.0.0.1:{cls.policyd.port}"
        cls.postfix = cls.enterClassContext(PostfixInstance(
            relay=cls.sink, sasl_users={"alice": "alice-pw"},
            master_cf=cls.bounce.master_cf(),
            main_cf={
                "smtpd_milters": cls.milter.socket_spec,
                "milter_default_action": "tempfail",
                "smtpd_recipient_restrictions": [service],
                "smtpd_policy_service_timeout": "5s",
                "mynetworks": "",
                # As contrib/postfix/bounce.main.cf.
                "transport_maps": "inline:{ verp.test=sluicebounce:, feedback.test=sluicebounce: }",
                "sluicebounce_destination_recipient_limit": "1",
                "relay_domains": "verp.test, feedback.test",
            }))
        cls.ctl = sluice_binary("sluicectl")

    def setUp(self):
        self.postfix.wait_queue_empty(60)
        self.redis.command("FLUSHALL")
        self.sink.clear()
        self.bounce.write_config()

    def send(self, to, **kw):
        return swaks.send(self.postfix, sender=kAccount, to=to, auth=("alice", "alice-pw"),
                          data=mail(to), **kw)

    def suppression(self, recipient):
        """The suppression entry of `recipient` in alice's list, as a dict."""
        key = f"sluice:v1:sup:sasl_username:{kAccount}:{recipient}"
        flat = self.redis.command("HGETALL", key)
        return {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}

    def bucket(self, field):
        hour = int(self.redis.command("TIME")[0]) // 3600
        value = self.redis.command("HGET", f"sluice:v1:rep:{kAccount}:{hour}", field)
        return int(value) if value else 0

    def sluicectl(self, *args):
        return subprocess.run([self.ctl, "-c", self.bounce.config_path, *args], capture_output=True,
                              text=True, timeout=30, stdin=subprocess.DEVNULL)

    def bounce_for(self, rcpt):
        """Sends to a refused recipient; returns once sluice-bounce ran on the
        bounce and Postfix's queue is empty."""
        runs = len(self.bounce.exits())
        self.assertSmtpOk(self.send(rcpt))
        wait_until(lambda: len(self.bounce.exits()) > runs, 60, "sluice-bounce to run:\n" + self.postfix.log_tail())
        self.postfix.wait_queue_empty(60)

    def test_hard_bounce_suppresses_and_the_next_message_is_refused(self):
        self.bounce_for("bob@example.net")
        self.assertEqual(self.bounce.exits()[-1], "0", self.bounce.log())
        [record] = self.redis.command("KEYS", "sluice:v1:msg:*")
        tracking = record.decode().rsplit(":", 1)[1]
        entry = self.suppression("bob@example.net")
        self.assertEqual(entry.get("reason"), "hard-bounce", f"{entry}\n{self.bounce.log()}")
        self.assertEqual(entry.get("tracking_id"), tracking)
        self.assertIn("5.1.1", entry.get("note", ""))
        self.assertRegex(self.bounce.log(),
                         rf"sluice_id={tracking} queue_id=[0-9A-Za-z]+ account={re.escape(kAccount)} "
                         r"rcpt=<bob@example.net> kind=hard status=5.1.1 report=dsn action=suppressed")
        self.assertEqual(self.bucket("hard"), 1)
        self.assertEqual(self.bucket("sent"), 1)

        again = self.send("bob@example.net")
        self.assertSmtpFails(again, 24, "550 5.7.1")
        self.assertIn("recipient suppressed (hard-bounce", again.transcript)

    def test_arf_complaint_to_the_feedback_address_suppresses(self):
        self.assertSmtpOk(self.send("carol@example.net"))
        self.postfix.wait_queue_empty(60)
        [delivered] = self.sink.wait_for(1, 30)
        [tracking] = kIdPattern.findall(delivered.raw)
        tracking = tracking.decode()
        returned = delivered.header_block.decode().replace("\r\n", "\n")
        report = (
            "From: fbl@isp.test\nTo: fbl@feedback.test\nSubject: complaint\n"
            "Message-ID: <arf-e2e-1@isp.test>\nMIME-Version: 1.0\n"
            "Content-Type: multipart/report; report-type=feedback-report; boundary=ARF\n\n"
            "--ARF\nContent-Type: text/plain\n\nA complaint.\n\n"
            "--ARF\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nUser-Agent: e2e/1.0\n"
            "Version: 1\nOriginal-Rcpt-To: <carol@example.net>\n\n"
            f"--ARF\nContent-Type: text/rfc822-headers\n\n{returned}\n--ARF--\n")
        env = dict(os.environ, MAIL_CONFIG=self.postfix.etc)
        runs = len(self.bounce.exits())
        subprocess.run(["/usr/sbin/sendmail", "-f", "fbl@isp.test", "fbl@feedback.test"],
                       input=report.encode(), env=env, check=True, timeout=30)
        self.postfix.flush()
        wait_until(lambda: len(self.bounce.exits()) > runs, 60, "sluice-bounce to run:\n" + self.postfix.log_tail())
        self.postfix.wait_queue_empty(60)
        self.assertEqual(self.bounce.exits()[-1], "0", self.bounce.log())
        entry = self.suppression("carol@example.net")
        self.assertEqual(entry.get("reason"), "complaint", f"{entry}\n{self.bounce.log()}")
        self.assertEqual(entry.get("tracking_id"), tracking)
        self.assertIn(f"sluice_id={tracking}", self.bounce.log())
        self.assertEqual(self.bucket("complaint"), 1)
        refused = self.send("carol@example.net")
        self.assertSmtpFails(refused, 24, "550 5.7.1")
        self.assertIn("recipient suppressed (complaint", refused.transcript)

    def test_redis_down_defers_the_bounce_and_it_is_applied_once_later(self):
        # Hold bounces back while Redis goes down, so the outage is certain
        # to meet the first delivery attempt.
        self.postfix.postconf({"defer_transports": "sluicebounce"}, reload=True)
        try:
            self.assertSmtpOk(self.send("dave@example.net"))
            wait_until(lambda: self.postfix.queue_files()["deferred"] >= 1 and
                       not self.postfix.queue_files()["active"], 60, "the bounce to be deferred")
            self.redis.stop()
            runs = len(self.bounce.exits())
            self.postfix.postconf({"defer_transports": ""}, reload=True)
            self.postfix.flush()
            wait_until(lambda: len(self.bounce.exits()) > runs, 60,
                       "sluice-bounce to run:\n" + self.postfix.log_tail())
            self.assertEqual(self.bounce.exits()[-1], "75", self.bounce.log())
            wait_until(lambda: self.postfix.queue_files()["deferred"] >= 1 and
                       not self.postfix.queue_files()["active"], 30, "the bounce back in the deferred queue")
            self.assertIn("exit 75", self.bounce.log())
        finally:
            self.postfix.postconf({"defer_transports": ""}, reload=True)
            if not self.redis.running:
                self.redis.start()
        self.assertTrue(self.redis.command("KEYS", "sluice:v1:msg:*"), "the record survived the restart")
        runs = len(self.bounce.exits())
        self.postfix.flush()
        wait_until(lambda: len(self.bounce.exits()) > runs, 60, "sluice-bounce to run again")
        self.postfix.wait_queue_empty(60)
        self.assertEqual(self.bounce.exits()[-1], "0", self.bounce.log())
        self.assertEqual(self.suppression("dave@example.net").get("reason"), "hard-bounce")
        self.assertEqual(self.bucket("hard"), 1)

        # The same report once more (as a retry would bring it): nothing changes.
        reports = sorted(glob.glob(os.path.join(self.bounce.reports, "report.*")), key=os.path.getmtime)
        status, err = self.bounce.run(reports[-1])
        self.assertEqual(status, 0, err)
        self.assertIn("action=duplicate", err)
        self.assertEqual(self.bucket("hard"), 1)

    def test_breaker_pauses_the_account_and_sluicectl_resumes_it(self):
        self.bounce.write_config("[reputation]\nmin_volume = 1\npause_bounce_rate = 50%\n")
        self.bounce_for("erin@example.net")
        pause = self.redis.command("GET", f"sluice:v1:pause:{kAccount}")
        self.assertEqual(pause, b"bounce rate 100% (1/1) over 24h", self.bounce.log())
        self.assertIn("paused: bounce rate 100% (1/1) over 24h", self.bounce.log())

        deferred = self.send("frank@example.net")
        self.assertSmtpFails(deferred, 24, "450 4.7.1")
        self.assertIn("account paused by the relay operator (bounce rate 100% (1/1) over 24h)", deferred.transcript)

        shown = self.sluicectl("reputation", "show", kAccount)
        self.assertEqual(shown.returncode, 0, shown.stderr)
        self.assertIn("sent 1  hard 1", shown.stdout)
        self.assertIn("state paused: bounce rate 100% (1/1) over 24h", shown.stdout)
        listed = self.sluicectl("reputation", "show")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertRegex(listed.stdout, rf"{re.escape(kAccount)}\s+1\s+1\s.*paused")

        resumed = self.sluicectl("reputation", "resume", kAccount)
        self.assertEqual(resumed.returncode, 0, resumed.stderr)
        self.assertSmtpOk(self.send("frank@example.net"))
        self.postfix.wait_queue_empty(60)

        paused = self.sluicectl("reputation", "pause", kAccount, "--reason", "manual review")
        self.assertEqual(paused.returncode, 0, paused.stderr)
        again = self.send("frank@example.net")
        self.assertSmtpFails(again, 24, "450 4.7.1")
        self.assertIn("(manual review)", again.transcript)

    def test_an_unparsable_report_is_kept_for_a_human(self):
        env = dict(os.environ, MAIL_CONFIG=self.postfix.etc)
        runs = len(self.bounce.exits())
        subprocess.run(["/usr/sbin/sendmail", "-f", "someone@isp.test",
                        "bounce+01jd3xk6m5q3w8r2t4y6z8a0bc@verp.test"],
                       input=b"From: someone@isp.test\nSubject: hello\n\nJust text.\n", env=env, check=True,
                       timeout=30)
        self.postfix.flush()
        wait_until(lambda: len(self.bounce.exits()) > runs, 60, "sluice-bounce to run")
        self.postfix.wait_queue_empty(60)
        self.assertEqual(self.bounce.exits()[-1], "0", self.bounce.log())
        kept = glob.glob(os.path.join(self.bounce.unparsed, "*.eml"))
        self.assertEqual(len(kept), 1, self.bounce.log())
        self.assertEqual(stat.S_IMODE(os.stat(kept[0]).st_mode), 0o600)
        with open(kept[0], "rb") as f:
            self.assertIn(b"Just text.", f.read())
