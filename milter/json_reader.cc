#include "milter/json_reader.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <set>

namespace sluice::milter {

std::optional<bool> JsonValue::boolean() const {
  if (const bool* value = std::get_if<bool>(&v_)) return *value;
  return std::nullopt;
}

std::optional<double> JsonValue::number() const {
  if (const double* value = std::get_if<double>(&v_)) return *value;
  return std::nullopt;
}

const JsonValue* JsonValue::find(std::string_view key) const {
  const Object* members = object();
  if (members == nullptr) return nullptr;
  for (const Member& member : *members) {
    if (member.first == key) return &member.second;
  }
  return nullptr;
}

namespace {

class Parser {
 public:
  Parser(std::string_view text, const JsonLimits& limits) : text_(text), limits_(limits) {}

  Result<JsonValue> document() {
    skip_space();
    auto value = parse_value(0);
    if (!value) return value;
    skip_space();
    if (pos_ != text_.size()) return fail("trailing bytes after the value");
    return value;
  }

 private:
  Error fail(std::string_view why, Errc code = Errc::kInvalidInput) const {
    return make_error(code, "JSON at byte " + std::to_string(pos_) + ": " + std::string(why));
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }

  void skip_space() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
  }

  Result<JsonValue> parse_value(int depth) {
    if (++values_ > limits_.max_values) {
      return fail("more than " + std::to_string(limits_.max_values) + " values", Errc::kTooLong);
    }
    if (at_end()) return fail("unexpected end of input");
    switch (peek()) {
      case '{':
        return parse_object(depth + 1);
      case '[':
        return parse_array(depth + 1);
      case '"': {
        auto text = parse_string();
        if (!text) return std::move(text).error();
        return JsonValue(std::move(text).value());
      }
      case 't':
        return literal("true", JsonValue(true));
      case 'f':
        return literal("false", JsonValue(false));
      case 'n':
        return literal("null", JsonValue());
      default:
        return parse_number();
    }
  }

  Result<JsonValue> literal(std::string_view word, JsonValue value) {
    if (text_.substr(pos_, word.size()) != word) return fail("unknown literal");
    pos_ += word.size();
    return value;
  }

  Status enter(int depth) const {
    if (depth > limits_.max_depth) {
      return fail("nested deeper than " + std::to_string(limits_.max_depth), Errc::kTooLong);
    }
    return {};
  }

  Result<JsonValue> parse_array(int depth) {
    if (Status ok = enter(depth); !ok) return ok.error();
    ++pos_;  // [
    JsonValue::Array items;
    skip_space();
    if (!at_end() && peek() == ']') {
      ++pos_;
      return JsonValue(std::move(items));
    }
    for (;;) {
      skip_space();
      auto item = parse_value(depth);
      if (!item) return item;
      items.push_back(std::move(item).value());
      skip_space();
      if (at_end()) return fail("unterminated array");
      if (peek() == ']') {
        ++pos_;
        return JsonValue(std::move(items));
      }
      if (peek() != ',') return fail("want ',' or ']' in an array");
      ++pos_;
    }
  }

  Result<JsonValue> parse_object(int depth) {
    if (Status ok = enter(depth); !ok) return ok.error();
    ++pos_;  // {
    JsonValue::Object members;
    std::set<std::string, std::less<>> seen;
    skip_space();
    if (!at_end() && peek() == '}') {
      ++pos_;
      return JsonValue(std::move(members));
    }
    for (;;) {
      skip_space();
      if (at_end() || peek() != '"') return fail("want a string key in an object");
      auto key = parse_string();
      if (!key) return std::move(key).error();
      if (!seen.insert(*key).second) return fail("duplicate key in an object");
      skip_space();
      if (at_end() || peek() != ':') return fail("want ':' after an object key");
      ++pos_;
      skip_space();
      auto value = parse_value(depth);
      if (!value) return value;
      members.emplace_back(std::move(key).value(), std::move(value).value());
      skip_space();
      if (at_end()) return fail("unterminated object");
      if (peek() == '}') {
        ++pos_;
        return JsonValue(std::move(members));
      }
      if (peek() != ',') return fail("want ',' or '}' in an object");
      ++pos_;
    }
  }

