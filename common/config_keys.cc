#include "common/config_keys.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <fstream>

#include "common/ascii.h"
#include "common/config_key_helpers.h"
#include "common/config_values.h"
#include "common/listen_address.h"

namespace sluice {

namespace config_detail {

using std::chrono::milliseconds;

Status store_duration(milliseconds& out, std::string_view value, milliseconds min, milliseconds max) {
  auto parsed = parse_duration_value(value, min, max);
  if (!parsed) return parsed.error();
  out = *parsed;
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

bool is_section_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), is_key_prefix_char) &&
         name.find(':') == std::string_view::npos;
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

bool is_header_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
  });
}

bool is_domain_name(std::string_view name) {
  if (name.empty() || name.size() > 253 || name.front() == '.' || name.back() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.';
  });
}

Status store_header_names(std::vector<std::string>& out, std::string_view value) {
  out.clear();
  for (std::string_view item : split_list(value)) {
    if (item.empty()) continue;
    if (!is_header_name(item)) return config_error("\"" + log_escape(item, 64) + "\" is not a header name");
    out.push_back(ascii_lower(item));
  }
  return {};
}

// Table paths keep OpenDKIM's "file:"/"refile:" prefix; the path after it is
// resolved like any other relative path.
std::string resolve_table_path(std::string_view value, const ConfigContext& context) {
  for (std::string_view prefix : {std::string_view("refile:"), std::string_view("file:")}) {
    if (value.starts_with(prefix)) return std::string(prefix) + resolve_path(value.substr(prefix.size()), context);
  }
  return resolve_path(value, context);
}

}  // namespace config_detail

