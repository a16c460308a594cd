#include "ctl/sender_command.h"

#include <algorithm>
#include <cstdio>

#include "common/address.h"
#include "common/log.h"
#include "common/policy_check.h"
#include "ctl/command_util.h"

namespace sluice::ctl {
namespace {

constexpr const char* kUsage =
    "usage: sluicectl [-c FILE] sender ACTION LOGIN [SENDER]\n"
    "  allow LOGIN ADDRESS|@DOMAIN|<>   LOGIN may use this envelope sender (@DOMAIN: any address there)\n"
    "  deny LOGIN ADDRESS|@DOMAIN|<>    remove it again\n"
    "  list LOGIN                       the senders LOGIN may use\n"
    "  check LOGIN ADDRESS|<>           would sluice-policyd accept LOGIN sending as ADDRESS, and why\n"
    "LOGIN is the SASL user name as Postfix reports it (sasl_username: alice, or alice@example.com\n"
    "with a realm). <> is the null sender. Enforced when [policyd] sender_authorisation = yes.\n";

constexpr std::string_view kNullSender = "<>";

// An integer reply, or the error a reply of another type (WRONGTYPE) means.
Result<long long> integer_of(Result<RedisReplyPtr> reply, std::string_view key) {
  if (!reply) return reply.error();
  if (!reply_error(**reply).empty()) {
    return make_error(Errc::kProtocol, "redis: " + std::string(key) + ": " + std::string(reply_error(**reply)));
  }
  return reply_integer(**reply);
}

// The sender to check: "<>" or an address.
Result<Mailbox> parse_check_sender(std::string_view text) {
  if (text == kNullSender) return Mailbox{};
  auto mailbox = parse_mailbox(text, MailboxOptions{.allow_null = false});
  if (!mailbox) return usage("\"" + log_escape(text, 64) + "\" is not an address or <>: " + mailbox.error().detail);
  return mailbox;
}

int run_allow_deny(const SenderArgs& args, RedisConn& conn, std::string_view prefix) {
  const std::string key = senders_key(prefix, args.login);
  const bool allow = args.action == SenderCommandAction::kAllow;
  auto changed = integer_of(conn.command({allow ? "SADD" : "SREM", key, args.member}), key);
  if (!changed) return report(changed.error());
  if (allow) {
    std::printf("%s %s for login %s\n", *changed == 1 ? "allowed" : "already allowed", args.member.c_str(),
                log_escape(args.login, kMaxSaslLogin).c_str());
    return kExitOk;
  }
  if (*changed == 0) {
    std::fprintf(stderr, "sluicectl: %s was not allowed for login %s\n", args.member.c_str(),
                 log_escape(args.login, kMaxSaslLogin).c_str());
    return kExitFailed;
  }
  std::printf("denied %s for login %s\n", args.member.c_str(), log_escape(args.login, kMaxSaslLogin).c_str());
  return kExitOk;
}

int run_list(const SenderArgs& args, RedisConn& conn, std::string_view prefix) {
  const std::string key = senders_key(prefix, args.login);
  auto reply = conn.command({"SMEMBERS", key});
  if (!reply) return report(reply.error());
  const redisReply& r = **reply;
  if (r.type != REDIS_REPLY_ARRAY) return report(make_error(Errc::kProtocol, "redis: SMEMBERS " + key + ": " + reply_describe(r)));
  std::vector<std::string> members;
  for (std::size_t i = 0; i < r.elements; ++i) {
    if (r.element[i]->type == REDIS_REPLY_STRING) members.emplace_back(r.element[i]->str, r.element[i]->len);
  }
  std::sort(members.begin(), members.end());
  for (const std::string& m : members) std::printf("%s\n", log_escape(m, 512).c_str());
  if (members.empty()) {
    std::fprintf(stderr, "sluicectl: login %s has no senders set\n", log_escape(args.login, kMaxSaslLogin).c_str());
  }
  return kExitOk;
}

int run_check(const SenderArgs& args, const Config& config, RedisConn& conn) {
  const std::string& prefix = config.redis.key_prefix;
  auto verdict = check_sender(conn, prefix, config.policyd, args.login, args.sender_key, args.sender_domain);
  if (!verdict) return report(verdict.error());
  std::printf("%s: %s\n", verdict->allowed ? "allowed" : "not allowed", verdict->why.c_str());
  if (!config.policyd.sender_authorisation) {
    std::printf("note: [policyd] sender_authorisation = no: sluice-policyd does not enforce this\n");
  }
  auto paused = conn.command({"GET", pause_key(prefix, args.login)});
  if (paused && (*paused)->type == REDIS_REPLY_STRING) {
    std::printf("note: the account is paused: %s\n",
                log_escape(std::string_view((*paused)->str, (*paused)->len), kMaxPauseReason).c_str());
  }
  return verdict->allowed ? kExitOk : kExitFailed;
}

}  // namespace

Result<std::string> parse_sender_member(std::string_view text) {
  if (text == kNullSender) return std::string(kNullSender);
  if (text.starts_with("@")) {
    const std::string_view domain = text.substr(1);
    auto mailbox = parse_mailbox("x@" + std::string(domain), MailboxOptions{.allow_null = false});
    if (domain.empty() || !mailbox) {
      return usage("\"" + log_escape(text, 64) + "\" is not @DOMAIN" +
                   (mailbox ? std::string() : ": " + mailbox.error().detail));
    }
    return "@" + mailbox->domain;
  }
  auto mailbox = parse_mailbox(text, MailboxOptions{.allow_null = false});
  if (!mailbox) {
    return usage("\"" + log_escape(text, 64) + "\" is not an address, @DOMAIN or <>: " + mailbox.error().detail);
  }
  return mailbox->lookup_key();
}

Status check_sasl_login(std::string_view login) {
  if (login.empty()) return usage("LOGIN is empty");
  if (login.size() > kMaxSaslLogin) return usage("LOGIN is longer than " + std::to_string(kMaxSaslLogin) + " bytes");
  const bool printable = std::all_of(login.begin(), login.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u != 0x7f;
  });
  if (!printable) return usage("LOGIN \"" + log_escape(login, 64) + "\" has blanks or control bytes");
  return {};
}

