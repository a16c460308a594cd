// Tests for ctl/dns_check.*: the verdicts of `sluicectl dns check` over a
// fake TXT resolver and a zone-backed SpfChecker fed the same records, so
// that SPF evaluation (libspf2) and the record analysis see one world.
#include "ctl/dns_check.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::ctl {
namespace {

using Type = SpfZoneRecord::Type;

// Stand-ins for base64 public keys: the check compares text, not keys.
constexpr const char* kOurKey = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAour+key/AQAB";
constexpr const char* kOtherKey = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAold+key/AQAB";

// One DNS world: TXT records go to both lookups, the other types to libspf2.
class World {
 public:
  World& txt(const std::string& name, const std::string& text) {
    resolver_.add_txt(name, text);
    zone_.push_back({Type::kTxt, name, text});
    return *this;
  }
  World& a(const std::string& name, const std::string& address) {
    zone_.push_back({Type::kA, name, address});
    return *this;
  }
  World& servfail(const std::string& name) {
    resolver_.fail(name);
    zone_.push_back({Type::kTempFail, name, ""});
    return *this;
  }

  DnsCheckReport check(const DnsCheckInput& input) {
    auto spf = SpfChecker::create_with_zone(zone_);
    EXPECT_TRUE(spf.ok());
    return check_domain_dns(input, resolver_, *spf);
  }
  const FakeDnsResolver& resolver() const { return resolver_; }

