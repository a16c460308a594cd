#include "ctl/quota_command.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "common/config_values.h"
#include "common/log.h"
#include "common/quota_store.h"
#include "common/redis_conn.h"
#include "ctl/command_util.h"
#include "ctl/suppress_command.h"

namespace sluice::ctl {
namespace {

constexpr const char* kUsage =
    "usage: sluicectl [-c FILE] quota ACTION KEY [ARGS]\n"
    "  show KEY                              limits, overrides, usage and reset time of each rule\n"
    "  set KEY METRIC/WINDOW=LIMIT [...]     override limits: messages/1d=50000 recipients/1h=2000\n"
    "  unset KEY METRIC/WINDOW [...]         remove overrides: back to the configured limit\n"
    "  reset KEY                             delete the current window's counters\n"
    "KEY names whose usage a rule counts, field=value joined with ',', e.g. sasl_username=alice or\n"
    "sender_domain=example.com,client_address=192.0.2.1 (in values, %, ',' and '=' as %25, %2C, %3D).\n"
    "METRIC is messages, recipients or bytes; WINDOW a duration (1m, 1h, 1d); bytes take K, M, G, T.\n";

std::string shape_of(const std::vector<QuotaKeyField>& fields) {
  std::string out;
  for (QuotaKeyField f : fields) {
    if (!out.empty()) out += '+';
    out += quota_key_field_name(f);
  }
  return out;
}

std::string setting_label(const QuotaSetting& s) { return quota_limit_label(QuotaLimit{s.metric, 0, s.window}); }

std::vector<const QuotaRule*> rules_with_shape(const std::vector<QuotaRule>& rules,
                                               const std::vector<QuotaKeyPart>& parts) {
  std::vector<const QuotaRule*> out;
  for (const QuotaRule& rule : rules) {
    if (quota_rule_has_shape(rule, parts)) out.push_back(&rule);
  }
  return out;
}

int run_show(const QuotaArgs& args, QuotaStore& store) {
  auto limits = store.show(args.key);
  if (!limits) return report(limits.error());
  std::vector<std::vector<std::string>> rows = {
      {"RULE", "LIMIT", "CONFIGURED", "OVERRIDE", "USED", "REMAINING", "RESETS"}};
  for (const QuotaLimitStatus& s : *limits) {
    const std::uint64_t limit = s.effective_limit();
    rows.push_back({s.rule, quota_limit_label(s.configured), std::to_string(s.configured.limit),
                    s.override_limit ? std::to_string(*s.override_limit) : std::string("-"), std::to_string(s.used),
                    std::to_string(s.used >= limit ? 0 : limit - s.used), format_iso8601_utc(s.reset_at_ms)});
  }
  std::vector<std::size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::printf("quota key %s\n", args.key.c_str());
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
  return kExitOk;
}

int run_set(const QuotaArgs& args, const std::vector<QuotaRule>& rules, QuotaStore& store) {
  if (Status ok = check_quota_settings(rules, args.key, args.settings); !ok) return report(ok.error());
  for (const QuotaSetting& s : args.settings) {
    if (Status set = store.set_override(args.key, s.metric, s.window, *s.limit); !set) return report(set.error());
    std::printf("set %s=%llu for %s\n", setting_label(s).c_str(), static_cast<unsigned long long>(*s.limit),
                args.key.c_str());
  }
  return kExitOk;
}

int run_unset(const QuotaArgs& args, QuotaStore& store) {
  int status = kExitOk;
  for (const QuotaSetting& s : args.settings) {
    auto cleared = store.clear_override(args.key, s.metric, s.window);
    if (!cleared) return report(cleared.error());
    if (*cleared) {
      std::printf("removed the %s override of %s\n", setting_label(s).c_str(), args.key.c_str());
    } else {
      std::fprintf(stderr, "sluicectl: %s has no %s override\n", args.key.c_str(), setting_label(s).c_str());
      status = kExitFailed;
    }
  }
  return status;
}

int run_reset(const QuotaArgs& args, QuotaStore& store) {
  auto deleted = store.reset(args.key);
  if (!deleted) return report(deleted.error());
  std::printf("deleted %llu counter%s of %s\n", static_cast<unsigned long long>(*deleted), *deleted == 1 ? "" : "s",
              args.key.c_str());
  return kExitOk;
}

}  // namespace

Result<QuotaSetting> parse_quota_setting(std::string_view text, bool with_limit) {
  QuotaSetting out;
  const auto slash = text.find('/');
  const auto eq = text.find('=');
  if (slash == std::string_view::npos || (with_limit && (eq == std::string_view::npos || eq < slash)) ||
      (!with_limit && eq != std::string_view::npos)) {
    return usage("\"" + log_escape(text, 64) + "\" is not " +
                 (with_limit ? "METRIC/WINDOW=LIMIT (messages/1d=50000)" : "METRIC/WINDOW (messages/1d)"));
  }
  auto metric = parse_quota_metric(text.substr(0, slash));
  if (!metric) return metric.error();
  out.metric = *metric;
  const std::string_view window_text = text.substr(slash + 1, with_limit ? eq - slash - 1 : std::string_view::npos);
  auto window = parse_duration_value(window_text, std::chrono::seconds{1}, std::chrono::hours{24 * 31});
  if (!window) return usage("window: " + window.error().detail);
  if (window->count() % 1000 != 0) return usage("a quota window is whole seconds");
  out.window = std::chrono::duration_cast<std::chrono::seconds>(*window);
  if (!with_limit) return out;

  std::string_view count = text.substr(eq + 1);
  std::uint64_t scale = 1;
  if (out.metric == QuotaMetric::kBytes && !count.empty()) {
    switch (count.back()) {
      case 'K': scale = 1ULL << 10; break;
      case 'M': scale = 1ULL << 20; break;
      case 'G': scale = 1ULL << 30; break;
      case 'T': scale = 1ULL << 40; break;
      default: break;
    }
    if (scale != 1) count.remove_suffix(1);
  }
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), value);
  if (count.empty() || ec != std::errc{} || end != count.data() + count.size() || value > kMaxQuotaLimit / scale) {
    return usage("limit \"" + log_escape(text.substr(eq + 1), 32) + "\" is not a count from 0 to " +
                 std::to_string(kMaxQuotaLimit) +
                 (out.metric == QuotaMetric::kBytes ? " (K, M, G, T allowed)" : ""));
  }
  out.limit = value * scale;
  return out;
}

