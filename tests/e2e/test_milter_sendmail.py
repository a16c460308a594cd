"""sluice-milter behind a real Sendmail 8.17 (INPUT_MAIL_FILTER), not only
Postfix: authenticated mail is dual-signed (RSA and Ed25519) and verifies
with dkimpy and Mail::DKIM, the tracking ID is added and logged with
Sendmail's queue ID ({i}), header rules apply, and inbound mail passes
untouched. Sendmail runs from Debian's .debs without being installed (see
harness/sendmail.py); missing packages make these tests fail, not skip."""

import re

from harness import E2ETestCase, Sink, cleanup, swaks
from harness.dkim_keys import DualSigningCase, TestKey
from harness.messages import kTrackingIdPattern, message
from harness.milter import MilterDaemon
from harness.sendmail import SendmailInstance

# Sendmail's reply to the final dot: "250 2.0.0 <queue ID> Message accepted".
kQueueIdPattern = re.compile(r"^<-\s+250 2\.0\.0 (\w+) Message accepted for delivery", re.M)


class MilterSendmailTest(DualSigningCase, E2ETestCase):
    """One Sendmail, one milter (RSA + Ed25519, `remove X-Mailer`)."""

    @classmethod
    def setUpClass(cls):
        signing = cls.make_dual_keys()
        cls.sink = cls.enterClassContext(Sink())
        cls.milter = cls.enterClassContext(MilterDaemon(
            keys=cls.keys, signing=signing,
            rules="remove X-Mailer\n"))
        cls.sendmail = cls.enterClassContext(SendmailInstance(
            relay=cls.sink, milter=cls.milter, sasl_users={"alice": "alice-pw"}))

    def setUp(self):
        self.sink.clear()

    def deliver(self, data, auth=True):
        # Delivery mode interactive: relayed before the reply to DATA.
        sent = swaks.send(self.sendmail, sender="alice@example.test", to="bob@example.net", data=data,
                          auth=("alice", "alice-pw") if auth else None)
        self.assertSmtpOk(sent)
        got = self.sink.wait_for(1, 30)[-1]
        self.assertEqual(got.mail_from, "alice@example.test")
        self.assertEqual(got.rcpt_tos, ["bob@example.net"])
        return sent, got

    def test_authenticated_mail_is_dual_signed_and_logged_with_the_queue_id(self):
        sent, got = self.deliver(message())
        self.assertEqual(got.raw.count(b"DKIM-Signature:"), 2, got.raw[:3000])
        self.assertVerifies(got.raw)
        [tracking] = kTrackingIdPattern.findall(got.raw)
        match = kQueueIdPattern.search(sent.transcript)
        self.assertIsNotNone(match, sent.transcript)
        queue_id = match.group(1)
        # Sendmail's {i} at EOM leads the milter's line; {auth_authen} is
        # the bare user name under Sendmail.
        self.assertRegex(self.milter.log(),
                         rf"{queue_id}: sluice_id={tracking.decode()} from=<alice@example.test> nrcpt=1 "
                         r"sasl=alice client=127\.0\.0\.1 dkim=signed\(d=example\.test s=ed2026 "
                         r"a=ed25519-sha256\),signed\(d=example\.test s=rsa2026 a=rsa-sha256\)")
        log = self.sendmail.log()
        self.assertRegex(log, rf"{queue_id}: from=<alice@example\.test>.*relay=localhost \[127\.0\.0\.1\]")
        self.assertRegex(log, rf"{queue_id}: to=<bob@example\.net>.*stat=Sent")
        self.assertRegex(log, rf"{queue_id}: Milter \(sluice\) add: header: X-Sluice-ID: ")

    def test_x_mailer_is_removed_before_signing(self):
        for name, headers in {"one X-Mailer": "X-Mailer: Outlook 16.0\nUser-Agent: Thunderbird\n",
                              "two X-Mailer": "X-Mailer: first\nX-Other: kept\nx-mailer: second\n"}.items():
            with self.subTest(name):
                self.sink.clear()
                _, got = self.deliver(message(headers=headers))
                self.assertNotIn(b"x-mailer", got.header_block.lower(), got.header_block)
                if "User-Agent" in headers:
                    self.assertIn(b"\r\nUser-Agent: Thunderbird\r\n", got.header_block)
                else:
                    self.assertIn(b"\r\nX-Other: kept\r\n", got.header_block)
                self.assertEqual(len(kTrackingIdPattern.findall(got.raw)), 1, got.header_block)
                self.assertVerifies(got.raw)
        # Sendmail did the deletions (smfi_chgheader with a NULL value), by
        # name and per-name index, case-insensitively.
        log = self.sendmail.log()
        self.assertIn("Milter (sluice) delete: header X-Mailer: first", log)
        self.assertIn("Milter (sluice) delete: header x-mailer: second", log)


class MilterSendmailInboundTest(E2ETestCase):
    """Unauthenticated mail from outside internal_networks (127.0.0.1 is
    not in 10.0.0.0/8) passes Sendmail and the milter untouched."""

    def test_unauthenticated_external_mail_is_untouched(self):
        keydir = cleanup.make_dir("keys")
        rsa = TestKey(keydir, "example.test", "sel", "rsa", 2048)
        sink = self.enterContext(Sink())
        milter = self.enterContext(MilterDaemon(keys=[rsa], signing=[("*@example.test", rsa)],
                                                milter_keys="internal_networks = 10.0.0.0/8"))
        sendmail = self.enterContext(SendmailInstance(relay=sink, milter=milter))
        data = message(headers="X-Mailer: kept here\n")
        self.assertSmtpOk(swaks.send(sendmail, sender="alice@example.test", to="bob@example.net", data=data))
        got = sink.wait_for(1, 30)[-1]
        self.assertNotIn(b"DKIM-Signature", got.raw)
        self.assertNotIn(b"X-Sluice-ID", got.raw)
        # Only Sendmail's own Received: is prepended.
        self.assertTrue(got.raw.endswith(data), got.raw)
        self.assertRegex(got.raw[:-len(data)], rb"^Received: from client\.example\.test")
        self.assertIn("from=<alice@example.test> client=127.0.0.1: not authenticated nor internal, "
                      "accepted untouched", milter.log())
        self.assertRegex(sendmail.log(), r"Milter: sender: mail=<alice@example\.test>|Milter accept: message")
