"""sluice-policyd through a real Postfix and a real Redis: quotas per SASL
user, suppressed recipients, Redis outages, reload, hostile clients, and
exactness with several daemons on one Redis."""

import subprocess
import threading
import time

from harness import E2ETestCase, PostfixInstance, RedisServer, Sink, sluice_binary, swaks
from harness.policyd import PolicyClient, PolicyDaemon, rcpt_request

kQuota = """
[quota per-user]
key = sasl_username
messages = 3/1h
"""


def postfix_with_policy(sink, policyd):
    service = f"check_policy_service inet:127.0.0.1:{policyd.port}"
    return PostfixInstance(
        relay=sink,
        sasl_users={"alice": "alice-pw", "bob": "bob-pw"},
        main_cf={
            # As contrib/postfix/main.cf.snippet: RCPT for recipients and
            # suppressions, END-OF-MESSAGE for messages and bytes.
            "smtpd_recipient_restrictions": [service],
            "smtpd_end_of_data_restrictions": [service],
            "smtpd_policy_service_timeout": "5s",
            "smtpd_policy_service_request_limit": "0",
            "mynetworks": "",
        })


def send_as(postfix, user, to="rcpt@example.net", **kw):
    return swaks.send(postfix, sender=f"{user}@example.test", to=to,
                      auth=(user, f"{user}-pw"), **kw)


class PolicydPostfixTest(E2ETestCase):

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.enterClassContext(RedisServer())
        cls.sink = cls.enterClassContext(Sink())
        cls.policyd = cls.enterClassContext(PolicyDaemon(cls.redis, config=kQuota))
        cls.postfix = cls.enterClassContext(postfix_with_policy(cls.sink, cls.policyd))
        cls.ctl = sluice_binary("sluicectl")

    def setUp(self):
        # Mail of the previous test must not land in this one's sink.
        self.postfix.wait_queue_empty(30)
        self.redis.command("FLUSHALL")
        self.sink.clear()

    def sluicectl(self, *args):
        got = subprocess.run([self.ctl, "-c", self.policyd.config_path, *args],
                             capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL)
        self.assertEqual(got.returncode, 0, got.stdout + got.stderr)
        return got.stdout

    def test_fourth_message_of_a_sasl_user_is_deferred(self):
        for i in range(3):
            self.assertSmtpOk(send_as(self.postfix, "alice"), f"message {i + 1}")
        fourth = send_as(self.postfix, "alice")
        # The messages counter is full: the next RCPT already gets 450.
        self.assertSmtpFails(fourth, 24, "450 4.7.1")
        self.assertIn("3 messages/1h (rule per-user), resets at", fourth.transcript)
        # Another account has its own quota.
        self.assertSmtpOk(send_as(self.postfix, "bob"))
        self.postfix.wait_queue_empty(30)
        self.sink.wait_for(4, 10)
        self.assertEqual(sorted(m.mail_from for m in self.sink.messages()),
                         ["alice@example.test"] * 3 + ["bob@example.test"])
        self.assertIn("decision=defer reason=over-quota", self.policyd.log())

    def test_message_rejected_later_is_not_charged(self):
        # A message refused after RCPT (here by the sink... no: by Postfix
        # itself, message_size_limit) never reaches END-OF-MESSAGE and must
        # not count against the messages quota.
        self.postfix.postconf({"message_size_limit": "2000"}, reload=True)
        try:
            big = send_as(self.postfix, "alice", body="x" * 5000)
            self.assertNotEqual(big.rc, 0)
        finally:
            self.postfix.postconf({"message_size_limit": "10240000"}, reload=True)
        for i in range(3):
            self.assertSmtpOk(send_as(self.postfix, "alice"), f"message {i + 1} after the refused one")

    def test_suppressed_recipient_is_refused_and_the_others_delivered(self):
        self.sluicectl("suppress", "add", "Gone@Example.NET", "--reason", "complaint")
        sent = send_as(self.postfix, "bob", to=["ok1@example.net", "gone@example.net", "ok2@example.net"])
        self.assertEqual(sent.rc, 0, sent.transcript)
        self.assertIn("550 5.7.1 <gone@example.net>: Recipient address rejected: "
                      "recipient suppressed (complaint, since", sent.transcript)
        self.postfix.wait_queue_empty(30)
        [got] = self.sink.wait_for(1, 10)
        self.assertEqual(sorted(got.rcpt_tos), ["ok1@example.net", "ok2@example.net"])

    def test_account_suppression_applies_only_to_that_account(self):
        # The account is the SASL name as Postfix reports it (with realm).
        self.sluicectl("suppress", "add", "x@example.net", "--reason", "unsubscribe",
                       "--scope", "sasl_username=alice@example.test")
        self.assertSmtpFails(send_as(self.postfix, "alice", to="x@example.net"), 24, "550 5.7.1")
        self.assertSmtpOk(send_as(self.postfix, "bob", to="x@example.net"))


