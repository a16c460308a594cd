"""sluice-milter through a real Postfix: every signature verifies with two
independent verifiers (dkimpy for RSA and Ed25519, Mail::DKIM for RSA),
awkward messages included; header rules, the tracking ID, VERP, key
safety, reload."""

import os
import re
import subprocess

from harness import E2ETestCase, PostfixInstance, Sink, cleanup, sluice_binary, swaks
from harness.dkim_keys import DualSigningCase, TestKey, dkim_signatures, verify_dkimpy, verify_mail_dkim
from harness.messages import kTrackingIdPattern, message
from harness.milter import MilterDaemon



class MilterPostfixTest(DualSigningCase, E2ETestCase):

    @classmethod
    def setUpClass(cls):
        signing = cls.make_dual_keys()
        cls.sink = cls.enterClassContext(Sink())
        cls.milter = cls.enterClassContext(MilterDaemon(
            keys=cls.keys, signing=signing))
        cls.postfix = cls.enterClassContext(PostfixInstance(
            relay=cls.sink, sasl_users={"alice": "alice-pw"},
            main_cf={"smtpd_milters": cls.milter.socket_spec,
                     "non_smtpd_milters": cls.milter.socket_spec,
                     "milter_default_action": "tempfail",
                     "milter_protocol": "6"}))

    def setUp(self):
        self.postfix.wait_queue_empty(30)
        self.sink.clear()

    def send(self, data, auth=True, **kw):
        kw.setdefault("sender", "alice@example.test")
        kw.setdefault("to", "bob@example.net")
        return swaks.send(self.postfix, data=data, auth=("alice", "alice-pw") if auth else None, **kw)

    def deliver(self, data, **kw):
        self.assertSmtpOk(self.send(data, **kw))
        self.postfix.wait_queue_empty(60)
        return self.sink.wait_for(1, 30)[-1]

    def test_authenticated_mail_is_dual_signed_and_both_verify(self):
        sent = self.send(message())
        self.assertSmtpOk(sent)
        self.postfix.wait_queue_empty(60)
        got = self.sink.wait_for(1, 30)[-1]
        self.assertEqual(got.raw.count(b"DKIM-Signature:"), 2)
        self.assertVerifies(got.raw)
        [tracking] = kTrackingIdPattern.findall(got.raw)
        log = self.milter.log()
        self.assertRegex(log, rf": sluice_id={tracking.decode()} from=<alice@example.test> nrcpt=1 "
                              r"sasl=alice@example.test client=127.0.0.1 dkim=signed\(d=example.test s=ed2026 "
                              r"a=ed25519-sha256\),signed\(d=example.test s=rsa2026 a=rsa-sha256\)")
        # The Postfix queue ID leads the line.
        queue_id = re.search(r"queued as ([0-9A-F]+)", sent.transcript).group(1)
        self.assertIn(f"{queue_id}: sluice_id={tracking.decode()}", log)

    def test_oversigned_headers_are_listed_once_more(self):
        got = self.deliver(message())
        for tags in dkim_signatures(got.raw):
            h = tags["h"].lower().split(":")
            self.assertEqual(h.count("from"), 2, h)
            self.assertEqual(h.count("subject"), 2, h)
            self.assertNotIn("l", tags, "a body length limit would let anyone append to the body")

    def test_awkward_messages_all_verify(self):
        cases = {
            "empty body": message(body=""),
            "body without final CRLF": message()[:-2] if message().endswith(b"\r\n") else message(),
            "998-character lines": message(body=("x" * 998 + "\n") * 3),
            "8-bit text": message(body="Gr\u00fc\u00dfe, \u00e7a va? \u65e5\u672c\n",
                                  headers="Content-Type: text/plain; charset=utf-8\n"
                                          "Content-Transfer-Encoding: 8bit\n"),
            "folded and duplicated headers": message(
                headers="X-Long: first part\n\tsecond part\n   third part\nComments: one\nComments: two\n"
                        "Subject-Extra:   lots   of   spaces   \n"),
            "trailing blank lines and spaces": message(body="line with spaces   \n\n\n\n"),
            "dots at line starts": message(body=".\n..\n.hidden\n"),
        }
        for name, data in cases.items():
            with self.subTest(name):
                self.sink.clear()
                got = self.deliver(data)
                self.assertVerifies(got.raw)

    def test_twenty_megabyte_attachment_is_signed_with_bounded_memory(self):
        import base64
        blob = base64.encodebytes(os.urandom(15 * 1024 * 1024)).decode()
        data = message(headers="MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b1\n",
                       body=f"--b1\nContent-Type: text/plain\n\nSee attachment.\n--b1\n"
                            f"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
                            f"{blob}--b1--\n")
        self.assertGreater(len(data), 20 * 1024 * 1024)
        self.postfix.postconf({"message_size_limit": "52428800"}, reload=True)
        got = self.deliver(data)
        self.assertVerifies(got.raw)
        with open(f"/proc/{self.milter.pid}/status") as f:
            hwm_kb = int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))
        # The body is hashed as it streams, never kept: the peak stays far
        # below the message size.
        self.assertLess(hwm_kb, 40 * 1024, f"milter peak RSS {hwm_kb} kB for a 20 MB message")

    def test_forged_tracking_id_is_replaced(self):
        got = self.deliver(message(headers="X-Sluice-ID: 01aaaaaaaaaaaaaaaaaaaaaaaa\n"))
        ids = kTrackingIdPattern.findall(got.raw)
        self.assertEqual(len(ids), 1, got.raw[:2000])
        self.assertNotEqual(ids[0], b"01aaaaaaaaaaaaaaaaaaaaaaaa")
        self.assertVerifies(got.raw)

    def test_internal_network_without_auth_is_signed(self):
        got = self.deliver(message(), auth=False)
        self.assertVerifies(got.raw)

    def test_local_submission_through_non_smtpd_milters_is_signed(self):
        # Postfix presents mail from /usr/sbin/sendmail (pickup) to
        # non_smtpd_milters as coming from localhost [127.0.0.1]: internal.
        env = dict(os.environ, MAIL_CONFIG=self.postfix.etc)
        subprocess.run(["/usr/sbin/sendmail", "-f", "alice@example.test", "bob@example.net"],
                       input=message(), env=env, check=True, timeout=30)
        self.postfix.flush()
        self.postfix.wait_queue_empty(60)
        got = self.sink.wait_for(1, 30)[-1]
        self.assertVerifies(got.raw)