Result<SenderArgs> parse_sender_args(const std::vector<std::string>& args) {
  SenderArgs out;
  if (args.empty()) return usage("sender: missing action (allow, deny, list, check)");
  if (wants_help(args)) return out;
  struct Spec {
    std::string_view name;
    SenderCommandAction action;
    std::size_t operands;  // after LOGIN
  };
  constexpr Spec kSpecs[] = {{"allow", SenderCommandAction::kAllow, 1},
                             {"deny", SenderCommandAction::kDeny, 1},
                             {"list", SenderCommandAction::kList, 0},
                             {"check", SenderCommandAction::kCheck, 1}};
  const auto* spec = std::find_if(std::begin(kSpecs), std::end(kSpecs), [&](const Spec& s) { return s.name == args[0]; });
  if (spec == std::end(kSpecs)) {
    return usage("sender: unknown action \"" + log_escape(args[0], 32) + "\" (want allow, deny, list or check)");
  }
  out.action = spec->action;
  const std::string name(spec->name);
  const std::string wanted = spec->operands == 0 ? "LOGIN" : "LOGIN and " + std::string(out.action == SenderCommandAction::kCheck ? "ADDRESS" : "ADDRESS or @DOMAIN");
  if (args.size() != 2 + spec->operands) {
    return usage("sender " + name + " takes " + wanted + ", got " + std::to_string(args.size() - 1) + " argument" +
                 (args.size() == 2 ? "" : "s"));
  }
  if (Status ok = check_sasl_login(args[1]); !ok) return ok.error();
  out.login = args[1];
  if (out.action == SenderCommandAction::kAllow || out.action == SenderCommandAction::kDeny) {
    auto member = parse_sender_member(args[2]);
    if (!member) return member.error();
    out.member = *member;
  } else if (out.action == SenderCommandAction::kCheck) {
    auto sender = parse_check_sender(args[2]);
    if (!sender) return sender.error();
    out.sender_key = sender->lookup_key();
    out.sender_domain = sender->domain;
  }
  return out;
}

Result<SenderVerdict> check_sender(RedisConn& conn, std::string_view prefix, const PolicydSettings& settings,
                                   std::string_view login, std::string_view sender_key,
                                   std::string_view sender_domain) {
  const std::string key = senders_key(prefix, login);
  const std::string shown_login = log_escape(login, kMaxSaslLogin);
  const std::string shown_sender = sender_key.empty() ? "<>" : log_escape(sender_key, 256);
  const std::vector<std::string> members = sender_set_members(sender_key, sender_domain);
  // The script's order: the address first, then its domain.
  for (const std::string& member : members) {
    auto listed = integer_of(conn.command({"SISMEMBER", key, member}), key);
    if (!listed) return listed.error();
    if (*listed == 1) {
      return SenderVerdict{true, "login " + shown_login + " may send as " + shown_sender + " (member " +
                                     log_escape(member, 256) + " of " + key + ")"};
    }
  }
  auto exists = integer_of(conn.command({"EXISTS", key}), key);
  if (!exists) return exists.error();
  std::string tried;
  for (const std::string& m : members) tried += (tried.empty() ? "" : ", ") + log_escape(m, 256);
  if (*exists == 1) {
    return SenderVerdict{false, shown_sender + " is not in the senders of login " + shown_login + " (" + key +
                                    " has none of: " + tried + ")"};
  }
  if (settings.sender_authorisation_missing == MissingSenderSetAction::kAccept) {
    return SenderVerdict{true, "login " + shown_login +
                                   " has no senders set, and sender_authorisation_missing = accept lets it use any"};
  }
  return SenderVerdict{false, "login " + shown_login +
                                  " has no senders set (sender_authorisation_missing = reject refuses all its mail)"};
}

int run_sender(const CommandContext& context) {
  auto args = parse_sender_args(context.args);
  if (!args) return report_usage(args.error(), "sender");
  RedisConn conn(context.config.redis.connection);
  const std::string& prefix = context.config.redis.key_prefix;
  switch (args->action) {
    case SenderCommandAction::kHelp: return print_help(kUsage);
    case SenderCommandAction::kAllow:
    case SenderCommandAction::kDeny: return run_allow_deny(*args, conn, prefix);
    case SenderCommandAction::kList: return run_list(*args, conn, prefix);
    case SenderCommandAction::kCheck: return run_check(*args, context.config, conn);
  }
  return kExitOk;
}

}  // namespace sluice::ctl
