// The spamd, rspamd and clamd clients against in-process fake daemons (what
// each sends, how each reads hostile answers), their pure answer readers fed
// byte by byte, and the JSON reader.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "milter/clamd_client.h"
#include "milter/json_reader.h"
#include "milter/rspamd_client.h"
#include "milter/scan_socket.h"
#include "milter/scanner.h"
#include "milter/spamd_client.h"
#include "tests/unit/support/fake_daemon.h"

namespace sluice::milter {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::Complete;
using test::FakeDaemon;
using test::read_request;
using test::send_text;

// ---------------------------------------------------------------- fakes

// A hung daemon: reads what comes, never answers, and keeps the connection
// (a half-close is not a close) until the test ends or |limit| passes.
std::string hang(int fd, const std::atomic<bool>& stopping, std::chrono::milliseconds limit = 3000ms) {
  const auto until = Clock::now() + limit;
  std::string got = read_request(fd, [&](std::string_view) { return stopping || Clock::now() > until; });
  while (!stopping && Clock::now() < until) std::this_thread::sleep_for(10ms);
  return got;
}

// Sends |piece| over and over until the client gives up (or 64 MiB).
void flood(int fd, std::string_view piece) {
  for (std::size_t sent = 0; sent < 64u * 1024 * 1024; sent += piece.size()) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, 2000) <= 0) return;
    if (::send(fd, piece.data(), piece.size(), MSG_NOSIGNAL) <= 0) return;
  }
}

// Ends the connection with a RST instead of a FIN.
void reset(int fd) {
  linger hard{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
}

std::size_t header_length(std::string_view request, std::string_view name) {
  for (std::size_t pos = request.find("\r\n"); pos != std::string_view::npos && pos < request.find("\r\n\r\n");
       pos = request.find("\r\n", pos + 2)) {
    const std::string_view line = request.substr(pos + 2, request.find("\r\n", pos + 2) - pos - 2);
    if (line.size() > name.size() && line.substr(0, name.size()) == name && line[name.size()] == ':') {
      return std::strtoul(std::string(line.substr(name.size() + 1)).c_str(), nullptr, 10);
    }
  }
  return std::string_view::npos;
}

// A request with a head and a body of the length its head announces.
Complete length_complete(std::string_view length_header) {
  return [name = std::string(length_header)](std::string_view r) {
    const auto end = r.find("\r\n\r\n");
    if (end == std::string_view::npos) return false;
    const std::size_t length = header_length(r, name);
    return length != std::string_view::npos && r.size() >= end + 4 + length;
  };
}

const Complete kSpamdComplete = length_complete("Content-length");
const Complete kHttpComplete = length_complete("Content-Length");

// The INSTREAM data in |request|, nullopt until the zero-length chunk.
std::optional<std::string> clamd_stream(std::string_view request, std::size_t* largest_chunk = nullptr) {
  if (request.size() < 10) return std::nullopt;
  std::string data;
  std::size_t pos = 10;
  for (;;) {
    if (request.size() - pos < 4) return std::nullopt;
    const auto byte = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(request[pos + i])); };
    const std::uint32_t length = byte(0) << 24 | byte(1) << 16 | byte(2) << 8 | byte(3);
    pos += 4;
    if (length == 0) return data;
    if (largest_chunk != nullptr && length > *largest_chunk) *largest_chunk = length;
    if (request.size() - pos < length) return std::nullopt;
    data.append(request.substr(pos, length));
    pos += length;
  }
}
const Complete kClamdComplete = [](std::string_view r) { return clamd_stream(r).has_value(); };

// A daemon that reads the request, waits |delay|, answers |answer|.
FakeDaemon::Serve answering(Complete complete, std::string answer, std::chrono::milliseconds delay = 0ms) {
  return [complete = std::move(complete), answer = std::move(answer), delay](int fd, const std::atomic<bool>&) {
    std::string got = read_request(fd, complete);
    std::this_thread::sleep_for(delay);
    send_text(fd, answer);
    return got;
  };
}

// ---------------------------------------------------------------- client side

struct TestMessage {
  std::vector<std::pair<std::string, std::string>> headers = {
      {"From", " Alice <alice@example.test>"}, {"Subject", " folded\n\tsubject"}, {"To", " bob@example.test"}};
  std::string body = "Hello Bob.\r\n";

  // What a scanner must receive: folding LF as CRLF.
  std::string wire() const {
    return "From: Alice <alice@example.test>\r\nSubject: folded\r\n\tsubject\r\nTo: bob@example.test\r\n\r\n" + body;
  }
};

ScannerSettings settings_for(ScannerKind kind, const std::string& address) {
  ScannerSettings settings;
  settings.name = "test";
  settings.kind = kind;
  settings.address = address;
  settings.timeout = 2000ms;
  return settings;
}

ScanEnvelope test_envelope() {
  ScanEnvelope envelope;
  envelope.client_address = "192.0.2.10";
  envelope.helo = "client.example.test";
  envelope.mail_from = "alice@example.test";
  envelope.auth_authen = "alice";
  envelope.recipients = {"bob@example.test", "carol@example.test"};
  return envelope;
}

void feed(ScanSession& session, const TestMessage& message, std::size_t body_chunk = 65535) {
  for (const auto& [name, value] : message.headers) session.header(name, value);
  session.end_of_headers();
  for (std::size_t pos = 0; pos < message.body.size(); pos += body_chunk) {
    session.body(std::string_view(message.body).substr(pos, body_chunk));
  }
}

