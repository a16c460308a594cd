#include "unsubscribe/one_click_body.h"

#include <optional>
#include <string>

#include "common/ascii.h"

namespace sluice::unsubscribe {
namespace {

constexpr std::string_view kName = "List-Unsubscribe";
constexpr std::string_view kValue = "One-Click";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  const char l = ascii_lower(c);
  if (l >= 'a' && l <= 'f') return l - 'a' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding (WHATWG URL 5.1): '+' is a
// space, %XX a byte; a broken escape stays as it is.
std::string form_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
               hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.front() == '\r' ||
                           text.front() == '\n')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

bool urlencoded_has_pair(std::string_view body) {
  while (true) {
    const std::size_t amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (eq != std::string_view::npos) {
      // Providers send the exact pair; case and a trailing newline are
      // forgiven, as a hand-written form or curl may differ there.
      if (ascii_iequals(form_decode(pair.substr(0, eq)), kName) &&
          ascii_iequals(trim(form_decode(pair.substr(eq + 1))), kValue)) {
        return true;
      }
    }
    if (amp == std::string_view::npos) return false;
    body.remove_prefix(amp + 1);
  }
}

// The value of parameter |name| in a header value such as
// `multipart/form-data; boundary="xyz"` or `form-data; name="a"`.
std::optional<std::string> header_parameter(std::string_view value, std::string_view name) {
  std::size_t pos = value.find(';');
  while (pos != std::string_view::npos) {
    value.remove_prefix(pos + 1);
    const std::size_t eq = value.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    const std::string_view key = trim(value.substr(0, eq));
    std::string_view rest = trim(value.substr(eq + 1));
    std::string parsed;
    if (!rest.empty() && rest.front() == '"') {
      const std::size_t close = rest.find('"', 1);
      if (close == std::string_view::npos) return std::nullopt;
      parsed = rest.substr(1, close - 1);
      pos = rest.find(';', close);
      value = rest;
    } else {
      pos = rest.find(';');
      parsed = trim(rest.substr(0, pos));
      value = rest;
    }
    if (ascii_iequals(key, name)) return parsed;
  }
  return std::nullopt;
}

// RFC 7578 / RFC 2046 5.1: parts between "--boundary" lines, each with
// headers, a blank line and its content.
bool multipart_has_pair(std::string_view content_type, std::string_view body) {
  const std::optional<std::string> boundary = header_parameter(content_type, "boundary");
  if (!boundary || boundary->empty() || boundary->size() > 70) return false;
  const std::string delimiter = "--" + *boundary;
  std::size_t pos = body.find(delimiter);
  while (pos != std::string_view::npos) {
    std::string_view part = body.substr(pos + delimiter.size());
    if (part.starts_with("--")) return false;  // the closing delimiter
    const std::size_t next = part.find("\r\n" + delimiter);
    const std::size_t next_lf = part.find("\n" + delimiter);
    const std::size_t end = std::min(next, next_lf);
    const std::string_view content_all = part.substr(0, end);
    std::size_t blank = content_all.find("\r\n\r\n");
    std::size_t skip = 4;
    if (blank == std::string_view::npos) {
      blank = content_all.find("\n\n");
      skip = 2;
    }
    if (blank != std::string_view::npos) {
      const std::string_view headers = content_all.substr(0, blank);
      const std::string_view content = content_all.substr(blank + skip);
      std::size_t line_start = 0;
      while (line_start < headers.size()) {
        const std::size_t lf = headers.find('\n', line_start);
        const std::string_view line = trim(headers.substr(line_start, lf - line_start));
        if (line.size() > 20 && ascii_iequals(line.substr(0, 20), "content-disposition:")) {
          const std::optional<std::string> name = header_parameter(line, "name");
          if (name && ascii_iequals(*name, kName) && ascii_iequals(trim(content), kValue)) return true;
        }
        if (lf == std::string_view::npos) break;
        line_start = lf + 1;
      }
    }
    if (end == std::string_view::npos) return false;
    pos = body.find(delimiter, static_cast<std::size_t>(part.data() - body.data()) + end);
  }
  return false;
}

}  // namespace

bool has_one_click_pair(std::string_view content_type, std::string_view body) {
  const std::string_view type = trim(content_type.substr(0, content_type.find(';')));
  if (ascii_iequals(type, "multipart/form-data")) return multipart_has_pair(content_type, body);
  return urlencoded_has_pair(body);
}

}  // namespace sluice::unsubscribe
