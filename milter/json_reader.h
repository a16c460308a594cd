// A small strict JSON reader (RFC 8259) for answers from scanner daemons
// (rspamd's /checkv2), which are hostile input: every size is capped (input
// bytes, nesting depth, number of values), strings must be valid UTF-8, and
// anything outside the grammar is an Error (kInvalidInput; kTooLong for a
// cap), never a crash or an exception. Pure: bytes in, a tree out.
//
// Chosen over a library so the milter gains no dependency for one answer
// format. Numbers are doubles; a number that does not fit one (1e999) is an
// error rather than infinity. Duplicate object keys are an error, so a
// reader can never be fooled by which of two "score" members it saw.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/result.h"

namespace sluice::milter {

class JsonValue {
 public:
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  using Array = std::vector<JsonValue>;
  using Member = std::pair<std::string, JsonValue>;
  using Object = std::vector<Member>;  // in input order

  JsonValue() = default;  // null
  explicit JsonValue(bool value) : v_(value) {}
  explicit JsonValue(double value) : v_(value) {}
  explicit JsonValue(std::string value) : v_(std::move(value)) {}
  explicit JsonValue(Array value) : v_(std::move(value)) {}
  explicit JsonValue(Object value) : v_(std::move(value)) {}

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is_null() const { return kind() == Kind::kNull; }
  // Each accessor yields nothing (nullopt, nullptr) when the value is of
  // another kind, so hostile input cannot trip a type assumption.
  std::optional<bool> boolean() const;
  std::optional<double> number() const;
  const std::string* string() const { return std::get_if<std::string>(&v_); }
  const Array* array() const { return std::get_if<Array>(&v_); }
  const Object* object() const { return std::get_if<Object>(&v_); }
  // The member |key| of an object; nullptr if absent or not an object.
  const JsonValue* find(std::string_view key) const;

 private:
  // The order matches Kind.
  std::variant<std::monostate, bool, double, std::string, Array, Object> v_;
};

struct JsonLimits {
  std::size_t max_bytes = 1024 * 1024;
  int max_depth = 32;             // arrays and objects nested in each other
  std::size_t max_values = 100'000;  // bounds the tree's memory for 1 MiB of "[0,0,..."
};

// The single JSON value in |text| (surrounding whitespace allowed).
Result<JsonValue> parse_json(std::string_view text, const JsonLimits& limits = {});

}  // namespace sluice::milter
