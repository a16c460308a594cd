// Parsers for the value types a sluice.conf key can have. Pure functions:
// each returns the value or an Error whose detail is the reason a human reads
// after "file:line: " (the config loader adds the location).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sluice {

// "yes"/"no", "true"/"false", "on"/"off", "1"/"0".
Result<bool> parse_bool_value(std::string_view text);

// A decimal integer in [min, max]; no sign for non-negative ranges, no spaces.
Result<std::int64_t> parse_int_value(std::string_view text, std::int64_t min, std::int64_t max);

// Bytes: "512", "64K", "1M", "2G" (powers of 1024), in [min, max].
Result<std::int64_t> parse_size_value(std::string_view text, std::int64_t min, std::int64_t max);

// "250ms", "2s", "5m", "1h", "1d"; a bare number is seconds. Must lie in
// [min, max].
Result<std::chrono::milliseconds> parse_duration_value(std::string_view text,
                                                       std::chrono::milliseconds min,
                                                       std::chrono::milliseconds max);

// Renders a duration the way parse_duration_value reads it ("500ms", "2s").
std::string format_duration(std::chrono::milliseconds value);

// Closest candidate within edit distance 2, or empty: for "did you mean" hints.
std::string_view closest_match(std::string_view word, const std::vector<std::string_view>& candidates);
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace sluice