  // RFC 8259 section 6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
  Result<JsonValue> parse_number() {
    const std::size_t start = pos_;
    const auto digits = [&] {
      const std::size_t first = pos_;
      while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
      return pos_ - first;
    };
    if (!at_end() && peek() == '-') ++pos_;
    if (at_end()) return fail("unexpected end of input");
    if (peek() == '0') {
      ++pos_;
    } else if (digits() == 0) {
      return fail("unexpected character");
    }
    if (!at_end() && peek() == '.') {
      ++pos_;
      if (digits() == 0) return fail("want digits after '.'");
    }
    if (!at_end() && (peek() == 'e' || peek() == 'E')) {
      ++pos_;
      if (!at_end() && (peek() == '+' || peek() == '-')) ++pos_;
      if (digits() == 0) return fail("want digits in the exponent");
    }
    double value = 0;
    const char* first = text_.data() + start;
    const char* last = text_.data() + pos_;
    const auto [end, ec] = std::from_chars(first, last, value);
    // Neither 1e999 nor 1e-999 has a faithful double: refuse both.
    if (ec == std::errc::result_out_of_range) return fail("number out of range");
    if (ec != std::errc() || end != last || !std::isfinite(value)) return fail("bad number");
    return JsonValue(value);
  }

  Result<unsigned> hex4() {
    if (text_.size() - pos_ < 4) return fail("short \\u escape");
    unsigned value = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_++];
      value <<= 4;
      if (c >= '0' && c <= '9') {
        value |= static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        value |= static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        value |= static_cast<unsigned>(c - 'A' + 10);
      } else {
        return fail("bad hex digit in \\u escape");
      }
    }
    return value;
  }

  static void put_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // Length of the valid UTF-8 sequence at pos_ (RFC 3629 section 4: no
  // overlong forms, no surrogates, nothing above U+10FFFF), or 0.
  std::size_t utf8_length() const {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text_[pos_ + i]); };
    const unsigned char b0 = byte(0);
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      n = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      n = 3;
      if (b0 == 0xE0) lo = 0xA0;
      if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      n = 4;
      if (b0 == 0xF0) lo = 0x90;
      if (b0 == 0xF4) hi = 0x8F;
    } else {
      return 0;
    }
    if (text_.size() - pos_ < n) return 0;
    if (byte(1) < lo || byte(1) > hi) return 0;
    for (std::size_t i = 2; i < n; ++i) {
      if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
    }
    return n;
  }

  Result<std::string> parse_string() {
    ++pos_;  // "
    std::string out;
    for (;;) {
      if (at_end()) return fail("unterminated string");
      const unsigned char c = static_cast<unsigned char>(peek());
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) return fail("control character in a string");
      if (c >= 0x80) {
        const std::size_t n = utf8_length();
        if (n == 0) return fail("invalid UTF-8 in a string");
        out.append(text_.substr(pos_, n));
        pos_ += n;
        continue;
      }
      ++pos_;
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (at_end()) return fail("unterminated escape");
      const char e = text_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          auto unit = hex4();
          if (!unit) return std::move(unit).error();
          std::uint32_t cp = *unit;
          if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("lone low surrogate in \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            // Section 7: a character above the BMP is a surrogate pair.
            if (text_.substr(pos_, 2) != "\\u") return fail("high surrogate without its low half");
            pos_ += 2;
            auto low = hex4();
            if (!low) return std::move(low).error();
            if (*low < 0xDC00 || *low > 0xDFFF) return fail("high surrogate without its low half");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (*low - 0xDC00);
          }
          put_utf8(out, cp);
          break;
        }
        default:
          return fail("unknown escape");
      }
    }
  }

  std::string_view text_;
  const JsonLimits& limits_;
  std::size_t pos_ = 0;
  std::size_t values_ = 0;
};

}  // namespace

Result<JsonValue> parse_json(std::string_view text, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return make_error(Errc::kTooLong, "JSON longer than " + std::to_string(limits.max_bytes) + " bytes");
  }
  return Parser(text, limits).document();
}

}  // namespace sluice::milter
