// finish_scans(): every scanner at once, each within its own timeout; and
// the helpers the clients share.
#include "milter/scanner.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "tests/unit/support/fake_daemon.h"

namespace sluice::milter {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A daemon that reads until the client's request ends (|request_end|),
// waits |delay|, answers, then keeps the connection open (the client's
// half-close is not a close). With no answer it only waits (a hung daemon).
// Bounded: 5 s at most.
test::FakeDaemon::Serve slow_answer(std::string request_end, std::chrono::milliseconds delay, std::string answer) {
  return [request_end = std::move(request_end), delay, answer = std::move(answer)](
             int fd, const std::atomic<bool>& stopping) {
    const auto until = Clock::now() + 5s;
    std::string got = test::read_request(fd, [&](std::string_view r) { return r.ends_with(request_end); });
    std::this_thread::sleep_for(delay);
    test::send_text(fd, answer);
    char buffer[8192];
    while (!stopping && Clock::now() < until) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0 && ::recv(fd, buffer, sizeof buffer, 0) <= 0) std::this_thread::sleep_for(10ms);
    }
    return got;
  };
}

constexpr std::string_view kBody = "Hello.\r\n";  // every request below ends with the body or the clamd terminator

const std::string kSpamdSpam = "SPAMD/1.1 0 EX_OK\r\nContent-length: 5\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nGTUBE";
const std::string kRspamdJson = R"({"score":0.5,"required_score":15,"action":"no action"})";
const std::string kRspamdHam =
    "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kRspamdJson.size()) + "\r\n\r\n" + kRspamdJson;
const std::string kClamdVirus("stream: Eicar FOUND\0", 20);

ScannerSettings settings_for(ScannerKind kind, const std::string& address, std::chrono::milliseconds timeout) {
  ScannerSettings settings;
  settings.kind = kind;
  settings.address = address;
  settings.timeout = timeout;
  return settings;
}

ScanSessionPtr fed_session(const ScannerSettings& settings) {
  ScanSessionPtr session = make_scan_session(settings, ScanEnvelope{}, "");
  session->header("Subject", " test");
  session->end_of_headers();
  session->body(kBody);
  return session;
}

TEST(FinishScans, RunsScannersConcurrently) {
  test::FakeDaemon spamd(slow_answer(std::string(kBody), 300ms, kSpamdSpam));
  test::FakeDaemon rspamd(slow_answer(std::string(kBody), 300ms, kRspamdHam));
  test::FakeDaemon clamd(slow_answer(std::string(4, '\0'), 300ms, kClamdVirus));
  ScanSessionPtr sessions[] = {fed_session(settings_for(ScannerKind::kSpamd, spamd.address(), 2000ms)),
                               fed_session(settings_for(ScannerKind::kRspamd, rspamd.address(), 2000ms)),
                               fed_session(settings_for(ScannerKind::kClamd, clamd.address(), 2000ms))};
  ScanSession* raw[] = {sessions[0].get(), sessions[1].get(), sessions[2].get()};

  const auto began = Clock::now();
  const std::vector<ScanVerdict> verdicts = finish_scans(raw, "Q1");
  const auto took = Clock::now() - began;

  ASSERT_EQ(verdicts.size(), 3u);
  EXPECT_EQ(verdicts[0].kind, ScanVerdictKind::kSpam) << verdicts[0].detail;
  EXPECT_EQ(verdicts[1].kind, ScanVerdictKind::kClean) << verdicts[1].detail;
  EXPECT_EQ(verdicts[2].kind, ScanVerdictKind::kSpam) << verdicts[2].detail;
  EXPECT_EQ(verdicts[2].virus, "Eicar");
  for (const ScanVerdict& verdict : verdicts) {
    EXPECT_GE(verdict.elapsed, 300ms);
    EXPECT_LE(verdict.elapsed, took);
  }
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 600ms) << "got " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                         << " ms, want the slowest scanner's time, not the sum";
}

