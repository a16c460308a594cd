#include "common/policy_check.h"
#include "common/ascii.h"
#include "common/redis_keys.h"

#include <algorithm>
#include <utility>

#include "common/log.h"
#include "common/lua_scripts.h"
#include "common/quota_store.h"
#include "common/suppression_store.h"

namespace sluice {
namespace {

constexpr std::string_view kAllow = "allow";
constexpr std::string_view kSuppressed = "suppressed";
constexpr std::string_view kOver = "over";
constexpr std::string_view kUnauthorised = "unauthorised";
constexpr std::string_view kPaused = "paused";
constexpr std::string_view kNullSenderMember = "<>";

std::string_view stage_name(PolicyFacts::Stage stage) {
  return stage == PolicyFacts::Stage::kRcpt ? "rcpt" : "eom";
}

std::string_view action_name(QuotaAction action) { return action == QuotaAction::kReject ? "reject" : "defer"; }

// The value of `field` in the request; empty when absent.
std::string field_value(const PolicyFacts& facts, QuotaKeyField field) {
  switch (field) {
    case QuotaKeyField::kSaslUsername: return facts.sasl_username;
    case QuotaKeyField::kSender: return facts.sender;
    case QuotaKeyField::kSenderDomain: return ascii_lower(facts.sender_domain);
    case QuotaKeyField::kClientAddress: return facts.client_address;
  }
  return {};
}

Error bad_reply(const PolicyFacts& facts, const redisReply& reply, std::string_view what) {
  return make_error(Errc::kProtocol, "redis: script policy_check (instance " + log_escape(facts.instance, 64) +
                                         ", " + std::string(stage_name(facts.stage)) + ") answered " +
                                         reply_describe(reply) + ": " + std::string(what));
}

// Element `i` of an array reply as a string, or nullopt if it is not one.
std::optional<std::string_view> string_at(const redisReply& reply, std::size_t i) {
  const redisReply& e = *reply.element[i];
  if (e.type != REDIS_REPLY_STRING || e.str == nullptr) return std::nullopt;
  return std::string_view(e.str, e.len);
}

std::optional<long long> integer_at(const redisReply& reply, std::size_t i) {
  const redisReply& e = *reply.element[i];
  if (e.type != REDIS_REPLY_INTEGER) return std::nullopt;
  return e.integer;
}

}  // namespace

std::vector<std::string> sender_set_members(std::string_view sender_key, std::string_view sender_domain) {
  if (sender_key.empty()) return {std::string(kNullSenderMember)};
  return {std::string(sender_key), "@" + ascii_lower(sender_domain)};
}

std::vector<std::string> evalsha_command(const RedisCall& call) {
  std::vector<std::string> argv = {"EVALSHA", call.script->sha1(), std::to_string(call.keys.size())};
  argv.insert(argv.end(), call.keys.begin(), call.keys.end());
  argv.insert(argv.end(), call.args.begin(), call.args.end());
  return argv;
}

std::vector<std::string> eval_command(const RedisCall& call) {
  std::vector<std::string> argv = evalsha_command(call);
  argv[0] = "EVAL";
  argv[1] = call.script->source();
  return argv;
}

PolicyCheck::PolicyCheck(std::string key_prefix, std::vector<QuotaRule> rules, bool suppression,
                         std::vector<SuppressionScope> scopes, SenderAuthorisation senders)
    : prefix_(std::move(key_prefix)),
      rules_(std::move(rules)),
      suppression_(suppression),
      scopes_(std::move(scopes)),
      senders_(senders) {}

std::optional<RedisCall> PolicyCheck::build(const PolicyFacts& facts) const {
  const bool rcpt = facts.stage == PolicyFacts::Stage::kRcpt;

  // Suppression lookups: key and the label reported when it matches.
  std::vector<std::string> sup_keys;
  std::vector<std::string> sup_labels;
  if (rcpt && suppression_ && !facts.recipient.empty()) {
    for (SuppressionScope scope : scopes_) {
      std::string value;
      if (scope == SuppressionScope::kSaslUsername) value = facts.sasl_username;
      if (scope == SuppressionScope::kSenderDomain) value = ascii_lower(facts.sender_domain);
      if (scope != SuppressionScope::kGlobal && value.empty()) continue;
      sup_keys.push_back(suppression_entry_key(prefix_, scope, value, facts.recipient));
      std::string label{suppression_scope_name(scope)};
      if (scope != SuppressionScope::kGlobal) label += " " + value;
      sup_labels.push_back(std::move(label));
    }
  }

  // Quota counters, 11 ARGV each (lua/policy_check.lua).
  std::vector<std::string> key_strings;  // one override hash each
  std::vector<std::string> counter_args;
  std::size_t counters = 0;
  for (const QuotaRule& rule : rules_) {
    std::vector<QuotaKeyPart> parts;
    bool complete = !rule.key.empty();
    for (QuotaKeyField field : rule.key) {
      std::string value = field_value(facts, field);
      if (value.empty()) {
        complete = false;
        break;
      }
      parts.push_back(QuotaKeyPart{field, std::move(value)});
    }
    if (!complete) continue;
    // A rule with nothing to check at this stage (recipients only, at
    // END-OF-MESSAGE) costs no override lookup either.
    const bool applies = rcpt || std::any_of(rule.limits.begin(), rule.limits.end(), [](const QuotaLimit& l) {
      return l.metric != QuotaMetric::kRecipients;
    });
    if (!applies) continue;
    const std::string key_string = format_quota_key_string(std::move(parts));
    auto at = std::find(key_strings.begin(), key_strings.end(), key_string);
    if (at == key_strings.end()) at = key_strings.insert(key_strings.end(), key_string);
    const std::string override_index = std::to_string(at - key_strings.begin() + 1);

    for (const QuotaLimit& limit : rule.limits) {
      std::uint64_t amount = 1;
      bool charge = false;
      if (rcpt) {
        charge = limit.metric == QuotaMetric::kRecipients;  // messages, bytes: must not be at their limit yet
      } else {
        if (limit.metric == QuotaMetric::kRecipients) continue;
        charge = true;
        if (limit.metric == QuotaMetric::kBytes) amount = facts.size;
      }
      counter_args.insert(counter_args.end(),
                          {rule.name, std::string(quota_metric_name(limit.metric)),
                           std::to_string(limit.window.count()), std::to_string(std::min(limit.limit, kMaxQuotaLimit)),
                           std::string(action_name(rule.action)), override_index,
                           quota_override_field(limit.metric, limit.window), std::to_string(amount),
                           charge ? "1" : "0", quota_counter_stem(prefix_, rule.name, limit.metric, limit.window),
                           key_string});
      ++counters;
    }
  }

  // The account: paused at any stage; its senders checked at RCPT.
  const bool account = !facts.sasl_username.empty();
  const bool check_sender = account && rcpt && senders_.enabled;
  if (sup_keys.empty() && counters == 0 && !account) return std::nullopt;

  RedisCall call;
  call.script = &policy_check_script();
  const bool idem = !facts.instance.empty();
  if (idem) {
    call.keys.push_back(prefix_ + "idem:" + redis_key_component(facts.instance) + ":" + facts.client_address);
  }
  if (account) call.keys.push_back(pause_key(prefix_, facts.sasl_username));
  std::vector<std::string> members;
  if (check_sender) {
    call.keys.push_back(senders_key(prefix_, facts.sasl_username));
    members = sender_set_members(facts.sender_key, facts.sender_domain);
  }
  call.keys.insert(call.keys.end(), sup_keys.begin(), sup_keys.end());
  for (const std::string& ks : key_strings) call.keys.push_back(quota_override_key(prefix_, ks));

  call.args = {std::string(stage_name(facts.stage)),
               idem ? "1" : "0",
               std::string(stage_name(facts.stage)) + ":" + (rcpt ? facts.recipient : std::string()),
               std::to_string(kPolicyReplayTtl.count()),
               std::to_string(sup_keys.size()),
               std::to_string(key_strings.size()),
               std::to_string(counters),
               std::to_string(kQuotaCounterSlack.count()),
               account ? "1" : "0",
               check_sender ? "1" : "0",
               senders_.missing == MissingSenderSetAction::kAccept ? "accept" : "reject",
               std::to_string(members.size())};
  call.args.insert(call.args.end(), members.begin(), members.end());
  call.args.insert(call.args.end(), sup_labels.begin(), sup_labels.end());
  call.args.insert(call.args.end(), counter_args.begin(), counter_args.end());
  return call;
}

Result<PolicyOutcome> PolicyCheck::parse(const PolicyFacts& facts, const redisReply& reply) const {
  if (reply.type == REDIS_REPLY_ERROR) return bad_reply(facts, reply, "error reply");
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements < 2) return bad_reply(facts, reply, "want an array");
  const auto status = string_at(reply, 0);
  const auto replayed = integer_at(reply, 1);
  if (!status) return bad_reply(facts, reply, "element 1 is not a string");
  if (!replayed || (*replayed != 0 && *replayed != 1)) return bad_reply(facts, reply, "element 2 is not 0 or 1");

