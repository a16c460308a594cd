#include "common/suppression_store.h"
#include "common/redis_keys.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "common/address.h"
#include "common/log.h"
#include "common/lua_scripts.h"

namespace sluice {
namespace {

constexpr std::string_view kReasons[] = {"hard-bounce", "soft-bounce", "complaint", "unsubscribe", "manual"};
constexpr std::size_t kMaxPageSize = 10000;
constexpr int kPruneBatch = 1000;

// "<prefix><kind>:<scope>[:<escaped value>]": one of the two indexes of a list.
std::string index_key(std::string_view prefix, std::string_view kind, SuppressionScope scope,
                      std::string_view scope_value) {
  std::string key{prefix};
  key += kind;
  key += ':';
  key += suppression_scope_name(scope);
  if (scope != SuppressionScope::kGlobal) {
    key += ':';
    key += redis_key_component(scope_value);
  }
  return key;
}

bool has_control_bytes(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char ch) {
    const auto u = static_cast<unsigned char>(ch);
    return u < 0x20 || u == 0x7f;
  });
}

Result<std::int64_t> parse_ms(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    return make_error(Errc::kProtocol, "redis: bad time \"" + log_escape(text, 32) + "\" in a suppression entry");
  }
  return value;
}

// Validated, normalised copy of the key fields (scope value and recipient).
struct EntryKey {
  std::string value;
  std::string recipient;
};

Result<EntryKey> normalize_key(SuppressionScope scope, std::string_view scope_value, std::string_view recipient) {
  auto value = normalize_suppression_scope_value(scope, scope_value);
  if (!value) return value.error();
  auto rcpt = normalize_suppression_recipient(recipient);
  if (!rcpt) return rcpt.error();
  return EntryKey{std::move(value).value(), std::move(rcpt).value()};
}

// Fills the stored fields of `entry` from an HMGET reason since_ms
// expires_ms tracking_id note reply; false when the entry does not exist.
Result<bool> fill_entry(const redisReply& reply, SuppressionEntry& entry) {
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements != 5) {
    return make_error(Errc::kProtocol, "redis: HMGET of a suppression entry answered " + reply_describe(reply));
  }
  if (reply.element[0]->type == REDIS_REPLY_NIL) return false;
  std::string_view fields[5];
  for (std::size_t i = 0; i < 5; ++i) {
    if (reply.element[i]->type == REDIS_REPLY_NIL) continue;
    auto s = reply_string(*reply.element[i]);
    if (!s) return s.error();
    fields[i] = *s;
  }
  entry.reason = std::string(fields[0]);
  auto since = parse_ms(fields[1]);
  if (!since) return since.error();
  auto expires = parse_ms(fields[2].empty() ? "0" : fields[2]);
  if (!expires) return expires.error();
  entry.since_ms = *since;
  entry.expires_ms = *expires;
  entry.tracking_id = std::string(fields[3]);
  entry.note = std::string(fields[4]);
  return true;
}

std::vector<std::string> hmget_entry(std::string key) {
  return {"HMGET", std::move(key), "reason", "since_ms", "expires_ms", "tracking_id", "note"};
}

}  // namespace

std::string suppression_name_index_key(std::string_view key_prefix, SuppressionScope scope,
                                       std::string_view scope_value) {
  return index_key(key_prefix, "supidx", scope, scope_value);
}

std::string suppression_expiry_index_key(std::string_view key_prefix, SuppressionScope scope,
                                         std::string_view scope_value) {
  return index_key(key_prefix, "supexp", scope, scope_value);
}

std::string_view suppression_scope_name(SuppressionScope scope) {
  switch (scope) {
    case SuppressionScope::kGlobal: return "global";
    case SuppressionScope::kSaslUsername: return "sasl_username";
    case SuppressionScope::kSenderDomain: return "sender_domain";
  }
  return "global";
}

Result<SuppressionScope> parse_suppression_scope(std::string_view name) {
  for (SuppressionScope s :
       {SuppressionScope::kGlobal, SuppressionScope::kSaslUsername, SuppressionScope::kSenderDomain}) {
    if (suppression_scope_name(s) == name) return s;
  }
  return make_error(Errc::kInvalidInput, "unknown suppression scope \"" + log_escape(name, 32) +
                                             "\" (want global, sasl_username or sender_domain)");
}

bool is_suppression_reason(std::string_view reason) {
  return std::find(std::begin(kReasons), std::end(kReasons), reason) != std::end(kReasons);
}

