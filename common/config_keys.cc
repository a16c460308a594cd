#include "common/config_keys.h"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>

#include "common/config_values.h"
#include "common/listen_address.h"

namespace sluice {
namespace {

using std::chrono::milliseconds;

Status store_duration(milliseconds& out, std::string_view value, milliseconds min, milliseconds max) {
  auto parsed = parse_duration_value(value, min, max);
  if (!parsed) return parsed.error();
  out = *parsed;
  return {};
}

template <class Int>
Status store_int(Int& out, std::string_view value, std::int64_t min, std::int64_t max) {
  auto parsed = parse_int_value(value, min, max);
  if (!parsed) return parsed.error();
  out = static_cast<Int>(*parsed);
  return {};
}

Error config_error(std::string reason) { return make_error(Errc::kConfig, std::move(reason)); }

std::string resolve_path(std::string_view path, const ConfigContext& context) {
  if (path.empty() || path.front() == '/' || context.base_dir.empty()) return std::string(path);
  return std::string(context.base_dir) + "/" + std::string(path);
}

// The secret must not be readable by everyone: refuse, as sshd refuses keys.
Status read_password_file(std::string& out, std::string_view value, const ConfigContext& context) {
  const std::string path = resolve_path(value, context);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return config_error("cannot read password_file " + path);
  if ((st.st_mode & S_IROTH) != 0) {
    return config_error("password_file " + path + " is readable by others (chmod o-r it)");
  }
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return config_error("cannot read password_file " + path);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return config_error("password_file " + path + " is empty");
  out = line;
  return {};
}

bool is_key_prefix_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' ||
         c == '.' || c == '_' || c == '-';
}

Status store_bool(bool& out, std::string_view value) {
  auto parsed = parse_bool_value(value);
  if (!parsed) return parsed.error();
  out = *parsed;
  return {};
}

// Comma-separated list; blanks around items ignored; empty text: no items.
std::vector<std::string_view> split_list(std::string_view text) {
  std::vector<std::string_view> items;
  while (!text.empty()) {
    const auto comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    const auto first = item.find_first_not_of(" \t");
    item = first == std::string_view::npos ? std::string_view{} : item.substr(first, item.find_last_not_of(" \t") - first + 1);
    items.push_back(item);
    if (comma == std::string_view::npos) break;
    text = text.substr(comma + 1);
  }
  return items;
}

Status store_quota_limits(Config& c, QuotaMetric metric, std::string_view value) {
  auto parsed = parse_quota_limits(metric, value);
  if (!parsed) return parsed.error();
  auto& limits = c.quota_rules.back().limits;
  std::erase_if(limits, [&](const QuotaLimit& l) { return l.metric == metric; });
  limits.insert(limits.end(), parsed->begin(), parsed->end());
  return {};
}

constexpr milliseconds kMinTimeout{10};
constexpr milliseconds kMaxTimeout{60'000};

const ConfigKey kKeys[] = {
    // [redis]: the one Redis every node shares.
    {"redis", "host", "hostname or IP", "127.0.0.1", "Redis server address (ignored when unix_socket is set)",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       if (v.empty() || v.find_first_of(" \t") != std::string_view::npos) return config_error("host must be a single word");
       c.redis.connection.host = v;
       return {};
     }},
    {"redis", "port", "1..65535", "6379", "Redis TCP port",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_int(c.redis.connection.port, v, 1, 65535); }},
    {"redis", "unix_socket", "absolute path", "", "Redis unix socket; when set, host and port are not used",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       if (!v.empty() && v.front() != '/') return config_error("unix_socket must be an absolute path");
       c.redis.connection.unix_socket = v;
       return {};
     }},
    {"redis", "username", "string", "", "ACL user name (Redis 6+); empty: the default user",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       c.redis.connection.username = v;
       return {};
     }},
    {"redis", "password", "string", "", "password sent with AUTH; prefer password_file",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       c.redis.connection.password = v;
       return {};
     },
     "password_file"},
    {"redis", "password_file", "path", "", "file whose first line is the AUTH password; must not be world-readable",
     [](Config& c, std::string_view v, const ConfigContext& ctx) -> Status {
       if (v.empty()) return {};
       return read_password_file(c.redis.connection.password, v, ctx);
     },
     "password"},
    {"redis", "database", "0..1023", "0", "database number selected after connecting",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_int(c.redis.connection.database, v, 0, 1023); }},
    {"redis", "connect_timeout", "duration", "500ms", "time allowed to connect (and AUTH)",
     [](Config& c, std::string_view v, const ConfigContext&) {
       return store_duration(c.redis.connection.connect_timeout, v, kMinTimeout, kMaxTimeout);
     }},
    {"redis", "command_timeout", "duration", "500ms", "time allowed for one command or script to answer",
     [](Config& c, std::string_view v, const ConfigContext&) {
       return store_duration(c.redis.connection.command_timeout, v, kMinTimeout, kMaxTimeout);
     }},
    {"redis", "reconnect_min", "duration", "100ms", "first wait before reconnecting after a failure",
     [](Config& c, std::string_view v, const ConfigContext&) {
       return store_duration(c.redis.connection.reconnect_min, v, kMinTimeout, kMaxTimeout);
     }},
    {"redis", "reconnect_max", "duration", "5s", "longest wait between reconnect attempts (backoff doubles up to it)",
     [](Config& c, std::string_view v, const ConfigContext&) {
       return store_duration(c.redis.connection.reconnect_max, v, kMinTimeout, milliseconds{600'000});
     }},
    {"redis", "key_prefix", "string", "sluice:v1:", "prefix of every Redis key Sluice uses (letters, digits, : . _ -)",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       if (v.empty() || v.size() > 64 || !std::all_of(v.begin(), v.end(), is_key_prefix_char)) {
         return config_error("key_prefix must be 1 to 64 of letters, digits and : . _ -");
       }
       c.redis.key_prefix = v;
       return {};
     }},

    // [log]
    {"log", "facility", "syslog facility", "mail", "syslog facility: mail, daemon, user, local0..local7",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       auto parsed = parse_syslog_facility(v);
       if (!parsed) return config_error(parsed.error().detail);
       c.log.facility = *parsed;
       return {};
     }},
    {"log", "level", "debug|info|warning|error", "info", "lowest level logged",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       auto parsed = parse_log_level(v);
       if (!parsed) return config_error(parsed.error().detail);
       c.log.level = *parsed;
       return {};
     }},

    // [policyd]
    {"policyd", "listen", "address list", "inet:127.0.0.1:10040",
     "where to accept Postfix: inet:IP:PORT and/or unix:/PATH, comma-separated",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       c.policyd.listen.clear();
       for (std::string_view item : split_list(v)) {
         auto address = parse_listen_address(item);
         if (!address) return address.error();
         c.policyd.listen.push_back(address->str());
       }
       if (c.policyd.listen.empty()) return config_error("listen needs at least one address");
       return {};
     }},
    {"policyd", "unix_socket_mode", "octal mode", "0666", "permissions of unix listen sockets",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       if (v.size() != 4 || v[0] != '0' || v.find_first_not_of("01234567") != std::string_view::npos) {
         return config_error("unix_socket_mode must be four octal digits, like 0660");
       }
       c.policyd.unix_socket_mode = static_cast<unsigned>(std::stoul(std::string(v), nullptr, 8));
       return {};
     }},
    {"policyd", "on_redis_error", "tempfail|accept", "tempfail",
     "answer when Redis cannot be asked: tempfail (4.3.0, mail waits) or accept (mail goes unmetered, logged)",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       if (v == "tempfail") c.policyd.on_redis_error = RedisErrorAction::kTempfail;
       else if (v == "accept") c.policyd.on_redis_error = RedisErrorAction::kAccept;
       else return config_error("on_redis_error must be tempfail or accept");
       return {};
     }},
    {"policyd", "max_connections", "1..100000", "1000",
     "connections served at once (Postfix opens one per smtpd process); more are closed at once",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_int(c.policyd.max_connections, v, 1, 100000); }},
    {"policyd", "idle_timeout", "duration", "10m", "close a connection idle this long (Postfix reconnects)",
     [](Config& c, std::string_view v, const ConfigContext&) {
       return store_duration(c.policyd.idle_timeout, v, milliseconds{1000}, milliseconds{86'400'000});
     }},
    {"policyd", "suppression", "yes|no", "yes", "refuse suppressed recipients at RCPT",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_bool(c.policyd.suppression, v); }},
    {"policyd", "suppression_scopes", "list", "global, sasl_username, sender_domain",
     "suppression lists looked up: global, sasl_username (the account), sender_domain",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       c.policyd.suppression_scopes.clear();
       for (std::string_view item : split_list(v)) {
         SuppressionScope scope;
         if (item == "global") scope = SuppressionScope::kGlobal;
         else if (item == "sasl_username") scope = SuppressionScope::kSaslUsername;
         else if (item == "sender_domain") scope = SuppressionScope::kSenderDomain;
         else return config_error("unknown suppression scope \"" + log_escape(item, 32) + "\" (want global, sasl_username or sender_domain)");
         c.policyd.suppression_scopes.push_back(scope);
       }
       return {};
     }},
    {"policyd", "pid_file", "path", "", "write the daemon's PID here (empty: none)",
     [](Config& c, std::string_view v, const ConfigContext& ctx) -> Status {
       c.policyd.pid_file = resolve_path(v, ctx);
       return {};
     }},
    {"policyd", "user", "user name", "", "drop to this user after opening sockets (empty: stay)",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       c.policyd.user = v;
       return {};
     }},

    // [quota NAME]: one rule each.
    {"quota", "key", "fields joined with +", "sasl_username",
     "what is counted together: sasl_username, sender, sender_domain, client_address (e.g. sender_domain+client_address)",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       auto parsed = parse_quota_key(v);
       if (!parsed) return parsed.error();
       c.quota_rules.back().key = *parsed;
       return {};
     }},
    {"quota", "messages", "COUNT/WINDOW list", "", "messages per window, e.g. 100/1m, 10000/1d (counted at end of message)",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_quota_limits(c, QuotaMetric::kMessages, v); }},
    {"quota", "recipients", "COUNT/WINDOW list", "", "recipients per window (counted at RCPT)",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_quota_limits(c, QuotaMetric::kRecipients, v); }},
    {"quota", "bytes", "SIZE/WINDOW list", "", "message bytes per window, e.g. 500M/1d (K, M, G, T: powers of 1024)",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_quota_limits(c, QuotaMetric::kBytes, v); }},
    {"quota", "action", "defer|reject", "defer", "answer when a limit is reached: defer (450 4.7.1) or reject (550 5.7.1)",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       if (v == "defer") c.quota_rules.back().action = QuotaAction::kDefer;
       else if (v == "reject") c.quota_rules.back().action = QuotaAction::kReject;
       else return config_error("action must be defer or reject");
       return {};
     }},
};


