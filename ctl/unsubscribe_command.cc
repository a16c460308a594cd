#include "ctl/unsubscribe_command.h"

#include <chrono>
#include <cstdio>
#include <ctime>

#include "common/config_values.h"
#include "common/log.h"
#include "common/unsubscribe_token.h"

namespace sluice::ctl {
namespace {

constexpr const char* kUsage =
    "usage: sluicectl unsubscribe token --account LOGIN --recipient ADDRESS [--issued UNIX] [--key ID]\n"
    "       sluicectl unsubscribe verify TOKEN\n";

Error usage(std::string reason) { return make_error(Errc::kInvalidInput, std::move(reason)); }

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::string utc_text(std::int64_t unix_s) {
  const std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

int mint(const UnsubscribeArgs& args, const UnsubscribeSettings& settings) {
  const UnsubscribeKey* key = settings.keys.empty() ? nullptr : &settings.keys.front();
  if (!args.key_id.empty()) {
    key = nullptr;
    for (const UnsubscribeKey& k : settings.keys) {
      if (k.id == args.key_id) key = &k;
    }
  }
  if (key == nullptr) {
    std::fprintf(stderr, "sluicectl: %s\n",
                 args.key_id.empty() ? "no [unsubscribe] key_file keys configured"
                                     : ("no key " + log_escape(args.key_id, 16) + " in [unsubscribe] key_file").c_str());
    return kExitFailed;
  }
  const std::string token = make_unsubscribe_token(*key, args.account, args.recipient, args.issued.value_or(unix_now()));
  if (token.empty()) {
    std::fprintf(stderr, "sluicectl: cannot make a token: the account must be 1-255 bytes without control "
                         "characters and the recipient an address\n");
    return kExitFailed;
  }
  std::printf("%s\n", token.c_str());
  return kExitOk;
}

int verify(const UnsubscribeArgs& args, const UnsubscribeSettings& settings) {
  const auto ttl = std::chrono::duration_cast<std::chrono::seconds>(settings.token_ttl);
  auto claim = verify_unsubscribe_token(settings.keys, args.token, unix_now(), ttl);
  if (!claim) {
    std::printf("refused: %s\n", log_escape(claim.error().detail, 200).c_str());
    return kExitFailed;
  }
  std::printf("account    %s\nrecipient  %s\nissued     %s (%lld)\nexpires    %s\nkey        %s\n",
              log_escape(claim->account, 255).c_str(), log_escape(claim->recipient, 255).c_str(),
              utc_text(claim->issued).c_str(), static_cast<long long>(claim->issued),
              utc_text(claim->issued + ttl.count()).c_str(), claim->key_id.c_str());
  return kExitOk;
}

}  // namespace

Result<UnsubscribeArgs> parse_unsubscribe_args(const std::vector<std::string>& args) {
  UnsubscribeArgs parsed;
  if (args.empty()) return usage("missing action (token or verify)");
  if (args[0] == "verify") {
    if (args.size() != 2) return usage("verify takes one TOKEN");
    parsed.action = UnsubscribeArgs::Action::kVerify;
    parsed.token = args[1];
    return parsed;
  }
  if (args[0] != "token") return usage("unknown action \"" + log_escape(args[0], 32) + "\" (want token or verify)");
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& option = args[i];
    if (i + 1 >= args.size()) return usage("option " + log_escape(option, 32) + " needs a value");
    const std::string& value = args[++i];
    if (option == "--account") {
      parsed.account = value;
    } else if (option == "--recipient") {
      parsed.recipient = value;
    } else if (option == "--key") {
      parsed.key_id = value;
    } else if (option == "--issued") {
      auto issued = parse_int_value(value, 0, (std::int64_t{1} << 40) - 1);
      if (!issued) return usage("--issued: " + issued.error().detail);
      parsed.issued = *issued;
    } else {
      return usage("unknown option " + log_escape(option, 32));
    }
  }
  if (parsed.account.empty() || parsed.recipient.empty()) return usage("token needs --account and --recipient");
  return parsed;
}

int run_unsubscribe(const CommandContext& context) {
  auto args = parse_unsubscribe_args(context.args);
  if (!args) {
    std::fprintf(stderr, "sluicectl: %s\n%s", args.error().detail.c_str(), kUsage);
    return kExitUsage;
  }
  const UnsubscribeSettings& settings = context.config.feedback.unsubscribe;
  return args->action == UnsubscribeArgs::Action::kToken ? mint(*args, settings) : verify(*args, settings);
}

}  // namespace sluice::ctl