Result<std::string> normalize_suppression_scope_value(SuppressionScope scope, std::string_view value) {
  switch (scope) {
    case SuppressionScope::kGlobal:
      if (!value.empty()) return make_error(Errc::kInvalidInput, "the global suppression list takes no value");
      return std::string{};
    case SuppressionScope::kSaslUsername:
      if (value.empty()) return make_error(Errc::kInvalidInput, "an account suppression list needs the account name");
      if (value.size() > kMaxSuppressionScopeValueLength) {
        return make_error(Errc::kTooLong, "account name longer than " +
                                              std::to_string(kMaxSuppressionScopeValueLength) + " bytes");
      }
      if (has_control_bytes(value)) return make_error(Errc::kInvalidInput, "account name contains control bytes");
      return std::string(value);
    case SuppressionScope::kSenderDomain: {
      if (value.empty()) return make_error(Errc::kInvalidInput, "a domain suppression list needs the domain");
      if (value.find('@') != std::string_view::npos) {
        return make_error(Errc::kInvalidInput, "a sender domain has no '@'");
      }
      auto parsed = parse_mailbox("postmaster@" + std::string(value), MailboxOptions{.allow_null = false});
      if (!parsed) return make_error(parsed.error().code, "bad sender domain: " + parsed.error().detail);
      return std::move(parsed->domain);
    }
  }
  return make_error(Errc::kInvalidInput, "unknown suppression scope");
}

Result<std::string> normalize_suppression_recipient(std::string_view recipient) {
  auto parsed = parse_mailbox(recipient, MailboxOptions{.allow_null = false});
  if (!parsed) return make_error(parsed.error().code, "bad recipient: " + parsed.error().detail);
  return parsed->lookup_key();
}

std::string suppression_entry_key(std::string_view key_prefix, SuppressionScope scope, std::string_view scope_value,
                                  std::string_view recipient) {
  std::string key{key_prefix};
  key += "sup:";
  key += suppression_scope_name(scope);
  key += ':';
  if (scope != SuppressionScope::kGlobal) {
    key += redis_key_component(scope_value);
    key += ':';
  }
  key += recipient;
  return key;
}

SuppressionStore::SuppressionStore(RedisConn& conn, std::string key_prefix)
    : conn_(conn), prefix_(std::move(key_prefix)) {}

Result<SuppressionAdded> SuppressionStore::add(const SuppressionEntry& entry, SinceOnUpdate since) {
  auto key = normalize_key(entry.scope, entry.scope_value, entry.recipient);
  if (!key) return key.error();
  if (!is_suppression_reason(entry.reason)) {
    return make_error(Errc::kInvalidInput, "unknown suppression reason \"" + log_escape(entry.reason, 32) +
                                               "\" (want hard-bounce, soft-bounce, complaint, unsubscribe or manual)");
  }
  if (entry.since_ms < 0 || entry.expires_ms < 0) {
    return make_error(Errc::kInvalidInput, "suppression times are Unix milliseconds, not negative");
  }
  if (entry.tracking_id.size() > kMaxSuppressionTrackingIdLength || has_control_bytes(entry.tracking_id)) {
    return make_error(Errc::kInvalidInput, "tracking ID too long or with control bytes");
  }
  if (entry.note.size() > kMaxSuppressionNoteLength) {
    return make_error(Errc::kTooLong, "note longer than " + std::to_string(kMaxSuppressionNoteLength) + " bytes");
  }
  if (entry.note.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
    return make_error(Errc::kInvalidInput, "note contains CR, LF or NUL");
  }

  const std::vector<std::string> keys = {suppression_entry_key(prefix_, entry.scope, key->value, key->recipient),
                                         suppression_name_index_key(prefix_, entry.scope, key->value),
                                         suppression_expiry_index_key(prefix_, entry.scope, key->value)};
  const std::vector<std::string> args = {key->recipient,
                                         entry.reason,
                                         std::to_string(entry.since_ms),
                                         std::to_string(entry.expires_ms),
                                         entry.tracking_id,
                                         entry.note,
                                         since == SinceOnUpdate::kReplace ? "1" : "0"};
  auto reply = suppression_add_script().eval(conn_, keys, args);
  if (!reply) return reply.error();
  const redisReply& r = **reply;
  if (r.type == REDIS_REPLY_ARRAY && r.elements == 1 && r.element[0]->type == REDIS_REPLY_STRING &&
      std::string_view(r.element[0]->str, r.element[0]->len) == "expired") {
    return make_error(Errc::kInvalidInput, "expires_ms " + std::to_string(entry.expires_ms) + " is not in the future");
  }
  if (r.type != REDIS_REPLY_ARRAY || r.elements != 2 || r.element[0]->type != REDIS_REPLY_INTEGER ||
      r.element[1]->type != REDIS_REPLY_INTEGER) {
    return make_error(Errc::kProtocol, "redis: script suppression_add answered " + reply_describe(r));
  }
  SuppressionAdded added;
  added.entry = entry;
  added.entry.scope_value = std::move(key->value);
  added.entry.recipient = std::move(key->recipient);
  added.entry.since_ms = r.element[1]->integer;
  added.created = r.element[0]->integer == 1;
  return added;
}

Result<bool> SuppressionStore::remove(SuppressionScope scope, std::string_view scope_value,
                                      std::string_view recipient) {
  auto key = normalize_key(scope, scope_value, recipient);
  if (!key) return key.error();
  const std::vector<std::vector<std::string>> commands = {
      {"MULTI"},
      {"DEL", suppression_entry_key(prefix_, scope, key->value, key->recipient)},
      {"ZREM", suppression_name_index_key(prefix_, scope, key->value), key->recipient},
      {"ZREM", suppression_expiry_index_key(prefix_, scope, key->value), key->recipient},
      {"EXEC"}};
  auto replies = conn_.pipeline(commands);
  if (!replies) return replies.error();
  const redisReply& exec = *replies->back();
  if (exec.type != REDIS_REPLY_ARRAY || exec.elements != 3) {
    return make_error(Errc::kProtocol, "redis: EXEC of a suppression removal answered " + reply_describe(exec));
  }
  auto deleted = reply_integer(*exec.element[0]);
  if (!deleted) return deleted.error();
  return *deleted > 0;
}