 private:
  FakeDnsResolver resolver_;
  std::vector<SpfZoneRecord> zone_;
};

DkimKeyExpectation our_key(const std::string& selector = "s1") {
  DkimKeyExpectation key;
  key.selector = selector;
  key.key_file = "/etc/sluice/keys/" + selector + ".key";
  key.key_type = "rsa";
  key.public_key = kOurKey;
  key.record = std::string("v=DKIM1; k=rsa; p=") + kOurKey;
  return key;
}

DnsCheckInput input() {
  DnsCheckInput in;
  in.domain = "example.test";
  in.relay_ips = {"192.0.2.10", "2001:db8::25"};
  in.dkim = {our_key()};
  return in;
}

// A domain whose records are all right for input().
World good_world() {
  World world;
  world.txt("example.test", "v=spf1 ip4:192.0.2.10 include:esp.test -all")
      .txt("example.test", "google-site-verification=abc")
      .txt("esp.test", "v=spf1 ip6:2001:db8::/32 -all")
      .txt("s1._domainkey.example.test", std::string("v=DKIM1; k=rsa; p=") + kOurKey)
      .txt("_dmarc.example.test", "v=DMARC1; p=reject; rua=mailto:dmarc@example.test");
  return world;
}

std::vector<CheckLine> lines_with(const DnsCheckReport& report, CheckStatus status) {
  std::vector<CheckLine> out;
  for (const CheckLine& line : report.lines) {
    if (line.status == status) out.push_back(line);
  }
  return out;
}

std::string all_lines(const DnsCheckReport& report) { return render_dns_report(report); }

bool has_line(const DnsCheckReport& report, CheckStatus status, const std::string& area, const std::string& part) {
  for (const CheckLine& line : report.lines) {
    if (line.status == status && line.area == area && line.text.find(part) != std::string::npos) return true;
  }
  return false;
}

TEST(DnsCheck, AllGoodExitsZeroWithNothingToPublish) {
  World world = good_world();
  const DnsCheckReport report = world.check(input());
  EXPECT_EQ(report.exit_status(), 0) << all_lines(report);
  EXPECT_TRUE(lines_with(report, CheckStatus::kFail).empty()) << all_lines(report);
  EXPECT_TRUE(lines_with(report, CheckStatus::kWarn).empty()) << all_lines(report);
  EXPECT_TRUE(report.records_to_publish.empty());
  EXPECT_EQ(render_dns_report(report),
            "ok   spf  one SPF record at example.test: \"v=spf1 ip4:192.0.2.10 include:esp.test -all\"\n"
            "ok   spf  1 of 10 DNS-querying terms, counting included records (RFC 7208 4.6.4)\n"
            "ok   spf  relay 192.0.2.10 is covered: result pass\n"
            "ok   spf  relay 2001:db8::25 is covered: result pass\n"
            "ok   dkim s1._domainkey.example.test matches our key /etc/sluice/keys/s1.key (k=rsa)\n"
            "ok   dmarc _dmarc.example.test: p=reject\n"
            "\n"
            "Records to publish: none\n");
}

TEST(DnsCheck, RelayNotCoveredIsAProblemWithTheFixedRecord) {
  World world;
  world.txt("example.test", "v=spf1 ip4:192.0.2.10 ~all")
      .txt("s1._domainkey.example.test", std::string("v=DKIM1; p=") + kOurKey)
      .txt("_dmarc.example.test", "v=DMARC1; p=quarantine; rua=mailto:d@example.test");
  const DnsCheckReport report = world.check(input());
  EXPECT_EQ(report.exit_status(), 1);
  EXPECT_TRUE(has_line(report, CheckStatus::kOk, "spf", "relay 192.0.2.10 is covered")) << all_lines(report);
  EXPECT_TRUE(has_line(report, CheckStatus::kFail, "spf", "relay 2001:db8::25 is not covered: result softfail"))
      << all_lines(report);
  ASSERT_EQ(report.records_to_publish.size(), 1u) << all_lines(report);
  EXPECT_EQ(report.records_to_publish[0],
            "example.test. 3600 IN TXT (\n    \"v=spf1 ip6:2001:db8::25 ip4:192.0.2.10 ~all\" )\n");
}

TEST(DnsCheck, NoSpfRecordGetsAStarterRecord) {
  World bare;
  bare.txt("s1._domainkey.example.test", std::string("v=DKIM1; k=rsa; p=") + kOurKey)
      .txt("_dmarc.example.test", "v=DMARC1; p=reject; rua=mailto:d@example.test");
  const DnsCheckReport report = bare.check(input());
  EXPECT_EQ(report.exit_status(), 1);
  EXPECT_TRUE(has_line(report, CheckStatus::kFail, "spf", "no SPF record (v=spf1) at example.test"));
  ASSERT_EQ(report.records_to_publish.size(), 1u);
  EXPECT_EQ(report.records_to_publish[0],
            "example.test. 3600 IN TXT (\n    \"v=spf1 ip4:192.0.2.10 ip6:2001:db8::25 ~all\" )\n");
}

TEST(DnsCheck, ElevenLookupsIsAProblem) {
  // 2 includes in the record, 9 more terms below them.
  World heavy;
  heavy.txt("example.test", "v=spf1 ip4:192.0.2.10 ip6:2001:db8::25 include:a.test include:b.test -all")
      .txt("a.test", "v=spf1 a mx include:c.test -all")
      .txt("b.test", "v=spf1 exists:x.b.test a:h.b.test mx:m.b.test a:h2.b.test ?all")
      .txt("c.test", "v=spf1 a mx -all")
      .txt("s1._domainkey.example.test", std::string("v=DKIM1; k=rsa; p=") + kOurKey)
      .txt("_dmarc.example.test", "v=DMARC1; p=reject; rua=mailto:d@example.test");
  const DnsCheckReport report = heavy.check(input());
  EXPECT_EQ(report.exit_status(), 1) << all_lines(report);
  EXPECT_TRUE(has_line(report, CheckStatus::kFail, "spf", "more than 10 DNS-querying terms")) << all_lines(report);
  EXPECT_FALSE(has_line(report, CheckStatus::kWarn, "spf", "?all")) << "an included ?all decides nothing";

  // Ten is still within the limit.
  World ten;
  ten.txt("example.test", "v=spf1 ip4:192.0.2.10 ip6:2001:db8::25 include:a.test include:b.test -all")
      .txt("a.test", "v=spf1 a mx include:c.test -all")
      .txt("b.test", "v=spf1 exists:x.b.test a:h.b.test mx:m.b.test ?all")
      .txt("c.test", "v=spf1 a mx -all");
  EXPECT_TRUE(has_line(ten.check(input()), CheckStatus::kOk, "spf", "10 of 10 DNS-querying terms"));
}

TEST(DnsCheck, LookupCountingStopsAtAnIncludeLoop) {
  World world;
  world.txt("example.test", "v=spf1 ip4:192.0.2.10 ip6:2001:db8::25 include:a.test -all")
      .txt("a.test", "v=spf1 include:example.test -all");
  const DnsCheckReport report = world.check(input());
  EXPECT_TRUE(has_line(report, CheckStatus::kFail, "spf", "include:example.test loops back")) << all_lines(report);
  EXPECT_LE(world.resolver().queries().size(), 6u);
}

TEST(DnsCheck, FlagsPermissiveAllAndPtrAndDuplicateRecords) {
  World plus;
  plus.txt("example.test", "v=spf1 ptr +all");
  DnsCheckReport report = plus.check(input());
  EXPECT_TRUE(has_line(report, CheckStatus::kFail, "spf", "+all lets any host")) << all_lines(report);
  EXPECT_TRUE(has_line(report, CheckStatus::kWarn, "spf", "ptr is deprecated")) << all_lines(report);

  World neutral;
  neutral.txt("example.test", "v=spf1 ip4:192.0.2.10 ip6:2001:db8::25 ?all");
  EXPECT_TRUE(has_line(neutral.check(input()), CheckStatus::kWarn, "spf", "?all is neutral"));

  World included_plus;
  included_plus.txt("example.test", "v=spf1 include:lax.test -all").txt("lax.test", "v=spf1 all");
  EXPECT_TRUE(has_line(included_plus.check(input()), CheckStatus::kFail, "spf", "+all in lax.test"));

  World two;
  two.txt("example.test", "v=spf1 ip4:192.0.2.10 -all").txt("example.test", "v=spf1 ip6:2001:db8::25 -all");
  report = two.check(input());
  EXPECT_TRUE(has_line(report, CheckStatus::kFail, "spf", "has 2 SPF records")) << all_lines(report);
  EXPECT_TRUE(has_line(report, CheckStatus::kFail, "spf", "relay 192.0.2.10 is not covered: result permerror"))
      << all_lines(report);
}

TEST(DnsCheck, DkimKeyMismatchIsAProblemWithOurRecord) {
  World stale;
  stale.txt("example.test", "v=spf1 ip4:192.0.2.10 ip6:2001:db8::25 -all")
      .txt("s1._domainkey.example.test", std::string("v=DKIM1; k=rsa; p=") + kOtherKey)
      .txt("_dmarc.example.test", "v=DMARC1; p=reject; rua=mailto:d@example.test");
  const DnsCheckReport report = stale.check(input());
  EXPECT_EQ(report.exit_status(), 1);
  EXPECT_TRUE(has_line(report, CheckStatus::kFail, "dkim",
                       "s1._domainkey.example.test: p= is not the public key of /etc/sluice/keys/s1.key"))
      << all_lines(report);
  ASSERT_EQ(report.records_to_publish.size(), 1u);
  EXPECT_EQ(report.records_to_publish[0], zone_txt_record("s1._domainkey.example.test", our_key().record));
}

TEST(DnsCheck, DkimMissingIsAProblemWithOurRecord) {
  World world;
  world.txt("example.test", "v=spf1 ip4:192.0.2.10 ip6:2001:db8::25 -all")
      .txt("_dmarc.example.test", "v=DMARC1; p=reject; rua=mailto:d@example.test");
  const DnsCheckReport report = world.check(input());
  EXPECT_EQ(report.exit_status(), 1);
  EXPECT_TRUE(has_line(report, CheckStatus::kFail, "dkim", "s1._domainkey.example.test: no DKIM key record"));
  ASSERT_EQ(report.records_to_publish.size(), 1u);
  EXPECT_EQ(report.records_to_publish[0],
            std::string("s1._domainkey.example.test. 3600 IN TXT (\n    \"v=DKIM1; k=rsa; p=") + kOurKey + "\" )\n");
}

TEST(DnsCheck, DkimRecordProblems) {
  struct Case {
    std::string record;
    std::string want;  // part of the FAIL line
  };
  const Case cases[] = {
      {"v=DKIM1; k=rsa; p=", "key revoked (empty p="},
      {std::string("v=DKIM1; k=ed25519; p=") + kOurKey, "k=ed25519 but our key"},
      {"v=DKIM1; k=rsa", "no p= tag"},
      {std::string("k=rsa; v=DKIM1; p=") + kOurKey, "v= must come first"},
      {std::string("v=DKIM1; p=") + kOurKey + "; p=x", "appears twice"},
      {"v=DKIM1 k=rsa", "unparsable key record"},
      {std::string("v=DKIM1; h=sha1; p=") + kOurKey, "excludes sha256"},
  };
  for (const Case& c : cases) {
    World world;
    world.txt("s1._domainkey.example.test", c.record);
    const DnsCheckReport report = world.check(input());
    EXPECT_TRUE(has_line(report, CheckStatus::kFail, "dkim", c.want)) << c.record << "\n" << all_lines(report);
  }
}

TEST(DnsCheck, DkimKeyInPiecesWithSpacesMatches) {
  // Resolvers join a TXT record's strings; zone files often put spaces in p=.
  World spaced;
  const std::string key = kOurKey;
  spaced.txt("s1._domainkey.example.test", "v=DKIM1; k=rsa; p=" + key.substr(0, 20) + " " + key.substr(20) + ";");
  EXPECT_TRUE(has_line(spaced.check(input()), CheckStatus::kOk, "dkim", "matches our key"));
}

TEST(DnsCheck, SelectorWithoutKeyIsOnlyCheckedForPresence) {
  DnsCheckInput in = input();
  DkimKeyExpectation bare;
  bare.selector = "other";
  in.dkim = {bare};
  World world;
  world.txt("other._domainkey.example.test", std::string("v=DKIM1; k=ed25519; p=") + kOtherKey);
  const DnsCheckReport report = world.check(in);
  EXPECT_TRUE(has_line(report, CheckStatus::kNote, "dkim", "not compared")) << all_lines(report);
  World missing;
  EXPECT_TRUE(has_line(missing.check(in), CheckStatus::kFail, "dkim", "no DKIM key record"));
}

TEST(DnsCheck, UnloadableKeyIsAProblem) {
  DnsCheckInput in = input();
  in.dkim[0].load_error = "/etc/sluice/keys/s1.key: mode 0644 is readable by others";
  World world = good_world();
  EXPECT_TRUE(has_line(world.check(in), CheckStatus::kFail, "dkim", "cannot load our key"));
}

TEST(DnsCheck, NoDmarcIsAProblemWithAStarterRecord) {
  World world;
  world.txt("example.test", "v=spf1 ip4:192.0.2.10 ip6:2001:db8::25 -all")
      .txt("s1._domainkey.example.test", std::string("v=DKIM1; k=rsa; p=") + kOurKey)
      .txt("_dmarc.example.test", "some-other-verification=1");
  const DnsCheckReport report = world.check(input());
  EXPECT_EQ(report.exit_status(), 1);
  EXPECT_TRUE(has_line(report, CheckStatus::kFail, "dmarc", "no DMARC record at _dmarc.example.test"));
  ASSERT_EQ(report.records_to_publish.size(), 1u);
  EXPECT_EQ(report.records_to_publish[0],
            "_dmarc.example.test. 3600 IN TXT (\n"
            "    \"v=DMARC1; p=none; rua=mailto:dmarc-reports@example.test\" )\n");
}

TEST(DnsCheck, DmarcMonitoringOnlyIsAWarningAndMissingRuaANote) {
  World world;
  world.txt("example.test", "v=spf1 ip4:192.0.2.10 ip6:2001:db8::25 -all")
      .txt("s1._domainkey.example.test", std::string("v=DKIM1; k=rsa; p=") + kOurKey)
      .txt("_dmarc.example.test", "v=DMARC1; p=none");
  const DnsCheckReport report = world.check(input());
  EXPECT_EQ(report.exit_status(), 0) << all_lines(report);
  EXPECT_TRUE(has_line(report, CheckStatus::kWarn, "dmarc", "p=none is monitoring only"));
  EXPECT_TRUE(has_line(report, CheckStatus::kNote, "dmarc", "no rua="));
  EXPECT_NE(render_dns_report(report).find("\nwarn dmarc _dmarc.example.test: p=none"), std::string::npos);
}

TEST(DnsCheck, DnsFailureExitsThree) {
  World world;
  world.servfail("example.test")
      .txt("s1._domainkey.example.test", std::string("v=DKIM1; k=rsa; p=") + kOurKey)
      .txt("_dmarc.example.test", "v=DMARC1; p=reject; rua=mailto:d@example.test");
  const DnsCheckReport report = world.check(input());
  EXPECT_EQ(report.exit_status(), 3) << all_lines(report);
  EXPECT_TRUE(has_line(report, CheckStatus::kDnsError, "spf", "cannot look up example.test TXT"));
  EXPECT_TRUE(report.records_to_publish.empty()) << "nothing can be concluded about SPF";

  // The record is readable but libspf2's own lookups fail: temperror.
  FakeDnsResolver resolver;
  resolver.add_txt("example.test", "v=spf1 include:esp.test -all");
  resolver.add_txt("esp.test", "v=spf1 -all");
  auto spf = SpfChecker::create_with_zone({{Type::kTxt, "example.test", "v=spf1 include:esp.test -all"},
                                           {Type::kTempFail, "esp.test", ""}});
  ASSERT_TRUE(spf.ok());
  const DnsCheckReport temp = check_domain_dns(input(), resolver, *spf);
  EXPECT_EQ(temp.exit_status(), 3) << render_dns_report(temp);
  EXPECT_TRUE(has_line(temp, CheckStatus::kDnsError, "spf", "relay 192.0.2.10: result temperror"));
}

TEST(DnsCheck, HostileRecordTextIsEscapedInTheReport) {
  World world;
  world.txt("example.test", "v=spf1 ip4:192.0.2.10 \x1b[31m -all");
  const std::string text = render_dns_report(world.check(input()));
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_NE(text.find("\\x1b[31m"), std::string::npos) << text;
}

TEST(ZoneTxtRecord, SplitsLongTextAndEscapesQuotes) {
  EXPECT_EQ(zone_txt_record("example.test", "v=spf1 -all"), "example.test. 3600 IN TXT (\n    \"v=spf1 -all\" )\n");
  EXPECT_EQ(zone_txt_record("example.test.", "a\"b\\c\x01"),
            "example.test. 3600 IN TXT (\n    \"a\\\"b\\\\c\\001\" )\n");
  const std::string long_text(600, 'k');
  EXPECT_EQ(zone_txt_record("s._domainkey.x.test", long_text),
            "s._domainkey.x.test. 3600 IN TXT (\n    \"" + std::string(250, 'k') + "\"\n    \"" +
                std::string(250, 'k') + "\"\n    \"" + std::string(100, 'k') + "\" )\n");
  EXPECT_EQ(zone_txt_record("x.test", ""), "x.test. 3600 IN TXT (\n    \"\" )\n");
}

TEST(SplitSpfTerms, SplitsQualifiersMechanismsAndModifiers) {
  const auto terms =
      split_spf_terms("V=SPF1  -IP4:192.0.2.0/24 a/24 ~mx:mx.example.test include:x.test redirect=r.test ?all");
  ASSERT_EQ(terms.size(), 6u);
  EXPECT_EQ(terms[0].qualifier, '-');
  EXPECT_EQ(terms[0].name, "ip4");
  EXPECT_EQ(terms[0].value, "192.0.2.0/24");
  EXPECT_EQ(terms[1].name, "a");
  EXPECT_EQ(terms[1].value, "/24");
  EXPECT_EQ(terms[2].qualifier, '~');
  EXPECT_EQ(terms[2].value, "mx.example.test");
  EXPECT_TRUE(terms[4].modifier);
  EXPECT_EQ(terms[4].name, "redirect");
  EXPECT_EQ(terms[4].value, "r.test");
  EXPECT_EQ(terms[5].qualifier, '?');
  EXPECT_TRUE(split_spf_terms("v=spf10 -all").empty());
  EXPECT_FALSE(is_spf_record("spf1"));
  EXPECT_TRUE(is_spf_record("v=spf1"));
}

TEST(ParseTagList, FollowsRfc6376Syntax) {
  auto tags = parse_tag_list(" v=DKIM1 ;k = rsa;\tp=AB CD ;");
  ASSERT_TRUE(tags.ok()) << tags.error().detail;
  ASSERT_EQ(tags->size(), 3u);
  EXPECT_EQ((*tags)[1], (std::pair<std::string, std::string>{"k", "rsa"}));
  EXPECT_EQ((*tags)[2].second, "AB CD");
  EXPECT_FALSE(parse_tag_list("").ok());
  EXPECT_FALSE(parse_tag_list("a=1;;b=2").ok());
  EXPECT_FALSE(parse_tag_list("a=1; 9b=2").ok());
  EXPECT_FALSE(parse_tag_list("novalue").ok());
  EXPECT_FALSE(parse_tag_list("a=1; a=2").ok());
  EXPECT_FALSE(parse_tag_list("a=\x80").ok());
}

TEST(DnsLookup, QueryableNamesAreBoundedLdhLikeNames) {
  EXPECT_TRUE(is_queryable_dns_name("example.test"));
  EXPECT_TRUE(is_queryable_dns_name("example.test."));
  EXPECT_TRUE(is_queryable_dns_name("_dmarc.example.test"));
  EXPECT_FALSE(is_queryable_dns_name(""));
  EXPECT_FALSE(is_queryable_dns_name("a..b"));
  EXPECT_FALSE(is_queryable_dns_name("bad name"));
  EXPECT_FALSE(is_queryable_dns_name(std::string("a\0b", 3)));
  EXPECT_FALSE(is_queryable_dns_name(std::string(64, 'a') + ".test"));
  EXPECT_FALSE(is_queryable_dns_name(std::string(250, 'a').replace(60, 1, ".") + ".test"));
}

TEST(DnsLookup, FakeResolverAnswersLikeTheSystemOne) {
  FakeDnsResolver dns;
  dns.add_txt("Example.TEST.", "one");
  dns.add_txt("example.test", "two");
  dns.fail("down.test");
  auto got = dns.txt("example.test");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, (std::vector<std::string>{"one", "two"}));
  ASSERT_TRUE(dns.txt("nx.test").ok());
  EXPECT_TRUE(dns.txt("nx.test")->empty()) << "NXDOMAIN is an empty answer";
  auto down = dns.txt("down.test");
  ASSERT_FALSE(down.ok());
  EXPECT_TRUE(down.error().temporary());
  EXPECT_FALSE(dns.txt("bad name").ok());
}

}  // namespace
}  // namespace sluice::ctl
