#include "milter/message.h"

#include "common/unsubscribe_token.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <functional>
#include <memory>
#include <string>

namespace sluice::milter {
namespace {

std::string ed25519_pem() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  EVP_PKEY_free(key);
  return pem;
}

// A snapshot as load_snapshot() would build it, from in-memory tables.
// |milter_keys| may go on with other sections ("...\n[scanner s]\n...");
// |tweak| edits the parsed Config (settings with no key of their own here).
SnapshotPtr make_snapshot(const std::string& milter_keys = "", bool with_key = true,
                          const std::function<void(Config&)>& tweak = {}) {
  auto config = parse_config("[milter]\n" + milter_keys + "\n", "/etc/sluice/sluice.conf");
  EXPECT_TRUE(config.ok()) << config.error().detail;
  if (tweak) tweak(*config);
  auto snapshot = std::make_shared<MilterSnapshot>();
  snapshot->config = std::make_shared<const Config>(std::move(config).value());
  derive_header_lists(*snapshot);
  snapshot->authserv_id = "relay.example";
  snapshot->keys = *parse_key_table("k1 example.test:sel:/keys/k1.pem\n", "/etc/sluice/key.table");
  snapshot->signing = *parse_signing_table("*@example.test k1\n", "refile:/etc/sluice/signing.table");
  snapshot->has_tables = true;
  LoadedKey loaded;
  loaded.entry = snapshot->keys.find("k1");
  if (with_key) {
    loaded.key = *DkimKey::from_pem(ed25519_pem(), DkimKeyPolicy{});
  } else {
    loaded.problem = "key file /keys/k1.pem does not exist";
  }
  snapshot->loaded.emplace("k1", std::move(loaded));
  return snapshot;
}

// 2026-11-27, for the Redis buckets and tokens.
constexpr std::int64_t kNow = 1'795'780'000;

Envelope authenticated(std::string mail_from = "alice@example.test") {
  Envelope envelope;
  envelope.client_address = "203.0.113.7";
  envelope.auth_authen = "alice";
  envelope.mail_from = std::move(mail_from);
  envelope.recipients = 1;
  return envelope;
}

void feed(Message& message, std::initializer_list<std::pair<const char*, const char*>> headers,
          std::string_view body = "Hello.\r\n") {
  for (const auto& [name, value] : headers) ASSERT_TRUE(message.header(name, value).ok());
  message.end_of_headers();
  message.body(body);
}

TEST(Message, UnauthenticatedExternalMailIsNotOutbound) {
  Envelope envelope = authenticated();
  envelope.auth_authen.clear();
  Message message(make_snapshot(), envelope, "01m8eevqqm19xrgywbs02b4pxn");
  EXPECT_FALSE(message.outbound());
  const EomPlan plan = message.finish("3F2A1C", kNow);
  EXPECT_TRUE(plan.changes.empty() && plan.additions.empty() && plan.prepend.empty());
  EXPECT_NE(plan.log_line.find("not outbound"), std::string::npos) << plan.log_line;
}

TEST(Message, InternalNetworkCountsAsOutbound) {
  Envelope envelope = authenticated();
  envelope.auth_authen.clear();
  envelope.client_address = "10.1.2.3";
  Message message(make_snapshot("internal_networks = 10.0.0.0/8"), envelope, "01m8eevqqm19xrgywbs02b4pxn");
  EXPECT_TRUE(message.outbound());
}

TEST(Message, AuthenticatedMailIsSignedAndTracked) {
  Message message(make_snapshot(), authenticated(), "01m8eevqqm19xrgywbs02b4pxn");
  feed(message, {{"From", " Alice <alice@example.test>"}, {"To", " bob@example.net"}, {"Subject", " hi"}});
  const EomPlan plan = message.finish("3F2A1C", kNow);
  EXPECT_EQ(plan.reply, EomPlan::Reply::kContinue);
  ASSERT_EQ(plan.prepend.size(), 1u);
  EXPECT_EQ(plan.prepend[0].name, "DKIM-Signature");
  EXPECT_EQ(plan.prepend[0].value.rfind(" v=1; a=ed25519-sha256;", 0), 0u) << plan.prepend[0].value;
  ASSERT_EQ(plan.additions.size(), 1u);
  EXPECT_EQ(plan.additions[0].name, "X-Sluice-ID");
  EXPECT_EQ(plan.additions[0].value, " 01m8eevqqm19xrgywbs02b4pxn");
  EXPECT_FALSE(plan.new_envelope_from.has_value());
  EXPECT_EQ(plan.log_line,
            "3F2A1C: sluice_id=01m8eevqqm19xrgywbs02b4pxn from=<alice@example.test> nrcpt=1 sasl=alice "
            "client=203.0.113.7 dkim=signed(d=example.test s=sel a=ed25519-sha256) header_edits=0");
}

// A client-supplied tracking header could point at someone else's message:
// every one is deleted, highest index first (CVE-2022-48521's lesson).
TEST(Message, IncomingTrackingHeadersAreDeletedHighestIndexFirst) {
  Message message(make_snapshot(), authenticated(), "01m8eevqqm19xrgywbs02b4pxn");
  feed(message, {{"X-Sluice-ID", " forged1"}, {"From", " alice@example.test"}, {"x-sluice-id", " forged2"}});
  const EomPlan plan = message.finish("3F2A1C", kNow);
  ASSERT_EQ(plan.changes.size(), 2u);
  EXPECT_EQ(plan.changes[0].index, 2);
  EXPECT_EQ(plan.changes[1].index, 1);
  EXPECT_FALSE(plan.changes[0].value.has_value());
}

TEST(Message, TwoFromHeadersLeaveTheMessageUnsigned) {
  Message message(make_snapshot(), authenticated(), "01m8eevqqm19xrgywbs02b4pxn");
  feed(message, {{"From", " a@example.test"}, {"From", " b@example.test"}});
  const EomPlan plan = message.finish("3F2A1C", kNow);
  EXPECT_TRUE(plan.prepend.empty());
  EXPECT_NE(plan.log_line.find("dkim=unsigned(2 From fields)"), std::string::npos) << plan.log_line;
}

TEST(Message, UnknownDomainIsNotSigned) {
  Message message(make_snapshot(), authenticated("x@other.test"), "01m8eevqqm19xrgywbs02b4pxn");
  feed(message, {{"From", " x@other.test"}});
  const EomPlan plan = message.finish("3F2A1C", kNow);
  EXPECT_TRUE(plan.prepend.empty());
  EXPECT_NE(plan.log_line.find("dkim=unsigned(no signing-table match for other.test)"), std::string::npos)
      << plan.log_line;
}

TEST(Message, MissingKeyPassesUnsignedOrTempfailsAsConfigured) {
  {
    Message message(make_snapshot("", false), authenticated(), "01m8eevqqm19xrgywbs02b4pxn");
    feed(message, {{"From", " alice@example.test"}});
    const EomPlan plan = message.finish("3F2A1C", kNow);
    EXPECT_EQ(plan.reply, EomPlan::Reply::kContinue);
    EXPECT_NE(plan.log_line.find("missing-key(d=example.test s=sel)"), std::string::npos) << plan.log_line;
  }
  Message message(make_snapshot("on_missing_key = tempfail", false), authenticated(), "01m8eevqqm19xrgywbs02b4pxn");
  feed(message, {{"From", " alice@example.test"}});
  const EomPlan plan = message.finish("3F2A1C", kNow);
  EXPECT_EQ(plan.reply, EomPlan::Reply::kTempfail);
  EXPECT_EQ(plan.reply_text, "4.7.1 DKIM signing key unavailable, try again later");
  EXPECT_TRUE(plan.additions.empty()) << "a tempfailed message is not modified";
}

TEST(Message, VerpRewritesTheSenderButNeverTheNullSender) {
  const SnapshotPtr snapshot = make_snapshot("verp = yes\nverp_domain = bounce.example.test");
  Message message(snapshot, authenticated(), "01m8eevqqm19xrgywbs02b4pxn");
  feed(message, {{"From", " alice@example.test"}});
  EXPECT_EQ(message.finish("3F2A1C", kNow).new_envelope_from, "bounce+01m8eevqqm19xrgywbs02b4pxn@bounce.example.test");
  Message bounce(snapshot, authenticated(""), "01m8eevqqm19xrgywbs02b4pxn");
  feed(bounce, {{"From", " MAILER-DAEMON@example.test"}});
  EXPECT_FALSE(bounce.finish("3F2A1C", kNow).new_envelope_from.has_value());
}

TEST(Message, OversizedHeaderIsAnError) {
  Message message(make_snapshot(), authenticated(), "01m8eevqqm19xrgywbs02b4pxn");
  const std::string big(64 * 1024, 'x');
  Status last;
  for (int i = 0; i < 20 && last.ok(); ++i) last = message.header("X-Big", big);
  ASSERT_FALSE(last.ok());
  EXPECT_EQ(last.error().code, Errc::kTooLong);
}


const char* kSpamScanner = "[scanner spam]\ntype = spamd\naddress = inet:127.0.0.1:1\n";

ScanVerdict spam_verdict() {
  ScanVerdict verdict;
  verdict.kind = ScanVerdictKind::kSpam;
  verdict.score = 1000.0;
  verdict.required = 5.0;
  verdict.symbols = {"GTUBE", "MISSING_DATE"};
  return verdict;
}

std::string h_tag(const EomPlan& plan) {
  for (const HeaderField& field : plan.prepend) {
    if (field.name != "DKIM-Signature") continue;
    std::string value;
    for (char ch : field.value) {
      if (ch != '\r' && ch != '\n' && ch != '\t' && ch != ' ') value += ch;
    }
    const auto h = value.find(";h=");
    return value.substr(h + 3, value.find(';', h + 3) - h - 3);
  }
  return {};
}

TEST(MessageScan, SpamIsRejectedAndTheMessageLeftAlone) {
  Message message(make_snapshot(std::string("\n") + kSpamScanner), authenticated(), "01m8eevqqm19xrgywbs02b4pxn");
  feed(message, {{"From", " alice@example.test"}, {"X-Sluice-ID", " forged"}});
  message.set_scan_verdicts({spam_verdict()});
  const EomPlan plan = message.finish("3F2A1C", kNow);
  EXPECT_EQ(plan.reply, EomPlan::Reply::kReject);
  EXPECT_EQ(plan.reply_text, "5.7.1 Message refused: it looks like spam");
  EXPECT_TRUE(plan.changes.empty() && plan.additions.empty() && plan.prepend.empty());
  EXPECT_NE(plan.log_line.find(" scan=spam:spam(1000.0/5.0)/0ms"), std::string::npos) << plan.log_line;
  EXPECT_NE(plan.log_line.find(" action=reject"), std::string::npos) << plan.log_line;
  // Refused mail is not recorded as sent; its scan is counted.
  for (const auto& command : plan.redis_writes) EXPECT_EQ(command[1].find("msg:"), std::string::npos);
  EXPECT_EQ(plan.redis_writes.front(),
            (std::vector<std::string>{"HINCRBY", "sluice:v1:scan:alice:" + std::to_string(kNow / 86'400), "scanned", "1"}));
}

TEST(MessageScan, AddedHeadersAreSignedAndForgedOnesRemoved) {
  Message message(make_snapshot(std::string("\n") + kSpamScanner + "on_spam = add-header\n"), authenticated(),
                  "01m8eevqqm19xrgywbs02b4pxn");
  feed(message, {{"From", " alice@example.test"}, {"X-Spam-Status", " No, forged"}});
  message.set_scan_verdicts({spam_verdict()});
  const EomPlan plan = message.finish("3F2A1C", kNow);
  EXPECT_EQ(plan.reply, EomPlan::Reply::kContinue);
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_EQ(plan.changes[0], (HeaderChange{"X-Spam-Status", 1, std::nullopt}));
  std::vector<std::string> names;
  for (const HeaderField& field : plan.additions) names.push_back(field.name + ":" + field.value);
  EXPECT_EQ(names, (std::vector<std::string>{"X-Sluice-ID: 01m8eevqqm19xrgywbs02b4pxn",
                                              "X-Spam-Status: Yes, score=1000.0 required=5.0",
                                              "X-Spam-Score: 1000.0", "X-Spam-Symbols: GTUBE, MISSING_DATE"}));
  const std::string h = h_tag(plan);
  EXPECT_NE(h.find("x-spam-status"), std::string::npos) << h;
  EXPECT_NE(h.find("x-spam-symbols"), std::string::npos) << h;
}

TEST(MessageScan, StrictestActionWinsAndQuarantineKeepsTheSignature) {
  const std::string scanners = std::string("\n") + kSpamScanner + "on_spam = quarantine\n" +
                               "[scanner av]\ntype = clamd\naddress = inet:127.0.0.1:1\non_failure = add-header\n";
  Message message(make_snapshot(scanners), authenticated(), "01m8eevqqm19xrgywbs02b4pxn");
  feed(message, {{"From", " alice@example.test"}});
  ScanVerdict failed;
  failed.kind = ScanVerdictKind::kFailure;
  failed.detail = "clamd 127.0.0.1:1: connection refused";
  message.set_scan_verdicts({spam_verdict(), failed});
  const EomPlan plan = message.finish("3F2A1C", kNow);
  EXPECT_EQ(plan.reply, EomPlan::Reply::kContinue);
  EXPECT_EQ(plan.quarantine_reason, "sluice spam: spam");
  EXPECT_EQ(plan.prepend.size(), 1u);
  EXPECT_NE(plan.log_line.find("av:failure(clamd 127.0.0.1:1: connection refused)"), std::string::npos)
      << plan.log_line;
  bool virus_header = false;
  for (const HeaderField& field : plan.additions) virus_header |= field == HeaderField{"X-Virus-Status", " Unknown (failure)"};
  EXPECT_TRUE(virus_header);
}

TEST(MessageScan, FailureCanTempfail) {
  Message message(make_snapshot(std::string("\n") + kSpamScanner + "on_failure = tempfail\n"), authenticated(),
                  "01m8eevqqm19xrgywbs02b4pxn");
  feed(message, {{"From", " alice@example.test"}});
  ScanVerdict failed;
  failed.kind = ScanVerdictKind::kFailure;
  message.set_scan_verdicts({failed});
  const EomPlan plan = message.finish("3F2A1C", kNow);
  EXPECT_EQ(plan.reply, EomPlan::Reply::kTempfail);
  EXPECT_EQ(plan.reply_text, "4.7.1 Message could not be scanned, try again later");
}

TEST(MessageOwnership, FromDomainNotOwnedIsRejectedOrUnsigned) {
  {
    Message message(make_snapshot("sender_authorisation = yes"), authenticated(), "01m8eevqqm19xrgywbs02b4pxn");
    feed(message, {{"From", " Alice <Alice@Example.TEST>"}});
    ASSERT_TRUE(message.needs_ownership_check());
    EXPECT_EQ(message.from_domain(), "example.test");
    message.set_from_ownership(FromOwnership::kNotOwned);
    const EomPlan plan = message.finish("3F2A1C", kNow);
    EXPECT_EQ(plan.reply, EomPlan::Reply::kReject);
    EXPECT_EQ(plan.reply_text, "5.7.1 From domain example.test is not authorised for login alice");
  }
  {
    Message message(make_snapshot("sender_authorisation = yes\non_unauthorised_from = unsigned"), authenticated(),
                    "01m8eevqqm19xrgywbs02b4pxn");
    feed(message, {{"From", " alice@example.test"}});
    message.set_from_ownership(FromOwnership::kNotOwned);
    const EomPlan plan = message.finish("3F2A1C", kNow);
    EXPECT_EQ(plan.reply, EomPlan::Reply::kContinue);
    EXPECT_TRUE(plan.prepend.empty());
    EXPECT_NE(plan.log_line.find("dkim=unsigned(From domain example.test not owned by login)"), std::string::npos);
  }
  {
    Message message(make_snapshot("sender_authorisation = yes"), authenticated(), "01m8eevqqm19xrgywbs02b4pxn");
    feed(message, {{"From", " alice@example.test"}});
    message.set_from_ownership(FromOwnership::kUnknown, "Redis down");
    const EomPlan plan = message.finish("3F2A1C", kNow);
    EXPECT_EQ(plan.reply, EomPlan::Reply::kTempfail);
    EXPECT_NE(plan.log_line.find("from_owner=unknown(Redis down)"), std::string::npos);
  }
  Message owned(make_snapshot("sender_authorisation = yes"), authenticated(), "01m8eevqqm19xrgywbs02b4pxn");
  feed(owned, {{"From", " alice@example.test"}});
  owned.set_from_ownership(FromOwnership::kOwned);
  EXPECT_EQ(owned.finish("3F2A1C", kNow).prepend.size(), 1u);
}

TEST(MessageAuthResults, SpfResultAddedAndOurForgedOnesRemoved) {
  Message message(make_snapshot("authentication_results = yes"), authenticated(), "01m8eevqqm19xrgywbs02b4pxn");
  feed(message, {{"From", " alice@example.test"},
                 {"Authentication-Results", " other.example; spf=pass"},
                 {"Authentication-Results", " relay.example; spf=pass smtp.mailfrom=forged.test"}});
  message.set_spf(SpfOutcome{SpfResult::kSoftfail, "example.test", "not listed"});
  const EomPlan plan = message.finish("3F2A1C", kNow);
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_EQ(plan.changes[0], (HeaderChange{"Authentication-Results", 2, std::nullopt}));
  ASSERT_EQ(plan.prepend.size(), 2u);
  EXPECT_EQ(plan.prepend[1], (HeaderField{"Authentication-Results", " relay.example; spf=softfail smtp.mailfrom=example.test"}));
  EXPECT_NE(plan.log_line.find(" spf=softfail"), std::string::npos);
}

TEST(MessageAuthResults, AHostileDomainStaysOutOfTheHeader) {
  Message message(make_snapshot("authentication_results = yes"), authenticated(), "01m8eevqqm19xrgywbs02b4pxn");
  feed(message, {{"From", " alice@example.test"}});
  message.set_spf(SpfOutcome{SpfResult::kPermError, "evil.test\r\nX-Injected: yes", "bad sender"});
  const EomPlan plan = message.finish("3F2A1C", kNow);
  ASSERT_EQ(plan.prepend.size(), 2u);
  EXPECT_EQ(plan.prepend[1], (HeaderField{"Authentication-Results", " relay.example; spf=permerror"}));
}

TEST(MessageRecords, DeliveredMailIsRecordedForBounces) {
  Envelope envelope = authenticated();
  envelope.recipients = 0;
  Message message(make_snapshot(), envelope, "01m8eevqqm19xrgywbs02b4pxn");
  message.add_recipient("bob@example.net");
  feed(message, {{"From", " alice@example.test"}});
  const EomPlan plan = message.finish("3F2A1C", kNow);
  const std::string hour = std::to_string(kNow / 3600);
  EXPECT_EQ(plan.redis_writes,
            (std::vector<std::vector<std::string>>{
                {"HSET", "sluice:v1:msg:01m8eevqqm19xrgywbs02b4pxn", "account", "alice", "sender", "alice@example.test",
                 "from_domain", "example.test", "nrcpt", "1", "ts_ms", std::to_string(kNow * 1000), "rcpt",
                 "bob@example.net", "rcpts", "bob@example.net\n"},
                {"EXPIRE", "sluice:v1:msg:01m8eevqqm19xrgywbs02b4pxn", std::to_string(14 * 86'400)},
                {"HINCRBY", "sluice:v1:rep:alice:" + hour, "sent", "1"},
                {"EXPIRE", "sluice:v1:rep:alice:" + hour, std::to_string(32 * 86'400)}}));
  Message unrecorded(make_snapshot("message_record_ttl = 0"), envelope, "01m8eevqqm19xrgywbs02b4pxn");
  feed(unrecorded, {{"From", " alice@example.test"}});
  EXPECT_EQ(unrecorded.finish("3F2A1C", kNow).redis_writes.size(), 2u) << "only the reputation counter";
}

void enable_unsubscribe(Config& config) {
  UnsubscribeSettings& u = config.feedback.unsubscribe;
  u.accounts = {"alice"};
  u.keys = {UnsubscribeKey{"k1", std::string(32, 's')}};
  u.mailto_domain = "relay.example";
  u.url_base = "https://relay.example/unsubscribe/";
}

TEST(MessageUnsubscribe, OneClickHeadersAreAddedAndSigned) {
  Envelope envelope = authenticated();
  envelope.recipients = 0;
  Message message(make_snapshot("", true, enable_unsubscribe), envelope, "01m8eevqqm19xrgywbs02b4pxn");
  message.add_recipient("bob@example.net");
  feed(message, {{"From", " alice@example.test"}});
  const EomPlan plan = message.finish("3F2A1C", kNow);
  ASSERT_EQ(plan.additions.size(), 3u);
  const HeaderField& list = plan.additions[1];
  EXPECT_EQ(list.name, "List-Unsubscribe");
  const std::string token = make_unsubscribe_token(UnsubscribeKey{"k1", std::string(32, 's')}, "alice",
                                                   "bob@example.net", kNow);
  EXPECT_EQ(list.value, " <mailto:unsubscribe+" + token + "@relay.example>,\r\n <https://relay.example/unsubscribe/" +
                            token + ">");
  EXPECT_EQ(plan.additions[2], (HeaderField{"List-Unsubscribe-Post", " List-Unsubscribe=One-Click"}));
  const std::string h = h_tag(plan);
  EXPECT_NE(h.find("list-unsubscribe:list-unsubscribe-post"), std::string::npos) << h;
  EXPECT_NE(plan.log_line.find(" unsubscribe=added"), std::string::npos);
}

TEST(MessageUnsubscribe, NotAddedForSeveralRecipientsOrOtherAccounts) {
  Envelope envelope = authenticated();
  envelope.recipients = 0;
  Message several(make_snapshot("", true, enable_unsubscribe), envelope, "01m8eevqqm19xrgywbs02b4pxn");
  several.add_recipient("bob@example.net");
  several.add_recipient("carol@example.net");
  feed(several, {{"From", " alice@example.test"}});
  EomPlan plan = several.finish("3F2A1C", kNow);
  EXPECT_EQ(plan.additions.size(), 1u);
  EXPECT_NE(plan.log_line.find(" unsubscribe=skipped(2 recipients)"), std::string::npos);
  envelope.auth_authen = "mallory";
  Message other(make_snapshot("", true, enable_unsubscribe), envelope, "01m8eevqqm19xrgywbs02b4pxn");
  other.add_recipient("bob@example.net");
  feed(other, {{"From", " alice@example.test"}});
  EXPECT_EQ(other.finish("3F2A1C", kNow).additions.size(), 1u);
}

}  // namespace
}  // namespace sluice::milter
