#include "milter/spamd_client.h"

#include <charconv>
#include <cmath>

#include "common/ascii.h"
#include "common/log.h"
#include "milter/scan_socket.h"

namespace sluice::milter {
namespace {

constexpr std::string_view kCrlf = "\r\n";

std::optional<double> parse_score(std::string_view text) {
  text = trim_blanks(text);
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, std::chars_format::fixed);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

std::optional<std::size_t> parse_count(std::string_view text) {
  text = trim_blanks(text);
  std::size_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// "True ; 1000.0 / 5.0" (spamd writes True/False; old ones Yes/No).
Status parse_spam_header(std::string_view value, SpamdAnswer& answer) {
  const auto semicolon = value.find(';');
  const auto slash = value.find('/');
  if (semicolon == std::string_view::npos || slash == std::string_view::npos || slash < semicolon) {
    return garbled_answer("bad Spam header", value);
  }
  const std::string_view flag = trim_blanks(value.substr(0, semicolon));
  if (ascii_iequals(flag, "true") || ascii_iequals(flag, "yes")) {
    answer.spam = true;
  } else if (ascii_iequals(flag, "false") || ascii_iequals(flag, "no")) {
    answer.spam = false;
  } else {
    return garbled_answer("bad Spam header", value);
  }
  const auto score = parse_score(value.substr(semicolon + 1, slash - semicolon - 1));
  const auto required = parse_score(value.substr(slash + 1));
  if (!score || !required) return garbled_answer("bad Spam header", value);
  answer.score = *score;
  answer.required = *required;
  return {};
}

std::string_view sysexits_name(int code) {
  switch (code) {
    case 64: return "EX_USAGE";
    case 65: return "EX_DATAERR";
    case 66: return "EX_NOINPUT";
    case 67: return "EX_NOUSER";
    case 68: return "EX_NOHOST";
    case 69: return "EX_UNAVAILABLE";
    case 70: return "EX_SOFTWARE";
    case 71: return "EX_OSERR";
    case 72: return "EX_OSFILE";
    case 73: return "EX_CANTCREAT";
    case 74: return "EX_IOERR";
    case 75: return "EX_TEMPFAIL";
    case 76: return "EX_PROTOCOL";
    case 77: return "EX_NOPERM";
    case 78: return "EX_CONFIG";
    default: return "";
  }
}

// A SASL login as spamd's User header: one token of printable ASCII.
bool plain_token(std::string_view text) {
  if (text.empty() || text.size() > 256) return false;
  for (const char c : text) {
    if (c <= ' ' || c >= 0x7f) return false;
  }
  return true;
}

// spamc half-closes after the request too; spamd needs only Content-length.
class SpamdSession final : public BufferedScanSession {
 public:
  SpamdSession(const ScannerSettings& settings, const std::string& account)
      : BufferedScanSession(settings, "spamd", kSpamdAnswerCap, HalfClose::kAfterRequest),
        user_(account),
        threshold_(settings.threshold_for(account)) {}

 private:
  std::string request_head(std::size_t content_length, std::string_view /*queue_id*/) override {
    return spamd_request_head(content_length, user_);
  }

  std::optional<ScanVerdict> interpret(std::string_view answer, bool eof) override {
    auto read = read_spamd_answer(answer, eof);
    if (!read) return scan_failure(label(), read.error().detail);
    if (!*read) return std::nullopt;
    return spamd_verdict(**read, threshold_, label());
  }

  std::string user_;
  std::optional<double> threshold_;
};

}  // namespace

std::string spamd_request_head(std::size_t content_length, std::string_view user) {
  std::string head = "SYMBOLS SPAMC/1.5\r\nContent-length: " + std::to_string(content_length) + "\r\n";
  if (plain_token(user)) head.append("User: ").append(user).append(kCrlf);
  head.append(kCrlf);
  return head;
}

Result<std::optional<SpamdAnswer>> read_spamd_answer(std::string_view bytes, bool eof) {
  const auto need_more = [&](std::string_view why) { return incomplete_answer<SpamdAnswer>(bytes, eof, why); };
  // SPAMD/1.1 0 EX_OK
  const auto line_end = bytes.find(kCrlf);
  if (line_end == std::string_view::npos) return need_more("truncated answer");
  const std::string_view line = bytes.substr(0, line_end);
  if (!line.starts_with("SPAMD/")) return garbled_answer("unexpected answer", line);
  const auto code_start = line.find(' ');
  if (code_start == std::string_view::npos) return garbled_answer("unexpected answer", line);
  const auto code_end = line.find(' ', code_start + 1);
  const std::string_view code_text = line.substr(code_start + 1, code_end == std::string_view::npos
                                                                     ? std::string_view::npos
                                                                     : code_end - code_start - 1);
  const auto code = parse_count(code_text);
  if (!code || code_text.size() > 3) return garbled_answer("unexpected answer", line);
  SpamdAnswer answer;
  answer.code = static_cast<int>(*code);
  answer.message = code_end == std::string_view::npos ? "" : std::string(line.substr(code_end + 1));
  // An error is one line, then spamd closes.
  if (answer.code != 0) return std::optional<SpamdAnswer>(std::move(answer));

  const auto head_end = bytes.find("\r\n\r\n", line_end);
  if (head_end == std::string_view::npos) return need_more("truncated answer");
  std::optional<std::size_t> content_length;
  bool has_spam = false;
  for (std::size_t pos = line_end + 2; pos < head_end + 2;) {
    const auto eol = bytes.find(kCrlf, pos);
    const std::string_view field = bytes.substr(pos, eol - pos);
    pos = eol + 2;
    const auto colon = field.find(':');
    if (colon == std::string_view::npos) return garbled_answer("bad header line", field);
    const std::string_view name = field.substr(0, colon);
    const std::string_view value = field.substr(colon + 1);
    if (ascii_iequals(name, "Spam")) {
      if (has_spam) return garbled_answer("two Spam headers", field);
      if (Status parsed = parse_spam_header(value, answer); !parsed) return parsed.error();
      has_spam = true;
    } else if (ascii_iequals(name, "Content-length")) {
      content_length = parse_count(value);
      if (!content_length || *content_length > kSpamdAnswerCap) return garbled_answer("bad Content-length", field);
    }
  }
  if (!has_spam) return garbled_answer("no Spam header in the answer", bytes.substr(0, head_end));

  std::string_view body = bytes.substr(head_end + 4);
  if (content_length) {
    if (body.size() < *content_length) return need_more("truncated answer");
    if (body.size() > *content_length) return garbled_answer("bytes after the answer", body.substr(*content_length));
  } else if (!eof) {
    return std::optional<SpamdAnswer>();  // without a length the answer ends with the connection
  }
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.remove_suffix(1);
  while (!body.empty()) {
    const auto comma = body.find(',');
    const std::string_view symbol = trim_blanks(body.substr(0, comma));
    if (!symbol.empty() && answer.symbols.size() < kMaxScanSymbols) answer.symbols.emplace_back(symbol);
    if (comma == std::string_view::npos) break;
    body.remove_prefix(comma + 1);
  }
  return std::optional<SpamdAnswer>(std::move(answer));
}

ScanVerdict spamd_verdict(const SpamdAnswer& answer, std::optional<double> threshold, std::string_view label) {
  if (answer.code != 0) {
    const std::string_view name = sysexits_name(answer.code);
    return scan_failure(label, "error " + std::to_string(answer.code) + (name.empty() ? "" : " ") + std::string(name) +
                                   ": " + answer.message);
  }
  ScanVerdict verdict;
  verdict.score = answer.score;
  verdict.required = threshold ? *threshold : answer.required;
  const bool spam = threshold ? answer.score >= *threshold : answer.spam;
  verdict.kind = spam ? ScanVerdictKind::kSpam : ScanVerdictKind::kClean;
  for (const std::string& symbol : answer.symbols) add_scan_symbol(verdict, symbol);
  return verdict;
}

ScanSessionPtr make_spamd_session(const ScannerSettings& settings, const std::string& account) {
  return std::make_unique<SpamdSession>(settings, account);
}

}  // namespace sluice::milter