ScanVerdict scan(const ScannerSettings& settings, const TestMessage& message = {},
                 const ScanEnvelope& envelope = test_envelope(), const std::string& account = "alice") {
  ScanSessionPtr session = make_scan_session(settings, envelope, account);
  feed(*session, message);
  ScanSession* sessions[] = {session.get()};
  return finish_scans(sessions, "4AB12C")[0];
}

// A port nobody listens on: bound, then closed.
std::string refused_address() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return "inet:127.0.0.1:" + std::to_string(ntohs(address.sin_port));
}

std::string big_body(std::size_t bytes) {
  std::string body;
  const std::string line = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxy\r\n";
  while (body.size() < bytes) body += line;
  return body;
}

constexpr std::string_view kSpamdSpam =
    "SPAMD/1.1 0 EX_OK\r\nContent-length: 30\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nGTUBE,MISSING_DATE,NO_RECEIVED";

// ---------------------------------------------------------------- spamd

TEST(SpamdScan, SendsSymbolsRequestAndReadsSpam) {
  FakeDaemon daemon(answering(kSpamdComplete, std::string(kSpamdSpam)));
  const TestMessage message;
  const ScanVerdict verdict = scan(settings_for(ScannerKind::kSpamd, daemon.address()), message);

  EXPECT_EQ(verdict.kind, ScanVerdictKind::kSpam) << verdict.detail;
  EXPECT_EQ(verdict.score, 1000.0);
  EXPECT_EQ(verdict.required, 5.0);
  EXPECT_EQ(verdict.symbols, (std::vector<std::string>{"GTUBE", "MISSING_DATE", "NO_RECEIVED"}));
  EXPECT_GT(verdict.elapsed.count(), 0);
  const std::string want = "SYMBOLS SPAMC/1.5\r\nContent-length: " + std::to_string(message.wire().size()) +
                           "\r\nUser: alice\r\n\r\n" + message.wire();
  ASSERT_EQ(daemon.requests().size(), 1u);
  EXPECT_EQ(daemon.requests()[0], want);
}

TEST(SpamdScan, HamWithoutAccountSendsNoUser) {
  FakeDaemon daemon(answering(kSpamdComplete, "SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\nSpam: False ; 0.3 / 5.0\r\n\r\n"));
  const ScanVerdict verdict = scan(settings_for(ScannerKind::kSpamd, daemon.address()), {}, {}, "");
  EXPECT_EQ(verdict.kind, ScanVerdictKind::kClean) << verdict.detail;
  EXPECT_EQ(verdict.score, 0.3);
  EXPECT_TRUE(verdict.symbols.empty());
  EXPECT_EQ(daemon.requests()[0].find("User:"), std::string::npos);
}

TEST(SpamdScan, ThresholdOverridesPerAccount) {
  // spamd says ham at 4.0/5.0; the relay's thresholds decide.
  struct Case {
    const char* account;
    ScanVerdictKind want;
    double required;
  } cases[] = {
      {"alice", ScanVerdictKind::kSpam, 3.0},   // the scanner-wide threshold
      {"bob", ScanVerdictKind::kClean, 10.0},   // bob's own, higher
      {"carol", ScanVerdictKind::kSpam, 4.0},   // at the threshold is spam
  };
  for (const Case& c : cases) {
    FakeDaemon daemon(answering(kSpamdComplete, "SPAMD/1.1 0 EX_OK\r\nSpam: False ; 4.0 / 5.0\r\n\r\nA,B\r\n"));
    ScannerSettings settings = settings_for(ScannerKind::kSpamd, daemon.address());
    settings.threshold = 3.0;
    settings.account_thresholds = {{"bob", 10.0}, {"carol", 4.0}};
    const ScanVerdict verdict = scan(settings, {}, test_envelope(), c.account);
    EXPECT_EQ(verdict.kind, c.want) << c.account << ": got " << scan_verdict_name(verdict.kind) << " " << verdict.detail;
    EXPECT_EQ(verdict.required, c.required) << c.account;
    EXPECT_EQ(verdict.score, 4.0);
    EXPECT_EQ(verdict.symbols, (std::vector<std::string>{"A", "B"}));
  }
}

TEST(SpamdScan, ErrorCodeIsFailure) {
  FakeDaemon daemon(answering(kSpamdComplete, "SPAMD/1.0 76 Bad header line: (Content-Length mismatch)\r\n"));
  const ScanVerdict verdict = scan(settings_for(ScannerKind::kSpamd, daemon.address()));
  EXPECT_EQ(verdict.kind, ScanVerdictKind::kFailure);
  EXPECT_EQ(verdict.detail, "spamd " + daemon.label() + ": error 76 EX_PROTOCOL: Bad header line: (Content-Length mismatch)");
}

TEST(SpamdScan, GarbageIsFailure) {
  FakeDaemon daemon(answering(kSpamdComplete, "HTTP/1.1 200 OK\r\n\r\n<html>\x01</html>"));
  const ScanVerdict verdict = scan(settings_for(ScannerKind::kSpamd, daemon.address()));
  EXPECT_EQ(verdict.kind, ScanVerdictKind::kFailure);
  EXPECT_NE(verdict.detail.find("unexpected answer \"HTTP/1.1 200 OK\""), std::string::npos) << verdict.detail;
}

