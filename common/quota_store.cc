#include "common/quota_store.h"
#include "common/ascii.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "common/address.h"
#include "common/log.h"

namespace sluice {
namespace {

constexpr QuotaKeyField kAllFields[] = {QuotaKeyField::kSaslUsername, QuotaKeyField::kSender,
                                        QuotaKeyField::kSenderDomain, QuotaKeyField::kClientAddress};
constexpr std::size_t kMaxKeyValueLength = 512;

std::string escape_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char ch : value) {
    if (ch == '%') out += "%25";
    else if (ch == ',') out += "%2C";
    else if (ch == '=') out += "%3D";
    else out += ch;
  }
  return out;
}

int hex_digit(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

Result<std::string> unescape_value(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    const int hi = i + 2 < text.size() ? hex_digit(text[i + 1]) : -1;
    const int lo = i + 2 < text.size() ? hex_digit(text[i + 2]) : -1;
    if (hi < 0 || lo < 0) return make_error(Errc::kInvalidInput, "bad %-escape in a quota key string");
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

void sort_parts(std::vector<QuotaKeyPart>& parts) {
  std::sort(parts.begin(), parts.end(), [](const QuotaKeyPart& a, const QuotaKeyPart& b) {
    return static_cast<int>(a.field) < static_cast<int>(b.field);
  });
}

Result<std::uint64_t> parse_count(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    return make_error(Errc::kProtocol, "redis: bad number \"" + log_escape(text, 32) + "\" in a quota key");
  }
  return value;
}

}  // namespace

std::string format_quota_key_string(std::vector<QuotaKeyPart> parts) {
  sort_parts(parts);
  std::string out;
  for (const QuotaKeyPart& part : parts) {
    if (!out.empty()) out += ',';
    out += quota_key_field_name(part.field);
    out += '=';
    out += escape_value(part.value);
  }
  return out;
}

Result<std::vector<QuotaKeyPart>> parse_quota_key_string(std::string_view text) {
  std::vector<QuotaKeyPart> parts;
  if (text.empty()) return make_error(Errc::kInvalidInput, "empty quota key string");
  while (true) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) {
      return make_error(Errc::kInvalidInput,
                        "quota key string item \"" + log_escape(item, 64) + "\" is not field=value");
    }
    const std::string_view name = item.substr(0, eq);
    const auto* field = std::find_if(std::begin(kAllFields), std::end(kAllFields),
                                     [&](QuotaKeyField f) { return quota_key_field_name(f) == name; });
    if (field == std::end(kAllFields)) {
      return make_error(Errc::kInvalidInput, "unknown quota key field \"" + log_escape(name, 32) +
                                                 "\" (want sasl_username, sender, sender_domain or client_address)");
    }
    if (std::any_of(parts.begin(), parts.end(), [&](const QuotaKeyPart& p) { return p.field == *field; })) {
      return make_error(Errc::kInvalidInput, "quota key field \"" + std::string(name) + "\" given twice");
    }
    auto value = unescape_value(item.substr(eq + 1));
    if (!value) return value.error();
    if (value->empty()) return make_error(Errc::kInvalidInput, "quota key field \"" + std::string(name) + "\" is empty");
    if (value->size() > kMaxKeyValueLength) return make_error(Errc::kTooLong, "quota key value too long");
    std::string normalised = std::move(value).value();
    if (*field == QuotaKeyField::kSenderDomain) {
      normalised = ascii_lower(normalised);
    } else if (*field == QuotaKeyField::kSender) {
      auto mailbox = parse_mailbox(normalised, MailboxOptions{.allow_null = false});
      if (!mailbox) return make_error(mailbox.error().code, "bad sender in quota key: " + mailbox.error().detail);
      normalised = mailbox->str();
    }
    parts.push_back(QuotaKeyPart{*field, std::move(normalised)});
    if (comma == std::string_view::npos) break;
    text = text.substr(comma + 1);
  }
  sort_parts(parts);
  return parts;
}

