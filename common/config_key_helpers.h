// Value checks shared by the config_keys*.cc tables: each stores a parsed
// value or returns the reason it cannot (the parser adds file and line).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/config_keys.h"
#include "common/config_values.h"
#include "common/result.h"

namespace sluice::config_detail {

Error config_error(std::string reason);
Status store_duration(std::chrono::milliseconds& out, std::string_view value, std::chrono::milliseconds min,
                      std::chrono::milliseconds max);
Status store_bool(bool& out, std::string_view value);
// A relative path is taken from the config file's directory.
std::string resolve_path(std::string_view path, const ConfigContext& context);
Status read_password_file(std::string& out, std::string_view value, const ConfigContext& context);
// Letters, digits and : . _ - (key prefixes, rule and scanner names).
bool is_key_prefix_char(char c);
// A name for "[quota NAME]" or "[scanner NAME]": 1 to 64 of letters, digits
// and . _ - (it becomes part of Redis keys and log lines). The parser itself
// refuses a name used twice.
bool is_section_name(std::string_view name);
// Comma-separated list; blanks around items ignored; empty text: no items.
std::vector<std::string_view> split_list(std::string_view text);
Status store_quota_limits(Config& c, QuotaMetric metric, std::string_view value);
bool is_header_name(std::string_view name);
bool is_domain_name(std::string_view name);
Status store_header_names(std::vector<std::string>& out, std::string_view value);
std::string resolve_table_path(std::string_view value, const ConfigContext& context);

template <class Int>
Status store_int(Int& out, std::string_view value, std::int64_t min, std::int64_t max) {
  auto parsed = parse_int_value(value, min, max);
  if (!parsed) return parsed.error();
  out = static_cast<Int>(*parsed);
  return {};
}

}  // namespace sluice::config_detail
