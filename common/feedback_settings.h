// [bounce], [reputation], [unsubscribe]: the feedback loop's settings
// (sluice-bounce, the reputation breaker, List-Unsubscribe).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace sluice {

struct BounceSettings {
  std::string unparsed_dir;                          // reports that cannot be parsed are kept here; "" : not kept
  int soft_bounce_limit = 3;                         // soft bounces to one recipient within the window...
  std::chrono::milliseconds soft_bounce_window{3LL * 86'400'000};
  std::chrono::milliseconds soft_suppress_for{7LL * 86'400'000};  // ...suppress it this long
  std::chrono::milliseconds report_ttl{30LL * 86'400'000};       // how long a processed report is remembered
};

struct ReputationSettings {
  std::chrono::milliseconds window{24LL * 3'600'000};  // rolling, in whole hours
  long long min_volume = 500;                          // recipients sent in the window before any rate counts
  double warn_bounce_rate = 0.02;                      // fractions: 0.02 = 2%
  double warn_complaint_rate = 0.001;
  std::optional<double> pause_bounce_rate;             // unset: never pause on bounces
  std::optional<double> pause_complaint_rate;
};

// One HMAC key of the List-Unsubscribe token; the first signs, all verify.
struct UnsubscribeKey {
  std::string id;      // 1-8 of [A-Za-z0-9], carried in the token
  std::string secret;  // raw bytes, at least 32
};

struct UnsubscribeSettings {
  std::vector<std::string> accounts;  // SASL logins whose mail gets List-Unsubscribe; "*" = every account
  std::string key_file;               // lines "ID HEX-SECRET"; must not be readable by others
  std::vector<UnsubscribeKey> keys;   // read from key_file at load time
  std::string mailto_domain;          // mailto:unsubscribe+TOKEN@mailto_domain ("" : no mailto)
  std::string mailto_local = "unsubscribe";
  std::string url_base;               // https://relay.example/unsubscribe/ : TOKEN appended ("" : no https)
  std::vector<std::string> listen;    // sluice-unsubscribe: "inet:127.0.0.1:8026"
  std::chrono::milliseconds token_ttl{90LL * 86'400'000};
  std::string pid_file;  // sluice-unsubscribe's; "" : none
  std::string user;      // sluice-unsubscribe drops to it after binding; "" : stays
  bool enabled_for(const std::string& account) const {
    for (const std::string& a : accounts) {
      if (a == "*" ? !account.empty() : a == account) return true;
    }
    return false;
  }
};

struct FeedbackSettings {
  BounceSettings bounce;
  ReputationSettings reputation;
  UnsubscribeSettings unsubscribe;
};

}  // namespace sluice