const ConfigSection kSections[] = {
    {"redis", false, "the shared Redis", nullptr},
    {"log", false, "logging", nullptr},
    {"policyd", false, "sluice-policyd, the Postfix policy service", nullptr},
    {"quota", true, "one quota rule: [quota NAME]",
     [](Config& c, std::string_view name) -> Status {
       const bool valid = !name.empty() && name.size() <= 64 &&
                          std::all_of(name.begin(), name.end(), is_key_prefix_char) &&
                          name.find(':') == std::string_view::npos;
       if (!valid) return config_error("a quota rule name is 1 to 64 of letters, digits and . _ -");
       for (const QuotaRule& rule : c.quota_rules) {
         if (rule.name == name) return config_error("quota rule \"" + std::string(name) + "\" defined twice");
       }
       c.quota_rules.push_back(QuotaRule{std::string(name), {QuotaKeyField::kSaslUsername}, {}, QuotaAction::kDefer});
       return {};
     }},
};

}  // namespace

std::span<const ConfigKey> config_keys() { return kKeys; }
std::span<const ConfigSection> config_sections() { return kSections; }

const ConfigSection* find_config_section(std::string_view section) {
  for (const ConfigSection& known : kSections) {
    if (known.name == section) return &known;
  }
  return nullptr;
}

const ConfigKey* find_config_key(std::string_view section, std::string_view name) {
  for (const ConfigKey& key : kKeys) {
    if (key.section == section && key.name == name) return &key;
  }
  return nullptr;
}


std::optional<CrossKeyProblem> find_cross_key_problem(const Config& config) {
  const RedisOptions& redis = config.redis.connection;
  if (redis.reconnect_min > redis.reconnect_max) {
    return CrossKeyProblem{"redis", "reconnect_max",
                           "reconnect_max (" + format_duration(redis.reconnect_max) +
                               ") is shorter than reconnect_min (" + format_duration(redis.reconnect_min) + ")"};
  }
  if (!redis.username.empty() && redis.password.empty()) {
    return CrossKeyProblem{"redis", "username", "username is set but no password or password_file"};
  }
  for (const QuotaRule& rule : config.quota_rules) {
    if (rule.limits.empty()) {
      return CrossKeyProblem{"quota " + rule.name, "",
                             "quota rule \"" + rule.name + "\" has no messages, recipients or bytes limit"};
    }
  }
  return std::nullopt;
}

}  // namespace sluice
