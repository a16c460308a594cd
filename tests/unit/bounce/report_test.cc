#include "bounce/report.h"

#include <gtest/gtest.h>

#include "tests/unit/bounce/corpus.h"

namespace sluice::bounce {
namespace {

using test::corpus;
using test::kTrackingId;
using test::with_crlf;

struct Expected {
  const char* file;
  ReportType type;
  std::vector<std::string> addresses;  // report.recipients[i].address
  std::vector<std::string> actions;
  std::vector<std::string> statuses;
  const char* feedback_type;
  const char* queue_id;
  const char* message_id;
  bool tracking;     // the tracking header was found
  const char* returned_to;  // To: of the returned headers, "" if none
};

const Expected kCorpus[] = {
    {"postfix_dsn_user_unknown.eml", ReportType::kDeliveryStatus, {"bob@example.net"}, {"failed"}, {"5.1.1"}, "",
     "4XyZ1Q2b3Cz9sT", "<20241126101502.4XyZ1Q2b3Cz9sT@relay.example>", true, "Bob <bob@example.net>"},
    {"dsn_mailbox_full_headers_only.eml", ReportType::kDeliveryStatus, {"carol@example.org"}, {"failed"}, {"5.2.2"},
     "", "", "<202411261020.4AQAK1@mx.example.org>", true, "carol@example.org"},
    {"dsn_delayed.eml", ReportType::kDeliveryStatus, {"dave@example.net"}, {"delayed"}, {"4.4.1"}, "",
     "4XyZ1Q2b3Cz9sT", "<20241126141502.4XyZ1Q2b3Cz9sT@relay.example>", true, "dave@example.net"},
    {"dsn_policy_block.eml", ReportType::kDeliveryStatus, {"erin@gmail.com"}, {"failed"}, {"5.7.26"}, "", "",
     "<5f6a.0a1b@mx.google.com>", true, "erin@gmail.com"},
    {"dsn_two_recipients.eml", ReportType::kDeliveryStatus,
     {"frank@example.net", "grace@example.net", "heidi@example.net"}, {"failed", "failed", "delivered"},
     {"5.1.1", "4.2.2", "2.0.0"}, "", "", "<two@mx.example.net>", true,
     "frank@example.net, grace@example.net, heidi@example.net"},
    {"dsn_null_mx_base64.eml", ReportType::kDeliveryStatus, {"ivan@nomail.example"}, {"failed"}, {"5.1.10"}, "", "",
     "<nullmx@outlook.example>", true, "ivan@nomail.example"},
    {"exim_plain.eml", ReportType::kPlainBounce, {"judy@example.co.uk"}, {"failed"}, {"5.1.1"}, "", "",
     "<E1tFxyz-0001AB-CD@mx.example.co.uk>", true, "judy@example.co.uk"},
    {"postfix_plain.eml", ReportType::kPlainBounce, {"karl@example.de"}, {"failed"}, {"5.1.1"}, "", "",
     "<20241126103100.ABC123@mail.example.de>", true, "karl@example.de"},
    {"gmail_plain.eml", ReportType::kPlainBounce, {"leo@example.com"}, {"failed"}, {"5.1.1"}, "", "",
     "<gmail-plain-1@mail.gmail.com>", true, "leo@example.com"},
    {"outlook_plain.eml", ReportType::kPlainBounce, {"mallory@contoso.example"}, {"failed"}, {"5.1.1"}, "", "",
     "<outlook-ndr-1@contoso.example>", true, "mallory@contoso.example"},
    {"yahoo_plain.eml", ReportType::kPlainBounce, {"nina@yahoo.com"}, {"failed"}, {""}, "", "",
     "<yahoo-1@mta1.mail.yahoo.com>", true, "nina@yahoo.com"},
    {"qmail_quota_indented.eml", ReportType::kPlainBounce, {"oscar@example.nl"}, {"failed"}, {"5.2.2"}, "", "",
     "<qmail-1@mail.example.nl>", true, "oscar@example.nl"},
    {"arf_abuse.eml", ReportType::kFeedback, {"peggy@hotmail.example"}, {""}, {""}, "abuse", "",
     "<arf-1@hotmail.example>", true, "<peggy@hotmail.example>"},
    {"arf_headers_only_no_rcpt.eml", ReportType::kFeedback, {}, {}, {}, "abuse", "", "<arf-2@isp.example>", true,
     "\"Quentin Q.\" <quentin@isp.example>"},
    {"arf_not_spam.eml", ReportType::kFeedback, {"rupert@isp.example"}, {""}, {""}, "not-spam", "",
     "<arf-3@isp.example>", true, "rupert@isp.example"},
    {"auto_reply.eml", ReportType::kAutoReply, {}, {}, {}, "", "", "<ooo-1@example.org>", false, ""},
};

void check(const Expected& want, const Report& got) {
  EXPECT_EQ(report_type_name(got.type), report_type_name(want.type));
  std::vector<std::string> addresses, actions, statuses;
  for (const ReportRecipient& r : got.recipients) {
    addresses.push_back(r.address);
    actions.push_back(r.action);
    statuses.push_back(r.status);
  }
  EXPECT_EQ(addresses, want.addresses);
  EXPECT_EQ(actions, want.actions);
  EXPECT_EQ(statuses, want.statuses);
  EXPECT_EQ(got.feedback_type, want.feedback_type);
  EXPECT_EQ(got.queue_id, want.queue_id);
  EXPECT_EQ(got.message_id, want.message_id);
  EXPECT_EQ(got.tracking_value, want.tracking ? kTrackingId : "");
  EXPECT_EQ(got.returned.value("To"), want.returned_to);
  EXPECT_EQ(got.body_digest.size(), 64u);
  EXPECT_FALSE(got.truncated);
}

TEST(Report, EveryCorpusSample) {
  for (const Expected& want : kCorpus) {
    SCOPED_TRACE(want.file);
    auto got = parse_report(corpus(want.file));
    ASSERT_TRUE(got.ok()) << got.error().detail;
    check(want, *got);
  }
}

TEST(Report, EveryCorpusSampleWithCrlfLineEnds) {
  for (const Expected& want : kCorpus) {
    SCOPED_TRACE(want.file);
    auto got = parse_report(with_crlf(corpus(want.file)));
    ASSERT_TRUE(got.ok()) << got.error().detail;
    check(want, *got);
  }
}

TEST(Report, DiagnosticsAreKept) {
  auto dsn = parse_report(corpus("postfix_dsn_user_unknown.eml"));
  ASSERT_TRUE(dsn.ok());
  EXPECT_EQ(dsn->recipients[0].original, "bob@example.net");
  EXPECT_EQ(dsn->recipients[0].diagnostic,
            "550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown in virtual mailbox table");
  auto yahoo = parse_report(corpus("yahoo_plain.eml"));
  ASSERT_TRUE(yahoo.ok());
  EXPECT_NE(yahoo->recipients[0].diagnostic.find("doesn't have a yahoo.com account"), std::string::npos)
      << yahoo->recipients[0].diagnostic;
}

TEST(Report, GarbageIsUnparsable) {
  auto got = parse_report(corpus("garbage.eml"));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Errc::kInvalidInput);
  EXPECT_TRUE(got.error().detail.starts_with("unparsable")) << got.error().detail;
  EXPECT_FALSE(parse_report("").ok());
  EXPECT_FALSE(parse_report("\n\n\n").ok());
}

TEST(Report, EveryPrefixOfEverySampleParsesOrFailsCleanly) {
  for (const Expected& want : kCorpus) {
    const std::string message = corpus(want.file);
    for (std::size_t n = 0; n <= message.size(); n += 7) {
      auto got = parse_report(std::string_view(message).substr(0, n));
      if (got.ok()) {
        EXPECT_LE(got->recipients.size(), 100u);
      }
    }
  }
}

TEST(Report, AHugeHeaderLineAndManyPartsStayBounded) {
  std::string message = "X-Junk: " + std::string(5 * 1024 * 1024, 'j') +
                        "\nContent-Type: multipart/report; report-type=delivery-status; boundary=z\n\n";
  for (int i = 0; i < 10000; ++i) message += "--z\nContent-Type: text/plain\n\nx\n";
  message += "--z\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@b.example\nAction: failed\n";
  const auto start = std::chrono::steady_clock::now();
  auto got = parse_report(message);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  // The delivery-status part is beyond the part cap: not found, and that is an honest answer.
  if (got.ok()) {
    EXPECT_TRUE(got->truncated);
  }
}

TEST(HeaderAddresses, ReadsAddressLists) {
  EXPECT_EQ(header_addresses("\"Q, Q.\" <quentin@isp.example>, bob@example.net", 5),
            (std::vector<std::string>{"quentin@isp.example", "bob@example.net"}));
}

}  // namespace
}  // namespace sluice::bounce
