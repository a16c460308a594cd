// The [scanner NAME] sections (common/config_keys_scan.cc).
#include <gtest/gtest.h>

#include "common/config.h"

namespace sluice {
namespace {

std::string error_of(std::string_view text) {
  auto r = parse_config(text, "/etc/sluice/sluice.conf");
  return r.ok() ? std::string("(parsed fine)") : r.error().detail;
}

TEST(ScannerConfig, ReadsEveryKey) {
  auto r = parse_config(
      "[scanner spam]\ntype = rspamd\naddress = inet:127.0.0.1:11333\ntimeout = 2s\nmax_size = 512K\n"
      "threshold = 6.5\naccount_thresholds = alice=8, bulk@example.com = -1.5\non_clean = add-header\n"
      "on_spam = quarantine\non_failure = tempfail\nreject_text = Spam is not welcome here\n"
      "header_prefix = X-Rspamd\n\n[scanner av]\ntype = clamd\naddress = unix:/run/clamav/clamd.ctl\n",
      "/etc/sluice/sluice.conf");
  ASSERT_TRUE(r.ok()) << r.error().detail;
  ASSERT_EQ(r->scanners.size(), 2u);
  const ScannerSettings& spam = r->scanners[0];
  EXPECT_EQ(spam.name, "spam");
  EXPECT_EQ(spam.kind, ScannerKind::kRspamd);
  EXPECT_EQ(spam.address, "inet:127.0.0.1:11333");
  EXPECT_EQ(spam.timeout, std::chrono::milliseconds(2000));
  EXPECT_EQ(spam.max_size, 512u * 1024);
  EXPECT_EQ(spam.threshold, 6.5);
  EXPECT_EQ(spam.threshold_for("alice"), 8.0);
  EXPECT_EQ(spam.threshold_for("bulk@example.com"), -1.5);
  EXPECT_EQ(spam.threshold_for("someone"), 6.5);
  EXPECT_EQ(spam.on_clean, ScanAction::kAddHeader);
  EXPECT_EQ(spam.on_spam, ScanAction::kQuarantine);
  EXPECT_EQ(spam.on_failure, ScanAction::kTempfail);
  EXPECT_EQ(spam.reject_text, "Spam is not welcome here");
  EXPECT_EQ(spam.header_prefix, "X-Rspamd");
  const ScannerSettings& av = r->scanners[1];
  EXPECT_EQ(av.kind, ScannerKind::kClamd);
  EXPECT_EQ(av.on_spam, ScanAction::kReject) << "the safe default";
  EXPECT_EQ(av.on_failure, ScanAction::kAccept);
  EXPECT_EQ(av.max_size, 1024u * 1024);
  EXPECT_FALSE(av.threshold.has_value());
}

TEST(ScannerConfig, ReportsMistakesWithLine) {
  EXPECT_EQ(error_of("[scanner s]\ntype = spamd\n"), "/etc/sluice/sluice.conf:1: scanner \"s\" has no address");
  EXPECT_EQ(error_of("[scanner s]\ntype = bogofilter\n"),
            "/etc/sluice/sluice.conf:2: [scanner s] type: type must be spamd, rspamd or clamd");
  EXPECT_EQ(error_of("[scanner s]\naddress = inet:127.0.0.1:1\non_clean = reject\n"),
            "/etc/sluice/sluice.conf:3: [scanner s] on_clean: on_clean must be accept or add-header");
  EXPECT_EQ(error_of("[scanner s]\naddress = inet:127.0.0.1:1\non_spam = drop\n"),
            "/etc/sluice/sluice.conf:3: [scanner s] on_spam: an action is accept, add-header, quarantine, tempfail or reject");
  EXPECT_NE(error_of("[scanner s]\naddress = tcp:127.0.0.1:1\n").find("/etc/sluice/sluice.conf:2:"), std::string::npos);
  EXPECT_EQ(error_of("[scanner s]\ntype = clamd\naddress = inet:127.0.0.1:1\nthreshold = 5\n"),
            "/etc/sluice/sluice.conf:4: clamd gives no score: threshold does not apply");
  EXPECT_EQ(error_of("[scanner s]\naddress = inet:127.0.0.1:1\n[scanner s]\n"),
            "/etc/sluice/sluice.conf:3: [scanner s] already defined on line 1");
  EXPECT_EQ(error_of("[scanner s]\naddress = inet:127.0.0.1:1\naccount_thresholds = alice\n"),
            "/etc/sluice/sluice.conf:3: [scanner s] account_thresholds: \"alice\" is not LOGIN=SCORE");
  EXPECT_EQ(error_of("[scanner s]\naddress = inet:127.0.0.1:1\nthreshold = nan\n"),
            "/etc/sluice/sluice.conf:3: [scanner s] threshold: \"nan\" is not a score between -1000 and 1000");
  EXPECT_NE(error_of("[scanner s]\naddress = inet:127.0.0.1:1\nmax_size = 999999999999G\n").find("want a size"),
            std::string::npos);
  EXPECT_EQ(error_of("[scanner s]\naddress = inet:127.0.0.1:1\nmax_size = 10\n"),
            "/etc/sluice/sluice.conf:3: [scanner s] max_size: invalid value \"10\": want a size from 1024 to 1073741824 bytes (a number, optionally with K, M or G)");
}

}  // namespace
}  // namespace sluice
