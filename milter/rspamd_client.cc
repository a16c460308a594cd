#include "milter/rspamd_client.h"

#include <algorithm>
#include <charconv>
#include <utility>
#include <vector>

#include "common/ascii.h"
#include "common/log.h"
#include "milter/scan_socket.h"

namespace sluice::milter {
namespace {

constexpr std::string_view kCrlf = "\r\n";
constexpr std::size_t kMaxHttpHead = 64 * 1024;
constexpr std::size_t kMaxEnvelopeValue = 998;  // RFC 5322 line length

// A request header value from envelope data the client chose (HELO, MAIL
// FROM): control bytes would end the header early.
std::string header_value(std::string_view raw) {
  std::string out;
  for (const char c : raw.substr(0, kMaxEnvelopeValue)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte != 0x7f) out += c;
  }
  return std::string(trim_blanks(out));
}

void add_header(std::string& head, std::string_view name, std::string_view raw) {
  const std::string value = header_value(raw);
  if (value.empty()) return;
  head.append(name).append(": ").append(value).append(kCrlf);
}

// RFC 9112 section 7.1: chunk-size [chunk-ext] CRLF chunk-data CRLF ... 0 CRLF trailers CRLF.
Result<std::optional<std::string>> decode_chunked(std::string_view bytes) {
  std::string body;
  std::size_t pos = 0;
  for (;;) {
    const auto eol = bytes.find(kCrlf, pos);
    if (eol == std::string_view::npos) return std::optional<std::string>();
    std::string_view size_text = bytes.substr(pos, eol - pos);
    size_text = trim_blanks(size_text.substr(0, size_text.find(';')));
    std::size_t size = 0;
    const auto [end, ec] = std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
    if (size_text.empty() || ec != std::errc() || end != size_text.data() + size_text.size() ||
        size > kRspamdAnswerCap) {
      return garbled_answer("bad chunk size", bytes.substr(pos, eol - pos));
    }
    pos = eol + 2;
    if (size == 0) {
      if (bytes.substr(pos, 2) == kCrlf) return std::optional<std::string>(std::move(body));
      if (bytes.find("\r\n\r\n", pos) == std::string_view::npos) return std::optional<std::string>();
      return std::optional<std::string>(std::move(body));  // trailer fields ignored
    }
    if (bytes.size() - pos < size + 2) return std::optional<std::string>();
    if (bytes.substr(pos + size, 2) != kCrlf) return garbled_answer("chunk not followed by CRLF", bytes.substr(pos + size, 20));
    body.append(bytes.substr(pos, size));
    pos += size + 2;
  }
}

bool spam_action(std::string_view action) {
  return action == "reject" || action == "add header" || action == "rewrite subject" || action == "quarantine" ||
         action == "discard";
}

bool clean_action(std::string_view action) {
  return action == "no action" || action == "greylist" || action == "soft reject";
}

class RspamdSession final : public BufferedScanSession {
 public:
  RspamdSession(const ScannerSettings& settings, ScanEnvelope envelope, const std::string& account)
      : BufferedScanSession(settings, "rspamd", kRspamdAnswerCap, HalfClose::kNo),
        envelope_(std::move(envelope)),
        threshold_(settings.threshold_for(account)) {}

 private:
  std::string request_head(std::size_t content_length, std::string_view queue_id) override {
    const ListenAddress& where = *address();
    const std::string host = where.kind == ListenAddress::Kind::kUnix ? "localhost" : scan_address_label(where);
    return rspamd_request_head(envelope_, host, content_length, queue_id);
  }

  std::optional<ScanVerdict> interpret(std::string_view answer, bool eof) override {
    auto read = read_http_answer(answer, eof);
    if (!read) return scan_failure(label(), read.error().detail);
    if (!*read) return std::nullopt;
    const HttpAnswer& http = **read;
    auto json = parse_json(http.body);
    if (http.status != 200) {
      // rspamd explains its errors as {"error": "..."}.
      std::string why = "HTTP " + std::to_string(http.status);
      if (!http.reason.empty()) why += " " + http.reason;
      if (json) {
        if (const JsonValue* error = json->find("error"); error != nullptr && error->string() != nullptr) {
          why += ": " + *error->string();
        }
      }
      return scan_failure(label(), why);
    }
    if (!json) return scan_failure(label(), "bad JSON answer: " + json.error().detail);
    return rspamd_verdict(*json, threshold_, label());
  }

  ScanEnvelope envelope_;
  std::optional<double> threshold_;
};

}  // namespace

std::string rspamd_request_head(const ScanEnvelope& envelope, std::string_view host, std::size_t content_length,
                                std::string_view queue_id) {
  std::string head = "POST /checkv2 HTTP/1.1\r\n";
  add_header(head, "Host", host);
  head.append("Connection: close\r\n");
  head.append("Content-Length: ").append(std::to_string(content_length)).append(kCrlf);
  add_header(head, "IP", envelope.client_address);
  add_header(head, "Helo", envelope.helo);
  const std::string from = header_value(envelope.mail_from);
  head.append("From: ").append(from.empty() ? "<>" : from).append(kCrlf);
  for (const std::string& recipient : envelope.recipients) add_header(head, "Rcpt", recipient);
  add_header(head, "Queue-Id", queue_id);
  add_header(head, "User", envelope.auth_authen);
  head.append(kCrlf);
  return head;
}

