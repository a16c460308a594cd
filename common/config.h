// The sluice.conf configuration: one INI-style file shared by every program,
// with a section per component ([redis], [log], later [milter], [policyd]).
//
// A Config is an immutable snapshot once loaded: daemons hold it through a
// std::shared_ptr<const Config> and a reload swaps the pointer, so a request
// in flight keeps the snapshot it started with. Every key, its type, default
// and check live in config_keys.cc; this file only reads the syntax.
//
// Syntax: "[section]" lines, "key = value" lines, blank lines and lines whose
// first non-blank character is '#' or ';'. Values run to the end of the line
// (no trailing comments: '#' is legal in a password) and are trimmed; a value
// may be written in double quotes to keep surrounding blanks. Some sections
// are named and may appear several times: "[quota per-customer]". Unknown sections
// and keys, a key set twice, a bad value, and a missing file are errors
// reported as "file:line: reason".
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/cidr.h"
#include "common/dns_settings.h"
#include "common/feedback_settings.h"
#include "common/log.h"
#include "common/quota_rule.h"
#include "common/redis_conn.h"
#include "common/result.h"
#include "common/scan_settings.h"

// configure passes the installation's sysconfdir; "/etc" for other builds.
#ifndef SLUICE_SYSCONFDIR
#define SLUICE_SYSCONFDIR "/etc"
#endif

namespace sluice {

struct RedisSettings {
  RedisOptions connection;
  // Every key Sluice writes starts with this prefix (doc/redis-schema.md).
  std::string key_prefix;
};

struct LogSettings {
  int facility = 0;
  LogLevel level = LogLevel::kInfo;
};

// What sluice-policyd answers when Redis cannot be asked in time.
enum class RedisErrorAction { kTempfail, kAccept };

// Which suppression lists a recipient is looked up in.
enum class SuppressionScope { kGlobal, kSaslUsername, kSenderDomain };

// What a login with no senders set at all may send as (sender_authorisation).
enum class MissingSenderSetAction { kReject, kAccept };

// sluice-policyd's answer to one SPF result: accept goes on to the Redis
// checks, defer answers 450, reject 550.
enum class SpfAction { kAccept, kDefer, kReject };

// One action per SPF result (RFC 7208 2.6); a timeout counts as temperror.
struct SpfActions {
  SpfAction fail = SpfAction::kReject;
  SpfAction softfail = SpfAction::kAccept;
  SpfAction neutral = SpfAction::kAccept;
  SpfAction none = SpfAction::kAccept;
  SpfAction permerror = SpfAction::kAccept;
  SpfAction temperror = SpfAction::kDefer;
  friend bool operator==(const SpfActions&, const SpfActions&) = default;
};

struct PolicydSettings {
  std::vector<std::string> listen;  // "inet:127.0.0.1:10040", "unix:/run/sluice/policyd.sock"
  unsigned unix_socket_mode = 0666;
  RedisErrorAction on_redis_error = RedisErrorAction::kTempfail;
  int max_connections = 1000;
  std::chrono::milliseconds idle_timeout{0};
  bool suppression = true;
  std::vector<SuppressionScope> suppression_scopes;
  std::string pid_file;
  std::string user;
  // Authenticated clients may send only as the senders of their login.
  bool sender_authorisation = false;
  MissingSenderSetAction sender_authorisation_missing = MissingSenderSetAction::kReject;
  // Clients neither authenticated nor in trusted_networks are refused.
  bool require_authentication = false;
  std::vector<Cidr> trusted_networks;
  // SPF of unauthenticated clients outside spf_exempt_networks, at RCPT.
  bool spf = false;
  std::vector<Cidr> spf_exempt_networks;
  SpfActions spf_actions;
  std::chrono::milliseconds spf_timeout{5000};
  int spf_workers = 4;
  bool spf_received_header = false;
};

enum class DkimCanonicalization { kSimple, kRelaxed };
enum class MissingKeyAction { kAccept, kTempfail };
enum class UnauthorisedFromAction { kReject, kUnsigned };

struct MilterSettings {
  std::string socket;         // libmilter notation: "inet:8891@127.0.0.1", "unix:/path"
  std::string key_table;      // OpenDKIM-style tables; "file:" / "refile:" prefixes kept
  std::string signing_table;
  std::string header_rules;   // empty: no rules
  DkimCanonicalization header_canon = DkimCanonicalization::kRelaxed;
  DkimCanonicalization body_canon = DkimCanonicalization::kRelaxed;
  std::vector<std::string> signed_headers;
  std::vector<std::string> oversigned_headers;
  std::chrono::seconds signature_ttl{0};  // x= after this long; 0: no x=
  int min_rsa_bits = 2048;
  bool dual_sign = true;                  // every matching signing-table line
  MissingKeyAction on_missing_key = MissingKeyAction::kAccept;
  std::vector<Cidr> internal_networks;    // clients whose mail is outbound without AUTH
  bool sign_unauthenticated = false;      // also sign mail that is neither (inbound)
  std::string tracking_header;
  bool verp = false;
  std::string verp_prefix;
  std::string verp_domain;
  std::chrono::seconds mta_timeout{0};
  std::string pid_file;
  std::string user;
  // Sign only From domains the SASL login owns ({p}senders:LOGIN in Redis).
  bool sender_authorisation = false;
  UnauthorisedFromAction on_unauthorised_from = UnauthorisedFromAction::kReject;
  RedisErrorAction on_redis_error = RedisErrorAction::kTempfail;  // when ownership cannot be checked
  // Tracking ID -> account/sender record for sluice-bounce; 0: not written.
  std::chrono::seconds message_record_ttl{14 * 86'400};
  bool authentication_results = false;  // add Authentication-Results with the SPF result
  std::string authserv_id;              // its authserv-id; empty: the host name
};

struct Config {
  std::string path;  // file it was read from; empty for built-in defaults
  RedisSettings redis;
  LogSettings log;
  PolicydSettings policyd;
  MilterSettings milter;
  std::vector<QuotaRule> quota_rules;  // [quota NAME] sections, in file order
  std::vector<ScannerSettings> scanners;  // [scanner NAME] sections, in file order
  DnsSettings dns;
  FeedbackSettings feedback;
};

using ConfigPtr = std::shared_ptr<const Config>;

// The configuration with every key at its documented default.
Config default_config();

// Parses |text| as if read from |file_name| (used in messages and to resolve
// relative paths such as password_file).
Result<Config> parse_config(std::string_view text, std::string_view file_name);

// Reads and parses |path|. Files over 1 MiB are refused: a config that large
// is a mistake (a key table given as -c, say).
Result<Config> load_config(const std::string& path);

// Where programs look without -c: $SLUICE_CONFIG, else SYSCONFDIR/sluice/sluice.conf.
std::string default_config_path();

}  // namespace sluice
