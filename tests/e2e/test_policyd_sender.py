"""sluice-policyd's account and relay checks through a real Postfix with
SMTP AUTH: sender authorisation (`sluicectl sender`), the account pause,
the relay guard behind Postfix's own relay restriction, and SPF of
unauthenticated partner relays against a real name server (nsd in a
private network namespace, harness/dns_zone.py)."""

import os
import socket
import subprocess
import threading
import time
import unittest

from harness import E2ETestCase, PostfixInstance, RedisServer, Sink, cleanup, sluice_binary, swaks
from harness.dns_zone import DnsZones, missing_tools, txt
from harness.policyd import PolicyDaemon, rcpt_request

kPassword = {"alice": "alice-pw", "bob": "bob-pw"}
# Postfix reports the SASL login with the harness's realm (smtpd_sasl_local_domain).
kAlice = "alice@example.test"
kBob = "bob@example.test"


def policy_postfix(sink, service, mynetworks="", **main_cf):
    cf = {
        "smtpd_recipient_restrictions": [service],
        "smtpd_end_of_data_restrictions": [service],
        "smtpd_policy_service_timeout": "10s",
        "smtpd_policy_service_request_limit": "0",
        "mynetworks": mynetworks,
    }
    cf.update(main_cf)
    return PostfixInstance(relay=sink, sasl_users=kPassword, main_cf=cf)


def send(postfix, sender, user=None, to="rcpt@example.net", source="127.0.0.1", xclient=None, **kw):
    """swaks from `source` (a loopback address), as SASL `user` if given;
    `xclient`: the client address Postfix is told to use instead (XCLIENT),
    for checks that need a non-loopback client. sender "<>" is the null sender."""
    auth = (user, kPassword[user]) if user else None
    extra = ["--local-interface", source]
    if xclient:
        extra += ["--xclient-addr", xclient]
    return swaks.send(postfix, sender=sender, to=to, auth=auth, extra_args=extra, **kw)