TEST(FinishScans, HungScannerTimesOutAlone) {
  test::FakeDaemon hung(slow_answer(std::string(kBody), 0ms, ""));
  test::FakeDaemon fast(slow_answer(std::string(4, '\0'), 0ms, kClamdVirus));
  ScanSessionPtr hanging = fed_session(settings_for(ScannerKind::kSpamd, hung.address(), 200ms));
  ScanSessionPtr quick = fed_session(settings_for(ScannerKind::kClamd, fast.address(), 2000ms));
  ScanSession* raw[] = {hanging.get(), quick.get()};

  const auto began = Clock::now();
  const std::vector<ScanVerdict> verdicts = finish_scans(raw, "Q2");
  const auto took = Clock::now() - began;

  EXPECT_EQ(verdicts[0].kind, ScanVerdictKind::kFailure);
  EXPECT_NE(verdicts[0].detail.find("timed out after 200 ms"), std::string::npos) << verdicts[0].detail;
  EXPECT_EQ(verdicts[1].kind, ScanVerdictKind::kSpam) << verdicts[1].detail;
  EXPECT_LT(verdicts[1].elapsed, 150ms);
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 450ms);
}

TEST(FinishScans, NullAndSettledSessionsNeedNoWait) {
  ScannerSettings bad = settings_for(ScannerKind::kRspamd, "tcp:somewhere", 2000ms);
  ScanSessionPtr unusable = fed_session(bad);
  ScanSession* raw[] = {nullptr, unusable.get()};
  const auto began = Clock::now();
  const std::vector<ScanVerdict> verdicts = finish_scans(raw, "");
  EXPECT_LT(Clock::now() - began, 50ms);
  EXPECT_EQ(verdicts[0].kind, ScanVerdictKind::kFailure);
  EXPECT_EQ(verdicts[1].kind, ScanVerdictKind::kFailure);
  EXPECT_EQ(verdicts[1].detail.find("rspamd tcp:somewhere: listen address"), 0u) << verdicts[1].detail;
  EXPECT_TRUE(finish_scans({}, "").empty());
}

TEST(ScanVerdictName, NamesEachKind) {
  EXPECT_EQ(scan_verdict_name(ScanVerdictKind::kClean), "clean");
  EXPECT_EQ(scan_verdict_name(ScanVerdictKind::kSpam), "spam");
  EXPECT_EQ(scan_verdict_name(ScanVerdictKind::kFailure), "failure");
  EXPECT_EQ(scan_verdict_name(ScanVerdictKind::kSkipped), "skipped");
}

TEST(ScanHelpers, SanitiseAndBound) {
  EXPECT_EQ(sanitize_scan_symbol("BAYES_99"), "BAYES_99");
  EXPECT_EQ(sanitize_scan_symbol("a b\r\n;c"), "a_b___c");
  EXPECT_EQ(sanitize_scan_symbol(std::string(100, 'X')).size(), kMaxScanSymbolBytes);
  EXPECT_EQ(sanitize_virus_name("Win.Trojan.Agent-1:2/3+4 x"), "Win.Trojan.Agent-1:2/3+4_x");

  ScanVerdict verdict;
  for (int i = 0; i < 80; ++i) add_scan_symbol(verdict, "S" + std::to_string(i));
  add_scan_symbol(verdict, "");
  EXPECT_EQ(verdict.symbols.size(), kMaxScanSymbols);

  const ScanVerdict failed = scan_failure("spamd 127.0.0.1:783", "said \x01" + std::string(1000, 'z'));
  EXPECT_EQ(failed.kind, ScanVerdictKind::kFailure);
  EXPECT_LE(failed.detail.size(), kMaxScanDetailBytes);
  EXPECT_EQ(failed.detail.find("spamd 127.0.0.1:783: said \\x01z"), 0u) << failed.detail;
}

TEST(ScanHelpers, HeaderLineFoldsWithCrlf) {
  struct Case {
    const char* value;
    const char* want;
  } cases[] = {
      {" plain", "Subject: plain\r\n"},
      {" one\n\ttwo", "Subject: one\r\n\ttwo\r\n"},       // milter folds with a bare LF
      {" one\r\n\ttwo", "Subject: one\r\n\ttwo\r\n"},     // already CRLF: unchanged
      {"", "Subject:\r\n"},
  };
  for (const Case& c : cases) {
    std::string out;
    append_header_line(out, "Subject", c.value);
    EXPECT_EQ(out, c.want) << c.value;
  }
}

}  // namespace
}  // namespace sluice::milter