class PolicydOutageTest(E2ETestCase):
    """Redis stops in the middle: the configured answer, no crash, recovery,
    no counter lost or doubled."""

    def setUp(self):
        self.redis = self.enterContext(RedisServer())
        self.sink = self.enterContext(Sink())
        self.policyd = self.enterContext(PolicyDaemon(self.redis, config=kQuota))
        self.postfix = self.enterContext(postfix_with_policy(self.sink, self.policyd))

    def counter_total(self):
        keys = self.redis.command("KEYS", "sluice:v1:*messages*") or []
        return sum(int(self.redis.command("GET", k) or 0) for k in keys
                   if self.redis.command("TYPE", k) == "string")

    def test_tempfail_while_redis_is_down_then_recovery(self):
        self.assertSmtpOk(send_as(self.postfix, "alice"))
        self.assertEqual(self.counter_total(), 1)
        self.redis.stop()
        try:
            down = send_as(self.postfix, "alice")
            self.assertSmtpFails(down, 24, "4.3.0")
            self.assertTrue(self.policyd.running, "policyd died during the outage")
        finally:
            self.redis.start()
        # The harness Redis has no persistence: a restart loses the counters,
        # which is why production runs appendonly yes. Start over from zero.
        deadline = time.time() + 10
        while True:
            again = send_as(self.postfix, "alice")
            if again.rc == 0 or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertSmtpOk(again, "after Redis returned")
        self.assertEqual(self.counter_total(), 1)
        self.assertIn("reason=redis-", self.policyd.log())

    def test_hung_redis_is_answered_within_the_command_timeout(self):
        # CLIENT PAUSE holds every client's commands: Redis is up but silent.
        with self.policyd.client() as client:
            self.assertEqual(client.ask(rcpt_request("a@example.net", instance="h0")), "DUNNO")
            self.redis.command("CLIENT", "PAUSE", "1500", "ALL")
            started = time.monotonic()
            action = client.ask(rcpt_request("b@example.net", instance="h1"))
            waited = time.monotonic() - started
            self.assertTrue(action.startswith("DEFER_IF_PERMIT 4.3.0"), action)
            # command_timeout is 500 ms in the fixture's config; the loop
            # checks deadlines every 50 ms.
            self.assertLess(waited, 1.5, f"answered after {waited:.2f}s")
            # The pause ends by itself (a new client's UNPAUSE would be held too).
            deadline = time.time() + 5
            while client.ask(rcpt_request("c@example.net", instance=f"h2-{time.time()}")) != "DUNNO":
                self.assertLess(time.time(), deadline, "policyd did not recover after Redis answered again")
                time.sleep(0.1)
        self.assertIn("no answer within 500 ms", self.policyd.log())

    def test_accept_mode_lets_mail_through_after_a_reload(self):
        client = self.policyd.client()
        self.assertEqual(client.ask(rcpt_request("a@example.net", instance="m1")), "DUNNO")
        self.policyd.reload(policyd_keys="on_redis_error = accept")
        # The same connection survives the reload.
        self.assertEqual(client.ask(rcpt_request("b@example.net", instance="m2")), "DUNNO")
        self.redis.stop()
        try:
            self.assertEqual(client.ask(rcpt_request("c@example.net", instance="m3")), "DUNNO")
            self.assertSmtpOk(send_as(self.postfix, "alice"), "accept mode while Redis is down")
        finally:
            self.redis.start()
        self.assertIn("decision=dunno reason=redis-", self.policyd.log())
        client.close()

    def test_invalid_config_on_reload_keeps_the_running_one(self):
        self.policyd.reload(config="[quota broken]\nmessages = lots\n")
        self.assertIn("reload refused, keeping the running configuration", self.policyd.log())
        with self.policyd.client() as client:
            for i in range(3):
                self.assertEqual(client.ask(rcpt_request("a@example.net", instance=f"n{i}", state="END-OF-MESSAGE")),
                                 "DUNNO")
            self.assertTrue(client.ask(rcpt_request("a@example.net", instance="n4",
                                                    state="END-OF-MESSAGE")).startswith("450 4.7.1"))


