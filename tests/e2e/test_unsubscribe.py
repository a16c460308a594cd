"""sluice-unsubscribe against a real private Redis: a valid one-click POST
suppresses the recipient for the account; forged, altered, expired and
future tokens, GETs and replays change nothing; Redis down answers 503 with
Retry-After; hostile HTTP is refused with the right status; SIGHUP reloads
the keys; SIGTERM exits 0. Tokens come from `sluicectl unsubscribe token`,
which uses the same config and key file."""

import http.client
import os
import secrets
import signal
import socket
import subprocess
import time

from harness import E2ETestCase, RedisServer, sluice_binary
from harness.daemon import AUTO, Daemon

kPrefix = "sluice:v1:"
kOneClick = "List-Unsubscribe=One-Click"
kForm = {"Content-Type": "application/x-www-form-urlencoded"}


def new_key_line(key_id):
    return f"{key_id} {secrets.token_hex(32)}\n"


class UnsubscribeDaemon(Daemon):
    """sluice-unsubscribe in the foreground on a free loopback port; its
    key file (mode 0600) holds `key_lines`, the first one signs."""

    def __init__(self, redis, key_lines, name="unsubscribe", **kw):
        self.redis = redis
        self.key_lines = list(key_lines)
        super().__init__(name, self._argv_for, port=AUTO, **kw)

    @property
    def config_path(self):
        return self.path("sluice.conf")

    def write_config(self, key_lines=None):
        if key_lines is not None:
            self.key_lines = list(key_lines)
        keys = self.path("unsubscribe.keys")
        fd = os.open(keys + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("# id secret\n" + "".join(self.key_lines))
        os.chmod(keys + ".tmp", 0o600)
        os.replace(keys + ".tmp", keys)
        text = (f"[redis]\nport = {self.redis.port}\nreconnect_min = 50ms\n"
                f"reconnect_max = 200ms\ncommand_timeout = 500ms\n\n"
                f"[log]\nlevel = debug\n\n"
                f"[unsubscribe]\nkey_file = {keys}\n"
                f"listen = inet:127.0.0.1:{self.port}\n"
                f"url_base = https://relay.example.test/unsubscribe/\n")
        with open(self.config_path + ".tmp", "w") as f:
            f.write(text)
        os.replace(self.config_path + ".tmp", self.config_path)

    def _argv_for(self, daemon):
        self.write_config()
        return [sluice_binary("sluice-unsubscribe"), "-f", "-c", self.config_path]

    def reload(self, key_lines, timeout=5.0):
        before = self.log().count("reload:")
        self.write_config(key_lines)
        self.signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log().count("reload:") > before:
                return
            time.sleep(0.05)
        raise AssertionError("no reload logged:\n" + self.log_tail())


class UnsubscribeTest(E2ETestCase):

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.enterClassContext(RedisServer())
        cls.ctl = sluice_binary("sluicectl")
        cls.first_key = new_key_line("k1")
        cls.daemon = cls.enterClassContext(UnsubscribeDaemon(cls.redis, [cls.first_key]))

    def setUp(self):
        if not self.redis.running:
            self.redis.start()
        if not self.daemon.running:
            self.daemon.start()
        if self.daemon.key_lines != [self.first_key]:
            self.daemon.reload([self.first_key])
        self.redis.command("FLUSHALL")

    # --- helpers -----------------------------------------------------------

    def sluicectl(self, *args, ok=True):
        got = subprocess.run([self.ctl, "-c", self.daemon.config_path, *args],
                             capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL)
        if ok:
            self.assertEqual(got.returncode, 0, got.stdout + got.stderr)
        return got

    def token(self, account="alice", recipient="Bob@Example.NET", issued=None, key=None):
        args = ["unsubscribe", "token", "--account", account, "--recipient", recipient]
        if issued is not None:
            args += ["--issued", str(issued)]
        if key is not None:
            args += ["--key", key]
        return self.sluicectl(*args).stdout.strip()

    def request(self, method, path, body=None, headers=None):
        """(status, headers dict with lowercase names, body text)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.daemon.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return (response.status, {k.lower(): v for k, v in response.getheaders()},
                    response.read().decode("utf-8", "replace"))
        finally:
            conn.close()

    def post(self, token, body=kOneClick):
        return self.request("POST", "/unsubscribe/" + token, body=body, headers=kForm)

    def raw(self, data, timeout=15.0):
        """Sends raw bytes, returns everything the server sends until it closes."""
        with socket.create_connection(("127.0.0.1", self.daemon.port), timeout=timeout) as s:
            s.sendall(data)
            chunks = []
            while True:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", "replace")

    def suppression(self, account="alice", recipient="bob@example.net"):
        """The stored entry (dict) or None, straight from Redis."""
        reply = self.redis.command(
            "HGETALL", f"{kPrefix}sup:sasl_username:{account}:{recipient}")
        if not reply:
            return None
        return {reply[i].decode(): reply[i + 1].decode() for i in range(0, len(reply), 2)}

    def unsubscribe_count(self, account="alice"):
        total = 0
        for key in self.redis.command("KEYS", f"{kPrefix}rep:{account}:*"):
            value = self.redis.command("HGET", key, "unsubscribe")
            total += int(value or 0)
        return total

    def assertNothingWritten(self):
        self.assertEqual(self.redis.command("DBSIZE"), 0,
                         self.redis.command("KEYS", "*"))

    def wait_log(self, text, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.daemon.log():
                return
            time.sleep(0.05)
        self.fail(f"log never showed {text!r}:\n{self.daemon.log_tail()}")

    # --- tests -------------------------------------------------------------

    def test_valid_post_suppresses_the_recipient_for_the_account(self):
        status, headers, body = self.post(self.token())
        self.assertEqual((status, body.strip()), (200, "You have been unsubscribed."))
        self.assertEqual(headers["cache-control"], "no-store")
        entry = self.suppression()
        self.assertIsNotNone(entry, self.redis.command("KEYS", "*"))
        self.assertEqual((entry["reason"], entry["note"]), ("unsubscribe", "one-click"))
        self.assertEqual(self.unsubscribe_count(), 1)
        # The operator's view agrees.
        shown = self.sluicectl("suppress", "show", "bob@example.net",
                               "--scope", "sasl_username=alice").stdout
        self.assertIn("unsubscribe", shown)
        self.wait_log("outcome=unsubscribed account=alice recipient=bob@example.net key=k1")

    def test_get_shows_a_form_and_changes_nothing(self):
        token = self.token()
        status, headers, body = self.request("GET", "/unsubscribe/" + token)
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/html"))
        self.assertIn('<form method="post">', body)
        self.assertIn('name="List-Unsubscribe" value="One-Click"', body)
        self.assertIn("bob@example.net", body)
        status, _, _ = self.request("HEAD", "/unsubscribe/" + token)
        self.assertEqual(status, 200)
        self.assertNothingWritten()
        # The form's own submission (what a browser sends) does unsubscribe.
        status, _, _ = self.post(token, body="List-Unsubscribe=One-Click")
        self.assertEqual(status, 200)
        self.assertIsNotNone(self.suppression())

    def test_forged_altered_expired_and_future_tokens_are_refused(self):
        good = self.token()
        # A character inside the MAC (the last one also holds padding bits).
        i = len(good) - 5
        altered = good[:i] + ("A" if good[i] != "A" else "B") + good[i + 1:]
        now = int(time.time())
        expired = self.token(issued=now - 91 * 86400)  # token_ttl is 90d
        future = self.token(issued=now + 3 * 86400)
        other = UnsubscribeDaemon(self.redis, [new_key_line("k1")], name="forger")
        other.write_config()
        forged = subprocess.run(
            [self.ctl, "-c", other.config_path, "unsubscribe", "token", "--account", "alice",
             "--recipient", "bob@example.net"],
            capture_output=True, text=True, timeout=30).stdout.strip()
        other.close()
        self.assertTrue(forged)
        cases = [("altered", altered, 403), ("forged", forged, 403), ("expired", expired, 403),
                 ("future", future, 403), ("truncated", good[:30], 400), ("garbage", "not-a-token", 400)]
        for why, token, want in cases:
            with self.subTest(why):
                status, _, _ = self.post(token)
                self.assertEqual(status, want)
                status, _, _ = self.request("GET", "/unsubscribe/" + token)
                self.assertEqual(status, want)
        self.assertNothingWritten()
        log = self.daemon.log()
        for problem in ("forged", "expired", "future", "truncated", "malformed"):
            self.assertIn('outcome=rejected token=', log)
            self.assertIn(f'detail="{problem}', log)

    def test_replay_changes_nothing_even_after_the_operator_removed_the_entry(self):
        token = self.token()
        self.assertEqual(self.post(token)[0], 200)
        first = self.suppression()
        self.assertEqual(self.post(token)[0], 200)
        self.assertEqual(self.suppression(), first)
        self.assertEqual(self.unsubscribe_count(), 1)
        self.sluicectl("suppress", "remove", "bob@example.net", "--scope", "sasl_username=alice")
        self.assertIsNone(self.suppression())
        self.assertEqual(self.post(token)[0], 200)
        self.assertIsNone(self.suppression(), "a replayed link restored the suppression")
        self.assertEqual(self.unsubscribe_count(), 1)
        self.wait_log("outcome=replayed account=alice")

    def test_redis_down_answers_503_with_retry_after_and_the_retry_works(self):
        token = self.token()
        self.redis.stop()
        try:
            status, headers, _ = self.post(token)
            self.assertEqual(status, 503)
            self.assertEqual(headers.get("retry-after"), "120")
            # GET needs no Redis.
            self.assertEqual(self.request("GET", "/unsubscribe/" + token)[0], 200)
        finally:
            self.redis.start()
        deadline = time.monotonic() + 5
        while True:  # the back-off window (reconnect_max 200ms) closes
            status, _, _ = self.post(token)
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(status, 200)
        self.assertIsNotNone(self.suppression())
        self.wait_log("outcome=redis-failed")

    def test_hostile_or_wrong_requests_get_their_status(self):
        token = self.token()
        path = f"/unsubscribe/{token}"
        cases = [
            ("chunked", f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                        f"1a\r\n{kOneClick}\r\n0\r\n\r\n", 411),
            ("no length", f"POST {path} HTTP/1.1\r\nHost: x\r\n\r\n", 411),
            ("body too large", f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"
                               + "a" * 5000, 413),
            ("head too large", f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * 9000}\r\n\r\n", 431),
            ("bad method", f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
            ("other path", "GET /admin HTTP/1.1\r\nHost: x\r\n\r\n", 404),
            ("no one-click pair", f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\na=b", 400),
            ("no Host", f"GET {path} HTTP/1.1\r\n\r\n", 400),
            ("HTTP/2", f"GET {path} HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        ]
        for why, data, want in cases:
            with self.subTest(why):
                answer = self.raw(data.encode())
                self.assertTrue(answer.startswith(f"HTTP/1.1 {want} "), answer[:200])
        self.assertNothingWritten()

    def test_a_slow_client_gets_408_and_the_server_stays_available(self):
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.daemon.port), timeout=20) as slow:
            slow.sendall(b"GET /unsubscribe/")
            # Others are served meanwhile.
            self.assertEqual(self.request("GET", "/unsubscribe/" + self.token())[0], 200)
            answer = b""
            while True:
                chunk = slow.recv(4096)
                if not chunk:
                    break
                answer += chunk
        elapsed = time.monotonic() - started
        self.assertTrue(answer.startswith(b"HTTP/1.1 408 "), answer[:100])
        self.assertLess(elapsed, 15)

    def test_connections_over_the_cap_get_503_and_the_cap_frees_up(self):
        idle = []
        try:
            for _ in range(256):  # ServerLimits::max_connections
                idle.append(socket.create_connection(("127.0.0.1", self.daemon.port), timeout=10))
            time.sleep(0.2)  # all accepted
            answer = self.raw(b"GET /unsubscribe/x HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertTrue(answer.startswith("HTTP/1.1 503 "), answer[:200])
            self.assertIn("Retry-After: 120", answer)
        finally:
            for s in idle:
                s.close()
        deadline = time.monotonic() + 5
        while True:
            status = self.request("GET", "/unsubscribe/" + self.token())[0]
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(status, 200)
        self.wait_log("outcome=busy")

    def test_sighup_reloads_the_keys(self):
        old = self.token()  # signed by k1
        second = new_key_line("k2")
        self.daemon.reload([second, self.first_key])  # rotation: k2 signs, k1 still verifies
        new = self.token(recipient="carol@example.net")
        self.assertEqual(self.sluicectl("unsubscribe", "verify", new).stdout.split()[-1], "k2")
        unused_k1 = self.token(recipient="erin@example.net", key="k1")
        self.assertEqual(self.post(old)[0], 200)
        self.assertEqual(self.post(new)[0], 200)
        self.daemon.reload([second])  # k1 retired: its tokens stop working
        status, _, _ = self.post(unused_k1)
        self.assertEqual(status, 403)
        self.assertIsNone(self.suppression(recipient="erin@example.net"))
        self.assertIn('detail="unknown-key: key id k1', self.daemon.log())

    def test_sigterm_exits_cleanly(self):
        proc = self.daemon.proc
        self.daemon.signal(signal.SIGTERM)
        self.assertEqual(proc.wait(10), 0)
        self.assertIn("stopped", self.daemon.log())
        self.daemon.proc = None

    def test_check_config_and_version(self):
        binary = sluice_binary("sluice-unsubscribe")
        got = subprocess.run([binary, "-n", "-c", self.daemon.config_path],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(got.returncode, 0, got.stderr)
        got = subprocess.run([binary, "-V"], capture_output=True, text=True, timeout=30)
        self.assertTrue(got.stdout.startswith("sluice-unsubscribe "), got.stdout)
        # A key file others can read is refused.
        keys = self.daemon.path("unsubscribe.keys")
        os.chmod(keys, 0o644)
        try:
            got = subprocess.run([binary, "-n", "-c", self.daemon.config_path],
                                 capture_output=True, text=True, timeout=30)
        finally:
            os.chmod(keys, 0o600)
        self.assertEqual(got.returncode, 1)
        self.assertIn("readable by others", got.stderr)


class UnsubscribeLoopTest(E2ETestCase):
    """The whole loop: sluice-milter adds List-Unsubscribe to alice's mail,
    the link's one-click POST reaches sluice-unsubscribe, and sluice-policyd
    refuses the next message to that recipient at RCPT (other recipients
    and other accounts unaffected)."""

    @classmethod
    def setUpClass(cls):
        from harness import PostfixInstance, Sink
        from harness.milter import MilterDaemon
        from harness.policyd import PolicyDaemon
        cls.redis = cls.enterClassContext(RedisServer())
        cls.sink = cls.enterClassContext(Sink())
        cls.daemon = cls.enterClassContext(UnsubscribeDaemon(cls.redis, [new_key_line("k1")]))
        keys = cls.daemon.path("unsubscribe.keys")
        unsubscribe_section = (f"\n[unsubscribe]\naccounts = alice@example.test\nkey_file = {keys}\n"
                               f"url_base = https://relay.example.test/unsubscribe/\n")
        cls.milter = cls.enterClassContext(MilterDaemon(redis=cls.redis, milter_keys=unsubscribe_section))
        cls.policyd = cls.enterClassContext(PolicyDaemon(cls.redis))
        service = f"check_policy_service inet:127.0.0.1:{cls.policyd.port}"
        cls.postfix = cls.enterClassContext(PostfixInstance(
            relay=cls.sink,
            sasl_users={"alice": "alice-pw", "carl": "carl-pw"},
            main_cf={"smtpd_milters": cls.milter.socket_spec,
                     "milter_default_action": "tempfail",
                     "smtpd_recipient_restrictions": [service],
                     "smtpd_policy_service_timeout": "5s",
                     "mynetworks": ""}))

    def send(self, user, to):
        from harness import swaks
        return swaks.send(self.postfix, sender=f"{user}@example.test", to=to,
                          auth=(user, f"{user}-pw"))

    def test_one_click_stops_the_next_message_at_rcpt(self):
        # PostfixInstance's SASL logins are user@example.test.
        self.assertSmtpOk(self.send("alice", "bob@example.net"))
        got = self.sink.wait_for(1, 30)[-1]
        field = " ".join(v.decode() for v in got.headers("List-Unsubscribe"))
        self.assertIn("<https://relay.example.test/unsubscribe/", field, got.header_block)
        self.assertEqual([v.decode().strip() for v in got.headers("List-Unsubscribe-Post")],
                         ["List-Unsubscribe=One-Click"])
        token = field.split("/unsubscribe/", 1)[1].split(">", 1)[0]

        # What a mailbox provider does with those two headers (RFC 8058 3.2).
        conn = http.client.HTTPConnection("127.0.0.1", self.daemon.port, timeout=10)
        conn.request("POST", "/unsubscribe/" + token, body=kOneClick, headers=kForm)
        response = conn.getresponse()
        self.assertEqual(response.status, 200, response.read())
        conn.close()

        refused = self.send("alice", "bob@example.net")
        self.assertSmtpFails(refused, 24, "550 5.7.1")
        self.assertIn("suppressed", refused.transcript)
        # Another recipient, and another account to the same recipient, still go.
        self.assertSmtpOk(self.send("alice", "dora@example.net"))
        self.assertSmtpOk(self.send("carl", "bob@example.net"))
