"""sluice-milter and Redis through a real Postfix: a From domain the SASL
login does not own is refused (or passed unsigned); Redis down while the
ownership must be checked tempfails; every accepted message leaves the record
sluice-bounce maps bounces with, and the account's sent counter; a
One-Click List-Unsubscribe is added for accounts that enable it and is
covered by a signature that verifies."""

import os
import time

from harness import E2ETestCase, PostfixInstance, RedisServer, Sink, swaks
from harness.dkim_keys import DualSigningCase, signed_headers, verify_dkimpy
from harness.messages import kTrackingIdPattern, message
from harness.milter import MilterDaemon

kLogin = "alice@example.test"  # Cyrus adds the realm: {auth_authen} as the milter sees it


class MilterOwnershipTest(DualSigningCase, E2ETestCase):

    @classmethod
    def setUpClass(cls):
        signing = cls.make_dual_keys()
        cls.redis = cls.enterClassContext(RedisServer())
        cls.sink = cls.enterClassContext(Sink())
        key_file = os.path.join(cls.redis.dir, "unsubscribe.keys")
        with open(key_file, "w") as f:
            f.write("k1 " + "ab" * 32 + "\n")
        os.chmod(key_file, 0o600)
        cls.milter = cls.enterClassContext(MilterDaemon(
            keys=cls.keys, signing=signing + [("*@other.test", cls.keys[0])], redis=cls.redis,
            milter_keys="sender_authorisation = yes\nauthentication_results = yes\nauthserv_id = relay.test\n"
                        "verp = yes\nverp_domain = verp.test\n"))
        cls.postfix = cls.enterClassContext(PostfixInstance(
            relay=cls.sink, sasl_users={"alice": "alice-pw"},
            main_cf={"smtpd_milters": cls.milter.socket_spec,
                     "milter_default_action": "tempfail",
                     "milter_protocol": "6"}))
        cls.redis.command("SADD", f"sluice:v1:senders:{kLogin}", "@example.test")

    def setUp(self):
        self.postfix.wait_queue_empty(30)
        self.sink.clear()

    def send(self, data, **kw):
        kw.setdefault("sender", "alice@example.test")
        kw.setdefault("to", "bob@example.net")
        return swaks.send(self.postfix, data=data, auth=("alice", "alice-pw"), **kw)

    def test_owned_domain_is_signed_recorded_and_counted(self):
        sent = self.send(message())
        self.assertSmtpOk(sent)
        self.postfix.wait_queue_empty(60)
        got = self.sink.wait_for(1, 30)[-1]
        self.assertVerifies(got.raw)
        [tracking] = kTrackingIdPattern.findall(got.raw)
        tracking = tracking.decode()
        self.assertEqual(got.mail_from, f"bounce+{tracking}@verp.test")
        record = self.redis.command("HGETALL", f"sluice:v1:msg:{tracking}")
        fields = dict(zip(record[::2], record[1::2]))
        self.assertEqual(fields.get(b"account"), kLogin.encode(), record)
        self.assertEqual(fields.get(b"sender"), b"alice@example.test")
        self.assertEqual(fields.get(b"rcpt"), b"bob@example.net")
        self.assertEqual(fields.get(b"from_domain"), b"example.test")
        ttl = self.redis.command("TTL", f"sluice:v1:msg:{tracking}")
        self.assertGreater(ttl, 13 * 86400)
        hour = int(time.time()) // 3600
        sent_count = self.redis.command("HGET", f"sluice:v1:rep:{kLogin}:{hour}", "sent")
        self.assertGreaterEqual(int(sent_count), 1)
        # Authentication-Results with the SPF result (libspf2 passes loopback clients
        # whatever DNS says: its "localhost" rule).
        self.assertRegex(got.raw, rb"Authentication-Results: relay.test; spf=pass smtp.mailfrom=example.test\r\n")

    def test_foreign_from_domain_is_refused(self):
        data = message().replace(b"From: Alice <alice@example.test>", b"From: Boss <ceo@other.test>")
        sent = self.send(data)
        self.assertIn("550 5.7.1 From domain other.test is not authorised for login", sent.transcript)
        self.assertRegex(self.milter.log(), r"from_owner=no .*action=reject")
        time.sleep(0.5)
        self.assertEqual(len(self.sink.messages()), 0)

    def test_forged_authentication_results_are_removed(self):
        data = message(headers="Authentication-Results: relay.test; spf=pass smtp.mailfrom=forged.test\n"
                               "Authentication-Results: elsewhere.test; dkim=pass\n")
        self.assertSmtpOk(self.send(data))
        self.postfix.wait_queue_empty(60)
        got = self.sink.wait_for(1, 30)[-1]
        self.assertNotIn(b"forged.test", got.raw)
        self.assertIn(b"Authentication-Results: elsewhere.test; dkim=pass", got.raw)
        self.assertVerifies(got.raw)

    def test_unsigned_mode_and_redis_down(self):
        data = message().replace(b"From: Alice <alice@example.test>", b"From: Boss <ceo@other.test>")
        self.milter.reload(milter_keys=self.milter.milter_keys + "on_unauthorised_from = unsigned\n")
        try:
            self.assertSmtpOk(self.send(data))
            self.postfix.wait_queue_empty(60)
            got = self.sink.wait_for(1, 30)[-1]
            self.assertNotIn(b"DKIM-Signature:", got.raw)
            self.assertIn("dkim=unsigned(From domain other.test not owned by login)", self.milter.log())
        finally:
            self.milter.reload(milter_keys=self.milter.milter_keys.replace("on_unauthorised_from = unsigned\n", ""))
        # Redis cannot say who owns the domain: tempfail (on_redis_error's default).
        self.redis.command("CLIENT", "PAUSE", "3000", "ALL")
        sent = self.send(message())
        self.assertIn("451 4.3.0 Sender authorisation temporarily unavailable", sent.transcript)
        time.sleep(3.1)
        self.assertSmtpOk(self.send(message()))


