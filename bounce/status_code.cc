#include "bounce/status_code.h"

namespace sluice::bounce {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Digits at |pos| (1 to |max|); returns the count read, 0 if none or too many.
std::size_t read_number(std::string_view text, std::size_t pos, std::size_t max, int& value) {
  std::size_t n = 0;
  value = 0;
  while (pos + n < text.size() && is_digit(text[pos + n])) {
    if (++n > max) return 0;
    value = value * 10 + (text[pos + n - 1] - '0');
  }
  return n;
}

// An enhanced status code starting exactly at |pos|; |end| gets where it stops.
std::optional<EnhancedStatus> status_at(std::string_view text, std::size_t pos, std::size_t& end) {
  EnhancedStatus s;
  std::size_t n = read_number(text, pos, 1, s.klass);
  if (n == 0 || (s.klass != 2 && s.klass != 4 && s.klass != 5)) return std::nullopt;
  pos += n;
  if (pos >= text.size() || text[pos] != '.') return std::nullopt;
  n = read_number(text, ++pos, 3, s.subject);
  if (n == 0 || s.subject > 7) return std::nullopt;
  pos += n;
  if (pos >= text.size() || text[pos] != '.') return std::nullopt;
  n = read_number(text, ++pos, 3, s.detail);
  if (n == 0) return std::nullopt;
  end = pos + n;
  return s;
}

}  // namespace

std::string EnhancedStatus::str() const {
  return std::to_string(klass) + "." + std::to_string(subject) + "." + std::to_string(detail);
}

std::optional<EnhancedStatus> parse_enhanced_status(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  std::size_t end = 0;
  auto status = status_at(text, 0, end);
  if (!status || end != text.size()) return std::nullopt;
  return status;
}

std::optional<EnhancedStatus> find_enhanced_status(std::string_view text, std::size_t* at) {
  for (std::size_t i = 0; i + 5 <= text.size(); ++i) {
    const char c = text[i];
    if (c != '2' && c != '4' && c != '5') continue;
    if (i > 0 && (is_digit(text[i - 1]) || text[i - 1] == '.')) continue;
    std::size_t end = 0;
    auto status = status_at(text, i, end);
    if (!status) continue;
    // "5.1.1.2" or "4.2.1.9" is an address or version, not a status.
    if (end < text.size() && text[end] == '.' && end + 1 < text.size() && is_digit(text[end + 1])) continue;
    if (at != nullptr) *at = i;
    return status;
  }
  return std::nullopt;
}

std::optional<int> find_smtp_code(std::string_view text, std::size_t* at) {
  for (std::size_t i = 0; i + 3 <= text.size(); ++i) {
    const char c = text[i];
    if (c != '4' && c != '5') continue;
    if (i > 0) {
      const char before = text[i - 1];
      if (before != ' ' && before != '\t' && before != '\n' && before != ':' && before != '(' && before != '\r' &&
          before != '\'' && before != '"') {
        continue;
      }
    }
    if (!is_digit(text[i + 1]) || !is_digit(text[i + 2])) continue;
    if (i + 3 < text.size()) {
      const char after = text[i + 3];
      if (after != ' ' && after != '-' && after != '\r' && after != '\n') continue;
    }
    if (at != nullptr) *at = i;
    return (c - '0') * 100 + (text[i + 1] - '0') * 10 + (text[i + 2] - '0');
  }
  return std::nullopt;
}

}  // namespace sluice::bounce
