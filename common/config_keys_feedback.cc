// [bounce], [reputation], [unsubscribe]: the feedback loop (sluice-bounce,
// the reputation breaker, List-Unsubscribe). The unsubscribe key file is read
// and checked here, at load time, so a program never starts with keys it
// cannot use.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cmath>
#include <fstream>
#include <sstream>

#include "common/ascii.h"
#include "common/config_key_helpers.h"
#include "common/listen_address.h"
#include "common/log.h"

namespace sluice {
namespace {

using std::chrono::milliseconds;
using namespace config_detail;

constexpr milliseconds kHour{3'600'000};
constexpr milliseconds kDay{86'400'000};
constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;
constexpr std::size_t kMaxUnsubscribeKeys = 32;
constexpr std::size_t kMinSecretBytes = 32;
constexpr std::size_t kMaxSecretBytes = 1024;

// "2%", "0.5%" or a fraction "0.02"; in [0, 1].
Result<double> parse_rate(std::string_view text) {
  const bool percent = !text.empty() && text.back() == '%';
  std::string_view number = percent ? text.substr(0, text.size() - 1) : text;
  double value = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (number.empty() || ec != std::errc() || end != number.data() + number.size() || !std::isfinite(value)) {
    return config_error("\"" + log_escape(text, 32) + "\" is not a rate (2% or 0.02)");
  }
  if (percent) value /= 100;
  if (value < 0 || value > 1) return config_error("a rate lies between 0% and 100%");
  return value;
}

Status store_rate(double& out, std::string_view value) {
  auto rate = parse_rate(value);
  if (!rate) return rate.error();
  out = *rate;
  return {};
}

Status store_optional_rate(std::optional<double>& out, std::string_view value) {
  if (value.empty()) {
    out.reset();
    return {};
  }
  auto rate = parse_rate(value);
  if (!rate) return rate.error();
  out = *rate;
  return {};
}

bool is_key_id(std::string_view id) {
  return !id.empty() && id.size() <= 8 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  });
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One "ID HEX" line of the key file; |where| is "FILE line N" for messages.
Result<UnsubscribeKey> parse_key_line(std::string_view line, const std::string& where) {
  const auto blank = line.find_first_of(" \t");
  if (blank == std::string_view::npos) return config_error(where + ": want \"ID HEX-SECRET\"");
  const std::string_view id = line.substr(0, blank);
  std::string_view hex = line.substr(blank);
  hex.remove_prefix(std::min(hex.size(), hex.find_first_not_of(" \t")));
  if (!is_key_id(id)) return config_error(where + ": a key id is 1 to 8 letters or digits");
  if (hex.find_first_of(" \t") != std::string_view::npos) return config_error(where + ": want \"ID HEX-SECRET\"");
  if (hex.size() % 2 != 0 || hex.size() > 2 * kMaxSecretBytes) {
    return config_error(where + ": the secret is not an even number of hex digits");
  }
  UnsubscribeKey key{std::string(id), {}};
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = hex_value(hex[i]);
    const int lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0) return config_error(where + ": the secret is not hex");
    key.secret.push_back(static_cast<char>(hi * 16 + lo));
  }
  if (key.secret.size() < kMinSecretBytes) {
    return config_error(where + ": the secret is " + std::to_string(key.secret.size()) + " bytes, at least " +
                        std::to_string(kMinSecretBytes) + " are needed (openssl rand -hex 32)");
  }
  return key;
}

