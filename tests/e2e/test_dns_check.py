"""`sluicectl dns check` against a real name server: nsd serves zones that
are right and wrong in a private network namespace (harness/dns_zone.py),
and sluicectl reads them through the system resolver and libspf2, as on a
production host. The DKIM keys are made by openssl, not by Sluice, so the
public keys the check derives are compared with independently computed ones.
"""

import os
import re
import subprocess

from harness import E2ETestCase, cleanup, sluice_binary
from harness.dkim_keys import TestKey
from harness.dns_zone import DnsZones, txt

kDomain = "example.test"
kRelays = ["192.0.2.10", "2001:db8::25"]


def good_example_zone(rsa, ed):
    return [
        txt("@", "v=spf1 ip4:192.0.2.10 include:_spf.esp.test -all"),
        txt("@", "google-site-verification=abc"),
        txt(f"{rsa.selector}._domainkey", rsa.record),  # > 255 bytes: two strings, joined by resolvers
        txt(f"{ed.selector}._domainkey", ed.record),
        txt("_dmarc", "v=DMARC1; p=reject; rua=mailto:dmarc@example.test"),
    ]


def report_lines(stdout):
    """The check lines (before the blank line), as (status, area, text)."""
    lines = []
    for line in stdout.split("\n\n")[0].splitlines():
        area = line[5:].split(" ", 1)[0]
        lines.append((line[:4].strip(), area, line[5 + len(area):].lstrip(" ")))
    return lines


def records_section(stdout):
    """Everything after "Records to publish:"."""
    head, sep, tail = stdout.partition("Records to publish:")
    if not sep:
        raise AssertionError(f"no 'Records to publish:' in\n{stdout}")
    return tail