class SluicectlMixin:
    def sluicectl(self, *args, want=0):
        got = subprocess.run([sluice_binary("sluicectl"), "-c", self.policyd.config_path, *args],
                             capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        self.assertEqual(got.returncode, want, got.stdout + got.stderr)
        return got.stdout


class SenderAuthorisationTest(SluicectlMixin, E2ETestCase):

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.enterClassContext(RedisServer())
        cls.sink = cls.enterClassContext(Sink())
        cls.policyd = cls.enterClassContext(
            PolicyDaemon(cls.redis, policyd_keys="sender_authorisation = yes"))
        cls.postfix = cls.enterClassContext(
            policy_postfix(cls.sink, f"check_policy_service inet:127.0.0.1:{cls.policyd.port}"))

    def setUp(self):
        self.postfix.wait_queue_empty(30)
        self.redis.command("FLUSHALL")
        self.sink.clear()

    def assertNothingDelivered(self):
        self.postfix.wait_queue_empty(30)
        time.sleep(0.2)
        self.assertEqual(self.sink.count(), 0, [m.mail_from for m in self.sink.messages()])

    def test_sender_outside_the_logins_set_is_refused_at_rcpt_until_allowed(self):
        self.sluicectl("sender", "allow", kAlice, "@Alice.TEST")
        foreign = send(self.postfix, "bob@other.test", "alice")
        self.assertSmtpFails(foreign, 24, "550 5.7.1")
        self.assertIn(f"sender <bob@other.test> is not authorised for login {kAlice}", foreign.transcript)
        self.assertNothingDelivered()
        self.assertIn("reason=sender-not-authorised", self.policyd.log())

        self.assertSmtpOk(send(self.postfix, "Carol@alice.test", "alice"), "an address at an allowed domain")
        self.postfix.wait_queue_empty(30)
        [got] = self.sink.wait_for(1, 10)
        self.assertEqual(got.mail_from, "Carol@alice.test")

        self.sluicectl("sender", "allow", kAlice, "Bob@Other.test")
        self.assertIn("allowed: login", self.sluicectl("sender", "check", kAlice, "bob@other.test"))
        self.assertSmtpOk(send(self.postfix, "bob@other.test", "alice"), "after sluicectl sender allow")
        self.postfix.wait_queue_empty(30)
        self.sink.wait_for(2, 10)

    def test_login_without_a_set_and_null_sender_are_refused(self):
        no_set = send(self.postfix, "bob@example.test", "bob")
        self.assertSmtpFails(no_set, 24, "550 5.7.1")
        self.assertIn("reason=sender-set-missing", self.policyd.log())
        self.sluicectl("sender", "allow", kBob, "bob@example.test")
        null = send(self.postfix, "<>", "bob")
        self.assertSmtpFails(null, 24, "550 5.7.1")  # <> needs "<>" in the set
        self.assertIn(f"sender <> is not authorised for login {kBob}", null.transcript)
        self.sluicectl("sender", "allow", kBob, "<>")
        self.assertSmtpOk(send(self.postfix, "<>", "bob"))
        self.assertIn("not allowed", self.sluicectl("sender", "check", kBob, "eve@example.test", want=1))

    def test_paused_account_is_deferred_then_resumed(self):
        self.sluicectl("sender", "allow", kAlice, "@alice.test")
        self.redis.command("SET", f"sluice:v1:pause:{kAlice}", "complaint rate 0.4% over 1h")
        paused = send(self.postfix, "news@alice.test", "alice")
        self.assertSmtpFails(paused, 24, "450 4.7.1")
        self.assertIn("account paused by the relay operator (complaint rate 0.4% over 1h)", paused.transcript)
        self.assertNothingDelivered()
        self.assertIn("reason=paused", self.policyd.log())
        self.assertIn("resumed", self.sluicectl("reputation", "resume", kAlice))
        self.assertIsNone(self.redis.command("GET", f"sluice:v1:pause:{kAlice}"))
        self.assertSmtpOk(send(self.postfix, "news@alice.test", "alice"), "after resume")
        self.postfix.wait_queue_empty(30)
        self.sink.wait_for(1, 10)


class RelayGuardTest(E2ETestCase):
    """Unauthenticated clients outside mynetworks cannot relay: Postfix's own
    smtpd_relay_restrictions first, sluice-policyd's require_authentication
    behind a deliberately permissive main.cf."""

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.enterClassContext(RedisServer())
        cls.sink = cls.enterClassContext(Sink())
        cls.policyd = cls.enterClassContext(PolicyDaemon(
            cls.redis, policyd_keys="require_authentication = yes\ntrusted_networks = 127.0.0.1/32, ::1"))
        cls.service = f"check_policy_service inet:127.0.0.1:{cls.policyd.port}"

    def setUp(self):
        self.sink.clear()

    def test_postfix_refuses_relaying_for_clients_outside_mynetworks(self):
        postfix = self.enterContext(policy_postfix(self.sink, self.service, mynetworks="127.0.0.1/32"))
        before = len(self.policyd.log())
        refused = send(postfix, "a@example.test", source="127.0.0.2")
        self.assertSmtpFails(refused, 24, "554 5.7.1")
        self.assertIn("Relay access denied", refused.transcript)
        self.assertNotIn("relay-denied", self.policyd.log()[before:], "Postfix refused before asking policyd")
        self.assertSmtpOk(send(postfix, "a@example.test", source="127.0.0.1"), "inside mynetworks")

    def test_policyd_refuses_when_postfix_is_too_permissive(self):
        # mynetworks lets 127.0.0.2 relay; trusted_networks does not.
        postfix = self.enterContext(policy_postfix(self.sink, self.service, mynetworks="127.0.0.0/8"))
        refused = send(postfix, "a@example.test", source="127.0.0.2")
        self.assertSmtpFails(refused, 24, "554 5.7.1")
        self.assertIn("relay access denied: authenticate first", refused.transcript)
        self.assertIn("reason=relay-denied", self.policyd.log())
        self.assertSmtpOk(send(postfix, "a@example.test", source="127.0.0.1"), "trusted network")
        self.assertSmtpOk(send(postfix, "alice@example.test", "alice", source="127.0.0.2"), "authenticated")
        postfix.wait_queue_empty(30)
        self.assertEqual(self.sink.wait_for(2, 10)[0].mail_from, "a@example.test")


class NamespacedPolicyd(cleanup.Fixture):
    """sluice-policyd inside the private network namespace of `dns` (so
    libspf2 resolves through its nsd), reached over unix sockets: its
    listener for Postfix and Redis's for itself both live in `dir`."""

    kScript = r"""
"$1" -f -c "$2" >>"$4" 2>&1 &
pid=$!
i=0
while [ ! -e "$3" ] && [ $i -lt 1800 ] && kill -0 $pid 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
kill -TERM $pid 2>/dev/null
wait $pid
"""

    def __init__(self, dns, directory, redis_socket, policyd_keys="", extra=""):
        self.dns = dns
        self.dir = directory
        self.socket = os.path.join(directory, "policyd.sock")
        self.config_path = os.path.join(directory, "sluice.conf")
        self.log_path = os.path.join(directory, "policyd.log")
        self.stop_file = os.path.join(directory, "stop")
        with open(self.config_path, "w") as f:
            f.write(f"[redis]\nunix_socket = {redis_socket}\n\n[log]\nlevel = debug\n\n"
                    f"[policyd]\nlisten = unix:{self.socket}\n{policyd_keys}\n\n{extra}\n")
        self.thread = None
        self.result = None

    def start(self):
        cleanup.register(self)
        argv = ["/bin/sh", "-c", self.kScript, "sh", sluice_binary("sluice-policyd"),
                self.config_path, self.stop_file, self.log_path]
        self.thread = threading.Thread(target=self._run, args=(argv,), daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._connectable():
                return self
            if not self.thread.is_alive():
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"namespaced policyd did not start: {self.result}\n{self.log_tail()}")

    def _run(self, argv):
        try:
            self.result = self.dns.run(argv, timeout=240)
        except subprocess.TimeoutExpired as e:
            self.result = e

    def _connectable(self):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(self.socket)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def stop(self):
        if self.thread is None:
            return
        open(self.stop_file, "w").close()
        self.thread.join(30)
        self.thread = None

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class SpfTest(E2ETestCase):
    """partner.test authorises 192.0.2.2 only; elsewhere.test is not served
    (its lookups fail: temperror). libspf2 passes every loopback client
    ("localhost is always allowed"), so swaks tells Postfix another client
    address with XCLIENT; the traffic itself stays on loopback."""

    @classmethod
    def setUpClass(cls):
        problems = missing_tools()
        if problems:
            raise unittest.SkipTest("; ".join(problems))
        cls.dir = cleanup.make_dir("spf")
        redis_socket = os.path.join(cls.dir, "redis.sock")
        cls.redis = cls.enterClassContext(RedisServer(args=["--unixsocket", redis_socket,
                                                            "--unixsocketperm", "700"]))
        cls.sink = cls.enterClassContext(Sink())
        cls.dns = cls.enterClassContext(DnsZones())
        cls.dns.zone("partner.test", [txt("@", "v=spf1 ip4:192.0.2.2 -all")])
        # The per-ip quota makes every admitted RCPT go on to Redis.
        cls.policyd = cls.enterClassContext(NamespacedPolicyd(
            cls.dns, cls.dir, redis_socket,
            policyd_keys="spf = yes\nspf_timeout = 3s\nspf_received_header = yes",
            extra="[quota per-ip]\nkey = client_address\nrecipients = 1000/1h\n"))
        cls.postfix = cls.enterClassContext(policy_postfix(
            cls.sink, f"check_policy_service unix:{cls.policyd.socket}", mynetworks="127.0.0.0/8, 192.0.2.0/24",
            smtpd_authorized_xclient_hosts="127.0.0.0/8"))

    def setUp(self):
        self.postfix.wait_queue_empty(30)
        self.sink.clear()

    def test_fail_is_refused_with_5_7_23_and_pass_is_delivered_with_received_spf(self):
        before = len(self.policyd.log())
        failed = send(self.postfix, "news@partner.test", xclient="192.0.2.1", to=["a@example.net", "b@example.net"])
        self.assertSmtpFails(failed, 24, "550 5.7.23")
        self.assertIn("SPF check failed: partner.test does not authorise 192.0.2.1 (result fail)",
                      failed.transcript)
        passed = send(self.postfix, "news@partner.test", xclient="192.0.2.2", to=["a@example.net", "b@example.net"])
        self.assertSmtpOk(passed)
        self.postfix.wait_queue_empty(30)
        [got] = self.sink.wait_for(1, 10)
        self.assertEqual(sorted(got.rcpt_tos), ["a@example.net", "b@example.net"])
        self.assertEqual(len(got.message.get_all("Received-SPF")), 1, got.raw[:600])
        self.assertTrue(str(got.message["Received-SPF"]).startswith("pass "), got.message["Received-SPF"])
        log = self.policyd.log()[before:]
        self.assertIn("decision=reject reason=spf-fail", log)
        self.assertIn("reason=allowed", log)
        self.assertIn("spf=pass", log)
        # Two recipients each, one evaluation per message: later RCPTs reuse it.
        self.assertEqual(log.count("spf: evaluated"), 2, log[-3000:])

    def test_dns_failure_is_deferred_with_4_7_24(self):
        deferred = send(self.postfix, "news@elsewhere.test", xclient="192.0.2.2")
        self.assertSmtpFails(deferred, 24, "450 4.7.24")
        self.assertIn("(result temperror", deferred.transcript)

    def test_authenticated_clients_are_not_checked(self):
        self.assertSmtpOk(send(self.postfix, "news@partner.test", "alice", xclient="192.0.2.1"))
        self.postfix.wait_queue_empty(30)
        [got] = self.sink.wait_for(1, 10)
        self.assertIsNone(got.message["Received-SPF"])


class SpfLifecycleTest(E2ETestCase):
    """The SPF worker pool across SIGHUP (kept, rebuilt, stopped) and
    SIGTERM. Loopback clients always pass in libspf2, so no DNS is needed."""

    def test_reload_rebuilds_the_pool_and_sigterm_stops_it(self):
        redis = self.enterContext(RedisServer())
        policyd = self.enterContext(PolicyDaemon(redis, policyd_keys="spf = yes\nspf_workers = 2"))
        request = lambda n: rcpt_request("a@example.net", sasl_username="", instance=f"L{n}",
                                         sender="news@partner.test")
        with policyd.client() as client:
            self.assertEqual(client.ask(request(1)), "DUNNO")
            policyd.reload(policyd_keys="spf = yes\nspf_workers = 2\nspf_received_header = yes")
            self.assertTrue(client.ask(request(2)).startswith("PREPEND Received-SPF: pass "))
            policyd.reload(policyd_keys="spf = yes\nspf_workers = 3")
            self.assertEqual(client.ask(request(3)), "DUNNO")
            policyd.reload(policyd_keys="")
            self.assertEqual(client.ask(request(4)), "DUNNO")
        log = policyd.log()
        self.assertIn("spf: worker pool retired (spf_workers changed)", log)
        self.assertIn("spf: worker pool retired (spf = no)", log)
        self.assertEqual(log.count("spf: evaluated"), 3, log)
        policyd.reload(policyd_keys="spf = yes")
        with policyd.client() as client:
            self.assertEqual(client.ask(request(5)), "DUNNO")
        started = time.monotonic()
        policyd.proc.terminate()
        self.assertEqual(policyd.proc.wait(timeout=10), 0)
        self.assertLess(time.monotonic() - started, 3.0)
        self.assertIn("stopped", policyd.log())


class PolicydDaemonModeTest(E2ETestCase):
    """Without -f the daemon forks; the SPF workers must start after that
    fork (a fork keeps only the calling thread), or every SPF check would
    time out as temperror."""

    def test_spf_workers_run_in_the_daemonized_process(self):
        directory = cleanup.make_dir("policyd-daemon")
        pid_file = os.path.join(directory, "pid")
        config = os.path.join(directory, "sluice.conf")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with open(config, "w") as f:
            f.write(f"[redis]\nport = 1\n\n[policyd]\nlisten = inet:127.0.0.1:{port}\npid_file = {pid_file}\n"
                    "spf = yes\nspf_workers = 3\n")
        subprocess.run([sluice_binary("sluice-policyd"), "-c", config], check=True, timeout=10)
        deadline = time.time() + 5
        while not os.path.exists(pid_file) and time.time() < deadline:
            time.sleep(0.05)
        with open(pid_file) as f:
            pid = int(f.read().strip())
        try:
            self.assertEqual(len(os.listdir(f"/proc/{pid}/task")), 4, "the main thread and 3 SPF workers")
        finally:
            os.kill(pid, 15)
            deadline = time.time() + 10
            while os.path.exists(f"/proc/{pid}") and time.time() < deadline:
                time.sleep(0.05)