bool quota_rule_has_shape(const QuotaRule& rule, const std::vector<QuotaKeyPart>& parts) {
  if (rule.key.size() != parts.size()) return false;
  return std::all_of(rule.key.begin(), rule.key.end(), [&](QuotaKeyField f) {
    return std::any_of(parts.begin(), parts.end(), [&](const QuotaKeyPart& p) { return p.field == f; });
  });
}

std::string quota_counter_stem(std::string_view key_prefix, std::string_view rule, QuotaMetric metric,
                               std::chrono::seconds window) {
  std::string key{key_prefix};
  key += "q:";
  key += rule;
  key += ':';
  key += quota_metric_name(metric);
  key += ':';
  key += std::to_string(window.count());
  key += ':';
  return key;
}

std::string quota_counter_key(std::string_view key_prefix, std::string_view rule, QuotaMetric metric,
                              std::chrono::seconds window, std::int64_t index, std::string_view key_string) {
  std::string key = quota_counter_stem(key_prefix, rule, metric, window);
  key += std::to_string(index);
  key += ':';
  key += key_string;
  return key;
}

std::string quota_override_key(std::string_view key_prefix, std::string_view key_string) {
  std::string key{key_prefix};
  key += "qo:";
  key += key_string;
  return key;
}

std::string quota_override_field(QuotaMetric metric, std::chrono::seconds window) {
  return std::string(quota_metric_name(metric)) + "/" + std::to_string(window.count());
}

QuotaStore::QuotaStore(RedisConn& conn, std::string key_prefix, std::vector<QuotaRule> rules)
    : conn_(conn), prefix_(std::move(key_prefix)), rules_(std::move(rules)) {}

Result<std::vector<const QuotaRule*>> QuotaStore::matching(std::string_view key_string, std::string& canonical) {
  auto parts = parse_quota_key_string(key_string);
  if (!parts) return parts.error();
  canonical = format_quota_key_string(*parts);
  std::vector<const QuotaRule*> out;
  for (const QuotaRule& rule : rules_) {
    if (quota_rule_has_shape(rule, *parts)) out.push_back(&rule);
  }
  if (out.empty()) {
    std::string shape;
    for (const QuotaKeyPart& p : *parts) {
      if (!shape.empty()) shape += '+';
      shape += quota_key_field_name(p.field);
    }
    return make_error(Errc::kNotFound, "no quota rule is keyed on " + shape);
  }
  return out;
}

Result<std::int64_t> QuotaStore::redis_now_ms() {
  auto reply = conn_.command({"TIME"});
  if (!reply) return reply.error();
  const redisReply& r = **reply;
  if (r.type != REDIS_REPLY_ARRAY || r.elements != 2) {
    return make_error(Errc::kProtocol, "redis: TIME answered " + reply_describe(r));
  }
  auto sec = reply_string(*r.element[0]);
  auto usec = reply_string(*r.element[1]);
  if (!sec || !usec) return make_error(Errc::kProtocol, "redis: TIME answered " + reply_describe(r));
  auto s = parse_count(*sec);
  auto u = parse_count(*usec);
  if (!s || !u) return make_error(Errc::kProtocol, "redis: TIME answered " + reply_describe(r));
  return static_cast<std::int64_t>(*s * 1000 + *u / 1000);
}