namespace {

using std::chrono::milliseconds;
using namespace config_detail;

constexpr const char* kDefaultSignedHeaders =
    "from, to, cc, subject, date, message-id, reply-to, in-reply-to, references, mime-version, content-type, "
    "content-transfer-encoding, content-disposition, list-id, list-unsubscribe, list-unsubscribe-post, "
    "feedback-id";
constexpr const char* kDefaultOversignedHeaders =
    "from, to, cc, subject, date, reply-to, message-id, content-type, mime-version, list-unsubscribe, "
    "list-unsubscribe-post";

constexpr milliseconds kMinTimeout{10};
constexpr milliseconds kMaxTimeout{60'000};

// [policyd] spf_fail and its siblings.
Status store_spf_action(SpfAction& out, std::string_view value) {
  if (value == "accept") out = SpfAction::kAccept;
  else if (value == "defer") out = SpfAction::kDefer;
  else if (value == "reject") out = SpfAction::kReject;
  else return config_error("want reject, defer or accept");
  return {};
}

// A comma-separated CIDR list; empty text: no networks.
Status store_cidr_list(std::vector<Cidr>& out, std::string_view value) {
  out.clear();
  for (std::string_view item : split_list(value)) {
    if (item.empty()) continue;
    auto cidr = parse_cidr(item);
    if (!cidr) return config_error(cidr.error().detail);
    out.push_back(*cidr);
  }
  return {};
}

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
    {"policyd", "sender_authorisation", "yes|no", "no",
     "authenticated clients may use only the envelope senders of their login (sluicectl sender allow)",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_bool(c.policyd.sender_authorisation, v); }},
    {"policyd", "sender_authorisation_missing", "reject|accept", "reject",
     "sender_authorisation for a login with no senders set at all: reject its mail, or accept any sender",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       if (v == "reject") c.policyd.sender_authorisation_missing = MissingSenderSetAction::kReject;
       else if (v == "accept") c.policyd.sender_authorisation_missing = MissingSenderSetAction::kAccept;
       else return config_error("sender_authorisation_missing must be reject or accept");
       return {};
     }},
    {"policyd", "require_authentication", "yes|no", "no",
     "refuse (554 5.7.1) clients neither authenticated nor in trusted_networks: relay protection in depth",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_bool(c.policyd.require_authentication, v); }},
    {"policyd", "trusted_networks", "CIDR list", "127.0.0.0/8, ::1",
     "clients that may relay without SMTP AUTH when require_authentication = yes",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_cidr_list(c.policyd.trusted_networks, v); }},
    {"policyd", "spf", "yes|no", "no", "check SPF (RFC 7208) of unauthenticated clients at their first RCPT",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_bool(c.policyd.spf, v); }},
    {"policyd", "spf_exempt_networks", "CIDR list", "", "clients never SPF-checked (authenticated ones never are)",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_cidr_list(c.policyd.spf_exempt_networks, v); }},
    {"policyd", "spf_fail", "reject|defer|accept", "reject", "answer to SPF result fail (reject: 550 5.7.23)",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_spf_action(c.policyd.spf_actions.fail, v); }},
    {"policyd", "spf_softfail", "reject|defer|accept", "accept", "answer to SPF result softfail",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_spf_action(c.policyd.spf_actions.softfail, v); }},
    {"policyd", "spf_neutral", "reject|defer|accept", "accept", "answer to SPF result neutral",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_spf_action(c.policyd.spf_actions.neutral, v); }},
    {"policyd", "spf_none", "reject|defer|accept", "accept", "answer when the domain publishes no SPF record",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_spf_action(c.policyd.spf_actions.none, v); }},
    {"policyd", "spf_permerror", "reject|defer|accept", "accept", "answer to SPF result permerror (a broken record)",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_spf_action(c.policyd.spf_actions.permerror, v); }},
    {"policyd", "spf_temperror", "reject|defer|accept", "defer",
     "answer to SPF result temperror, an SPF timeout or a full SPF queue (defer: 450 4.7.24)",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_spf_action(c.policyd.spf_actions.temperror, v); }},
    {"policyd", "spf_timeout", "duration", "5s",
     "longest wait for one SPF evaluation; keep it below Postfix's smtpd_policy_service_timeout",
     [](Config& c, std::string_view v, const ConfigContext&) {
       return store_duration(c.policyd.spf_timeout, v, milliseconds{100}, kMaxTimeout);
     }},
    {"policyd", "spf_workers", "1..64", "4", "threads evaluating SPF (libspf2 blocks on DNS; the event loop never does)",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_int(c.policyd.spf_workers, v, 1, 64); }},
    {"policyd", "spf_received_header", "yes|no", "no",
     "prepend a Received-SPF header (RFC 7208 9.1) to mail whose SPF was checked",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_bool(c.policyd.spf_received_header, v); }},

    // [milter]
    {"milter", "socket", "inet:PORT@IP | unix:/PATH", "inet:8891@127.0.0.1",
     "where the MTA connects (libmilter notation, as in smtpd_milters = inet:127.0.0.1:8891)",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       const bool inet = v.starts_with("inet:") && v.find('@') != std::string_view::npos;
       const bool inet6 = v.starts_with("inet6:") && v.find('@') != std::string_view::npos;
       const bool unix_socket = (v.starts_with("unix:/") || v.starts_with("local:/"));
       if (!inet && !inet6 && !unix_socket) {
         return config_error("socket must be inet:PORT@IP, inet6:PORT@IP or unix:/PATH");
       }
       if (inet || inet6) {
         const auto colon = v.find(':');
         auto port = parse_int_value(v.substr(colon + 1, v.find('@') - colon - 1), 1, 65535);
         if (!port) return config_error("socket port must be 1 to 65535");
       }
       c.milter.socket = v;
       return {};
     }},
    {"milter", "key_table", "path", "", "OpenDKIM-style key table: NAME DOMAIN:SELECTOR:KEYFILE (file: prefix allowed)",
     [](Config& c, std::string_view v, const ConfigContext& ctx) -> Status {
       c.milter.key_table = resolve_table_path(v, ctx);
       return {};
     }},
    {"milter", "signing_table", "path", "",
     "OpenDKIM-style signing table: PATTERN KEYNAME (refile: for * patterns)",
     [](Config& c, std::string_view v, const ConfigContext& ctx) -> Status {
       c.milter.signing_table = resolve_table_path(v, ctx);
       return {};
     }},
    {"milter", "header_rules", "path", "", "header rewrite rules applied before signing (doc/header-rules.md)",
     [](Config& c, std::string_view v, const ConfigContext& ctx) -> Status {
       c.milter.header_rules = resolve_path(v, ctx);
       return {};
     }},
    {"milter", "canonicalization", "HEADER/BODY", "relaxed/relaxed", "DKIM c=: simple or relaxed for header and body",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       const auto slash = v.find('/');
       const auto one = [](std::string_view s, DkimCanonicalization& out) {
         if (s == "simple") out = DkimCanonicalization::kSimple;
         else if (s == "relaxed") out = DkimCanonicalization::kRelaxed;
         else return false;
         return true;
       };
       const std::string_view header = v.substr(0, slash);
       const std::string_view body = slash == std::string_view::npos ? std::string_view("simple") : v.substr(slash + 1);
       if (!one(header, c.milter.header_canon) || !one(body, c.milter.body_canon)) {
         return config_error("canonicalization must be simple or relaxed, optionally /simple or /relaxed");
       }
       return {};
     }},
    {"milter", "signed_headers", "header names", kDefaultSignedHeaders,
     "headers signed when present (each instance)",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_header_names(c.milter.signed_headers, v); }},
    {"milter", "oversigned_headers", "header names", kDefaultOversignedHeaders,
     "headers signed once more than they occur, so none can be added after signing",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_header_names(c.milter.oversigned_headers, v); }},
    {"milter", "signature_ttl", "duration", "0", "add x= this long after signing (0: no expiry)",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       milliseconds ttl{0};
       if (Status s = store_duration(ttl, v, milliseconds{0}, milliseconds{86'400'000LL * 3650}); !s) return s;
       c.milter.signature_ttl = std::chrono::duration_cast<std::chrono::seconds>(ttl);
       return {};
     }},
    {"milter", "min_rsa_bits", "1024..4096", "2048", "smallest RSA key accepted (RFC 8301: 1024 only if you must)",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_int(c.milter.min_rsa_bits, v, 1024, 4096); }},
    {"milter", "dual_sign", "yes|no", "yes",
     "sign with every matching signing-table line (one Ed25519 and one RSA signature), not only the first",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_bool(c.milter.dual_sign, v); }},
    {"milter", "on_missing_key", "accept|tempfail", "accept",
     "a matched domain whose key cannot be used: pass unsigned (logged) or tempfail the message",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       if (v == "accept") c.milter.on_missing_key = MissingKeyAction::kAccept;
       else if (v == "tempfail") c.milter.on_missing_key = MissingKeyAction::kTempfail;
       else return config_error("on_missing_key must be accept or tempfail");
       return {};
     }},
    {"milter", "internal_networks", "CIDR list", "127.0.0.0/8, ::1",
     "clients whose mail is outbound without SMTP AUTH (authenticated mail always is)",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       c.milter.internal_networks.clear();
       for (std::string_view item : split_list(v)) {
         if (item.empty()) continue;
         auto cidr = parse_cidr(item);
         if (!cidr) return config_error(cidr.error().detail);
         c.milter.internal_networks.push_back(*cidr);
       }
       return {};
     }},
    {"milter", "sign_unauthenticated", "yes|no", "no",
     "also process mail that is neither authenticated nor from internal_networks (normally passed untouched)",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_bool(c.milter.sign_unauthenticated, v); }},
    {"milter", "tracking_header", "header name", "X-Sluice-ID", "header carrying the tracking ID",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       if (!is_header_name(v)) return config_error("tracking_header must be a header name (letters, digits, -)");
       c.milter.tracking_header = v;
       return {};
     }},
    {"milter", "verp", "yes|no", "no", "rewrite the envelope sender to verp_prefix+ID@verp_domain",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_bool(c.milter.verp, v); }},
    {"milter", "verp_prefix", "local part", "bounce", "local part before +ID in VERP return paths",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       if (v.empty() || v.size() > 32 || !std::all_of(v.begin(), v.end(), is_key_prefix_char) ||
           v.find(':') != std::string_view::npos) {
         return config_error("verp_prefix must be 1 to 32 of letters, digits and . _ -");
       }
       c.milter.verp_prefix = v;
       return {};
     }},
    {"milter", "verp_domain", "domain", "", "domain of VERP return paths (its MX must reach sluice-bounce)",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       if (!v.empty() && !is_domain_name(v)) return config_error("verp_domain must be a domain name");
       c.milter.verp_domain = v;
       return {};
     }},
    {"milter", "mta_timeout", "duration", "30s", "how long to wait for the MTA between milter steps",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       milliseconds t{0};
       if (Status s = store_duration(t, v, milliseconds{1000}, milliseconds{3'600'000}); !s) return s;
       c.milter.mta_timeout = std::chrono::duration_cast<std::chrono::seconds>(t);
       return {};
     }},
    {"milter", "pid_file", "path", "", "write the daemon's PID here (empty: none)",
     [](Config& c, std::string_view v, const ConfigContext& ctx) -> Status {
       c.milter.pid_file = resolve_path(v, ctx);
       return {};
     }},
    {"milter", "user", "user name", "", "drop to this user after opening the socket and reading the keys",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       c.milter.user = v;
       return {};
     }},
    {"milter", "sender_authorisation", "yes|no", "no",
     "sign only From domains the SASL login owns (sluicectl sender allow LOGIN @DOMAIN)",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_bool(c.milter.sender_authorisation, v); }},
    {"milter", "on_unauthorised_from", "reject|unsigned", "reject",
     "a From domain the login does not own: refuse the message (550 5.7.1) or pass it unsigned",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       if (v == "reject") c.milter.on_unauthorised_from = UnauthorisedFromAction::kReject;
       else if (v == "unsigned") c.milter.on_unauthorised_from = UnauthorisedFromAction::kUnsigned;
       else return config_error("on_unauthorised_from must be reject or unsigned");
       return {};
     }},
    {"milter", "on_redis_error", "tempfail|accept", "tempfail",
     "Redis cannot answer whether the login owns the From domain: tempfail, or sign anyway",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       if (v == "tempfail") c.milter.on_redis_error = RedisErrorAction::kTempfail;
       else if (v == "accept") c.milter.on_redis_error = RedisErrorAction::kAccept;
       else return config_error("on_redis_error must be tempfail or accept");
       return {};
     }},
    {"milter", "message_record_ttl", "duration", "14d",
     "keep tracking ID -> account, sender in Redis this long, for sluice-bounce (0: none)",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       milliseconds ttl{0};
       if (Status s = store_duration(ttl, v, milliseconds{0}, milliseconds{86'400'000LL * 365}); !s) return s;
       c.milter.message_record_ttl = std::chrono::duration_cast<std::chrono::seconds>(ttl);
       return {};
     }},
    {"milter", "authentication_results", "yes|no", "no",
     "add Authentication-Results (RFC 8601) with the SPF result of the client for MAIL FROM",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_bool(c.milter.authentication_results, v); }},
    {"milter", "authserv_id", "domain", "", "authserv-id of Authentication-Results (empty: this host's name)",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       if (!v.empty() && !is_domain_name(v)) return config_error("authserv_id must be a domain name");
       c.milter.authserv_id = v;
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
    {"milter", false, "sluice-milter: DKIM signing, header rules, tracking IDs", nullptr},
    {"quota", true, "one quota rule: [quota NAME]",
     [](Config& c, std::string_view name) -> Status {
       if (!is_section_name(name)) return config_error("a quota rule name is 1 to 64 of letters, digits and . _ -");
       c.quota_rules.push_back(QuotaRule{std::string(name), {QuotaKeyField::kSaslUsername}, {}, QuotaAction::kDefer});
       return {};
     }},
};

}  // namespace

