// Tests for milter/dkim_signer.*: the RFC 8463 Appendix A example (bh= and
// the deterministic Ed25519 b= byte for byte), h= selection and oversigning,
// the From rule, the header layout (tag order, folding, no l=), and
// INDEPENDENT verification of every signature by dkimpy (RSA and Ed25519)
// and Perl Mail::DKIM (RSA) across all four canonicalisation pairs and a set
// of awkward messages.
#include "milter/dkim_signer.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace sluice::milter {
namespace {

using namespace std::string_literals;

// |generated| written as PEM (PKCS#1 for RSA with |traditional|, as
// opendkim-genkey writes it) and read back through DkimKey.
DkimKeyPtr load_generated(EVP_PKEY* generated, bool traditional) {
  CHandle<EVP_PKEY, EVP_PKEY_free> pkey{generated};
  CHandle<BIO, BIO_free> bio{BIO_new(BIO_s_mem())};
  if (traditional) {
    PEM_write_bio_PrivateKey_traditional(bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr);
  } else {
    PEM_write_bio_PrivateKey(bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr);
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  auto k = DkimKey::from_pem(std::string_view(data, static_cast<size_t>(n)), DkimKeyPolicy{});
  if (!k) std::abort();
  return *k;
}

const DkimKeyPtr& rsa_key() {
  static const DkimKeyPtr key = load_generated(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}), true);
  return key;
}

