"""DKIM keys for tests, made with openssl (not with Sluice's code), and two
independent verifiers: Python dkimpy (Debian python3-dkim, RSA and Ed25519)
and Perl Mail::DKIM (Debian libmail-dkim-perl, RSA only). Public keys are
served to the verifiers directly, without DNS."""

import base64
import os
import re
import subprocess

from . import cleanup


def _openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


class TestKey:
    """A private key file (mode 0600) and its DNS TXT record."""

    def __init__(self, directory, domain, selector, algorithm="rsa", bits=2048, mode=0o600):
        self.domain, self.selector, self.algorithm = domain, selector, algorithm
        self.path = os.path.join(directory, f"{selector}.{domain}.{algorithm}.key")
        if algorithm == "rsa":
            # PKCS#1, as opendkim-genkey writes it, so migrations are covered.
            pem = _openssl("genrsa", "-traditional", str(bits))
        else:
            pem = _openssl("genpkey", "-algorithm", "ed25519")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        os.chmod(self.path, mode)
        der = _openssl("pkey", "-in", self.path, "-pubout", "-outform", "DER")
        if algorithm == "rsa":
            self.record = f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"
        else:  # RFC 8463: the raw 32-byte public key
            self.record = f"v=DKIM1; k=ed25519; p={base64.b64encode(der[-32:]).decode()}"

    @property
    def dns_name(self):
        return f"{self.selector}._domainkey.{self.domain}"


def records_of(keys):
    return {key.dns_name: key.record for key in keys}


kDkimpyVerifier = r"""
import json, sys, dkim
records = json.loads(sys.argv[1])
msg = sys.stdin.buffer.read()
def dnsfunc(name, timeout=5):
    if isinstance(name, bytes): name = name.decode()
    return records.get(name.rstrip("."), "").encode() or None
d = dkim.DKIM(msg)
count = sum(1 for line in msg.split(b"\r\n\r\n")[0].split(b"\r\n") if line.lower().startswith(b"dkim-signature:"))
results = []
for i in range(count):
    ok = d.verify(idx=i, dnsfunc=dnsfunc)
    results.append({"ok": bool(ok), "d": (d.domain or b"").decode(), "s": (d.selector or b"").decode(),
                     "a": (d.signature_fields.get(b"a", b"")).decode()})
print(json.dumps(results))
"""

kMailDkimVerifier = r"""
use strict; use warnings; use JSON::PP; use Mail::DKIM::Verifier; use Net::DNS;
my %records = %{ decode_json($ARGV[0]) };
no warnings 'redefine';
*Mail::DKIM::DNS::query = sub {
    my ($name, $type) = @_; $name =~ s/\.$//;
    return () unless exists $records{$name};
    my $txt = $records{$name};
    my @chunks = ($txt =~ /(.{1,250})/g);
    return (Net::DNS::RR->new(name => $name, type => 'TXT', txtdata => [@chunks]));
};
my $v = Mail::DKIM::Verifier->new();
binmode STDIN; local $/; my $msg = <STDIN>; $v->PRINT($msg); $v->CLOSE;
my @out = map { { ok => ($_->result eq 'pass' ? JSON::PP::true : JSON::PP::false), result => $_->result,
                  detail => ($_->result_detail // ''), d => $_->domain, a => $_->algorithm } } $v->signatures;
print encode_json(\@out);
"""


def dkim_signatures(raw):
    """The tags of every DKIM-Signature field of `raw` (bytes), top first:
    {tag: value} with the folding blanks removed."""
    signatures = []
    for field in re.findall(rb"^DKIM-Signature:(.*?)\r\n(?![ \t])", raw, re.S | re.M):
        tags = {}
        for part in re.sub(rb"\s", b"", field).decode().split(";"):
            if "=" in part:
                name, value = part.split("=", 1)
                tags[name] = value
        signatures.append(tags)
    return signatures


def signed_headers(raw):
    """The h= lists of every DKIM-Signature of `raw`, lowercased."""
    return [tags["h"].lower().split(":") for tags in dkim_signatures(raw)]


def verify_dkimpy(raw, keys):
    """[{ok, d, s, a}] for each DKIM-Signature, verified by dkimpy."""
    import json
    got = subprocess.run(["/usr/bin/python3", "-c", kDkimpyVerifier, json.dumps(records_of(keys))],
                         input=raw, capture_output=True, timeout=60)
    if got.returncode != 0:
        raise AssertionError(f"dkimpy failed: {got.stderr.decode(errors='replace')}")
    return json.loads(got.stdout)


def verify_mail_dkim(raw, keys):
    """[{ok, result, detail, d, a}] for each signature, verified by Mail::DKIM."""
    import json
    got = subprocess.run(["perl", "-e", kMailDkimVerifier, json.dumps(records_of(keys))],
                         input=raw, capture_output=True, timeout=60)
    if got.returncode != 0:
        raise AssertionError(f"Mail::DKIM failed: {got.stderr.decode(errors='replace')}")
    return json.loads(got.stdout)


class DualSigningCase:
    """Mixin for test cases whose milter signs example.test mail with an
    Ed25519 and an RSA key: make_dual_keys() in setUpClass, then
    assertVerifies() on what arrives."""

    @classmethod
    def make_dual_keys(cls):
        """Sets cls.rsa, cls.ed (selectors rsa2026, ed2026) and cls.keys;
        returns the signing table for MilterDaemon: every example.test
        sender, Ed25519 first."""
        keydir = cleanup.make_dir("keys")
        cls.rsa = TestKey(keydir, "example.test", "rsa2026", "rsa", 2048)
        cls.ed = TestKey(keydir, "example.test", "ed2026", "ed25519")
        cls.keys = [cls.rsa, cls.ed]
        return [("*@example.test", cls.ed), ("*@example.test", cls.rsa)]

    def assertVerifies(self, raw, signatures=2):
        """Both verifiers accept every signature of `raw`: dkimpy sees
        `signatures` good ones (with 2: one RSA, one Ed25519), Mail::DKIM
        (RSA only) one good rsa-sha256."""
        py = verify_dkimpy(raw, self.keys)
        self.assertEqual(len(py), signatures, f"dkimpy saw {py}\n{raw[:3000]!r}")
        self.assertTrue(all(s["ok"] for s in py), f"dkimpy: {py}\n{raw[:3000]!r}")
        self.assertEqual(sorted(s["a"] for s in py),
                         sorted(["ed25519-sha256", "rsa-sha256"] if signatures == 2 else [py[0]["a"]]))
        perl = [s for s in verify_mail_dkim(raw, self.keys) if s["a"] == "rsa-sha256"]
        self.assertEqual(len(perl), 1, f"Mail::DKIM saw {perl}")
        self.assertTrue(perl[0]["ok"], f"Mail::DKIM: {perl}\n{raw[:3000]!r}")


def make_keys_dir(name="dkim"):
    return cleanup.make_dir(name)
