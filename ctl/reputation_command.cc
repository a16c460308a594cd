#include "ctl/reputation_command.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "common/log.h"
#include "common/redis_conn.h"
#include "common/redis_keys.h"
#include "ctl/command_util.h"

namespace sluice::ctl {
namespace {

using bounce::ReputationCounts;
using bounce::ReputationVerdict;

constexpr const char* kUsage =
    "usage: sluicectl [-c FILE] reputation ACTION [ARGS]\n"
    "  show [ACCOUNT]                  rates, counts, warn and pause state over [reputation] window;\n"
    "                                  without ACCOUNT: every account with mail in the window, or paused\n"
    "  pause ACCOUNT [--reason TEXT]   defer the account's mail at RCPT (450 4.7.1) until resumed\n"
    "  resume ACCOUNT                  lift a pause (set by hand or by sluice-bounce's breaker)\n";

// SCAN is bounded: at most this many calls per pattern.
constexpr int kMaxScanCalls = 10000;

bool valid_account(std::string_view account) {
  return !account.empty() && account.size() <= 255 && std::none_of(account.begin(), account.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
}

std::string level_text(const std::optional<double>& level) {
  return level ? "above " + bounce::format_rate(*level) : std::string("never");
}

std::string rate_text(long long count, long long sent) {
  return sent > 0 ? bounce::format_rate(static_cast<double>(count) / sent) : std::string("-");
}

Result<std::optional<std::string>> read_pause(RedisConn& conn, const std::string& prefix, const std::string& account) {
  auto reply = conn.command({"GET", pause_key(prefix, account)});
  if (!reply) return reply.error();
  if ((*reply)->type == REDIS_REPLY_NIL) return std::optional<std::string>{};
  auto text = reply_string(**reply);
  if (!text) return make_error(Errc::kProtocol, "redis: pause key: " + text.error().detail);
  return std::optional<std::string>{std::string(*text)};
}

Result<AccountReputation> read_account(RedisConn& conn, const Config& config, const std::string& account) {
  AccountReputation out;
  out.account = account;
  auto counts = bounce::read_reputation(conn, config.redis.key_prefix, account, config.feedback.reputation);
  if (!counts) return counts.error();
  out.counts = *counts;
  auto pause = read_pause(conn, config.redis.key_prefix, account);
  if (!pause) return pause.error();
  out.pause_reason = *pause;
  return out;
}

// Every key matching |pattern|, through SCAN (bounded), passed to |take|.
template <class Take>
Status scan_keys(RedisConn& conn, const std::string& pattern, Take take) {
  std::string cursor = "0";
  for (int calls = 0; calls < kMaxScanCalls; ++calls) {
    auto reply = conn.command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
    if (!reply) return reply.error();
    const redisReply& r = **reply;
    if (r.type != REDIS_REPLY_ARRAY || r.elements != 2 || r.element[0]->type != REDIS_REPLY_STRING ||
        r.element[1]->type != REDIS_REPLY_ARRAY) {
      return make_error(Errc::kProtocol, "redis: SCAN answered " + reply_describe(r));
    }
    cursor.assign(r.element[0]->str, r.element[0]->len);
    for (std::size_t i = 0; i < r.element[1]->elements; ++i) {
      const redisReply& key = *r.element[1]->element[i];
      if (key.type == REDIS_REPLY_STRING) take(std::string_view(key.str, key.len));
    }
    if (cursor == "0") return {};
  }
  return make_error(Errc::kTooLong, "too many keys to scan (" + pattern + ")");
}

// Accounts with a bucket in the window, and paused accounts.
Result<std::vector<std::string>> active_accounts(RedisConn& conn, const Config& config) {
  const std::string& prefix = config.redis.key_prefix;
  auto hour = bounce::redis_current_hour(conn);
  if (!hour) return hour.error();
  const long long first = *hour - bounce::reputation_window_hours(config.feedback.reputation) + 1;
  std::set<std::string> accounts;
  Status scanned = scan_keys(conn, prefix + "rep:*", [&](std::string_view key) {
    auto parsed = bounce::parse_reputation_bucket_key(prefix, key);
    if (parsed && parsed->second >= first && parsed->second <= *hour) accounts.insert(parsed->first);
  });
  if (!scanned) return scanned.error();
  const std::string pause_head = pause_key(prefix, "");
  scanned = scan_keys(conn, pause_head + "*", [&](std::string_view key) {
    const std::string account = redis_key_component_decode(key.substr(pause_head.size()));
    if (!account.empty()) accounts.insert(account);
  });
  if (!scanned) return scanned.error();
  return std::vector<std::string>(accounts.begin(), accounts.end());
}

int run_show(const CommandContext& context, const ReputationArgs& args, RedisConn& conn) {
  const ReputationSettings& settings = context.config.feedback.reputation;
  if (!args.account.empty()) {
    auto account = read_account(conn, context.config, args.account);
    if (!account) return report(account.error());
    std::fputs(format_account_reputation(*account, settings).c_str(), stdout);
    return kExitOk;
  }
  auto names = active_accounts(conn, context.config);
  if (!names) return report(names.error());
  std::vector<AccountReputation> accounts;
  for (const std::string& name : *names) {
    if (accounts.size() >= kMaxShownAccounts) {
      std::fprintf(stderr, "sluicectl: more than %zu accounts; the first %zu are shown\n", kMaxShownAccounts,
                   kMaxShownAccounts);
      break;
    }
    auto account = read_account(conn, context.config, name);
    if (!account) return report(account.error());
    accounts.push_back(std::move(account).value());
  }
  if (accounts.empty()) {
    std::printf("no account sent mail in the last %lldh\n", bounce::reputation_window_hours(settings));
    return kExitOk;
  }
  std::fputs(format_reputation_table(accounts, settings).c_str(), stdout);
  return kExitOk;
}

int run_pause(const CommandContext& context, const ReputationArgs& args, RedisConn& conn) {
  auto reply = conn.command({"SET", pause_key(context.config.redis.key_prefix, args.account),
                             args.reason});
  if (!reply) return report(reply.error());
  if ((*reply)->type != REDIS_REPLY_STATUS) return report(make_error(Errc::kProtocol, reply_describe(**reply)));
  std::printf("paused %s: %s\n", args.account.c_str(), args.reason.c_str());
  return kExitOk;
}

int run_resume(const CommandContext& context, const ReputationArgs& args, RedisConn& conn) {
  const std::string key = pause_key(context.config.redis.key_prefix, args.account);
  const std::vector<std::vector<std::string>> commands = {{"MULTI"}, {"GET", key}, {"DEL", key}, {"EXEC"}};
  auto replies = conn.pipeline(commands);
  if (!replies) return report(replies.error());
  const redisReply& exec = *replies->back();
  if (exec.type != REDIS_REPLY_ARRAY || exec.elements != 2) {
    return report(make_error(Errc::kProtocol, "redis: EXEC answered " + reply_describe(exec)));
  }
  if (exec.element[0]->type != REDIS_REPLY_STRING) {
    std::fprintf(stderr, "sluicectl: %s is not paused\n", log_escape(args.account, 64).c_str());
    return kExitFailed;
  }
  std::printf("resumed %s (was paused: %.*s)\n", args.account.c_str(), static_cast<int>(exec.element[0]->len),
              exec.element[0]->str);
  return kExitOk;
}

}  // namespace

Result<ReputationArgs> parse_reputation_args(const std::vector<std::string>& args) {
  ReputationArgs out;
  if (args.empty()) return usage("reputation: missing action (show, pause, resume)");
  if (wants_help(args)) return out;
  const std::string& action = args[0];
  if (action == "show") {
    out.action = ReputationAction::kShow;
    if (args.size() > 2) return usage("reputation show takes at most one ACCOUNT");
    if (args.size() == 2) out.account = args[1];
  } else if (action == "pause" || action == "resume") {
    out.action = action == "pause" ? ReputationAction::kPause : ReputationAction::kResume;
    if (args.size() < 2) return usage("reputation " + action + " needs an ACCOUNT");
    out.account = args[1];
    std::size_t i = 2;
    if (out.action == ReputationAction::kPause) {
      out.reason = kDefaultPauseReason;
      if (i < args.size() && (args[i] == "--reason" || args[i].starts_with("--reason="))) {
        if (args[i] == "--reason") {
          if (i + 1 >= args.size()) return usage("--reason needs a TEXT");
          out.reason = args[i + 1];
          i += 2;
        } else {
          out.reason = args[i].substr(9);
          i += 1;
        }
      }
      const bool printable = std::none_of(out.reason.begin(), out.reason.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
      });
      if (out.reason.empty() || out.reason.size() > bounce::kMaxPauseReasonLength || !printable) {
        return usage("a pause reason is 1 to 200 printable characters");
      }
    }
    if (i < args.size()) return usage("unexpected argument \"" + log_escape(args[i], 64) + "\"");
  } else {
    return usage("reputation: unknown action \"" + log_escape(action, 32) + "\" (want show, pause or resume)");
  }
  if (!out.account.empty() && !valid_account(out.account)) {
    return usage("\"" + log_escape(out.account, 64) + "\" is not an account (a SASL login)");
  }
  return out;
}

std::string reputation_state(const AccountReputation& account, const ReputationSettings& settings) {
  if (account.pause_reason) return "paused";
  const ReputationVerdict v = bounce::judge_reputation(account.counts, settings);
  if (!v.counted) return "low volume";
  if (!v.warn_bounce && !v.warn_complaint) return "ok";
  std::string out = "warn:";
  if (v.warn_bounce) out += " bounce";
  if (v.warn_complaint) out += v.warn_bounce ? ", complaint" : " complaint";
  return out;
}

std::string format_account_reputation(const AccountReputation& account, const ReputationSettings& settings) {
  const ReputationCounts& c = account.counts;
  const long long hours = bounce::reputation_window_hours(settings);
  std::string out = "account " + account.account + ": last " + std::to_string(hours) + "h, min_volume " +
                    std::to_string(settings.min_volume) + "\n";
  out += "  sent " + std::to_string(c.sent) + "  hard " + std::to_string(c.hard) + "  soft " + std::to_string(c.soft) +
         "  block " + std::to_string(c.block) + "  complaint " + std::to_string(c.complaint) + "  unsubscribe " +
         std::to_string(c.unsubscribe) + "\n";
  out += "  bounce rate " + rate_text(c.hard, c.sent) + " (warn above " + bounce::format_rate(settings.warn_bounce_rate) +
         ", pause " + level_text(settings.pause_bounce_rate) + ")\n";
  out += "  complaint rate " + rate_text(c.complaint, c.sent) + " (warn above " +
         bounce::format_rate(settings.warn_complaint_rate) + ", pause " + level_text(settings.pause_complaint_rate) +
         ")\n";
  std::string state = reputation_state(account, settings);
  if (account.pause_reason) {
    state += ": " + *account.pause_reason + " (sluicectl reputation resume " + account.account + ")";
  } else if (state == "low volume") {
    state += ": rates count from " + std::to_string(settings.min_volume) + " recipients";
  }
  out += "  state " + state + "\n";
  return out;
}

std::string format_reputation_table(const std::vector<AccountReputation>& accounts,
                                    const ReputationSettings& settings) {
  std::vector<std::vector<std::string>> rows = {
      {"ACCOUNT", "SENT", "HARD", "SOFT", "BLOCK", "COMPLAINT", "BOUNCE%", "COMPLAINT%", "STATE"}};
  for (const AccountReputation& a : accounts) {
    const ReputationCounts& c = a.counts;
    rows.push_back({a.account, std::to_string(c.sent), std::to_string(c.hard), std::to_string(c.soft),
                    std::to_string(c.block), std::to_string(c.complaint), rate_text(c.hard, c.sent),
                    rate_text(c.complaint, c.sent), reputation_state(a, settings)});
  }
  std::vector<std::size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

int run_reputation(const CommandContext& context) {
  auto args = parse_reputation_args(context.args);
  if (!args) return report_usage(args.error(), "reputation");
  if (args->action == ReputationAction::kHelp) return print_help(kUsage);
  RedisConn conn(context.config.redis.connection);
  switch (args->action) {
    case ReputationAction::kShow: return run_show(context, *args, conn);
    case ReputationAction::kPause: return run_pause(context, *args, conn);
    case ReputationAction::kResume: return run_resume(context, *args, conn);
    case ReputationAction::kHelp: break;
  }
  return kExitOk;
}

}  // namespace sluice::ctl
