#include "common/quota_rule.h"

#include <algorithm>

#include "common/config_values.h"
#include "common/log.h"

namespace sluice {
namespace {

constexpr std::pair<std::string_view, QuotaKeyField> kKeyFields[] = {
    {"sasl_username", QuotaKeyField::kSaslUsername},
    {"sender", QuotaKeyField::kSender},
    {"sender_domain", QuotaKeyField::kSenderDomain},
    {"client_address", QuotaKeyField::kClientAddress},
};

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

Result<std::uint64_t> parse_count(QuotaMetric metric, std::string_view text) {
  std::uint64_t scale = 1;
  if (metric == QuotaMetric::kBytes && !text.empty()) {
    switch (text.back()) {
      case 'K': scale = 1ULL << 10; break;
      case 'M': scale = 1ULL << 20; break;
      case 'G': scale = 1ULL << 30; break;
      case 'T': scale = 1ULL << 40; break;
      default: break;
    }
    if (scale != 1) text.remove_suffix(1);
  }
  auto number = parse_int_value(text, 1, (1LL << 50));
  if (!number) return number.error();
  return static_cast<std::uint64_t>(*number) * scale;
}

}  // namespace

std::string_view quota_metric_name(QuotaMetric metric) {
  switch (metric) {
    case QuotaMetric::kMessages: return "messages";
    case QuotaMetric::kRecipients: return "recipients";
    case QuotaMetric::kBytes: return "bytes";
  }
  return "messages";
}

Result<QuotaMetric> parse_quota_metric(std::string_view name) {
  for (QuotaMetric m : {QuotaMetric::kMessages, QuotaMetric::kRecipients, QuotaMetric::kBytes}) {
    if (quota_metric_name(m) == name) return m;
  }
  return make_error(Errc::kInvalidInput,
                    "unknown quota metric \"" + log_escape(name, 32) + "\" (want messages, recipients or bytes)");
}

std::string_view quota_key_field_name(QuotaKeyField field) {
  for (const auto& [name, value] : kKeyFields) {
    if (value == field) return name;
  }
  return "sasl_username";
}

Result<std::vector<QuotaKeyField>> parse_quota_key(std::string_view text) {
  std::vector<QuotaKeyField> fields;
  while (true) {
    const auto plus = text.find('+');
    const std::string_view part = trim(text.substr(0, plus));
    const auto known = std::find_if(std::begin(kKeyFields), std::end(kKeyFields),
                                    [&](const auto& entry) { return entry.first == part; });
    if (known == std::end(kKeyFields)) {
      return make_error(Errc::kConfig, "unknown key field \"" + log_escape(part, 32) +
                                           "\" (want sasl_username, sender, sender_domain or client_address, "
                                           "joined with +)");
    }
    if (std::find(fields.begin(), fields.end(), known->second) != fields.end()) {
      return make_error(Errc::kConfig, "key field \"" + std::string(part) + "\" given twice");
    }
    fields.push_back(known->second);
    if (plus == std::string_view::npos) break;
    text = text.substr(plus + 1);
  }
  return fields;
}

Result<std::vector<QuotaLimit>> parse_quota_limits(QuotaMetric metric, std::string_view text) {
  std::vector<QuotaLimit> limits;
  while (true) {
    const auto comma = text.find(',');
    const std::string_view part = trim(text.substr(0, comma));
    const auto slash = part.find('/');
    if (slash == std::string_view::npos) {
      return make_error(Errc::kConfig, "limit \"" + log_escape(part, 32) + "\" is not COUNT/WINDOW (e.g. 100/1m)");
    }
    auto count = parse_count(metric, trim(part.substr(0, slash)));
    if (!count) return make_error(Errc::kConfig, count.error().detail);
    auto window = parse_duration_value(trim(part.substr(slash + 1)), std::chrono::seconds{1},
                                       std::chrono::hours{24 * 31});
    if (!window) return make_error(Errc::kConfig, window.error().detail);
    if (window->count() % 1000 != 0) return make_error(Errc::kConfig, "a quota window is whole seconds");
    const QuotaLimit limit{metric, *count, std::chrono::duration_cast<std::chrono::seconds>(*window)};
    if (std::any_of(limits.begin(), limits.end(), [&](const QuotaLimit& l) { return l.window == limit.window; })) {
      return make_error(Errc::kConfig, "window " + format_duration(*window) + " given twice");
    }
    limits.push_back(limit);
    if (comma == std::string_view::npos) break;
    text = text.substr(comma + 1);
  }
  return limits;
}

std::string quota_limit_label(const QuotaLimit& limit) {
  return std::string(quota_metric_name(limit.metric)) + "/" +
         format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(limit.window));
}

}  // namespace sluice
