#include "milter/clamd_client.h"

#include <algorithm>
#include <cstdint>
#include <new>
#include <utility>

#include "common/log.h"
#include "milter/scan_socket.h"

namespace sluice::milter {
namespace {

constexpr std::string_view kCommand{"zINSTREAM\0", 10};
constexpr std::string_view kStreamPrefix = "stream: ";
constexpr std::string_view kFound = " FOUND";
constexpr std::string_view kError = " ERROR";

class ClamdSession final : public SocketScanSession {
 public:
  explicit ClamdSession(const ScannerSettings& settings)
      : SocketScanSession(settings, "clamd", kClamdAnswerCap), drain_left_(settings.timeout) {
    if (!open_connection()) return;  // settled: reported at finish
    connection().queue(std::string(kCommand));
    push();
  }

 private:
  void add(std::string_view bytes) override {
    if (settled()) return;
    size_ += bytes.size();
    if (size_ > max_size()) {
      // Closing the connection tells clamd to drop what it has.
      std::string().swap(staged_);
      skip_oversized();
      return;
    }
    try {
      staged_.append(bytes);
      while (staged_.size() >= kClamdChunkBytes) {
        connection().queue(clamd_chunk(std::string_view(staged_).substr(0, kClamdChunkBytes)));
        staged_.erase(0, kClamdChunkBytes);
      }
    } catch (const std::bad_alloc&) {
      std::string().swap(staged_);
      fail("out of memory staging the message");
      return;
    }
    push();
  }

  // Writes what the socket takes; blocks only while more than
  // kClamdMaxUnsent is waiting, within what is left of the drain budget.
  void push() {
    if (Status sent = connection().flush(); !sent) {
      fail_with_answer(sent.error());
      return;
    }
    if (connection().unsent() <= kClamdMaxUnsent) return;
    const Clock::time_point began = Clock::now();
    Status drained = connection().drain(kClamdMaxUnsent, began + drain_left_);
    drain_left_ -= std::min<Clock::duration>(drain_left_, Clock::now() - began);
    if (drained) return;
    if (drained.error().code == Errc::kTimeout) {
      fail("could not stream the message within " + std::to_string(timeout().count()) + " ms (" +
           std::string(connection().phase()) + ")");
    } else {
      fail_with_answer(drained.error());
    }
  }

  void prepare_finish(std::string_view /*queue_id*/) override {
    if (!staged_.empty()) connection().queue(clamd_chunk(staged_));
    std::string().swap(staged_);
    connection().queue(std::string(4, '\0'));  // the zero-length chunk ends the stream
  }

  std::optional<ScanVerdict> interpret(std::string_view answer, bool eof) override {
    auto read = read_clamd_answer(answer, eof);
    if (!read) return scan_failure(label(), read.error().detail);
    if (!*read) return std::nullopt;
    return clamd_verdict(**read, label());
  }

  std::string staged_;  // less than one chunk, waiting for more bytes
  std::size_t size_ = 0;
  Clock::duration drain_left_;
};

}  // namespace

std::string clamd_chunk(std::string_view data) {
  const auto length = static_cast<std::uint32_t>(data.size());
  std::string chunk;
  chunk.reserve(4 + data.size());
  chunk += static_cast<char>((length >> 24) & 0xff);
  chunk += static_cast<char>((length >> 16) & 0xff);
  chunk += static_cast<char>((length >> 8) & 0xff);
  chunk += static_cast<char>(length & 0xff);
  chunk.append(data);
  return chunk;
}

Result<std::optional<ClamdAnswer>> read_clamd_answer(std::string_view bytes, bool eof) {
  const auto nul = bytes.find('\0');
  if (nul == std::string_view::npos && !eof) return std::optional<ClamdAnswer>();
  std::string_view line = bytes.substr(0, nul);
  while (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (line.empty()) {
    return make_error(Errc::kProtocol, bytes.empty() ? "connection closed without an answer" : "empty answer");
  }
  const auto unexpected = [&] {
    return make_error(Errc::kProtocol, "unexpected answer \"" + log_escape(line, 120) + "\"");
  };
  ClamdAnswer answer;
  if (line.size() > kError.size() && line.ends_with(kError)) {
    answer.kind = ClamdAnswer::Kind::kError;
    answer.text = line.substr(0, line.size() - kError.size());
    if (answer.text.starts_with(kStreamPrefix)) answer.text.erase(0, kStreamPrefix.size());
    return std::optional<ClamdAnswer>(std::move(answer));
  }
  if (!line.starts_with(kStreamPrefix)) return unexpected();
  const std::string_view rest = line.substr(kStreamPrefix.size());
  if (rest == "OK") {
    answer.kind = ClamdAnswer::Kind::kClean;
    return std::optional<ClamdAnswer>(std::move(answer));
  }
  if (rest.size() > kFound.size() && rest.ends_with(kFound)) {
    answer.kind = ClamdAnswer::Kind::kFound;
    answer.text = rest.substr(0, rest.size() - kFound.size());
    return std::optional<ClamdAnswer>(std::move(answer));
  }
  return unexpected();
}

ScanVerdict clamd_verdict(const ClamdAnswer& answer, std::string_view label) {
  ScanVerdict verdict;
  switch (answer.kind) {
    case ClamdAnswer::Kind::kClean:
      verdict.kind = ScanVerdictKind::kClean;
      return verdict;
    case ClamdAnswer::Kind::kFound:
      verdict.kind = ScanVerdictKind::kSpam;
      verdict.virus = sanitize_virus_name(answer.text);
      return verdict;
    case ClamdAnswer::Kind::kError:
      break;
  }
  return scan_failure(label, "error: " + answer.text);
}

ScanSessionPtr make_clamd_session(const ScannerSettings& settings) {
  return std::make_unique<ClamdSession>(settings);
}

}  // namespace sluice::milter