  PolicyOutcome out;
  out.replayed = *replayed == 1;
  if (*status == kAllow) {
    if (reply.elements != 2) return bad_reply(facts, reply, "allow has 2 elements");
    out.kind = PolicyOutcome::Kind::kAllow;
    return out;
  }
  if (*status == kSuppressed) {
    if (reply.elements != 6) return bad_reply(facts, reply, "suppressed has 6 elements");
    const auto scope = string_at(reply, 2);
    const auto reason = string_at(reply, 3);
    const auto since = integer_at(reply, 4);
    const auto expires = integer_at(reply, 5);
    if (!scope || !reason || !since || !expires) return bad_reply(facts, reply, "suppressed: bad element types");
    out.kind = PolicyOutcome::Kind::kSuppressed;
    out.scope = std::string(*scope);
    out.reason = std::string(*reason);
    out.since_ms = *since;
    out.expires_ms = *expires;
    return out;
  }
  if (*status == kUnauthorised) {
    if (reply.elements != 3) return bad_reply(facts, reply, "unauthorised has 3 elements");
    const auto why = string_at(reply, 2);
    if (!why || (*why != "not-listed" && *why != "no-set")) return bad_reply(facts, reply, "unauthorised: unknown reason");
    out.kind = PolicyOutcome::Kind::kSenderNotAuthorised;
    out.sender_set_missing = *why == "no-set";
    return out;
  }
  if (*status == kPaused) {
    if (reply.elements != 3) return bad_reply(facts, reply, "paused has 3 elements");
    const auto why = string_at(reply, 2);
    if (!why) return bad_reply(facts, reply, "paused: reason is not a string");
    out.kind = PolicyOutcome::Kind::kPaused;
    out.pause_reason = std::string(why->substr(0, kMaxPauseReason));
    return out;
  }
  if (*status == kOver) {
    if (reply.elements != 9) return bad_reply(facts, reply, "over has 9 elements");
    const auto rule = string_at(reply, 2);
    const auto metric = string_at(reply, 3);
    const auto window = integer_at(reply, 4);
    const auto limit = integer_at(reply, 5);
    const auto used = integer_at(reply, 6);
    const auto reset_at = integer_at(reply, 7);
    const auto action = string_at(reply, 8);
    if (!rule || !metric || !window || !limit || !used || !reset_at || !action) {
      return bad_reply(facts, reply, "over: bad element types");
    }
    auto parsed_metric = parse_quota_metric(*metric);
    if (!parsed_metric) return bad_reply(facts, reply, "over: unknown metric");
    if (*window <= 0 || *limit < 0 || *used < 0) return bad_reply(facts, reply, "over: negative numbers");
    if (*action != "defer" && *action != "reject") return bad_reply(facts, reply, "over: unknown action");
    out.kind = PolicyOutcome::Kind::kOverQuota;
    out.rule = std::string(*rule);
    out.limit = QuotaLimit{*parsed_metric, static_cast<std::uint64_t>(*limit), std::chrono::seconds{*window}};
    out.used = static_cast<std::uint64_t>(*used);
    out.reset_at_ms = *reset_at;
    out.action = *action == "reject" ? QuotaAction::kReject : QuotaAction::kDefer;
    return out;
  }
  return bad_reply(facts, reply, "unknown status");
}

Result<PolicyOutcome> run_policy_check(RedisConn& conn, const PolicyCheck& check, const PolicyFacts& facts) {
  std::optional<RedisCall> call = check.build(facts);
  if (!call) return PolicyOutcome{};
  auto reply = call->script->eval(conn, call->keys, call->args);
  if (!reply) return reply.error();
  return check.parse(facts, **reply);
}

}  // namespace sluice