// Reads the whole key file: refuses a file readable by others or writable
// by its group (the secrets forge unsubscribe links) and a symbolic link,
// checking the descriptor it reads, as the DKIM keys are checked; blank and
// '#' lines are skipped, ids are unique.
Status read_key_file(UnsubscribeSettings& settings, std::string_view value, const ConfigContext& context) {
  const std::string path = resolve_path(value, context);
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    return config_error("cannot read key_file " + path + (errno == ELOOP ? " (a symbolic link)" : ""));
  }
  std::string text;
  struct stat st {};
  const bool stated = ::fstat(fd, &st) == 0;
  if (stated && S_ISREG(st.st_mode) && (st.st_mode & (S_IROTH | S_IWOTH | S_IWGRP)) == 0 &&
      static_cast<std::size_t>(st.st_size) <= kMaxKeyFileBytes) {
    char buffer[4096];
    for (ssize_t got; (got = ::read(fd, buffer, sizeof buffer)) != 0;) {
      if (got < 0 && errno == EINTR) continue;
      if (got < 0 || text.size() + static_cast<std::size_t>(got) > kMaxKeyFileBytes) {
        ::close(fd);
        return config_error("cannot read key_file " + path);
      }
      text.append(buffer, static_cast<std::size_t>(got));
    }
  }
  ::close(fd);
  if (!stated) return config_error("cannot read key_file " + path);
  if (!S_ISREG(st.st_mode)) return config_error("key_file " + path + " is not a regular file");
  if ((st.st_mode & S_IROTH) != 0) return config_error("key_file " + path + " is readable by others (chmod o-r it)");
  if ((st.st_mode & S_IWOTH) != 0) return config_error("key_file " + path + " is writable by others (chmod o-w it)");
  if ((st.st_mode & S_IWGRP) != 0) return config_error("key_file " + path + " is writable by its group (chmod g-w it)");
  if (static_cast<std::size_t>(st.st_size) > kMaxKeyFileBytes) {
    return config_error("key_file " + path + " is larger than 64K");
  }
  std::istringstream in(text);
  std::vector<UnsubscribeKey> keys;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::string_view text = line;
    text.remove_prefix(std::min(text.size(), text.find_first_not_of(" \t")));
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    if (text.empty() || text.front() == '#') continue;
    auto key = parse_key_line(text, "key_file " + path + " line " + std::to_string(number));
    if (!key) return key.error();
    for (const UnsubscribeKey& known : keys) {
      if (known.id == key->id) return config_error("key_file " + path + ": key id \"" + key->id + "\" twice");
    }
    if (keys.size() >= kMaxUnsubscribeKeys) return config_error("key_file " + path + ": more than 32 keys");
    keys.push_back(std::move(key).value());
  }
  if (keys.empty()) return config_error("key_file " + path + " holds no key (lines \"ID HEX-SECRET\")");
  settings.key_file = path;
  settings.keys = std::move(keys);
  return {};
}

bool is_printable(std::string_view text) {
  return std::none_of(text.begin(), text.end(), [](char ch) {
    const auto u = static_cast<unsigned char>(ch);
    return u <= 0x20 || u == 0x7f;
  });
}