Result<std::vector<QuotaLimitStatus>> QuotaStore::show(std::string_view key_string) {
  std::string canonical;
  auto rules = matching(key_string, canonical);
  if (!rules) return rules.error();
  auto now = redis_now_ms();
  if (!now) return now.error();

  std::vector<QuotaLimitStatus> out;
  std::vector<std::vector<std::string>> commands;
  for (const QuotaRule* rule : *rules) {
    for (const QuotaLimit& limit : rule->limits) {
      const std::int64_t window_ms = limit.window.count() * 1000;
      const std::int64_t index = *now / window_ms;
      QuotaLimitStatus status;
      status.rule = rule->name;
      status.action = rule->action;
      status.configured = limit;
      status.reset_at_ms = (index + 1) * window_ms;
      out.push_back(std::move(status));
      commands.push_back(
          {"GET", quota_counter_key(prefix_, rule->name, limit.metric, limit.window, index, canonical)});
      commands.push_back(
          {"HGET", quota_override_key(prefix_, canonical), quota_override_field(limit.metric, limit.window)});
    }
  }
  auto replies = conn_.pipeline(commands);
  if (!replies) return replies.error();
  for (std::size_t i = 0; i < out.size(); ++i) {
    const redisReply& used = *(*replies)[2 * i];
    const redisReply& over = *(*replies)[2 * i + 1];
    if (used.type != REDIS_REPLY_NIL) {
      auto text = reply_string(used);
      if (!text) return text.error();
      auto n = parse_count(*text);
      if (!n) return n.error();
      out[i].used = *n;
    }
    if (over.type != REDIS_REPLY_NIL) {
      auto text = reply_string(over);
      if (!text) return text.error();
      // The policy script ignores an override that is not a number; so does show.
      if (auto n = parse_count(*text); n) out[i].override_limit = *n;
    }
  }
  return out;
}

Status QuotaStore::set_override(std::string_view key_string, QuotaMetric metric, std::chrono::seconds window,
                                std::uint64_t limit) {
  std::string canonical;
  auto rules = matching(key_string, canonical);
  if (!rules) return rules.error();
  if (limit > kMaxQuotaLimit) {
    return make_error(Errc::kInvalidInput, "override limit above " + std::to_string(kMaxQuotaLimit));
  }
  const bool known = std::any_of(rules->begin(), rules->end(), [&](const QuotaRule* rule) {
    return std::any_of(rule->limits.begin(), rule->limits.end(),
                       [&](const QuotaLimit& l) { return l.metric == metric && l.window == window; });
  });
  if (!known) {
    return make_error(Errc::kNotFound, "no quota rule with this key shape limits " +
                                           quota_limit_label(QuotaLimit{metric, 0, window}));
  }
  auto reply = conn_.command({"HSET", quota_override_key(prefix_, canonical), quota_override_field(metric, window),
                              std::to_string(limit)});
  if (!reply) return reply.error();
  if (auto n = reply_integer(**reply); !n) return n.error();
  return {};
}

Result<bool> QuotaStore::clear_override(std::string_view key_string, QuotaMetric metric,
                                        std::chrono::seconds window) {
  std::string canonical;
  auto rules = matching(key_string, canonical);
  if (!rules) return rules.error();
  auto reply = conn_.command({"HDEL", quota_override_key(prefix_, canonical), quota_override_field(metric, window)});
  if (!reply) return reply.error();
  auto n = reply_integer(**reply);
  if (!n) return n.error();
  return *n > 0;
}

Result<std::uint64_t> QuotaStore::reset(std::string_view key_string) {
  std::string canonical;
  auto rules = matching(key_string, canonical);
  if (!rules) return rules.error();
  auto now = redis_now_ms();
  if (!now) return now.error();
  std::vector<std::string> del = {"DEL"};
  for (const QuotaRule* rule : *rules) {
    for (const QuotaLimit& limit : rule->limits) {
      const std::int64_t index = *now / (limit.window.count() * 1000);
      del.push_back(quota_counter_key(prefix_, rule->name, limit.metric, limit.window, index, canonical));
    }
  }
  if (del.size() == 1) return std::uint64_t{0};
  const std::vector<std::string_view> views(del.begin(), del.end());
  auto reply = conn_.command(views);
  if (!reply) return reply.error();
  auto n = reply_integer(**reply);
  if (!n) return n.error();
  return static_cast<std::uint64_t>(*n);
}

}  // namespace sluice