class MilterUnsubscribeTest(E2ETestCase):
    """RFC 8058 One-Click: the headers are added before signing, so the
    signature covers them (the large mailbox providers require that)."""

    @classmethod
    def setUpClass(cls):
        from harness.dkim_keys import TestKey
        cls.redis = cls.enterClassContext(RedisServer())
        cls.sink = cls.enterClassContext(Sink())
        key_dir = cls.redis.dir
        cls.key = TestKey(key_dir, "example.test", "ed2026", "ed25519")
        key_file = os.path.join(key_dir, "unsubscribe.keys")
        with open(key_file, "w") as f:
            f.write("k1 " + "ab" * 32 + "\n")
        os.chmod(key_file, 0o600)
        cls.key_file = key_file
        cls.milter = cls.enterClassContext(MilterDaemon(
            keys=[cls.key], signing=[("*@example.test", cls.key)], redis=cls.redis,
            milter_keys=f"\n[unsubscribe]\naccounts = {kLogin}\nkey_file = {key_file}\n"
                        f"mailto_domain = relay.test\nurl_base = https://relay.test/u/\n"))
        cls.postfix = cls.enterClassContext(PostfixInstance(
            relay=cls.sink, sasl_users={"alice": "alice-pw"},
            main_cf={"smtpd_milters": cls.milter.socket_spec, "milter_default_action": "tempfail"}))

    def test_one_click_headers_are_signed(self):
        self.assertSmtpOk(swaks.send(self.postfix, data=message(), sender="alice@example.test",
                                     to="bob@example.net", auth=("alice", "alice-pw")))
        self.postfix.wait_queue_empty(60)
        got = self.sink.wait_for(1, 30)[-1]
        self.assertRegex(got.raw, rb"List-Unsubscribe: <mailto:unsubscribe\+[A-Za-z0-9_.-]+@relay.test>,\r\n "
                                  rb"<https://relay.test/u/[A-Za-z0-9_.-]+>\r\n")
        self.assertIn(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n", got.raw)
        [h] = signed_headers(got.raw)
        self.assertIn("list-unsubscribe", h)
        self.assertIn("list-unsubscribe-post", h)
        [result] = verify_dkimpy(got.raw, [self.key])
        self.assertTrue(result["ok"], result)