const ConfigKey kKeys[] = {
    // [bounce]: sluice-bounce, run by Postfix pipe(8).
    {"bounce", "unparsed_dir", "path", "",
     "reports that cannot be parsed are kept here as files (empty: logged and dropped)",
     [](Config& c, std::string_view v, const ConfigContext& ctx) -> Status {
       c.feedback.bounce.unparsed_dir = resolve_path(v, ctx);
       return {};
     }},
    {"bounce", "soft_bounce_limit", "1..1000", "3",
     "soft bounces of one recipient within soft_bounce_window that suppress it for soft_suppress_for",
     [](Config& c, std::string_view v, const ConfigContext&) {
       return store_int(c.feedback.bounce.soft_bounce_limit, v, 1, 1000);
     }},
    {"bounce", "soft_bounce_window", "duration", "3d", "soft bounces are counted over this window (from the first)",
     [](Config& c, std::string_view v, const ConfigContext&) {
       return store_duration(c.feedback.bounce.soft_bounce_window, v, kHour, 90 * kDay);
     }},
    {"bounce", "soft_suppress_for", "duration", "7d", "how long soft_bounce_limit soft bounces suppress the recipient",
     [](Config& c, std::string_view v, const ConfigContext&) {
       return store_duration(c.feedback.bounce.soft_suppress_for, v, kHour, 365 * kDay);
     }},
    {"bounce", "report_ttl", "duration", "30d",
     "a processed report is remembered this long, so a redelivered copy changes nothing",
     [](Config& c, std::string_view v, const ConfigContext&) {
       return store_duration(c.feedback.bounce.report_ttl, v, kHour, 365 * kDay);
     }},

    // [reputation]: the per-account breaker, evaluated by sluice-bounce.
    {"reputation", "window", "duration (whole hours)", "24h", "rates are computed over this rolling window (1h to 31d)",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       milliseconds window{0};
       if (Status s = store_duration(window, v, kHour, 31 * kDay); !s) return s;
       if (window.count() % kHour.count() != 0) return config_error("window must be whole hours (24h, 2d)");
       c.feedback.reputation.window = window;
       return {};
     }},
    {"reputation", "min_volume", "1..1000000000", "500",
     "recipients an account must have sent in the window before its rates count",
     [](Config& c, std::string_view v, const ConfigContext&) {
       return store_int(c.feedback.reputation.min_volume, v, 1, 1'000'000'000);
     }},
    {"reputation", "warn_bounce_rate", "rate (2% or 0.02)", "2%", "hard bounces / sent above this: a warning in the log",
     [](Config& c, std::string_view v, const ConfigContext&) {
       return store_rate(c.feedback.reputation.warn_bounce_rate, v);
     }},
    {"reputation", "warn_complaint_rate", "rate", "0.1%", "complaints / sent above this: a warning in the log",
     [](Config& c, std::string_view v, const ConfigContext&) {
       return store_rate(c.feedback.reputation.warn_complaint_rate, v);
     }},
    {"reputation", "pause_bounce_rate", "rate", "",
     "hard bounces / sent above this pause the account until `sluicectl reputation resume` (empty: never)",
     [](Config& c, std::string_view v, const ConfigContext&) {
       return store_optional_rate(c.feedback.reputation.pause_bounce_rate, v);
     }},
    {"reputation", "pause_complaint_rate", "rate", "",
     "complaints / sent above this pause the account (empty: never)",
     [](Config& c, std::string_view v, const ConfigContext&) {
       return store_optional_rate(c.feedback.reputation.pause_complaint_rate, v);
     }},

    // [unsubscribe]: List-Unsubscribe (RFC 2369, RFC 8058) by sluice-milter,
    // answered by sluice-unsubscribe.
    {"unsubscribe", "accounts", "login list", "",
     "SASL logins whose mail gets List-Unsubscribe; * for every authenticated account (empty: none)",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       std::vector<std::string> accounts;
       for (std::string_view item : split_list(v)) {
         if (item.empty()) continue;
         if (item.size() > 255 || std::any_of(item.begin(), item.end(), [](char ch) {
               return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
             })) {
           return config_error("\"" + log_escape(item, 64) + "\" is not a SASL login");
         }
         accounts.emplace_back(item);
       }
       c.feedback.unsubscribe.accounts = std::move(accounts);
       return {};
     }},
    {"unsubscribe", "key_file", "path", "",
     "HMAC keys of the tokens, lines \"ID HEX-SECRET\" (ID 1-8 letters/digits, secret >= 32 bytes); "
     "the first signs, all verify; must not be readable by others",
     [](Config& c, std::string_view v, const ConfigContext& ctx) -> Status {
       c.feedback.unsubscribe.keys.clear();
       c.feedback.unsubscribe.key_file.clear();
       if (v.empty()) return {};
       return read_key_file(c.feedback.unsubscribe, v, ctx);
     }},
    {"unsubscribe", "mailto_domain", "domain", "",
     "mailto:MAILTO_LOCAL+TOKEN@mailto_domain in List-Unsubscribe (empty: no mailto)",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       if (!v.empty() && !is_domain_name(v)) return config_error("mailto_domain must be a domain name");
       c.feedback.unsubscribe.mailto_domain = ascii_lower(v);
       return {};
     }},
    {"unsubscribe", "mailto_local", "local part", "unsubscribe", "local part before +TOKEN of the mailto address",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       if (v.empty() || v.size() > 32 || v.front() == '.' || v.back() == '.' || !std::all_of(v.begin(), v.end(), [](char ch) {
             return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                    ch == '_' || ch == '-';
           })) {
         return config_error("mailto_local must be 1 to 32 of letters, digits and . _ -");
       }
       c.feedback.unsubscribe.mailto_local = v;
       return {};
     }},
    {"unsubscribe", "url_base", "URL", "",
     "https URL the token is appended to, e.g. https://relay.example/u/ (empty: no one-click URL)",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       if (!v.empty()) {
         const bool scheme = v.starts_with("https://") || v.starts_with("http://");
         const std::size_t host = v.find("://") + 3;
         if (!scheme || v.size() <= host || v.size() > 200 || !is_printable(v) ||
             v.find_first_of("<>\"") != std::string_view::npos) {
           return config_error("url_base must be an https:// (or http://) URL of at most 200 printable characters");
         }
       }
       c.feedback.unsubscribe.url_base = v;
       return {};
     }},
    {"unsubscribe", "listen", "address list", "inet:127.0.0.1:8026",
     "where sluice-unsubscribe accepts HTTP: inet:IP:PORT and/or unix:/PATH, comma-separated",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       std::vector<std::string> listen;
       for (std::string_view item : split_list(v)) {
         auto address = parse_listen_address(item);
         if (!address) return address.error();
         listen.push_back(address->str());
       }
       if (listen.empty()) return config_error("listen needs at least one address");
       c.feedback.unsubscribe.listen = std::move(listen);
       return {};
     }},
    {"unsubscribe", "token_ttl", "duration", "90d", "a token is honoured this long after the message was sent",
     [](Config& c, std::string_view v, const ConfigContext&) {
       return store_duration(c.feedback.unsubscribe.token_ttl, v, kDay, 3650 * kDay);
     }},
    {"unsubscribe", "pid_file", "path", "", "sluice-unsubscribe writes its PID here (empty: none)",
     [](Config& c, std::string_view v, const ConfigContext& ctx) -> Status {
       c.feedback.unsubscribe.pid_file = resolve_path(v, ctx);
       return {};
     }},
    {"unsubscribe", "user", "user name", "", "sluice-unsubscribe drops to this user after opening its sockets",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       c.feedback.unsubscribe.user = v;
       return {};
     }},
};