class DnsCheckTest(E2ETestCase):

    @classmethod
    def setUpClass(cls):
        cls.dir = cleanup.make_dir("dnscheck")
        cls.ctl = sluice_binary("sluicectl")
        cls.rsa = TestKey(cls.dir, kDomain, "rsa2026", "rsa", 2048)
        cls.ed = TestKey(cls.dir, kDomain, "ed2026", "ed25519")
        cls.other = TestKey(cls.dir, kDomain, "old2025", "rsa", 2048)  # a key we do not sign with
        table = os.path.join(cls.dir, "KeyTable")
        with open(table, "w") as f:
            f.write(f"rsa.example.test {kDomain}:{cls.rsa.selector}:{cls.rsa.path}\n"
                    f"ed.example.test {kDomain}:{cls.ed.selector}:{cls.ed.path}\n"
                    # Another domain's key is not checked for example.test.
                    f"other.example.net example.net:s1:{cls.other.path}\n")
        cls.conf = os.path.join(cls.dir, "sluice.conf")
        with open(cls.conf, "w") as f:
            f.write(f"[milter]\nkey_table = file:{table}\n\n"
                    f"[dns]\nrelay_addresses = {', '.join(kRelays)}\n")

    def setUp(self):
        self.dns = self.enterContext(DnsZones())
        self.dns.zone("esp.test", [txt("_spf", "v=spf1 ip6:2001:db8::/32 ~all")])

    def check(self, *args, domain=kDomain):
        got = self.dns.run([self.ctl, "-c", self.conf, "dns", "check", domain, *args])
        self.assertNotIn("dns_zone:", got.stderr)  # the namespace itself worked
        return got

    def assertLine(self, got, status, area, pattern):
        lines = report_lines(got.stdout)
        if not any(s == status and a == area and re.search(pattern, t) for s, a, t in lines):
            self.fail(f"no {status} {area} line matching {pattern!r} in:\n{got.stdout}{got.stderr}")

    def test_right_zone_passes_every_check(self):
        self.dns.zone(kDomain, good_example_zone(self.rsa, self.ed))
        got = self.check()
        self.assertEqual(got.returncode, 0, got.stdout + got.stderr)
        self.assertEqual({s for s, _, _ in report_lines(got.stdout)}, {"ok"}, got.stdout)
        self.assertLine(got, "ok", "spf", r"^relay 192\.0\.2\.10 is covered: result pass$")
        self.assertLine(got, "ok", "spf", r"^relay 2001:db8::25 is covered: result pass$")
        self.assertLine(got, "ok", "spf", r"^1 of 10 DNS-querying terms")
        self.assertLine(got, "ok", "dkim", rf"^rsa2026\._domainkey\.example\.test matches our key {re.escape(self.rsa.path)} \(k=rsa\)$")
        self.assertLine(got, "ok", "dkim", r"^ed2026\._domainkey\.example\.test matches our key .* \(k=ed25519\)$")
        self.assertLine(got, "ok", "dmarc", r"p=reject")
        self.assertEqual(records_section(got.stdout), " none\n")

    def test_wrong_zone_reports_each_problem_and_the_records_to_publish(self):
        self.dns.zone(kDomain, [
            txt("@", "v=spf1 ip4:192.0.2.10 ~all"),                    # IPv6 relay missing
            txt(f"{self.rsa.selector}._domainkey", self.other.record),  # a stale key
            # no ed2026 key, no _dmarc record
        ])
        got = self.check()
        self.assertEqual(got.returncode, 1, got.stdout + got.stderr)
        self.assertLine(got, "ok", "spf", r"^relay 192\.0\.2\.10 is covered")
        self.assertLine(got, "FAIL", "spf", r"^relay 2001:db8::25 is not covered: result softfail")
        self.assertLine(got, "FAIL", "dkim", r"^rsa2026\._domainkey\.example\.test: p= is not the public key of")
        self.assertLine(got, "FAIL", "dkim", r"^ed2026\._domainkey\.example\.test: no DKIM key record$")
        self.assertLine(got, "FAIL", "dmarc", r"^no DMARC record at _dmarc\.example\.test$")

        records = records_section(got.stdout)
        self.assertIn('example.test. 3600 IN TXT (\n    "v=spf1 ip6:2001:db8::25 ip4:192.0.2.10 ~all" )\n', records)
        self.assertIn('_dmarc.example.test. 3600 IN TXT (\n'
                      '    "v=DMARC1; p=none; rua=mailto:dmarc-reports@example.test" )\n', records)
        # The DKIM records are exactly what `sluicectl dkim record` prints for our keys.
        for key in (self.rsa, self.ed):
            want = self.dns.run([self.ctl, "dkim", "record", key.path, "--domain", kDomain,
                                 "--selector", key.selector])
            self.assertEqual(want.returncode, 0, want.stderr)
            self.assertIn(want.stdout, records)

    def test_publishing_the_suggested_records_fixes_the_zone(self):
        broken = [txt("@", "v=spf1 ip4:192.0.2.10 ~all"), txt(f"{self.rsa.selector}._domainkey", self.other.record)]
        self.dns.zone(kDomain, broken)
        got = self.check()
        self.assertEqual(got.returncode, 1, got.stdout)
        # The output is zone-file text: paste it in place of the wrong records.
        self.dns.zone(kDomain, [records_section(got.stdout)])
        fixed = self.check()
        self.assertEqual(fixed.returncode, 0, fixed.stdout + fixed.stderr)
        self.assertLine(fixed, "warn", "dmarc", r"p=none is monitoring only")
        self.assertEqual(records_section(fixed.stdout), " none\n")

    def test_too_many_lookups_and_permissive_records_are_flagged(self):
        self.dns.zone(kDomain, good_example_zone(self.rsa, self.ed)[1:] + [
            txt("@", "v=spf1 ip4:192.0.2.10 ip6:2001:db8::25 include:a.esp.test include:b.esp.test ptr ?all")])
        self.dns.zone("esp.test", [
            txt("a", "v=spf1 a mx include:c.esp.test -all"),
            txt("b", "v=spf1 exists:x.esp.test a:h.esp.test mx:m.esp.test -all"),
            txt("c", "v=spf1 a mx -all"),
        ])
        got = self.check()
        self.assertEqual(got.returncode, 1, got.stdout + got.stderr)
        self.assertLine(got, "FAIL", "spf", r"^more than 10 DNS-querying terms")
        self.assertLine(got, "warn", "spf", r"^ptr is deprecated")
        self.assertLine(got, "warn", "spf", r"^\?all is neutral")

    def test_relay_ip_and_selector_options_override_the_configuration(self):
        self.dns.zone(kDomain, good_example_zone(self.rsa, self.ed))
        got = self.check("--relay-ip", "198.51.100.9", "--selector", "ed2026")
        self.assertEqual(got.returncode, 1, got.stdout + got.stderr)
        self.assertLine(got, "FAIL", "spf", r"^relay 198\.51\.100\.9 is not covered: result fail")
        self.assertNotIn("192.0.2.10 is covered", got.stdout)
        self.assertLine(got, "ok", "dkim", r"^ed2026\._domainkey")
        self.assertNotIn("rsa2026._domainkey", got.stdout.split("Records to publish:")[0])

    def test_dns_failure_exits_3(self):
        # nsd does not serve example.org: it answers REFUSED, as a lame
        # delegation does. Nothing can be concluded, nothing is suggested.
        got = self.check(domain="example.org")
        self.assertEqual(got.returncode, 3, got.stdout + got.stderr)
        self.assertLine(got, "ERR", "spf", r"^cannot look up example\.org TXT")
        self.assertLine(got, "ERR", "dmarc", r"^cannot look up _dmarc\.example\.org TXT")
        self.assertEqual(records_section(got.stdout), " none\n")

    def test_include_that_fails_in_dns_exits_3(self):
        self.dns.zone(kDomain, good_example_zone(self.rsa, self.ed)[1:] + [
            txt("@", "v=spf1 include:_spf.example.org -all")])
        got = self.check()
        self.assertEqual(got.returncode, 3, got.stdout + got.stderr)
        self.assertLine(got, "ERR", "spf", r"^cannot look up _spf\.example\.org TXT")
        self.assertLine(got, "ERR", "spf", r"^relay 192\.0\.2\.10: result temperror")

    def test_usage_errors_exit_2(self):
        # Refused before any lookup, so no namespace is needed.
        for args in (["dns", "check"], ["dns", "check", kDomain, "--relay-ip", "192.0.2.300"],
                     ["dns", "check", kDomain, "--selector", "bad selector"], ["dns", "verify", kDomain],
                     ["dns", "check", "not_a domain"], ["dns", "check", kDomain, "--bogus"]):
            got = subprocess.run([self.ctl, "-c", self.conf, *args], capture_output=True, text=True,
                                 timeout=30, stdin=subprocess.DEVNULL)
            self.assertEqual(got.returncode, 2, f"{args}: {got.stdout}{got.stderr}")
            self.assertIn("usage: sluicectl dns check", got.stderr)
