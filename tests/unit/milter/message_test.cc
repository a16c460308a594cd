#include "milter/message.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

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
SnapshotPtr make_snapshot(const std::string& milter_keys = "", bool with_key = true) {
  auto config = parse_config("[milter]\n" + milter_keys + "\n", "/etc/sluice/sluice.conf");
  EXPECT_TRUE(config.ok()) << config.error().detail;
  auto snapshot = std::make_shared<MilterSnapshot>();
  snapshot->config = std::make_shared<const Config>(std::move(config).value());
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
  const EomPlan plan = message.finish("3F2A1C");
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
  const EomPlan plan = message.finish("3F2A1C");
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
  const EomPlan plan = message.finish("3F2A1C");
  ASSERT_EQ(plan.changes.size(), 2u);
  EXPECT_EQ(plan.changes[0].index, 2);
  EXPECT_EQ(plan.changes[1].index, 1);
  EXPECT_FALSE(plan.changes[0].value.has_value());
}

TEST(Message, TwoFromHeadersLeaveTheMessageUnsigned) {
  Message message(make_snapshot(), authenticated(), "01m8eevqqm19xrgywbs02b4pxn");
  feed(message, {{"From", " a@example.test"}, {"From", " b@example.test"}});
  const EomPlan plan = message.finish("3F2A1C");
  EXPECT_TRUE(plan.prepend.empty());
  EXPECT_NE(plan.log_line.find("dkim=unsigned(2 From fields)"), std::string::npos) << plan.log_line;
}

TEST(Message, UnknownDomainIsNotSigned) {
  Message message(make_snapshot(), authenticated("x@other.test"), "01m8eevqqm19xrgywbs02b4pxn");
  feed(message, {{"From", " x@other.test"}});
  const EomPlan plan = message.finish("3F2A1C");
  EXPECT_TRUE(plan.prepend.empty());
  EXPECT_NE(plan.log_line.find("dkim=unsigned(no signing-table match for other.test)"), std::string::npos)
      << plan.log_line;
}

TEST(Message, MissingKeyPassesUnsignedOrTempfailsAsConfigured) {
  {
    Message message(make_snapshot("", false), authenticated(), "01m8eevqqm19xrgywbs02b4pxn");
    feed(message, {{"From", " alice@example.test"}});
    const EomPlan plan = message.finish("3F2A1C");
    EXPECT_EQ(plan.reply, EomPlan::Reply::kContinue);
    EXPECT_NE(plan.log_line.find("missing-key(d=example.test s=sel)"), std::string::npos) << plan.log_line;
  }
  Message message(make_snapshot("on_missing_key = tempfail", false), authenticated(), "01m8eevqqm19xrgywbs02b4pxn");
  feed(message, {{"From", " alice@example.test"}});
  const EomPlan plan = message.finish("3F2A1C");
  EXPECT_EQ(plan.reply, EomPlan::Reply::kTempfail);
  EXPECT_EQ(plan.reply_text, "4.7.1 DKIM signing key unavailable, try again later");
  EXPECT_TRUE(plan.additions.empty()) << "a tempfailed message is not modified";
}

TEST(Message, VerpRewritesTheSenderButNeverTheNullSender) {
  const SnapshotPtr snapshot = make_snapshot("verp = yes\nverp_domain = bounce.example.test");
  Message message(snapshot, authenticated(), "01m8eevqqm19xrgywbs02b4pxn");
  feed(message, {{"From", " alice@example.test"}});
  EXPECT_EQ(message.finish("3F2A1C").new_envelope_from, "bounce+01m8eevqqm19xrgywbs02b4pxn@bounce.example.test");
  Message bounce(snapshot, authenticated(""), "01m8eevqqm19xrgywbs02b4pxn");
  feed(bounce, {{"From", " MAILER-DAEMON@example.test"}});
  EXPECT_FALSE(bounce.finish("3F2A1C").new_envelope_from.has_value());
}

TEST(Message, OversizedHeaderIsAnError) {
  Message message(make_snapshot(), authenticated(), "01m8eevqqm19xrgywbs02b4pxn");
  const std::string big(64 * 1024, 'x');
  Status last;
  for (int i = 0; i < 20 && last.ok(); ++i) last = message.header("X-Big", big);
  ASSERT_FALSE(last.ok());
  EXPECT_EQ(last.error().code, Errc::kTooLong);
}

}  // namespace
}  // namespace sluice::milter