const ConfigSection kSections[] = {
    {"bounce", false, "sluice-bounce: bounces and complaint reports from Postfix pipe(8)", nullptr},
    {"reputation", false, "the per-account bounce and complaint rate breaker", nullptr},
    {"unsubscribe", false, "List-Unsubscribe headers and the sluice-unsubscribe endpoint", nullptr},
};

std::string percent(double rate) {
  std::ostringstream out;
  out << rate * 100 << '%';
  return out.str();
}

std::optional<CrossKeyProblem> check_feedback(const Config& config) {
  const ReputationSettings& rep = config.feedback.reputation;
  if (rep.pause_bounce_rate && *rep.pause_bounce_rate < rep.warn_bounce_rate) {
    return CrossKeyProblem{"reputation", "pause_bounce_rate",
                           "pause_bounce_rate (" + percent(*rep.pause_bounce_rate) + ") is below warn_bounce_rate (" +
                               percent(rep.warn_bounce_rate) + ")"};
  }
  if (rep.pause_complaint_rate && *rep.pause_complaint_rate < rep.warn_complaint_rate) {
    return CrossKeyProblem{"reputation", "pause_complaint_rate",
                           "pause_complaint_rate (" + percent(*rep.pause_complaint_rate) +
                               ") is below warn_complaint_rate (" + percent(rep.warn_complaint_rate) + ")"};
  }
  const UnsubscribeSettings& unsub = config.feedback.unsubscribe;
  if (!unsub.accounts.empty()) {
    if (unsub.keys.empty()) {
      return CrossKeyProblem{"unsubscribe", "accounts", "accounts is set but no key_file signs the tokens"};
    }
    if (unsub.mailto_domain.empty() && unsub.url_base.empty()) {
      return CrossKeyProblem{"unsubscribe", "accounts", "accounts is set but neither mailto_domain nor url_base"};
    }
  }
  return std::nullopt;
}

}  // namespace

ConfigPart feedback_config_part() { return ConfigPart{kSections, kKeys, check_feedback}; }

}  // namespace sluice
