#include "common/config_values.h"

#include <algorithm>
#include <charconv>
#include <utility>
#include <vector>

#include "common/log.h"

namespace sluice {
namespace {

Error bad_value(std::string_view text, std::string_view want) {
  return make_error(Errc::kConfig,
                    "invalid value \"" + log_escape(text, 64) + "\": want " + std::string(want));
}

// "250ms" -> {250, "ms"}: 1 to 12 leading digits, then the rest; number -1
// when there are no digits or more than 12.
std::pair<std::int64_t, std::string_view> number_and_unit(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 12) return {-1, {}};
  std::int64_t number = 0;
  std::from_chars(text.data(), text.data() + digits, number);
  return {number, text.substr(digits)};
}

}  // namespace

Result<bool> parse_bool_value(std::string_view text) {
  if (text == "yes" || text == "true" || text == "on" || text == "1") return true;
  if (text == "no" || text == "false" || text == "off" || text == "0") return false;
  return bad_value(text, "yes or no");
}

Result<std::int64_t> parse_int_value(std::string_view text, std::int64_t min, std::int64_t max) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  const std::string range = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  if (text.empty() || ec != std::errc{} || ptr != end || text[0] == '+') return bad_value(text, range);
  if (value < min || value > max) return bad_value(text, range);
  return value;
}

Result<std::int64_t> parse_size_value(std::string_view text, std::int64_t min, std::int64_t max) {
  const std::string want = "a size from " + std::to_string(min) + " to " + std::to_string(max) +
                           " bytes (a number, optionally with K, M or G)";
  const auto [number, unit] = number_and_unit(text);
  if (number < 0) return bad_value(text, want);
  std::int64_t scale = 0;
  if (unit.empty()) scale = 1;
  else if (unit == "K" || unit == "k") scale = std::int64_t{1} << 10;
  else if (unit == "M" || unit == "m") scale = std::int64_t{1} << 20;
  else if (unit == "G" || unit == "g") scale = std::int64_t{1} << 30;
  else return bad_value(text, want);
  if (number > max / scale) return bad_value(text, want);  // also keeps number * scale from overflowing
  const std::int64_t value = number * scale;
  if (value < min) return bad_value(text, want);
  return value;
}

Result<std::chrono::milliseconds> parse_duration_value(std::string_view text,
                                                       std::chrono::milliseconds min,
                                                       std::chrono::milliseconds max) {
  const std::string want =
      "a duration from " + format_duration(min) + " to " + format_duration(max) +
      " (a number with unit ms, s, m, h or d)";
  const auto [number, unit] = number_and_unit(text);
  if (number < 0) return bad_value(text, want);
  std::int64_t scale = 0;
  if (unit == "ms") scale = 1;
  else if (unit.empty() || unit == "s") scale = 1000;
  else if (unit == "m") scale = 60 * 1000;
  else if (unit == "h") scale = 3600 * 1000;
  else if (unit == "d") scale = 86400 * 1000;
  else return bad_value(text, want);
  const std::chrono::milliseconds value{number * scale};
  if (value < min || value > max) return bad_value(text, want);
  return value;
}

std::string format_duration(std::chrono::milliseconds value) {
  const std::int64_t ms = value.count();
  if (ms != 0 && ms % 86400000 == 0) return std::to_string(ms / 86400000) + "d";
  if (ms != 0 && ms % 3600000 == 0) return std::to_string(ms / 3600000) + "h";
  if (ms != 0 && ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string_view closest_match(std::string_view word, const std::vector<std::string_view>& candidates) {
  std::string_view best;
  std::size_t best_distance = 3;  // only suggest near misses
  for (std::string_view candidate : candidates) {
    const std::size_t d = edit_distance(word, candidate);
    if (d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

}  // namespace sluice
