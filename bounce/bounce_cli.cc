#include "bounce/bounce_cli.h"

#include <vector>

namespace sluice::bounce {

Result<BounceOptions> parse_bounce_args(std::span<const std::string_view> args) {
  BounceOptions out;
  std::vector<std::string_view> rest;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "--") {
      rest.insert(rest.end(), args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
      break;
    }
    std::string* target = nullptr;
    std::string_view name;
    for (auto [option, field] : {std::pair<std::string_view, std::string*>{"--recipient", &out.recipient},
                                 std::pair<std::string_view, std::string*>{"--queue-id", &out.queue_id}}) {
      if (arg == option || (arg.starts_with(option) && arg.size() > option.size() && arg[option.size()] == '=')) {
        target = field;
        name = option;
      }
    }
    if (target == nullptr) {
      rest.push_back(arg);
      continue;
    }
    if (arg.size() > name.size()) {
      *target = std::string(arg.substr(name.size() + 1));
    } else if (i + 1 < args.size()) {
      *target = std::string(args[++i]);
    } else {
      return make_error(Errc::kInvalidInput, "option " + std::string(name) + " needs a value");
    }
    if (target->size() > 1024) return make_error(Errc::kInvalidInput, "option " + std::string(name) + " too long");
  }
  auto common = parse_common_options(rest);
  if (!common) return common.error();
  if (!common->operands.empty()) {
    return make_error(Errc::kInvalidInput, "unexpected argument \"" + common->operands.front() + "\" (try --help)");
  }
  out.common = std::move(common).value();
  return out;
}

std::string_view bounce_usage() {
  return "usage: sluice-bounce [options] [--recipient ADDR] [--queue-id ID] < MESSAGE\n\n"
         "Reads one bounce or complaint report on stdin (from Postfix pipe(8)), applies it to the\n"
         "suppression lists and reputation counters in Redis, and exits 0, or 75 (EX_TEMPFAIL: Redis\n"
         "unreachable, Postfix retries), or 78 (EX_CONFIG).\n\n"
         "  --recipient ADDR    the envelope recipient, ${recipient} (the VERP address)\n"
         "  --queue-id ID       the report's queue ID, ${queue_id}, for the log\n\n"
         "options:\n";
}

}  // namespace sluice::bounce