Result<std::optional<SuppressionEntry>> SuppressionStore::get(SuppressionScope scope, std::string_view scope_value,
                                                              std::string_view recipient) {
  auto key = normalize_key(scope, scope_value, recipient);
  if (!key) return key.error();
  const std::vector<std::string> argv = hmget_entry(suppression_entry_key(prefix_, scope, key->value, key->recipient));
  const std::vector<std::string_view> views(argv.begin(), argv.end());
  auto reply = conn_.command(views);
  if (!reply) return reply.error();
  SuppressionEntry entry{scope, std::move(key->value), std::move(key->recipient), {}, 0, 0, {}, {}};
  auto found = fill_entry(**reply, entry);
  if (!found) return found.error();
  if (!*found) return std::optional<SuppressionEntry>{};
  return std::optional<SuppressionEntry>{std::move(entry)};
}

Status SuppressionStore::prune(const std::string& name_index, const std::string& expiry_index) {
  const std::vector<std::string> keys = {name_index, expiry_index};
  const std::vector<std::string> args = {std::to_string(kPruneBatch)};
  while (true) {
    auto reply = suppression_prune_script().eval(conn_, keys, args);
    if (!reply) return reply.error();
    auto removed = reply_integer(**reply);
    if (!removed) return make_error(Errc::kProtocol, "redis: script suppression_prune: " + removed.error().detail);
    if (*removed < kPruneBatch) return {};
  }
}

Result<SuppressionPage> SuppressionStore::list(SuppressionScope scope, std::string_view scope_value,
                                               std::string_view cursor, std::size_t limit) {
  auto value = normalize_suppression_scope_value(scope, scope_value);
  if (!value) return value.error();
  if (limit == 0 || limit > kMaxPageSize) {
    return make_error(Errc::kInvalidInput, "page size must be 1 to " + std::to_string(kMaxPageSize));
  }
  const std::string names = suppression_name_index_key(prefix_, scope, *value);
  if (Status st = prune(names, suppression_expiry_index_key(prefix_, scope, *value)); !st) return st.error();

  const std::string from = cursor.empty() ? std::string("-") : "(" + std::string(cursor);
  auto members = conn_.command({"ZRANGEBYLEX", names, from, "+", "LIMIT", "0", std::to_string(limit)});
  if (!members) return members.error();
  const redisReply& m = **members;
  if (m.type != REDIS_REPLY_ARRAY) {
    return make_error(Errc::kProtocol, "redis: ZRANGEBYLEX of a suppression list answered " + reply_describe(m));
  }
  SuppressionPage page;
  if (m.elements == 0) return page;

  std::vector<std::string> recipients;
  std::vector<std::vector<std::string>> commands;
  for (std::size_t i = 0; i < m.elements; ++i) {
    auto r = reply_string(*m.element[i]);
    if (!r) return make_error(Errc::kProtocol, "redis: suppression list member: " + r.error().detail);
    recipients.emplace_back(*r);
    commands.push_back(hmget_entry(suppression_entry_key(prefix_, scope, *value, recipients.back())));
  }
  auto replies = conn_.pipeline(commands);
  if (!replies) return replies.error();
  std::vector<std::string> vanished;
  for (std::size_t i = 0; i < recipients.size(); ++i) {
    SuppressionEntry entry{scope, *value, recipients[i], {}, 0, 0, {}, {}};
    auto found = fill_entry(*(*replies)[i], entry);
    if (!found) return found.error();
    if (*found) {
      page.entries.push_back(std::move(entry));
    } else {
      vanished.push_back(recipients[i]);  // expired (or deleted by hand) since the prune
    }
  }
  if (!vanished.empty()) {
    std::vector<std::string> zrem = {"ZREM", names};
    zrem.insert(zrem.end(), vanished.begin(), vanished.end());
    const std::vector<std::vector<std::string>> cleanup = {zrem};
    if (auto r = conn_.pipeline(cleanup); !r) return r.error();
  }
  if (m.elements == limit) page.next_cursor = recipients.back();
  return page;
}

Result<std::uint64_t> SuppressionStore::count(SuppressionScope scope, std::string_view scope_value) {
  auto value = normalize_suppression_scope_value(scope, scope_value);
  if (!value) return value.error();
  const std::string names = suppression_name_index_key(prefix_, scope, *value);
  if (Status st = prune(names, suppression_expiry_index_key(prefix_, scope, *value)); !st) return st.error();
  auto reply = conn_.command({"ZCARD", names});
  if (!reply) return reply.error();
  auto n = reply_integer(**reply);
  if (!n) return n.error();
  return static_cast<std::uint64_t>(*n);
}

}  // namespace sluice