Result<std::optional<HttpAnswer>> read_http_answer(std::string_view bytes, bool eof) {
  const auto need_more = [&](std::string_view why) { return incomplete_answer<HttpAnswer>(bytes, eof, why); };
  const auto head_end = bytes.find("\r\n\r\n");
  // The same cap whether the head arrived in pieces or in one read.
  if ((head_end == std::string_view::npos ? bytes.size() : head_end) > kMaxHttpHead) {
    return make_error(Errc::kProtocol, "HTTP header too long");
  }
  if (head_end == std::string_view::npos) return need_more("truncated answer");
  // RFC 9112 section 4: HTTP/1.1 SP 3DIGIT SP [reason]
  const auto line_end = bytes.find(kCrlf);
  const std::string_view line = bytes.substr(0, line_end);
  if (line.size() < 12 || !(line.starts_with("HTTP/1.1 ") || line.starts_with("HTTP/1.0 "))) {
    return garbled_answer("unexpected answer", line);
  }
  HttpAnswer answer;
  const std::string_view code = line.substr(9, 3);
  for (const char c : code) {
    if (c < '0' || c > '9') return garbled_answer("bad HTTP status line", line);
  }
  if (line.size() > 12 && line[12] != ' ') return garbled_answer("bad HTTP status line", line);
  answer.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  answer.reason = line.size() > 13 ? std::string(line.substr(13)) : std::string();

  std::optional<std::size_t> content_length;
  bool chunked = false;
  for (std::size_t pos = line_end + 2; pos < head_end + 2;) {
    const auto eol = bytes.find(kCrlf, pos);
    const std::string_view field = bytes.substr(pos, eol - pos);
    pos = eol + 2;
    const auto colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0 || field.front() == ' ' || field.front() == '\t' ||
        field.substr(0, colon).find_first_of(" \t") != std::string_view::npos) {
      return garbled_answer("bad HTTP header line", field);
    }
    const std::string_view name = field.substr(0, colon);
    const std::string_view value = trim_blanks(field.substr(colon + 1));
    if (ascii_iequals(name, "Content-Length")) {
      std::size_t length = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
      if (value.empty() || ec != std::errc() || end != value.data() + value.size() || length > kRspamdAnswerCap ||
          (content_length && *content_length != length)) {
        return garbled_answer("bad Content-Length", field);
      }
      content_length = length;
    } else if (ascii_iequals(name, "Transfer-Encoding")) {
      if (!ascii_iequals(value, "chunked")) return garbled_answer("unsupported Transfer-Encoding", field);
      chunked = true;
    } else if (ascii_iequals(name, "Content-Encoding")) {
      if (!ascii_iequals(value, "identity")) return garbled_answer("unsupported Content-Encoding", field);
    }
  }
  if (chunked && content_length) return make_error(Errc::kProtocol, "both Content-Length and chunked");

  const std::string_view body = bytes.substr(head_end + 4);
  if (chunked) {
    auto decoded = decode_chunked(body);
    if (!decoded) return std::move(decoded).error();
    if (!*decoded) return need_more("truncated chunked answer");
    answer.body = std::move(**decoded);
  } else if (content_length) {
    if (body.size() < *content_length) return need_more("truncated answer");
    if (body.size() > *content_length) return garbled_answer("bytes after the answer", body.substr(*content_length));
    answer.body = std::string(body);
  } else {
    if (!eof) return std::optional<HttpAnswer>();  // the answer ends with the connection
    answer.body = std::string(body);
  }
  return std::optional<HttpAnswer>(std::move(answer));
}

ScanVerdict rspamd_verdict(const JsonValue& answer, std::optional<double> threshold, std::string_view label) {
  const JsonValue* action = answer.find("action");
  const JsonValue* score = answer.find("score");
  const JsonValue* required = answer.find("required_score");
  if (action == nullptr || action->string() == nullptr || score == nullptr || !score->number() ||
      required == nullptr || !required->number()) {
    return scan_failure(label, "answer lacks action, score or required_score");
  }
  const std::string& action_name = *action->string();
  ScanVerdict verdict;
  verdict.score = *score->number();
  if (threshold) {
    verdict.required = *threshold;
    verdict.kind = *verdict.score >= *threshold ? ScanVerdictKind::kSpam : ScanVerdictKind::kClean;
  } else if (spam_action(action_name)) {
    verdict.required = *required->number();
    verdict.kind = ScanVerdictKind::kSpam;
  } else if (clean_action(action_name)) {
    verdict.required = *required->number();
    verdict.kind = ScanVerdictKind::kClean;
  } else {
    return scan_failure(label, "unknown action \"" + action_name + "\"");
  }
  if (const JsonValue* symbols = answer.find("symbols"); symbols != nullptr) {
    const JsonValue::Object* members = symbols->object();
    if (members == nullptr) return scan_failure(label, "symbols is not an object");
    // The heaviest first: when there are more than the cap, the reasons
    // for the score are the ones kept.
    std::vector<std::pair<double, std::string_view>> ranked;
    ranked.reserve(members->size());
    for (const auto& [name, detail] : *members) {
      const JsonValue* weight = detail.find("score");
      ranked.emplace_back(weight != nullptr && weight->number() ? *weight->number() : 0.0, name);
    }
    std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    for (const auto& entry : ranked) add_scan_symbol(verdict, entry.second);
  }
  return verdict;
}

ScanSessionPtr make_rspamd_session(const ScannerSettings& settings, const ScanEnvelope& envelope,
                                   const std::string& account) {
  return std::make_unique<RspamdSession>(settings, envelope, account);
}

}  // namespace sluice::milter