std::optional<CrossKeyProblem> find_core_cross_key_problem(const Config& config);

// The core tables; the other parts live in config_keys_*.cc.
ConfigPart core_config_part() { return ConfigPart{kSections, kKeys, find_core_cross_key_problem}; }

namespace {

struct AllParts {
  std::vector<ConfigKey> keys;
  std::vector<ConfigSection> sections;
  std::vector<std::optional<CrossKeyProblem> (*)(const Config&)> checks;
};

const AllParts& all_parts() {
  static const AllParts parts = [] {
    AllParts all;
    for (const ConfigPart& part : {core_config_part(), scanner_config_part(), dns_config_part(), feedback_config_part()}) {
      all.keys.insert(all.keys.end(), part.keys.begin(), part.keys.end());
      all.sections.insert(all.sections.end(), part.sections.begin(), part.sections.end());
      if (part.cross_check != nullptr) all.checks.push_back(part.cross_check);
    }
    return all;
  }();
  return parts;
}

}  // namespace

std::span<const ConfigKey> config_keys() { return all_parts().keys; }
std::span<const ConfigSection> config_sections() { return all_parts().sections; }

const ConfigSection* find_config_section(std::string_view section) {
  for (const ConfigSection& known : config_sections()) {
    if (known.name == section) return &known;
  }
  return nullptr;
}

const ConfigKey* find_config_key(std::string_view section, std::string_view name) {
  for (const ConfigKey& key : config_keys()) {
    if (key.section == section && key.name == name) return &key;
  }
  return nullptr;
}


std::optional<CrossKeyProblem> find_core_cross_key_problem(const Config& config) {
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

std::optional<CrossKeyProblem> find_cross_key_problem(const Config& config) {
  for (auto check : all_parts().checks) {
    if (auto problem = check(config)) return problem;
  }
  return std::nullopt;
}

}  // namespace sluice
