"""sluicectl suppress and quota against a real private redis-server: entries
round-trip with normalisation, expire, stay in their scope, export and import
losslessly, an import with a bad row writes nothing; quota overrides land in
the store's hash and show up; an outage is exit status 69."""

import csv
import io
import os
import subprocess
import time

from harness import E2ETestCase, RedisServer, cleanup, sluice_binary

kPrefix = "sluice:v1:"
kQuotaRules = """
[quota per-user]
key = sasl_username
messages = 100/1d
recipients = 1000/1h
"""


def write_file(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, "w", newline="") as f:
        f.write(text)
    return path


class SluicectlAdminTest(E2ETestCase):

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.enterClassContext(RedisServer())
        cls.dir = cleanup.make_dir("sluicectl-admin")
        cls.ctl = sluice_binary("sluicectl")
        cls.conf = write_file(cls.dir, "sluice.conf",
                              f"[redis]\nport = {cls.redis.port}\n" + kQuotaRules)

    def setUp(self):
        self.redis.command("FLUSHALL")

    def run_ctl(self, *args, conf=None, stdin_text=None):
        return subprocess.run(
            [self.ctl, "-c", conf or self.conf, *args], capture_output=True, text=True,
            timeout=30, input=stdin_text,
            stdin=None if stdin_text is not None else subprocess.DEVNULL)

    def ok(self, *args, **kw):
        got = self.run_ctl(*args, **kw)
        self.assertEqual(got.returncode, 0, f"sluicectl {' '.join(args)}:\n{got.stdout}{got.stderr}")
        return got.stdout

    # --- suppress ------------------------------------------------------------

    def test_add_show_remove_round_trip_with_normalisation(self):
        out = self.ok("suppress", "add", "Bob@Example.NET", "--reason", "complaint",
                      "--note", "via FBL", "--tracking-id", "01jdxyz")
        self.assertIn("added bob@example.net to global (reason complaint, expires never)", out)
        out = self.ok("suppress", "show", "bob@example.net")
        self.assertIn("address      bob@example.net", out)
        self.assertIn("reason       complaint", out)
        self.assertIn("note         via FBL", out)
        self.assertIn("tracking_id  01jdxyz", out)
        self.ok("suppress", "show", "<BOB@example.net>")  # any spelling finds it
        # Adding again updates (no duplicate).
        self.assertIn("updated bob@example.net", self.ok("suppress", "add", "bob@example.net"))
        self.assertIn("1 of 1 entries in global", self.ok("suppress", "list"))

        self.assertIn("removed bob@example.net from global",
                      self.ok("suppress", "remove", "BOB@EXAMPLE.NET"))
        again = self.run_ctl("suppress", "remove", "bob@example.net")
        self.assertEqual(again.returncode, 1, again.stderr)
        self.assertEqual(again.stderr.strip(),
                         "sluicectl: bob@example.net was not suppressed in global: nothing removed")
        gone = self.run_ctl("suppress", "show", "bob@example.net")
        self.assertEqual(gone.returncode, 1)
        self.assertIn("not suppressed", gone.stderr)

    def test_add_rejects_bad_input(self):
        got = self.run_ctl("suppress", "add", "not-an-address")
        self.assertEqual(got.returncode, 1, got.stderr)
        self.assertTrue(got.stderr.startswith("sluicectl: bad recipient"), got.stderr)
        got = self.run_ctl("suppress", "add", "a@example.com", "--reason", "spam")
        self.assertEqual(got.returncode, 2, got.stderr)
        self.assertEqual(len(got.stderr.strip().splitlines()), 1, got.stderr)

    def test_expired_entry_is_gone(self):
        out = self.ok("suppress", "add", "brief@example.com", "--expires", "1s")
        self.assertIn("expires 20", out)  # an ISO 8601 time, not "never"
        self.ok("suppress", "show", "brief@example.com")
        time.sleep(1.6)
        got = self.run_ctl("suppress", "show", "brief@example.com")
        self.assertEqual(got.returncode, 1, got.stdout)
        self.assertIn("no entries in global", self.ok("suppress", "list"))

    def test_scopes_are_kept_apart(self):
        self.ok("suppress", "add", "x@example.net", "--scope", "sasl_username=alice")
        self.ok("suppress", "add", "y@example.net", "--scope", "sender_domain=Example.COM")
        for scope, address, want in [
                ("global", "x@example.net", 1),
                ("sasl_username=alice", "x@example.net", 0),
                ("sasl_username=bob", "x@example.net", 1),
                ("sender_domain=example.com", "y@example.net", 0),
                ("sender_domain=example.com", "x@example.net", 1),
                ("global", "y@example.net", 1)]:
            got = self.run_ctl("suppress", "show", address, "--scope", scope)
            self.assertEqual(got.returncode, want, f"{address} in {scope}: {got.stdout}{got.stderr}")
        listing = self.ok("suppress", "list", "--scope", "sasl_username=alice")
        self.assertIn("x@example.net", listing)
        self.assertNotIn("y@example.net", listing)
        self.assertNotIn("x@example.net", self.ok("suppress", "export"))

    def test_export_then_import_into_a_fresh_redis_gives_the_same_export(self):
        self.ok("suppress", "add", "a@example.com", "--reason", "hard-bounce",
                "--note", 'said "no", twice', "--tracking-id", "01jdaaaa")
        self.ok("suppress", "add", "b@example.com", "--reason", "unsubscribe", "--expires", "30d")
        self.ok("suppress", "add", "c@example.com")
        self.ok("suppress", "add", "d@example.com", "--scope", "sasl_username=alice")
        exported = self.ok("suppress", "export")
        rows = list(csv.reader(io.StringIO(exported, newline="")))
        self.assertEqual(rows[0], ["address", "scope", "reason", "since", "expires",
                                   "tracking_id", "note"])
        self.assertEqual([r[0] for r in rows[1:]],
                         ["a@example.com", "b@example.com", "c@example.com"])
        self.assertEqual(rows[1][6], 'said "no", twice')
        self.assertEqual(rows[2][4][-1:], "Z")
        self.assertEqual(rows[3][4], "")  # never expires
        path = write_file(self.dir, "export.csv", exported)

        with RedisServer() as fresh:
            conf = write_file(self.dir, "fresh.conf", f"[redis]\nport = {fresh.port}\n")
            dry = self.ok("suppress", "import", path, "--dry-run", conf=conf)
            self.assertIn("would import 3 (3 new, 0 updated)", dry)
            self.assertEqual(fresh.command("DBSIZE"), 0)
            self.assertIn("imported 3 (3 new, 0 updated)",
                          self.ok("suppress", "import", path, conf=conf))
            self.assertEqual(self.ok("suppress", "export", conf=conf), exported)
            # Again, from stdin: the same entries, updated in place.
            self.assertIn("imported 3 (0 new, 3 updated)",
                          self.ok("suppress", "import", "-", conf=conf, stdin_text=exported))
            self.assertEqual(self.ok("suppress", "export", conf=conf), exported)

    def test_import_with_one_bad_row_imports_nothing_and_names_file_and_line(self):
        text = ("note,address,reason\r\n"            # any column order
                "first,good1@example.com,\r\n"        # line 2: reason defaults to manual
                "\"two\nlines\",good2@example.com,manual\r\n"  # lines 3-4: newline in a note
                "x,bad@example.com,spam\r\n"          # line 5: unknown reason
                "y,not an address,manual\r\n")        # line 6
        path = write_file(self.dir, "bad.csv", text)
        got = self.run_ctl("suppress", "import", path)
        self.assertEqual(got.returncode, 1, got.stdout + got.stderr)
        lines = got.stderr.strip().splitlines()
        self.assertTrue(lines[0].startswith(f"sluicectl: {path}:3: note contains CR, LF or NUL"), lines)
        self.assertTrue(lines[1].startswith(f"sluicectl: {path}:5: unknown reason \"spam\""), lines)
        self.assertTrue(lines[2].startswith(f"sluicectl: {path}:6: bad recipient"), lines)
        self.assertEqual(lines[3], f"sluicectl: {path}: 3 bad rows: nothing imported")
        self.assertEqual(self.redis.command("DBSIZE"), 0)

        unknown = write_file(self.dir, "unknown.csv", "address,comment\r\na@example.com,x\r\n")
        got = self.run_ctl("suppress", "import", unknown)
        self.assertEqual(got.returncode, 1)
        self.assertIn(f"{unknown}:1: unknown column \"comment\"", got.stderr)

        good = write_file(self.dir, "good.csv", "address\ngood1@example.com\n")
        self.assertIn("imported 1 (1 new, 0 updated)",
                      self.ok("suppress", "import", good, "--scope", "sender_domain=example.org"))
        self.ok("suppress", "show", "good1@example.com", "--scope", "sender_domain=example.org")

    def test_help_and_usage(self):
        got = self.run_ctl("suppress", "--help")
        self.assertEqual(got.returncode, 0)
        self.assertIn("usage: sluicectl [-c FILE] suppress", got.stdout)
        got = self.run_ctl("quota", "--help")
        self.assertEqual(got.returncode, 0)
        self.assertIn("usage: sluicectl [-c FILE] quota", got.stdout)
        for args in (["suppress"], ["suppress", "frob"], ["suppress", "list", "--limit", "x"],
                     ["quota", "set", "sasl_username=a"], ["quota", "show", "user=a"]):
            got = self.run_ctl(*args)
            self.assertEqual(got.returncode, 2, f"{args}: {got.stderr}")
            self.assertTrue(got.stderr.startswith("sluicectl: "), got.stderr)
            self.assertEqual(len(got.stderr.strip().splitlines()), 1, got.stderr)

    # --- quota ---------------------------------------------------------------

    def test_quota_set_show_unset_reset(self):
        out = self.ok("quota", "set", "sasl_username=alice", "messages/1d=50000")
        self.assertIn("set messages/1d=50000 for sasl_username=alice", out)
        self.assertEqual(self.redis.command("HGET", f"{kPrefix}qo:sasl_username=alice",
                                            "messages/86400"), b"50000")

        # Usage in the current window, as the policy script would have counted it.
        sec, _ = self.redis.command("TIME")
        index = int(sec) // 86400
        counter = f"{kPrefix}q:per-user:messages:86400:{index}:sasl_username=alice"
        self.redis.command("SET", counter, "7")

        out = self.ok("quota", "show", "sasl_username=alice")
        rows = [line.split() for line in out.splitlines()]
        self.assertEqual(rows[1], ["RULE", "LIMIT", "CONFIGURED", "OVERRIDE", "USED",
                                   "REMAINING", "RESETS"])
        self.assertEqual(rows[2][:6], ["per-user", "messages/1d", "100", "50000", "7", "49993"])
        self.assertTrue(rows[2][6].endswith("T00:00:00Z"), rows[2])
        self.assertEqual(rows[3][:6], ["per-user", "recipients/1h", "1000", "-", "0", "1000"])

        got = self.run_ctl("quota", "set", "sasl_username=alice", "messages/1h=5")
        self.assertEqual(got.returncode, 1)
        self.assertIn("messages/1d, recipients/1h", got.stderr)
        got = self.run_ctl("quota", "show", "sender_domain=example.com")
        self.assertEqual(got.returncode, 1)
        self.assertIn("no quota rule is keyed on sender_domain", got.stderr)

        self.assertIn("deleted 1 counter of sasl_username=alice",
                      self.ok("quota", "reset", "sasl_username=alice"))
        self.assertIsNone(self.redis.command("GET", counter))
        self.assertIn("deleted 0 counters", self.ok("quota", "reset", "sasl_username=alice"))

        self.ok("quota", "unset", "sasl_username=alice", "messages/1d")
        self.assertIsNone(self.redis.command("HGET", f"{kPrefix}qo:sasl_username=alice",
                                             "messages/86400"))
        got = self.run_ctl("quota", "unset", "sasl_username=alice", "messages/1d")
        self.assertEqual(got.returncode, 1)
        self.assertIn("has no messages/1d override", got.stderr)

    # --- outage --------------------------------------------------------------

    def test_redis_down_exits_69(self):
        self.redis.stop()
        try:
            for args in (["suppress", "show", "a@example.com"],
                         ["suppress", "add", "a@example.com"],
                         ["suppress", "export"],
                         ["quota", "show", "sasl_username=alice"]):
                got = self.run_ctl(*args)
                self.assertEqual(got.returncode, 69, f"{args}: {got.stdout}{got.stderr}")
                self.assertTrue(got.stderr.startswith("sluicectl: "), got.stderr)
        finally:
            self.redis.start()