TEST(SpamdScan, EndlessAnswerHitsTheCap) {
  FakeDaemon daemon([](int fd, const std::atomic<bool>&) {
    std::string got = read_request(fd, kSpamdComplete);
    send_text(fd, "SPAMD/1.1 0 EX_OK\r\nSpam: True ; 9.0 / 5.0\r\n\r\n");
    flood(fd, std::string(4096, 'S') + ",");
    return got;
  });
  const ScanVerdict verdict = scan(settings_for(ScannerKind::kSpamd, daemon.address()));
  EXPECT_EQ(verdict.kind, ScanVerdictKind::kFailure);
  EXPECT_NE(verdict.detail.find("answer longer than 65536 bytes"), std::string::npos) << verdict.detail;
}

TEST(SpamdScan, SilenceTimesOut) {
  FakeDaemon daemon([](int fd, const std::atomic<bool>& stopping) { return hang(fd, stopping); });
  ScannerSettings settings = settings_for(ScannerKind::kSpamd, daemon.address());
  settings.timeout = 300ms;
  const auto began = Clock::now();
  const ScanVerdict verdict = scan(settings);
  const auto took = Clock::now() - began;
  EXPECT_EQ(verdict.kind, ScanVerdictKind::kFailure);
  EXPECT_EQ(verdict.detail, "spamd " + daemon.label() + ": timed out after 300 ms waiting for the answer");
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 700ms);
}

TEST(SpamdScan, RefusedConnectionIsFailure) {
  const std::string address = refused_address();
  const ScanVerdict verdict = scan(settings_for(ScannerKind::kSpamd, address));
  EXPECT_EQ(verdict.kind, ScanVerdictKind::kFailure);
  EXPECT_NE(verdict.detail.find("connect: Connection refused"), std::string::npos) << verdict.detail;
  EXPECT_EQ(verdict.detail.find("spamd 127.0.0.1:"), 0u) << verdict.detail;
}

TEST(SpamdScan, ResetMidwayIsFailure) {
  FakeDaemon daemon([](int fd, const std::atomic<bool>&) {
    std::string got = read_request(fd, [](std::string_view r) { return r.size() >= 10; });
    reset(fd);
    return got;
  });
  TestMessage message;
  message.body = big_body(800 * 1024);  // more than the socket buffers take at once
  ScannerSettings settings = settings_for(ScannerKind::kSpamd, daemon.address());
  settings.max_size = 2 * 1024 * 1024;
  const ScanVerdict verdict = scan(settings, message);
  EXPECT_EQ(verdict.kind, ScanVerdictKind::kFailure);
  EXPECT_TRUE(verdict.detail.find("reset") != std::string::npos || verdict.detail.find("Broken pipe") != std::string::npos)
      << verdict.detail;
}

TEST(SpamdScan, OversizeMessageIsSkippedWithoutConnecting) {
  FakeDaemon daemon(answering(kSpamdComplete, std::string(kSpamdSpam)));
  TestMessage message;
  message.body = big_body(5000);
  ScannerSettings settings = settings_for(ScannerKind::kSpamd, daemon.address());
  settings.max_size = 1000;
  const ScanVerdict verdict = scan(settings, message);
  EXPECT_EQ(verdict.kind, ScanVerdictKind::kSkipped);
  EXPECT_EQ(verdict.detail, "spamd " + daemon.label() + ": message larger than max_size 1000 bytes");
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(daemon.connections(), 0);
}

TEST(SpamdScan, WorksOverUnixSocket) {
  FakeDaemon daemon(answering(kSpamdComplete, std::string(kSpamdSpam)), /*on_unix_socket=*/true);
  const ScanVerdict verdict = scan(settings_for(ScannerKind::kSpamd, daemon.address()));
  EXPECT_EQ(verdict.kind, ScanVerdictKind::kSpam) << verdict.detail;
}

TEST(SpamdScan, BadAddressIsFailure) {
  const ScanVerdict verdict = scan(settings_for(ScannerKind::kSpamd, "inet:localhost:783"));
  EXPECT_EQ(verdict.kind, ScanVerdictKind::kFailure);
  EXPECT_NE(verdict.detail.find("numeric"), std::string::npos) << verdict.detail;
}

TEST(SpamdScanAnswer, ReadsByteByByte) {
  const std::string answer(kSpamdSpam);
  for (std::size_t n = 0; n < answer.size(); ++n) {
    auto partial = read_spamd_answer(std::string_view(answer).substr(0, n), false);
    ASSERT_TRUE(partial.ok()) << n << ": " << partial.error().detail;
    EXPECT_FALSE(partial->has_value()) << "complete after only " << n << " bytes";
  }
  auto whole = read_spamd_answer(answer, false);
  ASSERT_TRUE(whole.ok() && whole->has_value());
  EXPECT_TRUE((*whole)->spam);
  EXPECT_EQ((*whole)->symbols.size(), 3u);
}