class PolicydProtocolTest(E2ETestCase):
    """Hostile or broken clients cost a connection, never the daemon."""

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.enterClassContext(RedisServer())
        cls.policyd = cls.enterClassContext(PolicyDaemon(cls.redis, config=kQuota))

    def assertAlive(self):
        with self.policyd.client() as client:
            self.assertEqual(client.ask(rcpt_request("ok@example.net", instance="alive")), "DUNNO")

    def test_malformed_requests_close_the_connection_only(self):
        bad_inputs = [
            b"this is not a policy request\n\n",                    # no name=value
            b"request=smtpd_access_policy\nrequest=again\n\n",     # duplicate attribute
            b"request=smtpd_access_policy\nsize=12abc\n\n",        # bad number
            b"request=smtpd_access_policy\n" + b"x=" + b"A" * 100000 + b"\n\n",  # overlong
            b"\x00\x01\x02\n\n",                                    # binary junk
            b"request=other_protocol\n\n",                          # wrong request type
        ]
        for data in bad_inputs:
            with self.policyd.client() as client:
                try:
                    client.send_raw(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # already closed by the daemon: fine
                self.assertIsNone(client.read_reply(), f"input {data[:40]!r} got an answer")
        self.assertIn("malformed request", self.policyd.log())
        self.assertAlive()

    def test_many_idle_connections_and_one_at_a_time_answers(self):
        clients = [self.policyd.client() for _ in range(200)]
        try:
            for i, client in enumerate(clients[::20]):
                self.assertEqual(client.ask(rcpt_request("a@example.net", instance=f"c{i}",
                                                         sasl_username=f"u{i}")), "DUNNO")
        finally:
            for client in clients:
                client.close()
        self.assertAlive()

    def test_sigterm_exits_cleanly(self):
        daemon = self.enterContext(PolicyDaemon(self.redis, config=kQuota, name="policyd-term"))
        with daemon.client() as client:
            self.assertEqual(client.ask(rcpt_request("a@example.net", instance="t1")), "DUNNO")
        daemon.proc.terminate()
        self.assertEqual(daemon.proc.wait(timeout=10), 0)
        self.assertIn("stopped", daemon.log())


class PolicydConcurrencyTest(E2ETestCase):
    """Several sluice-policyd processes on one Redis, hammering one key,
    never admit more than the limit."""

    def test_three_daemons_never_admit_more_than_the_limit(self):
        limit, attempts_per_client, clients_per_daemon = 200, 50, 4
        redis = self.enterContext(RedisServer())
        config = f"[quota per-user]\nkey = sasl_username\nmessages = {limit}/1h\n"
        daemons = [self.enterContext(PolicyDaemon(redis, config=config, name=f"policyd-{i}")) for i in range(3)]
        results = []
        lock = threading.Lock()

        def hammer(daemon, worker):
            with daemon.client() as client:
                for n in range(attempts_per_client):
                    action = client.ask(rcpt_request("", state="END-OF-MESSAGE", sasl_username="shared",
                                                     instance=f"{daemon.name}.{worker}.{n}"))
                    with lock:
                        results.append(action)

        threads = [threading.Thread(target=hammer, args=(d, w)) for d in daemons for w in range(clients_per_daemon)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        total = 3 * clients_per_daemon * attempts_per_client
        self.assertEqual(len(results), total)
        admitted = sum(1 for r in results if r == "DUNNO")
        deferred = sum(1 for r in results if r.startswith("450 4.7.1"))
        self.assertEqual((admitted, deferred), (limit, total - limit))


class PolicydFloodTest(E2ETestCase):
    """Pipelined floods: answered in order without unbounded memory or stack,
    and never at the expense of other clients."""

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.enterClassContext(RedisServer())
        cls.policyd = cls.enterClassContext(PolicyDaemon(cls.redis, config=kQuota))

    def test_ten_thousand_pipelined_requests_are_all_answered_in_order(self):
        # CONNECT-state requests are answered without Redis, from inside the
        # request loop: the case that would recurse once per request.
        count = 10000
        one = "".join(f"{k}={v}\n" for k, v in rcpt_request("", state="CONNECT").items()) + "\n"
        with self.policyd.client() as client:
            sender = threading.Thread(target=client.send_raw, args=(one.encode() * count,))
            sender.start()
            answers = [client.read_reply() for _ in range(count)]
            sender.join(30)
        self.assertEqual(answers, ["DUNNO"] * count)
        self.assertTrue(self.policyd.running)

    def test_client_that_never_reads_is_throttled_not_buffered(self):
        flood = socket_flood(self.policyd.port, megabytes=20)
        try:
            with self.policyd.client() as other:
                started = time.monotonic()
                self.assertEqual(other.ask(rcpt_request("a@example.net", instance="f1")), "DUNNO")
                self.assertLess(time.monotonic() - started, 2.0, "another client waited on the flood")
            with open(f"/proc/{self.policyd.pid}/status") as f:
                rss_kb = int(next(line for line in f if line.startswith("VmRSS:")).split()[1])
            self.assertLess(rss_kb, 64 * 1024, f"policyd RSS {rss_kb} kB while a client floods without reading")
        finally:
            flood.close()


def socket_flood(port, megabytes):
    """A client that writes pipelined requests and never reads a reply."""
    import socket as socket_module
    sock = socket_module.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    one = "".join(f"{k}={v}\n" for k, v in rcpt_request("", state="CONNECT").items()).encode() + b"\n"
    data = one * (megabytes * 1024 * 1024 // len(one))
    deadline = time.time() + 5
    sent = 0
    while sent < len(data) and time.time() < deadline:
        try:
            sent += sock.send(data[sent:sent + 65536])
        except BlockingIOError:
            time.sleep(0.01)  # the daemon stopped reading us: as it should
    return sock


class PolicydLifecycleTest(E2ETestCase):
    """Reload to another Redis, and requests that arrive as SIGTERM does."""

    def test_reload_to_another_redis_switches_at_once(self):
        first = self.enterContext(RedisServer(name="redis-a"))
        second = self.enterContext(RedisServer(name="redis-b"))
        policyd = self.enterContext(PolicyDaemon(first, config=kQuota))
        with policyd.client() as client:
            self.assertEqual(client.ask(rcpt_request("", state="END-OF-MESSAGE", instance="s1")), "DUNNO")
            policyd.redis = second
            policyd.reload()
            # The old Redis is still up: the switch must not wait for it to fail.
            self.assertEqual(client.ask(rcpt_request("", state="END-OF-MESSAGE", instance="s2")), "DUNNO")
        counters = lambda redis: [k for k in (redis.command("KEYS", "sluice:v1:q:*") or [])]
        total = lambda redis: sum(int(redis.command("GET", k)) for k in counters(redis))
        self.assertEqual((total(first), total(second)), (1, 1))
        self.assertIn("reconnecting to 127.0.0.1:%d" % second.port, policyd.log())

    def test_request_sent_with_sigterm_is_still_answered(self):
        redis = self.enterContext(RedisServer())
        for attempt in range(5):
            policyd = self.enterContext(PolicyDaemon(redis, config=kQuota, name=f"policyd-term{attempt}"))
            client = policyd.client()
            payload = "".join(f"{k}={v}\n" for k, v in rcpt_request("a@example.net", instance=f"t{attempt}").items())
            client.send_raw((payload + "\n").encode())
            policyd.proc.terminate()
            self.assertEqual(client.read_reply(), "DUNNO", f"attempt {attempt}")
            client.close()
            self.assertEqual(policyd.proc.wait(timeout=10), 0)