Result<QuotaArgs> parse_quota_args(const std::vector<std::string>& args) {
  QuotaArgs out;
  if (args.empty()) return usage("quota: missing action (show, set, unset, reset)");
  if (wants_help(args)) return out;
  struct Spec {
    std::string_view name;
    QuotaCommandAction action;
  };
  constexpr Spec kSpecs[] = {{"show", QuotaCommandAction::kShow},
                             {"set", QuotaCommandAction::kSet},
                             {"unset", QuotaCommandAction::kUnset},
                             {"reset", QuotaCommandAction::kReset}};
  const auto* spec = std::find_if(std::begin(kSpecs), std::end(kSpecs), [&](const Spec& s) { return s.name == args[0]; });
  if (spec == std::end(kSpecs)) {
    return usage("quota: unknown action \"" + log_escape(args[0], 32) + "\" (want show, set, unset or reset)");
  }
  out.action = spec->action;
  const std::string name(spec->name);
  if (args.size() < 2) return usage("quota " + name + " needs a KEY (sasl_username=alice)");
  auto parts = parse_quota_key_string(args[1]);
  if (!parts) return usage("KEY: " + parts.error().detail);
  out.key = format_quota_key_string(*parts);

  const bool takes_settings = out.action == QuotaCommandAction::kSet || out.action == QuotaCommandAction::kUnset;
  if (!takes_settings && args.size() > 2) {
    return usage("quota " + name + " takes only a KEY, got \"" + log_escape(args[2], 64) + "\"");
  }
  if (takes_settings && args.size() < 3) {
    return usage("quota " + name + " needs at least one " +
                 (out.action == QuotaCommandAction::kSet ? "METRIC/WINDOW=LIMIT" : "METRIC/WINDOW"));
  }
  for (std::size_t i = 2; i < args.size(); ++i) {
    auto setting = parse_quota_setting(args[i], out.action == QuotaCommandAction::kSet);
    if (!setting) return setting.error();
    const bool repeated = std::any_of(out.settings.begin(), out.settings.end(), [&](const QuotaSetting& s) {
      return s.metric == setting->metric && s.window == setting->window;
    });
    if (repeated) return usage(setting_label(*setting) + " given twice");
    out.settings.push_back(*setting);
  }
  return out;
}

Status check_quota_settings(const std::vector<QuotaRule>& rules, std::string_view key,
                            const std::vector<QuotaSetting>& settings) {
  auto parts = parse_quota_key_string(key);
  if (!parts) return parts.error();
  const std::vector<const QuotaRule*> matching = rules_with_shape(rules, *parts);
  if (matching.empty()) {
    std::vector<QuotaKeyField> fields;
    for (const QuotaKeyPart& p : *parts) fields.push_back(p.field);
    std::string known;
    for (const QuotaRule& rule : rules) {
      known += known.empty() ? "" : ", ";
      known += rule.name + " on " + shape_of(rule.key);
    }
    return make_error(Errc::kNotFound, "no quota rule is keyed on " + shape_of(fields) +
                                           (known.empty() ? std::string(" (no [quota] rules are configured)")
                                                          : " (rules: " + known + ")"));
  }
  for (const QuotaSetting& s : settings) {
    std::vector<std::string> labels;
    bool found = false;
    for (const QuotaRule* rule : matching) {
      for (const QuotaLimit& limit : rule->limits) {
        if (limit.metric == s.metric && limit.window == s.window) found = true;
        const std::string label = quota_limit_label(limit);
        if (std::find(labels.begin(), labels.end(), label) == labels.end()) labels.push_back(label);
      }
    }
    if (!found) {
      std::string list;
      for (const std::string& l : labels) list += (list.empty() ? "" : ", ") + l;
      return make_error(Errc::kNotFound, "no quota rule keyed like " + std::string(key) + " limits " +
                                             setting_label(s) + " (these are limited: " + list + ")");
    }
  }
  return {};
}

int run_quota(const CommandContext& context) {
  auto args = parse_quota_args(context.args);
  if (!args) return report_usage(args.error(), "quota");
  if (args->action == QuotaCommandAction::kHelp) return print_help(kUsage);
  // Before Redis: a key no rule counts is a mistake whatever Redis holds.
  if (Status ok = check_quota_settings(context.config.quota_rules, args->key, {}); !ok) return report(ok.error());
  RedisConn conn(context.config.redis.connection);
  QuotaStore store(conn, context.config.redis.key_prefix, context.config.quota_rules);
  switch (args->action) {
    case QuotaCommandAction::kShow: return run_show(*args, store);
    case QuotaCommandAction::kSet: return run_set(*args, context.config.quota_rules, store);
    case QuotaCommandAction::kUnset: return run_unset(*args, store);
    case QuotaCommandAction::kReset: return run_reset(*args, store);
    case QuotaCommandAction::kHelp: break;
  }
  return kExitOk;
}

}  // namespace sluice::ctl