TEST(SpamdScanAnswer, RejectsMalformedAnswers) {
  const char* bad[] = {
      "",                                                          // closed without a word
      "SPAMD/1.1 0 EX_OK\r\n",                                     // no header block
      "SPAMD/1.1 0 EX_OK\r\n\r\n",                                 // no Spam header
      "SPAMD/1.1 0 EX_OK\r\nSpam: Maybe ; 1 / 5\r\n\r\n",          // not True/False
      "SPAMD/1.1 0 EX_OK\r\nSpam: True ; x / 5\r\n\r\n",           // score not a number
      "SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1e999 / 5\r\n\r\n",       // not fixed notation
      "SPAMD/1.1 0 EX_OK\r\nSpam: True 1 5\r\n\r\n",               // no ; and /
      "SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1 / 5\r\nSpam: False ; 1 / 5\r\n\r\n",  // two verdicts
      "SPAMD/1.1 0 EX_OK\r\nContent-length: 2\r\nSpam: True ; 1 / 5\r\n\r\nABC",  // more than announced
      "SPAMD/1.1 0 EX_OK\r\nContent-length: 9\r\nSpam: True ; 1 / 5\r\n\r\nABC",  // less, then closed
      "SPAMD/1.1 0 EX_OK\r\nContent-length: -1\r\nSpam: True ; 1 / 5\r\n\r\n",   // negative length
      "SPAMD/1.1 0 EX_OK\r\nno colon\r\n\r\n",                     // not a header line
      "SPAMD/1.1 x EX_OK\r\n",                                     // code not a number
      "SPAMD/1.1 99999 EX_OK\r\n",                                 // code too long
      "RSPAMD/3.0 0 OK\r\n",                                       // another protocol
  };
  for (const char* answer : bad) {
    auto read = read_spamd_answer(answer, true);
    EXPECT_FALSE(read.ok()) << "accepted: " << answer;
  }
}

// ---------------------------------------------------------------- rspamd

std::string http_json(std::string_view json, int status = 200, std::string_view reason = "OK") {
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
         "\r\nConnection: close\r\nServer: rspamd/3.4\r\nContent-Length: " + std::to_string(json.size()) +
         "\r\nContent-Type: application/json\r\n\r\n" + std::string(json);
}

constexpr std::string_view kRspamdGtube =
    R"({"is_skipped":true,"score":15.0,"required_score":15.0,"action":"reject","symbols":{"GTUBE":{"name":"GTUBE","score":0.0,"metric_score":0.0}},"messages":{"smtp_message":"Gtube pattern"},"message-id":"undef","time_real":0.232583})";
constexpr std::string_view kRspamdHam =
    R"({"is_skipped":false,"score":-0.1,"required_score":15.0,"action":"no action","symbols":{"MIME_GOOD":{"name":"MIME_GOOD","score":-0.1},"ARC_NA":{"name":"ARC_NA","score":0.0}},"messages":{}})";

TEST(RspamdScan, SendsEnvelopeHeadersAndReadsSpam) {
  FakeDaemon daemon(answering(kHttpComplete, http_json(kRspamdGtube)));
  const TestMessage message;
  const ScanVerdict verdict = scan(settings_for(ScannerKind::kRspamd, daemon.address()), message);

  EXPECT_EQ(verdict.kind, ScanVerdictKind::kSpam) << verdict.detail;
  EXPECT_EQ(verdict.score, 15.0);
  EXPECT_EQ(verdict.required, 15.0);
  EXPECT_EQ(verdict.symbols, std::vector<std::string>{"GTUBE"});
  const std::string want = "POST /checkv2 HTTP/1.1\r\nHost: " + daemon.label() +
                           "\r\nConnection: close\r\nContent-Length: " + std::to_string(message.wire().size()) +
                           "\r\nIP: 192.0.2.10\r\nHelo: client.example.test\r\nFrom: alice@example.test\r\n"
                           "Rcpt: bob@example.test\r\nRcpt: carol@example.test\r\nQueue-Id: 4AB12C\r\n"
                           "User: alice\r\n\r\n" +
                           message.wire();
  ASSERT_EQ(daemon.requests().size(), 1u);
  EXPECT_EQ(daemon.requests()[0], want);
}