class MilterRulesAndVerpTest(E2ETestCase):
    """Header rules, VERP and reload, each with its own milter."""

    def setUp(self):
        keydir = cleanup.make_dir("keys")
        self.rsa = TestKey(keydir, "example.test", "sel", "rsa", 2048)
        self.sink = self.enterContext(Sink())
        rules = ("remove X-Originating-IP\nremove User-Agent\nremove X-Mailer\n"
                 "remove Received /by internal\\.example\\.test/\nadd X-Relay: sluice\n")
        self.milter = self.enterContext(MilterDaemon(keys=[self.rsa], signing=[("*@example.test", self.rsa)],
                                                     rules=rules))
        self.postfix = self.enterContext(PostfixInstance(
            relay=self.sink, sasl_users={"alice": "alice-pw"},
            main_cf={"smtpd_milters": self.milter.socket_spec, "milter_default_action": "tempfail"}))

    def deliver(self, data):
        self.assertSmtpOk(swaks.send(self.postfix, sender="alice@example.test", to="bob@example.net", data=data,
                                     auth=("alice", "alice-pw")))
        self.postfix.wait_queue_empty(60)
        return self.sink.wait_for(1, 30)[-1]

    def test_internal_headers_are_removed_before_signing(self):
        got = self.deliver(message(headers=(
            "Received: from laptop by internal.example.test with ESMTP\n"
            "Received: from edge by mx.example.net with ESMTP\n"
            "X-Originating-IP: 10.1.2.3\nUser-Agent: Thunderbird\nX-Mailer: Outlook\n")))
        header = got.header_block
        for gone in (b"X-Originating-IP", b"User-Agent", b"X-Mailer", b"internal.example.test"):
            self.assertNotIn(gone, header)
        self.assertIn(b"mx.example.net", header)
        self.assertIn(b"\r\nX-Relay: sluice\r\n", header)
        [sig] = verify_dkimpy(got.raw, [self.rsa])
        self.assertTrue(sig["ok"], sig)
        [perl] = verify_mail_dkim(got.raw, [self.rsa])
        self.assertTrue(perl["ok"], perl)

    def test_verp_return_path_carries_the_tracking_id(self):
        self.milter.reload(milter_keys="verp = yes\nverp_prefix = bounces\nverp_domain = bounce.example.test")
        got = self.deliver(message())
        [tracking] = kTrackingIdPattern.findall(got.raw)
        self.assertEqual(got.mail_from, f"bounces+{tracking.decode()}@bounce.example.test")

    def test_reload_changes_canonicalization_for_new_messages(self):
        self.milter.reload(milter_keys="canonicalization = simple/simple")
        got = self.deliver(message())
        self.assertRegex(got.raw, rb"c=simple/simple")
        [sig] = verify_dkimpy(got.raw, [self.rsa])
        self.assertTrue(sig["ok"], sig)

    def test_missing_key_passes_unsigned_or_tempfails(self):
        os.rename(self.rsa.path, self.rsa.path + ".gone")
        self.milter.reload()
        got = self.deliver(message())
        self.assertNotIn(b"DKIM-Signature", got.raw)
        self.assertIn("missing-key(d=example.test s=sel)", self.milter.log())
        self.milter.reload(milter_keys="on_missing_key = tempfail")
        self.sink.clear()
        sent = swaks.send(self.postfix, sender="alice@example.test", to="bob@example.net", data=message(),
                          auth=("alice", "alice-pw"))
        self.assertSmtpFails(sent, 26, "451 4.7.1")


