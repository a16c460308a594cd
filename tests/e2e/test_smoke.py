"""Smoke tests of the e2e harness itself: a stock private Postfix relays to
the sink unchanged, SMTP AUTH works, volume arrives, Redis restarts.
No Sluice program is involved yet; later tests add sluice-milter and
sluice-policyd to this same setup (see README.md).
"""

import email.utils
import time

from harness import (E2ETestCase, PostfixInstance, RedisError, RedisServer,
                     Sink, swaks)
from harness.sink import split_fields


def crlf(text):
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


class RelayTest(E2ETestCase):
    """A client in mynetworks relays through Postfix to the sink."""

    @classmethod
    def setUpClass(cls):
        cls.sink = cls.enterClassContext(Sink())
        cls.postfix = cls.enterClassContext(PostfixInstance(relay=cls.sink))

    def setUp(self):
        self.sink.clear()

    def test_message_arrives_unchanged(self):
        msgid = email.utils.make_msgid("smoke", "example.test")
        original = crlf(
            "From: Alice Example <alice@example.test>\n"
            "To: Bob <bob@example.net>\n"
            "Subject: =?UTF-8?Q?gr=C3=BC=C3=9Fe?= and a folded\n"
            "\tsubject line\n"
            f"Date: {email.utils.formatdate(localtime=False)}\n"
            f"Message-ID: {msgid}\n"
            "MIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: 8bit\n"
            "X-Sluice-Test:   spaced   value\n"
            "\n"
            "Hello Bob, gr\u00fc\u00dfe.\n"
            ".a line starting with a dot\n"
            "..and one with two\n"
            "trailing blanks   \n"
            "\n"
            "last line\n")
        self.assertSmtpOk(swaks.send(self.postfix, sender="alice@example.test",
                                     to="bob@example.net", data=original))
        self.postfix.wait_queue_empty(30)
        [got] = self.sink.wait_for(1, 10)

        self.assertEqual(got.mail_from, "alice@example.test")
        self.assertEqual(got.rcpt_tos, ["bob@example.net"])
        self.assertTrue(got.raw.endswith(original),
                        f"got message:\n{got.raw!r}\nwant it to end with the "
                        f"original:\n{original!r}")
        added = split_fields(got.raw[:-len(original)])
        self.assertEqual([name for name, _ in added], ["Received"],
                         f"got added fields {added!r}, want one Received")
        received = added[0][1].decode()
        self.assertIn(f"by {self.postfix.name}.example.test (Postfix)",
                      received)
        self.assertIn("for <bob@example.net>", received)
        self.assertEqual(got.message["Message-ID"], msgid)

    def test_two_recipients_share_one_message(self):
        rcpts = ["bob@example.net", "carol@example.org"]
        self.assertSmtpOk(swaks.send(self.postfix, to=rcpts, body="two"))
        self.postfix.wait_queue_empty(30)
        messages = self.sink.wait_for(1, 10)
        self.assertEqual(len(messages), 1, f"got {messages}, want 1 message")
        self.assertEqual(sorted(messages[0].rcpt_tos), rcpts)

    def test_volume_via_smtp_source_all_arrive(self):
        count = 200
        start = time.monotonic()
        rc, out = swaks.smtp_source(self.postfix, count, sessions=10,
                                    to="volume@example.net", timeout=60)
        self.assertEqual(rc, 0, f"smtp-source: {out}")
        messages = self.sink.wait_for(count, 60)
        self.postfix.wait_queue_empty(30)
        self.assertEqual(len(self.sink.messages()), count)
        self.assertEqual({m.rcpt_tos[0] for m in messages},
                         {"volume@example.net"})
        self.assertLess(time.monotonic() - start, 60)


class SaslTest(E2ETestCase):
    """Relaying only for SASL-authenticated clients (mynetworks empty)."""

    @classmethod
    def setUpClass(cls):
        cls.sink = cls.enterClassContext(Sink())
        cls.postfix = cls.enterClassContext(PostfixInstance(
            relay=cls.sink, sasl_users={"alice": "s3cret"},
            main_cf={"mynetworks": "",
                     "smtpd_relay_restrictions":
                     "permit_sasl_authenticated, reject_unauth_destination"}))

    def test_auth_with_right_password_relays(self):
        for mech in ("PLAIN", "LOGIN"):
            with self.subTest(mech=mech):
                self.sink.clear()
                result = swaks.send(self.postfix, auth=("alice", "s3cret"),
                                    auth_type=mech, body=mech)
                self.assertSmtpOk(result)
                self.assertIn("235 2.7.0 Authentication successful",
                              result.transcript)
                self.postfix.wait_queue_empty(30)
                self.assertEqual(len(self.sink.wait_for(1, 10)), 1)

    def test_auth_with_wrong_password_fails(self):
        self.assertSmtpFails(
            swaks.send(self.postfix, auth=("alice", "wrong")), 28, "535 5.7.8")

    def test_unauthenticated_client_cannot_relay(self):
        result = swaks.send(self.postfix, to="bob@example.net")
        self.assertSmtpFails(result, 24, "554 5.7.1")
        self.assertIn("Relay access denied", result.transcript)


class RedisFixtureTest(E2ETestCase):

    def test_ping_stop_start(self):
        redis = self.enterContext(RedisServer())
        self.assertEqual(redis.command("PING"), "PONG")
        self.assertEqual(redis.command("SET", "k", "v"), "OK")
        self.assertEqual(redis.command("GET", "k"), b"v")
        with self.assertRaises(RedisError):
            redis.command("NOSUCHCOMMAND")
        port = redis.port

        redis.stop()
        self.assertFalse(redis.ping())
        with self.assertRaises(OSError):
            redis.command("PING")

        redis.start()
        self.assertEqual(redis.port, port)
        self.assertEqual(redis.command("PING"), "PONG")
        self.assertIsNone(redis.command("GET", "k"), "nothing persisted")