TEST(RspamdScan, LocalSubmissionNullSenderAndHostileHelo) {
  FakeDaemon daemon(answering(kHttpComplete, http_json(kRspamdHam)));
  ScanEnvelope envelope;
  envelope.helo = "evil\r\nX-Injected: yes";
  envelope.recipients = {"bob@example.test"};
  const ScanVerdict verdict = scan(settings_for(ScannerKind::kRspamd, daemon.address()), {}, envelope, "");
  EXPECT_EQ(verdict.kind, ScanVerdictKind::kClean) << verdict.detail;
  EXPECT_EQ(verdict.required, 15.0);
  // The heaviest symbol first.
  EXPECT_EQ(verdict.symbols, (std::vector<std::string>{"ARC_NA", "MIME_GOOD"}));
  const std::string request = daemon.requests()[0];
  const std::string head = request.substr(0, request.find("\r\n\r\n") + 2);
  EXPECT_EQ(head.find("\r\nIP:"), std::string::npos) << head;
  EXPECT_EQ(head.find("\r\nUser:"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nFrom: <>\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nHelo: evilX-Injected: yes\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("\r\nX-Injected"), std::string::npos) << head;
}

TEST(RspamdScan, ThresholdOverridesAction) {
  struct Case {
    const char* account;
    ScanVerdictKind want;
  } cases[] = {
      {"alice", ScanVerdictKind::kSpam},  // 6.0 >= the scanner's 5.0, although rspamd says no action
      {"bob", ScanVerdictKind::kClean},   // bob's 8.0
  };
  for (const Case& c : cases) {
    FakeDaemon daemon(answering(
        kHttpComplete, http_json(R"({"score":6.0,"required_score":15.0,"action":"no action","symbols":{}})")));
    ScannerSettings settings = settings_for(ScannerKind::kRspamd, daemon.address());
    settings.threshold = 5.0;
    settings.account_thresholds = {{"bob", 8.0}};
    const ScanVerdict verdict = scan(settings, {}, test_envelope(), c.account);
    EXPECT_EQ(verdict.kind, c.want) << c.account << ": " << verdict.detail;
    EXPECT_EQ(verdict.required, std::string(c.account) == "bob" ? 8.0 : 5.0);
  }
}

TEST(RspamdScan, HttpErrorIsFailure) {
  FakeDaemon daemon(answering(kHttpComplete, http_json(R"({"error":"invalid command","error_domain":"protocol-error"})",
                                                       500, "invalid command")));
  const ScanVerdict verdict = scan(settings_for(ScannerKind::kRspamd, daemon.address()));
  EXPECT_EQ(verdict.kind, ScanVerdictKind::kFailure);
  EXPECT_EQ(verdict.detail, "rspamd " + daemon.label() + ": HTTP 500 invalid command: invalid command");
}

TEST(RspamdScan, ReadsChunkedAnswer) {
  const std::string json(kRspamdGtube);
  const std::string answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
                             [&] {
                               char size[16];
                               std::snprintf(size, sizeof size, "%zx", json.size() - 10);
                               return std::string(size);
                             }() +
                             "\r\n" + json.substr(0, json.size() - 10) + "\r\na;ext=1\r\n" + json.substr(json.size() - 10) +
                             "\r\n0\r\n\r\n";
  FakeDaemon daemon(answering(kHttpComplete, answer));
  const ScanVerdict verdict = scan(settings_for(ScannerKind::kRspamd, daemon.address()));
  EXPECT_EQ(verdict.kind, ScanVerdictKind::kSpam) << verdict.detail;
}

TEST(RspamdScan, GarbledAnswersAreFailures) {
  struct Case {
    std::string answer;
    const char* want;  // in the detail
  } cases[] = {
      {http_json("{\"score\": 1,"), "bad JSON answer"},
      {http_json(R"({"score":1,"required_score":15,"action":"explode"})"), "unknown action \"explode\""},
      {http_json(R"({"score":"1","required_score":15,"action":"reject"})"), "lacks action, score"},
      {http_json(R"({"score":1,"required_score":15,"action":"reject","symbols":[]})"), "symbols is not an object"},
      {"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}", "unsupported Content-Encoding"},
      {"SPAMD/1.1 0 EX_OK\r\n\r\n", "unexpected answer"},
      {"", "connection closed without an answer"},
  };
  for (const Case& c : cases) {
    FakeDaemon daemon(answering(kHttpComplete, c.answer));
    const ScanVerdict verdict = scan(settings_for(ScannerKind::kRspamd, daemon.address()));
    EXPECT_EQ(verdict.kind, ScanVerdictKind::kFailure) << c.answer;
    EXPECT_NE(verdict.detail.find(c.want), std::string::npos) << "got " << verdict.detail << ", want " << c.want;
  }
}

TEST(RspamdScan, EndlessAnswerHitsTheCap) {
  FakeDaemon daemon([](int fd, const std::atomic<bool>&) {
    std::string got = read_request(fd, kHttpComplete);
    send_text(fd, "HTTP/1.1 200 OK\r\n\r\n{\"symbols\":{");
    flood(fd, std::string(16384, ' '));
    return got;
  });
  const ScanVerdict verdict = scan(settings_for(ScannerKind::kRspamd, daemon.address()));
  EXPECT_EQ(verdict.kind, ScanVerdictKind::kFailure);
  EXPECT_NE(verdict.detail.find("answer longer than 1048576 bytes"), std::string::npos) << verdict.detail;
}

TEST(RspamdScan, SilenceTimesOut) {
  FakeDaemon daemon([](int fd, const std::atomic<bool>& stopping) { return hang(fd, stopping); });
  ScannerSettings settings = settings_for(ScannerKind::kRspamd, daemon.address());
  settings.timeout = 250ms;
  const auto began = Clock::now();
  const ScanVerdict verdict = scan(settings);
  EXPECT_LT(Clock::now() - began, 650ms);
  EXPECT_EQ(verdict.kind, ScanVerdictKind::kFailure);
  EXPECT_EQ(verdict.detail, "rspamd " + daemon.label() + ": timed out after 250 ms waiting for the answer");
}

TEST(RspamdScan, OversizeMessageIsSkipped) {
  FakeDaemon daemon(answering(kHttpComplete, http_json(kRspamdGtube)));
  TestMessage message;
  message.body = big_body(3 * 1024 * 1024);
  ScannerSettings settings = settings_for(ScannerKind::kRspamd, daemon.address());
  settings.max_size = 1024 * 1024;
  const ScanVerdict verdict = scan(settings, message);
  EXPECT_EQ(verdict.kind, ScanVerdictKind::kSkipped);
  EXPECT_NE(verdict.detail.find("message larger than max_size 1048576 bytes"), std::string::npos);
  EXPECT_EQ(daemon.connections(), 0);
}

TEST(RspamdScanVerdict, CapsAndSanitisesSymbols) {
  std::string json = R"({"score":20,"required_score":15,"action":"add header","symbols":{)";
  json += R"("BAD NAME\u0001\u00e9":{"score":9},)";
  json += "\"" + std::string(100, 'L') + "\":{\"score\":8},";
  for (int i = 0; i < 80; ++i) json += "\"S" + std::to_string(i) + "\":{\"score\":0.5},";
  json += R"("LAST":{"score":0}}})";
  auto parsed = parse_json(json);
  ASSERT_TRUE(parsed.ok()) << parsed.error().detail;
  const ScanVerdict verdict = rspamd_verdict(*parsed, std::nullopt, "rspamd x");
  EXPECT_EQ(verdict.kind, ScanVerdictKind::kSpam);
  ASSERT_EQ(verdict.symbols.size(), kMaxScanSymbols);
  EXPECT_EQ(verdict.symbols[0], "BAD_NAME___");  // U+00E9 is two bytes
  EXPECT_EQ(verdict.symbols[1], std::string(kMaxScanSymbolBytes, 'L'));
}

TEST(RspamdScanVerdict, ActionsMapToVerdicts) {
  struct Case {
    const char* action;
    ScanVerdictKind want;
  } cases[] = {
      {"reject", ScanVerdictKind::kSpam},       {"add header", ScanVerdictKind::kSpam},
      {"rewrite subject", ScanVerdictKind::kSpam}, {"no action", ScanVerdictKind::kClean},
      {"greylist", ScanVerdictKind::kClean},    {"soft reject", ScanVerdictKind::kClean},
      {"Reject", ScanVerdictKind::kFailure},    // actions are lowercase; anything else is not understood
  };
  for (const Case& c : cases) {
    auto parsed = parse_json(std::string(R"({"score":1,"required_score":15,"action":")") + c.action + "\"}");
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(rspamd_verdict(*parsed, std::nullopt, "r").kind, c.want) << c.action;
  }
}

TEST(RspamdScanHttp, ReadsByteByByte) {
  const std::string answer = http_json(kRspamdHam);
  for (std::size_t n = 0; n < answer.size(); ++n) {
    auto partial = read_http_answer(std::string_view(answer).substr(0, n), false);
    ASSERT_TRUE(partial.ok()) << n << ": " << partial.error().detail;
    EXPECT_FALSE(partial->has_value()) << "complete after only " << n << " bytes";
  }
  auto whole = read_http_answer(answer, false);
  ASSERT_TRUE(whole.ok() && whole->has_value());
  EXPECT_EQ((*whole)->status, 200);
  EXPECT_EQ((*whole)->body, kRspamdHam);
}

TEST(RspamdScanHttp, RejectsMalformedAnswers) {
  const char* bad[] = {
      "HTTP/1.1 200 OK\r\n",                                                  // truncated head
      "HTTP/2 200 OK\r\n\r\n",                                                // not HTTP/1.x
      "HTTP/1.1 2x0 OK\r\n\r\n",                                              // bad status
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc",                      // short body at eof
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nabc",                      // extra bytes
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",  // disagreeing lengths
      "HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n",                  // over the cap
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",                   // unknown coding
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",          // bad chunk size
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n",   // chunk overruns
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",  // both
      "HTTP/1.1 200 OK\r\n folded: no\r\n\r\n",                               // obsolete folding
  };
  for (const char* answer : bad) {
    auto read = read_http_answer(answer, true);
    EXPECT_FALSE(read.ok()) << "accepted: " << answer;
  }
}

// Found by tests/fuzz/scan_answer_fuzz.cc: the cap held only while the head
// was still incomplete, so one read could bring a larger head through.
TEST(RspamdScanHttp, HeadCapHoldsHoweverTheAnswerArrives) {
  const std::string answer = "HTTP/1.1 200 OK\r\nX-Filler: " + std::string(70 * 1024, 'x') +
                             "\r\nContent-Length: 2\r\n\r\n{}";
  auto whole = read_http_answer(answer, true);
  ASSERT_FALSE(whole.ok());
  EXPECT_EQ(whole.error().detail, "HTTP header too long");
  auto piece = read_http_answer(std::string_view(answer).substr(0, 66 * 1024), false);
  ASSERT_FALSE(piece.ok());
  EXPECT_EQ(piece.error().detail, "HTTP header too long");
}

// ---------------------------------------------------------------- clamd

TEST(ClamdScan, StreamsChunksAndReadsClean) {
  FakeDaemon daemon(answering(kClamdComplete, std::string("stream: OK\0", 11)));
  TestMessage message;
  message.body = big_body(300 * 1024);  // several chunks
  const ScanVerdict verdict = scan(settings_for(ScannerKind::kClamd, daemon.address()), message);
  EXPECT_EQ(verdict.kind, ScanVerdictKind::kClean) << verdict.detail;

  const std::string request = daemon.requests()[0];
  ASSERT_GE(request.size(), 10u);
  EXPECT_EQ(request.substr(0, 10), std::string("zINSTREAM\0", 10));
  std::size_t largest = 0;
  const auto stream = clamd_stream(request, &largest);
  ASSERT_TRUE(stream.has_value());
  EXPECT_TRUE(*stream == message.wire()) << "reassembled " << stream->size() << " bytes, want " << message.wire().size();
  EXPECT_LE(largest, kClamdChunkBytes);
  EXPECT_GT(largest, 0u);
}

TEST(ClamdScan, FoundIsSpamWithVirusName) {
  FakeDaemon daemon(answering(kClamdComplete, std::string("stream: Sluice.Test.EICAR.UNOFFICIAL FOUND\0", 43)));
  const ScanVerdict verdict = scan(settings_for(ScannerKind::kClamd, daemon.address()));
  EXPECT_EQ(verdict.kind, ScanVerdictKind::kSpam) << verdict.detail;
  EXPECT_EQ(verdict.virus, "Sluice.Test.EICAR.UNOFFICIAL");
}

TEST(ClamdScan, ErrorAndGarbageAreFailures) {
  struct Case {
    std::string answer;
    std::string want;
  } cases[] = {
      {std::string("INSTREAM size limit exceeded. ERROR\0", 36), "error: INSTREAM size limit exceeded."},
      {std::string("stream: Can't allocate memory ERROR\0", 36), "error: Can't allocate memory"},
      {std::string("stream: MAYBE\0", 14), "unexpected answer \"stream: MAYBE\""},
      {std::string("UNKNOWN COMMAND\n", 16), "unexpected answer \"UNKNOWN COMMAND\""},
      {"", "connection closed without an answer"},
  };
  for (const Case& c : cases) {
    FakeDaemon daemon(answering(kClamdComplete, c.answer));
    const ScanVerdict verdict = scan(settings_for(ScannerKind::kClamd, daemon.address()));
    EXPECT_EQ(verdict.kind, ScanVerdictKind::kFailure);
    EXPECT_EQ(verdict.detail, "clamd " + daemon.label() + ": " + c.want);
  }
}

TEST(ClamdScan, RefusedAtStartIsReportedAtFinish) {
  ScannerSettings settings = settings_for(ScannerKind::kClamd, refused_address());
  ScanSessionPtr session = make_scan_session(settings, {}, "");
  TestMessage message;
  message.body = big_body(600 * 1024);
  feed(*session, message);  // must neither throw nor block
  ScanSession* sessions[] = {session.get()};
  const ScanVerdict verdict = finish_scans(sessions, "")[0];
  EXPECT_EQ(verdict.kind, ScanVerdictKind::kFailure);
  EXPECT_NE(verdict.detail.find("connect: Connection refused"), std::string::npos) << verdict.detail;
}

TEST(ClamdScan, OversizeStopsTheStream) {
  // Reads until the client closes (no half-close comes from clamd's client).
  FakeDaemon daemon([](int fd, const std::atomic<bool>&) { return read_request(fd, [](std::string_view) { return false; }); });
  TestMessage message;
  message.body = big_body(1024 * 1024);
  ScannerSettings settings = settings_for(ScannerKind::kClamd, daemon.address());
  settings.max_size = 100 * 1024;
  const ScanVerdict verdict = scan(settings, message);
  EXPECT_EQ(verdict.kind, ScanVerdictKind::kSkipped);
  EXPECT_EQ(verdict.detail, "clamd " + daemon.label() + ": message larger than max_size 102400 bytes");
  const std::string received = daemon.requests()[0];
  EXPECT_LE(received.size(), 100u * 1024 + 64);  // what was sent before max_size, not the message
  EXPECT_FALSE(clamd_stream(received).has_value()) << "the stream must not look complete";
}

TEST(ClamdScan, DaemonNotReadingFailsWithinTimeout) {
  // Accepts and then never reads: the client's socket buffers fill up.
  FakeDaemon daemon([](int, const std::atomic<bool>& stopping) {
    const auto until = Clock::now() + 5000ms;
    while (!stopping && Clock::now() < until) std::this_thread::sleep_for(10ms);
    return std::string();
  });
  daemon.set_receive_buffer(4096);
  ScannerSettings settings = settings_for(ScannerKind::kClamd, daemon.address());
  settings.timeout = 300ms;
  settings.max_size = 64 * 1024 * 1024;
  ScanSessionPtr session = make_scan_session(settings, {}, "");
  const std::string chunk = big_body(65535).substr(0, 65535);
  const auto began = Clock::now();
  for (int i = 0; i < 512; ++i) session->body(chunk);  // 32 MiB: more than any socket buffers
  const auto streaming = Clock::now() - began;
  ScanSession* sessions[] = {session.get()};
  const ScanVerdict verdict = finish_scans(sessions, "")[0];
  EXPECT_EQ(verdict.kind, ScanVerdictKind::kFailure);
  EXPECT_NE(verdict.detail.find("could not stream the message within 300 ms"), std::string::npos) << verdict.detail;
  EXPECT_GE(streaming, 300ms);
  EXPECT_LT(streaming, 900ms);
}

TEST(ClamdScan, SilenceAtFinishTimesOut) {
  FakeDaemon daemon([](int fd, const std::atomic<bool>& stopping) { return hang(fd, stopping); });
  ScannerSettings settings = settings_for(ScannerKind::kClamd, daemon.address());
  settings.timeout = 200ms;
  const ScanVerdict verdict = scan(settings);
  EXPECT_EQ(verdict.kind, ScanVerdictKind::kFailure);
  EXPECT_EQ(verdict.detail, "clamd " + daemon.label() + ": timed out after 200 ms waiting for the answer");
}

TEST(ClamdScan, WorksOverUnixSocket) {
  FakeDaemon daemon(answering(kClamdComplete, std::string("stream: OK\0", 11)), /*on_unix_socket=*/true);
  const ScanVerdict verdict = scan(settings_for(ScannerKind::kClamd, daemon.address()));
  EXPECT_EQ(verdict.kind, ScanVerdictKind::kClean) << verdict.detail;
}

TEST(ClamdScanAnswer, ReadsUntilNul) {
  const std::string answer("stream: Eicar FOUND\0", 20);
  for (std::size_t n = 0; n + 1 < answer.size(); ++n) {
    auto partial = read_clamd_answer(std::string_view(answer).substr(0, n), false);
    ASSERT_TRUE(partial.ok());
    EXPECT_FALSE(partial->has_value()) << n;
  }
  auto whole = read_clamd_answer(answer, false);
  ASSERT_TRUE(whole.ok() && whole->has_value());
  EXPECT_EQ((*whole)->kind, ClamdAnswer::Kind::kFound);
  EXPECT_EQ((*whole)->text, "Eicar");
}

TEST(ClamdScanAnswer, SanitisesVirusName) {
  ClamdAnswer answer;
  answer.kind = ClamdAnswer::Kind::kFound;
  answer.text = "Evil<script>\x01" + std::string(300, 'x');
  const ScanVerdict verdict = clamd_verdict(answer, "clamd x");
  EXPECT_EQ(verdict.virus.size(), kMaxVirusNameBytes);
  EXPECT_EQ(verdict.virus.substr(0, 13), "Evil_script__");
}

TEST(ClamdScanChunk, FramesWithBigEndianLength) {
  EXPECT_EQ(clamd_chunk("abc"), std::string("\0\0\0\3abc", 7));
  EXPECT_EQ(clamd_chunk(std::string(0x10203, 'x')).substr(0, 4), std::string("\0\1\2\3", 4));
}

// ---------------------------------------------------------------- JSON

TEST(JsonReader, ReadsEveryKind) {
  auto value = parse_json(
      R"( {"s":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00","n":-12.5e1,"z":0,"t":true,"f":false,"x":null,"a":[1,[],{}],"o":{"k":"v"}} )");
  ASSERT_TRUE(value.ok()) << value.error().detail;
  EXPECT_EQ(*value->find("s")->string(), "a\"b\\c/d\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(value->find("n")->number(), -125.0);
  EXPECT_EQ(value->find("z")->number(), 0.0);
  EXPECT_EQ(value->find("t")->boolean(), true);
  EXPECT_EQ(value->find("f")->boolean(), false);
  EXPECT_TRUE(value->find("x")->is_null());
  ASSERT_NE(value->find("a")->array(), nullptr);
  EXPECT_EQ(value->find("a")->array()->size(), 3u);
  EXPECT_EQ(*value->find("o")->find("k")->string(), "v");
  EXPECT_EQ(value->find("missing"), nullptr);
  EXPECT_EQ(value->find("s")->number(), std::nullopt);  // wrong kind: nothing, not a crash
  EXPECT_EQ(value->find("n")->find("k"), nullptr);
  EXPECT_EQ(parse_json("\"\xe2\x82\xac\"")->string()->size(), 3u);  // raw UTF-8 passes
}

TEST(JsonReader, RejectsInvalidInput) {
  const char* bad[] = {
      "",                     // nothing
      "{",                    // unterminated object
      "[1,]",                 // trailing comma
      "{\"a\":1,}",           // trailing comma
      "{'a':1}",              // single quotes
      "{a:1}",                // bare key
      "01",                   // leading zero
      "1.",                   // no fraction digits
      ".5",                   // no integer part
      "1e",                   // no exponent digits
      "+1",                   // plus sign
      "-",                    // lone minus
      "NaN",                  // not JSON
      "Infinity",             // not JSON
      "tru",                  // short literal
      "\"a",                  // unterminated string
      "\"\x01\"",             // raw control character
      "\"\\x41\"",            // unknown escape
      "\"\\u12\"",            // short \u
      "\"\\u12G4\"",          // bad hex
      "\"\\ud800\"",          // lone high surrogate
      "\"\\udc00\"",          // lone low surrogate
      "\"\\ud800\\u0041\"",   // high surrogate then not a low one
      "\"\xff\"",             // invalid UTF-8
      "\"\xc0\xaf\"",         // overlong UTF-8
      "\"\xed\xa0\x80\"",     // encoded surrogate
      "\"\xe2\x82\"",         // truncated UTF-8
      "{\"a\":1,\"a\":2}",    // duplicate key
      "1 2",                  // two values
      "[1] x",                // trailing garbage
      "1e999",                // overflows a double
      "-1e999",               // overflows a double
      "1e-999",               // underflows a double
  };
  for (const char* text : bad) {
    auto value = parse_json(text);
    EXPECT_FALSE(value.ok()) << "accepted: " << text;
  }
}

TEST(JsonReader, BoundsDepthSizeAndCount) {
  const auto nested = [](int depth) { return std::string(static_cast<std::size_t>(depth), '[') + std::string(static_cast<std::size_t>(depth), ']'); };
  EXPECT_TRUE(parse_json(nested(32)).ok());
  auto too_deep = parse_json(nested(33));
  ASSERT_FALSE(too_deep.ok());
  EXPECT_EQ(too_deep.error().code, Errc::kTooLong);
  EXPECT_FALSE(parse_json(nested(100000)).ok());  // no stack overflow

  std::string objects;
  for (int i = 0; i < 40; ++i) objects += "{\"a\":";
  objects += "1" + std::string(40, '}');
  EXPECT_FALSE(parse_json(objects).ok());

  const std::string huge = "\"" + std::string(1024 * 1024, 'a') + "\"";
  auto too_long = parse_json(huge);
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.error().code, Errc::kTooLong);

  std::string many = "[";
  for (int i = 0; i < 1000; ++i) many += "0,";
  many += "0]";
  EXPECT_TRUE(parse_json(many).ok());
  JsonLimits limits;
  limits.max_values = 500;
  EXPECT_FALSE(parse_json(many, limits).ok());
}

TEST(JsonReader, ReadsLargeAndSmallNumbers) {
  auto big = parse_json("123456789012345678901234567890");
  ASSERT_TRUE(big.ok());
  EXPECT_DOUBLE_EQ(*big->number(), 1.2345678901234568e29);
  auto exponent = parse_json("[1E+2, 2.5e-3, -0]");
  ASSERT_TRUE(exponent.ok());
  EXPECT_EQ((*exponent->array())[0].number(), 100.0);
  EXPECT_EQ((*exponent->array())[1].number(), 0.0025);
  EXPECT_TRUE(std::signbit(*(*exponent->array())[2].number()));
}

}  // namespace
}  // namespace sluice::milter