const DkimKeyPtr& ed25519_key() {
  static const DkimKeyPtr key = load_generated(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"), false);
  return key;
}

DkimSignOptions options_for(const DkimKeyPtr& key, const std::string& selector) {
  DkimSignOptions o;
  o.domain = "example.com";
  o.selector = selector;
  o.key = key;
  o.signed_headers = {"From", "To", "Cc", "Subject", "Date", "Message-ID", "Received", "MIME-Version",
                      "Content-Type", "X-Long"};
  o.oversigned_headers = {"From", "To", "Subject", "Date", "Message-ID", "Reply-To"};
  return o;
}

// Tag names of a DKIM-Signature value, in order.
std::vector<std::string> tag_names(const std::string& value) {
  std::vector<std::string> names;
  std::string unfolded;
  for (char c : value) {
    if (c != '\r' && c != '\n' && c != '\t' && c != ' ') unfolded.push_back(c);
  }
  std::stringstream in(unfolded);
  std::string item;
  while (std::getline(in, item, ';')) {
    if (!item.empty()) names.push_back(item.substr(0, item.find('=')));
  }
  return names;
}

std::string tag_value(const std::string& value, const std::string& tag) {
  std::string unfolded;
  for (char c : value) {
    if (c != '\r' && c != '\n' && c != '\t' && c != ' ') unfolded.push_back(c);
  }
  const auto pos = (";" + unfolded).find(";" + tag + "=");
  if (pos == std::string::npos) return "";
  const auto start = pos + tag.size() + 1;
  return unfolded.substr(start, unfolded.find(';', start) - start);
}

// ---- RFC 8463 Appendix A ----------------------------------------------------

const char kRfc8463Message[] =
    "From: Joe SixPack <joe@football.example.com>\r\n"
    "To: Suzie Q <suzie@shopping.example.net>\r\n"
    "Subject: Is dinner ready?\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
    "\r\n"
    "Hi.\r\n"
    "\r\n"
    "We lost the game.  Are you hungry yet?\r\n"
    "\r\n"
    "Joe.\r\n";

// A.3, with b= emptied (its folding as printed in the RFC).
const char kRfc8463SignatureNoB[] =
    " v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    "    d=football.example.com; i=@football.example.com;\r\n"
    "    q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    "    subject : date : message-id : from : subject : date;\r\n"
    "    bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    "    b=";
const char kRfc8463B[] = "/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11BusFa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==";

TEST(DkimSigner, Rfc8463AppendixAReproducedByteForByte) {
  auto key = DkimKey::from_pem("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=", DkimKeyPolicy{});
  ASSERT_TRUE(key.ok()) << key.error().message();
  auto split = split_message(kRfc8463Message);
  ASSERT_TRUE(split.ok());

  BodyHasher body(Canon::kRelaxed);
  body.update(split->body);
  EXPECT_EQ(base64_encode(body.finish()), "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=");

  const std::vector<std::string> h = {"from", "to", "subject", "date", "message-id", "from", "subject", "date"};
  std::string input = dkim_header_hash_input(Canon::kRelaxed, split->headers, h);
  append_canonical_header(Canon::kRelaxed, "DKIM-Signature", kRfc8463SignatureNoB, input);
  input.resize(input.size() - 2);  // RFC 6376 3.7: no CRLF after the signature field
  auto sig = dkim_sign_data(**key, input);
  ASSERT_TRUE(sig.ok()) << sig.error().message();
  EXPECT_EQ(base64_encode(*sig), kRfc8463B);  // Ed25519 is deterministic
}

TEST(DkimSigner, Rfc8463MessageSignedBySluiceHasTheRfcBodyHash) {
  auto key = DkimKey::from_pem("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=", DkimKeyPolicy{});
  ASSERT_TRUE(key.ok());
  DkimSignOptions o;
  o.domain = "football.example.com";
  o.selector = "brisbane";
  o.key = *key;
  o.timestamp = 1528637909;
  o.signed_headers = {"from", "to", "subject", "date", "message-id"};
  o.oversigned_headers = {"from", "subject", "date"};
  o.identity = "@football.example.com";
  auto value = sign_message(kRfc8463Message, o);
  ASSERT_TRUE(value.ok()) << value.error().message();
  EXPECT_EQ(tag_value(*value, "bh"), "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=");
  EXPECT_EQ(tag_value(*value, "h"), "from:from:to:subject:subject:date:date:message-id");
}

// ---- h= selection, From rule, layout ----------------------------------------

TEST(DkimSigner, OversignsFromAndListsEachInstance) {
  DkimSignOptions o = options_for(rsa_key(), "rsa");
  o.signed_headers = {"To", "Received", "X-Absent"};
  o.oversigned_headers = {"Subject", "Reply-To"};
  const std::vector<DkimHeader> headers = {
      {"Received", " a"}, {"Received", " b"}, {"From", " x@example.com"}, {"To", " y@example.net"},
      {"Subject", " s"},
  };
  const auto names = dkim_signed_header_names(headers, o);
  // To once (not oversigned); Received twice; X-Absent absent so not listed;
  // Subject 1+1; Reply-To 0+1; From 1+1 although no list names it.
  const std::vector<std::string> want = {"To", "Received", "Received", "Subject", "Subject", "Reply-To", "From",
                                         "From"};
  EXPECT_EQ(names, want);
}

TEST(DkimSigner, BottomUpInstanceSelection) {
  const std::vector<DkimHeader> headers = {{"X", " 1"}, {"Y", " y"}, {"x", " 2"}};
  const std::vector<std::string> h = {"X", "X", "X"};
  // 5.4.2: last instance first; the third X has no instance left: nothing.
  EXPECT_EQ(dkim_header_hash_input(Canon::kRelaxed, headers, h), "x:2\r\nx:1\r\n");
  EXPECT_EQ(dkim_header_hash_input(Canon::kSimple, headers, h), "x: 2\r\nX: 1\r\n");
}

TEST(DkimSigner, RefusesZeroOrSeveralFrom) {
  for (const char* msg : {"To: a@b.c\r\n\r\nbody\r\n", "From: a@b.c\r\nFrom: d@e.f\r\n\r\nbody\r\n",
                          "from: a@b.c\r\nFROM: d@e.f\r\n\r\n"}) {
    auto value = sign_message(msg, options_for(rsa_key(), "rsa"));
    ASSERT_FALSE(value.ok()) << msg;
    EXPECT_EQ(value.error().code, Errc::kInvalidInput);
    EXPECT_NE(value.error().detail.find("From"), std::string::npos);
  }
}

TEST(DkimSigner, RefusesBadOptions) {
  const char msg[] = "From: a@example.com\r\n\r\n";
  // Each row: a broken option, as config might give it.
  std::vector<DkimSignOptions> bad(6, options_for(rsa_key(), "rsa"));
  bad[0].key = nullptr;
  bad[1].domain = "exa mple.com";
  bad[2].selector = "s;x=1";
  bad[3].signed_headers.push_back("Bad:Name");
  bad[4].identity = "user@other.org";  // i= outside d=
  bad[5].identity = "user@notexample.com";
  for (const auto& o : bad) {
    auto value = sign_message(msg, o);
    ASSERT_FALSE(value.ok());
    EXPECT_EQ(value.error().code, Errc::kConfig) << value.error().detail;
  }
  DkimSignOptions sub = options_for(rsa_key(), "rsa");
  sub.identity = "us;er@mail.example.com";
  auto ok = sign_message(msg, sub);
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_EQ(tag_value(*ok, "i"), "us=3Ber@mail.example.com");  // dkim-quoted-printable
}

TEST(DkimSigner, TagOrderFoldingAndNoBodyLength) {
  DkimSignOptions o = options_for(rsa_key(), "rsa");
  o.timestamp = 1700000000;
  o.expire_after_seconds = 3600;
  o.identity = "@example.com";
  std::string msg = "From: a@example.com\r\n";
  for (int i = 0; i < 40; ++i) msg += "To: r" + std::to_string(i) + "@example.net\r\n";  // long h=
  msg += "\r\nbody\r\n";
  auto value = sign_message(msg, o);
  ASSERT_TRUE(value.ok()) << value.error().message();
  const std::vector<std::string> want = {"v", "a", "c", "d", "s", "t", "x", "i", "h", "bh", "b"};
  EXPECT_EQ(tag_names(*value), want);
  EXPECT_EQ(tag_value(*value, "t"), "1700000000");
  EXPECT_EQ(tag_value(*value, "x"), "1700003600");
  EXPECT_EQ(tag_value(*value, "a"), "rsa-sha256");
  EXPECT_EQ(tag_value(*value, "c"), "relaxed/relaxed");
  EXPECT_EQ(value->find("l="), std::string::npos);
  ASSERT_EQ(value->front(), ' ');
  // Every line at most 78 columns, the first counted with "DKIM-Signature:";
  // every fold is CRLF TAB.
  const std::string field = "DKIM-Signature:" + *value;
  std::size_t start = 0;
  while (true) {
    const auto end = field.find("\r\n", start);
    const std::string line = field.substr(start, end - start);
    EXPECT_LE(line.size(), 78u) << line;
    if (end == std::string::npos) break;
    EXPECT_EQ(field[end + 2], '\t');
    start = end + 2;
  }
  EXPECT_EQ(field.find('\n'), field.find("\r\n") + 1);
}

// ---- independent verification -----------------------------------------------

struct Sample {
  std::string name;
  std::string message;
};

std::vector<Sample> awkward_messages() {
  const std::string base =
      "Received: from a.example.net by b.example.com; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
      "Received: from c.example.net\r\n\tby a.example.net; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
      "From: Alice <alice@example.com>\r\n"
      "To: Bob <bob@example.net>\r\n"
      "Subject: Test\r\n"
      "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
      "Message-ID: <1@example.com>\r\n";
  std::vector<Sample> s;
  s.push_back({"plain", base + "\r\nHello Bob.\r\n"});
  s.push_back({"empty-body", base + "\r\n"});
  s.push_back({"no-empty-line", base});
  s.push_back({"no-final-crlf", base + "\r\nHello\r\nno final line end"});
  s.push_back({"trailing-empty-lines", base + "\r\nHello\r\n\r\n\r\n\r\n"});
  s.push_back({"only-empty-lines", base + "\r\n\r\n\r\n\r\n"});
  s.push_back({"trailing-wsp", base + "\r\nHello \t \r\n  spaced   out\t\r\n \t\r\n\r\nend  \r\n"});
  s.push_back({"998-char-lines", base + "X-Long: " + std::string(990, 'h') + "\r\n\r\n" + std::string(998, 'b') +
                                     "\r\n" + std::string(997, 'c') + " \r\n"});
  s.push_back({"utf8", "From: =?UTF-8?Q?J=C3=B6rg?= <j@example.com>\r\nTo: Zo\xc3\xab <z@example.net>\r\n"
                       "Subject: caf\xc3\xa9 \xe2\x82\xac\xe2\x82\xac\r\nMIME-Version: 1.0\r\n"
                       "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                       "Gr\xc3\xbc\xc3\x9f""e \xe2\x80\x94 \xf0\x9f\x93\xa7\r\n"});
  s.push_back({"folded-dup", "From: Alice\r\n <alice@example.com>\r\nTo: a@example.net,\r\n\tb@example.net\r\n"
                             "To:c@example.net\r\nCc:\t d@example.net  \r\nCc: e@example.net\r\n"
                             "Subject: a very\r\n  long\r\n\tfolded   subject  \r\n"
                             "Content-Type: multipart/alternative;\r\n boundary=\"xyz\"\r\n\r\n"
                             "--xyz\r\n\r\npart\r\n--xyz--\r\n"});
  std::string many = "From: a@example.com\r\n";
  for (int i = 0; i < 30; ++i) many += "To: recipient-number-" + std::to_string(i) + "@example.net\r\n";
  s.push_back({"long-h-list", many + "\r\nx\r\n"});
  s.push_back({"dot-and-dash-lines", base + "\r\n.\r\n..\r\n-- \r\nsig\r\n"});
  return s;
}

std::string temp_dir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/dkim_signer_test.XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
  return tmpl;
}

std::string run(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

// Results per file from a verifier's output lines "PATH RESULT [DETAIL]".
std::map<std::string, std::string> parse_results(const std::string& out) {
  std::map<std::string, std::string> results;
  std::stringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    const auto sp = line.find(' ');
    if (sp != std::string::npos) results[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return results;
}

const char kDkimpyScript[] = R"PY(
import sys, dkim
records = {}
for arg in sys.argv[1:]:
    if '=' in arg and not arg.startswith('/'):
        name, rec = arg.split('=', 1)
        records[name + '._domainkey.example.com'] = rec.encode()
def dnsfunc(name, timeout=5):
    if isinstance(name, bytes): name = name.decode()
    return records.get(name.rstrip('.'))
for path in sys.argv[1:]:
    if not path.startswith('/'): continue
    msg = open(path, 'rb').read()
    d = dkim.DKIM(msg)
    try:
        ok = d.verify(dnsfunc=dnsfunc)
        print(path, 'pass' if ok else 'fail')
    except Exception as e:
        print(path, 'error', repr(e))
)PY";

const char kPerlScript[] = R"PL(
use strict; use warnings;
use Mail::DKIM::Verifier; use Net::DNS;
my %rec;
my @files;
for (@ARGV) { if (m{^/}) { push @files, $_ } elsif (/^([^=]+)=(.*)$/s) { $rec{"$1._domainkey.example.com"} = $2 } }
{ no warnings 'redefine';
  *Mail::DKIM::DNS::query = sub {
    my ($name, $type) = @_; $name =~ s/\.$//;
    my $r = $rec{lc $name}; return () unless defined $r;
    return (Net::DNS::RR->new(name => $name, type => 'TXT', txtdata => [unpack('(a255)*', $r)]));
  };
}
for my $f (@files) {
  open(my $fh, '<:raw', $f) or die "$f: $!";
  my $v = Mail::DKIM::Verifier->new();
  while (my $line = <$fh>) { $v->PRINT($line) }
  $v->CLOSE;
  print "$f ", $v->result, " ", ($v->result_detail // ''), "\n";
}
)PL";

bool have(const char* probe) { return std::system(probe) == 0; }

class IndependentVerification : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = temp_dir(); }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  // Signs |message| and writes "DKIM-Signature:" + value + CRLF + message.
  std::string sign_to_file(const std::string& id, const std::string& message, const DkimSignOptions& o,
                           const std::string& on_wire) {
    auto value = sign_message(message, o);
    EXPECT_TRUE(value.ok()) << id << ": " << value.error().message();
    if (!value.ok()) return "";
    const std::string path = dir_ + "/" + id + ".eml";
    std::ofstream(path, std::ios::binary) << "DKIM-Signature:" << *value << "\r\n" << on_wire;
    return path;
  }

  std::string dir_;
};

TEST_F(IndependentVerification, DkimpyAndMailDkimVerifyEverySignature) {
  const bool python = have("/usr/bin/python3 -c 'import dkim, nacl' 2>/dev/null");
  const bool perl = have("perl -MMail::DKIM::Verifier -MNet::DNS -e 1 2>/dev/null");
  if (!python && !perl) GTEST_SKIP() << "neither dkimpy (with nacl) nor Mail::DKIM is installed";

  struct Signed {
    std::string path;
    bool rsa;
    bool perl = true;  // also check with Mail::DKIM (RSA only)
  };
  std::vector<Signed> files;
  const std::pair<Canon, Canon> canons[] = {{Canon::kSimple, Canon::kSimple},
                                            {Canon::kSimple, Canon::kRelaxed},
                                            {Canon::kRelaxed, Canon::kSimple},
                                            {Canon::kRelaxed, Canon::kRelaxed}};
  for (const bool rsa : {true, false}) {
    for (const auto& [hc, bc] : canons) {
      for (const Sample& s : awkward_messages()) {
        DkimSignOptions o = options_for(rsa ? rsa_key() : ed25519_key(), rsa ? "rsa" : "ed");
        o.header_canon = hc;
        o.body_canon = bc;
        o.expire_after_seconds = 86400;
        const std::string id = std::string(rsa ? "rsa" : "ed") + "-" + std::string(canon_name(hc)) + "-" +
                               std::string(canon_name(bc)) + "-" + s.name;
        if (s.name == "no-final-crlf") {
          // RFC 6376 3.4.3/3.4.4 add the missing CRLF; dkimpy does so on the
          // raw text, Mail::DKIM (simple body) only hashes what it is given.
          // On the wire SMTP always ends the body with CRLF: both must pass it.
          files.push_back({sign_to_file(id, s.message, o, s.message), rsa, false});
          files.push_back({sign_to_file(id + "-wire", s.message, o, s.message + "\r\n"), rsa});
        } else {
          files.push_back({sign_to_file(id, s.message, o, s.message), rsa});
        }
      }
    }
  }
  // A message handed over with bare LF is signed as the CRLF text the MTA
  // sends on the wire; that wire form must verify.
  for (const bool rsa : {true, false}) {
    for (const auto& [hc, bc] : canons) {
      DkimSignOptions o = options_for(rsa ? rsa_key() : ed25519_key(), rsa ? "rsa" : "ed");
      o.header_canon = hc;
      o.body_canon = bc;
      const std::string lf = "From: a@example.com\nSubject: lf\n  folded\n\nline one \nline two\n\n\n";
      std::string crlf;
      for (char c : lf) {
        if (c == '\n') crlf += '\r';
        crlf += c;
      }
      const std::string id = std::string(rsa ? "rsa" : "ed") + "-" + std::string(canon_name(hc)) + "-" +
                             std::string(canon_name(bc)) + "-bare-lf";
      files.push_back({sign_to_file(id, lf, o, crlf), rsa});
    }
  }
  // Identity and subdomain i= with the default relaxed/relaxed.
  DkimSignOptions with_i = options_for(ed25519_key(), "ed");
  with_i.identity = "alice@mail.example.com";
  files.push_back({sign_to_file("ed-identity", awkward_messages()[0].message, with_i, awkward_messages()[0].message),
                   false});

  const std::string records =
      " 'rsa=" + rsa_key()->dns_record() + "' 'ed=" + ed25519_key()->dns_record() + "'";
  std::string all_paths;
  std::string rsa_paths;
  for (const Signed& f : files) {
    ASSERT_FALSE(f.path.empty());
    all_paths += " " + f.path;
    if (f.rsa && f.perl) rsa_paths += " " + f.path;
  }

  if (python) {
    const std::string script = dir_ + "/verify.py";
    std::ofstream(script) << kDkimpyScript;
    const auto results = parse_results(run("/usr/bin/python3 " + script + records + all_paths + " 2>&1"));
    for (const Signed& f : files) {
      auto it = results.find(f.path);
      ASSERT_NE(it, results.end()) << "dkimpy gave no result for " << f.path;
      EXPECT_EQ(it->second, "pass") << "dkimpy: " << f.path;
    }
  } else {
    ADD_FAILURE() << "dkimpy missing: /usr/bin/python3 with python3-dkim and python3-nacl";
  }
  if (perl) {
    const std::string script = dir_ + "/verify.pl";
    std::ofstream(script) << kPerlScript;
    const auto results = parse_results(run("perl " + script + records + rsa_paths + " 2>&1"));
    for (const Signed& f : files) {
      if (!f.rsa || !f.perl) continue;  // Debian's Mail::DKIM 1.20230212 has no Ed25519
      auto it = results.find(f.path);
      ASSERT_NE(it, results.end()) << "Mail::DKIM gave no result for " << f.path;
      EXPECT_EQ(it->second.substr(0, 4), "pass") << "Mail::DKIM: " << f.path << ": " << it->second;
    }
  } else {
    ADD_FAILURE() << "Mail::DKIM missing: libmail-dkim-perl";
  }
}

// The verifiers must also say "fail" when the message changes: a check that
// the harness above can fail at all.
TEST_F(IndependentVerification, TamperedMessageFailsInDkimpy) {
  if (!have("/usr/bin/python3 -c 'import dkim, nacl' 2>/dev/null")) GTEST_SKIP() << "dkimpy not installed";
  const std::string msg = awkward_messages()[0].message;
  std::string tampered = msg;
  tampered.replace(tampered.find("Hello Bob."), 10, "Hello Eve.");
  const std::string ok = sign_to_file("ok", msg, options_for(ed25519_key(), "ed"), msg);
  const std::string bad = sign_to_file("bad", msg, options_for(ed25519_key(), "ed"), tampered);
  const std::string script = dir_ + "/verify.py";
  std::ofstream(script) << kDkimpyScript;
  const auto results = parse_results(
      run("/usr/bin/python3 " + script + " 'ed=" + ed25519_key()->dns_record() + "' " + ok + " " + bad + " 2>&1"));
  EXPECT_EQ(results.at(ok), "pass");
  // dkimpy reports a body hash mismatch as an exception, not False.
  EXPECT_NE(results.at(bad), "pass");
  EXPECT_NE(results.at(bad).find("body hash mismatch"), std::string::npos) << results.at(bad);
}

// dkimpy also accepts the RFC's own signed message with the RFC's key: the
// example data above is the real RFC text.
TEST_F(IndependentVerification, DkimpyAcceptsRfc8463Example) {
  if (!have("/usr/bin/python3 -c 'import dkim, nacl' 2>/dev/null")) GTEST_SKIP() << "dkimpy not installed";
  const std::string path = dir_ + "/rfc.eml";
  std::ofstream(path, std::ios::binary) << "DKIM-Signature:" << kRfc8463SignatureNoB << kRfc8463B << "\r\n"
                                        << kRfc8463Message;
  const std::string out = run(
      "/usr/bin/python3 -c 'import dkim,sys; m=open(sys.argv[1],\"rb\").read(); "
      "print(dkim.verify(m, dnsfunc=lambda n, timeout=5: b\"v=DKIM1; k=ed25519; "
      "p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"))' " +
      path + " 2>&1");
  EXPECT_EQ(out, "True\n");
}

}  // namespace
}  // namespace sluice::milter