class MilterInboundTest(E2ETestCase):
    """Mail that is neither authenticated nor from internal_networks passes
    untouched: no signature, no tracking ID."""

    def test_unauthenticated_external_mail_is_untouched(self):
        keydir = cleanup.make_dir("keys")
        rsa = TestKey(keydir, "example.test", "sel", "rsa", 2048)
        sink = self.enterContext(Sink())
        milter = self.enterContext(MilterDaemon(keys=[rsa], signing=[("*@example.test", rsa)],
                                                milter_keys="internal_networks = 10.0.0.0/8"))
        postfix = self.enterContext(PostfixInstance(relay=sink, main_cf={"smtpd_milters": milter.socket_spec}))
        data = message()
        self.assertSmtpOk(swaks.send(postfix, sender="alice@example.test", to="bob@example.net", data=data))
        postfix.wait_queue_empty(30)
        got = sink.wait_for(1, 30)[-1]
        self.assertNotIn(b"DKIM-Signature", got.raw)
        self.assertNotIn(b"X-Sluice-ID", got.raw)
        self.assertTrue(got.raw.endswith(data))


class MilterStartupTest(E2ETestCase):

    def run_check(self, conf):
        return subprocess.run([sluice_binary("sluice-milter"), "-n", "-c", conf], capture_output=True,
                              text=True, timeout=30)

    def test_group_readable_key_is_refused_at_startup(self):
        keydir = cleanup.make_dir("keys")
        key = TestKey(keydir, "example.test", "sel", "rsa", 2048, mode=0o640)
        milter = MilterDaemon(keys=[key], signing=[("*@example.test", key)])
        milter.write_config()
        got = self.run_check(milter.config_path)
        self.assertEqual(got.returncode, 1, got.stdout + got.stderr)
        self.assertIn(key.path, got.stderr)
        self.assertIn("chmod 600", got.stderr)
        os.chmod(key.path, 0o600)
        got = self.run_check(milter.config_path)
        self.assertEqual(got.returncode, 0, got.stderr)
        milter.close()

    def test_small_rsa_key_is_refused(self):
        keydir = cleanup.make_dir("keys")
        key = TestKey(keydir, "example.test", "sel", "rsa", 1024)
        milter = MilterDaemon(keys=[key], signing=[("*@example.test", key)])
        milter.write_config()
        got = self.run_check(milter.config_path)
        self.assertEqual(got.returncode, 1)
        self.assertIn("1024", got.stderr)
        milter.write_config(milter_keys="min_rsa_bits = 1024")
        self.assertEqual(self.run_check(milter.config_path).returncode, 0)
        milter.close()


class MilterKeygenAndUnixSocketTest(E2ETestCase):
    """A key made by `sluicectl dkim keygen`, with the record it prints,
    signs mail that dkimpy verifies; the milter also serves Postfix over a
    unix socket."""

    def test_keygen_key_and_printed_record_verify_over_a_unix_socket(self):
        keydir = cleanup.make_dir("keygen")
        made = {}
        for algorithm in ("ed25519", "rsa"):
            out = subprocess.run([sluice_binary("sluicectl"), "dkim", "keygen", "--domain", "example.test",
                                  "--selector", f"k{algorithm}", "--algorithm", algorithm, "--out", keydir],
                                 capture_output=True, text=True, timeout=60, check=True).stdout
            record = "".join(re.findall(r'"([^"]*)"', out.split("publish in DNS:")[1]))
            made[algorithm] = (os.path.join(keydir, f"k{algorithm}.example.test.key"), record)
            self.assertEqual(os.stat(made[algorithm][0]).st_mode & 0o777, 0o600)

        class Key:  # what MilterDaemon and the verifiers need of a key
            def __init__(self, algorithm, path, record):
                self.domain, self.selector, self.algorithm = "example.test", f"k{algorithm}", algorithm
                self.path, self.record = path, record
                self.dns_name = f"k{algorithm}._domainkey.example.test"

        keys = [Key(a, *made[a]) for a in ("ed25519", "rsa")]
        sink = self.enterContext(Sink())
        milter = self.enterContext(MilterDaemon(keys=keys, signing=[("*@example.test", k) for k in keys],
                                                unix_socket=True, name="milter-unix"))
        postfix = self.enterContext(PostfixInstance(relay=sink, main_cf={
            "smtpd_milters": milter.socket_spec, "milter_default_action": "tempfail"}))
        self.assertSmtpOk(swaks.send(postfix, sender="alice@example.test", to="bob@example.net", data=message()))
        postfix.wait_queue_empty(30)
        got = sink.wait_for(1, 30)[-1]
        results = verify_dkimpy(got.raw, keys)
        self.assertEqual(len(results), 2, results)
        self.assertTrue(all(r["ok"] for r in results), results)
