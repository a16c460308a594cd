// sluicectl: the operator's tool. Shared options first (-c, -n, -v), then a
// subcommand with its own arguments; each subcommand lives in its own file.
#include <cstdio>
#include <string_view>

#include "common/cli.h"
#include "common/config.h"
#include "common/log.h"
#include "ctl/command.h"
#include "ctl/config_command.h"
#include "ctl/dkim_command.h"
#include "ctl/dns_command.h"
#include "ctl/id_command.h"
#include "ctl/quota_command.h"
#include "ctl/reputation_command.h"
#include "ctl/scan_command.h"
#include "ctl/sender_command.h"
#include "ctl/status_command.h"
#include "ctl/suppress_command.h"
#include "ctl/unsubscribe_command.h"

namespace {

using sluice::ctl::CommandContext;

struct Subcommand {
  std::string_view name;
  int (*run)(const CommandContext&);
  bool needs_config;  // whether a missing or broken config stops it
  std::string_view summary;
};

constexpr Subcommand kSubcommands[] = {
    {"status", sluice::ctl::run_status, true, "check Redis: reachable, latency, persistence"},
    {"id", sluice::ctl::run_id, false, "id new [N] | id show ID: make or decode tracking IDs"},
    {"config", sluice::ctl::run_config, false, "config keys: list every sluice.conf key"},
    {"suppress", sluice::ctl::run_suppress, true, "add, remove, show, list, export, import suppressions"},
    {"quota", sluice::ctl::run_quota, true, "show, set, unset, reset the quota of one key"},
    {"sender", sluice::ctl::run_sender, true, "allow, deny, list, check the envelope senders of a SASL login"},
    {"reputation", sluice::ctl::run_reputation, true, "reputation show [ACCOUNT] | pause | resume: bounce and complaint rates"},
    {"scan", sluice::ctl::run_scan, true, "scan stats [ACCOUNT]: scanner verdicts per account, worst first"},
    {"dkim", sluice::ctl::run_dkim, false, "dkim keygen | record: make a DKIM key, print its DNS record"},
    {"dns", sluice::ctl::run_dns, true, "dns check DOMAIN: are its SPF, DKIM and DMARC records right for this relay"},
    {"unsubscribe", sluice::ctl::run_unsubscribe, true, "unsubscribe token | verify: make or check a List-Unsubscribe token"},
};

void print_help() {
  std::printf("usage: sluicectl [options] COMMAND [ARGS]\n\noptions:\n%.*s\ncommands:\n",
              static_cast<int>(sluice::common_options_help().size()), sluice::common_options_help().data());
  for (const Subcommand& sub : kSubcommands) {
    std::printf("  %-8.*s %.*s\n", static_cast<int>(sub.name.size()), sub.name.data(),
                static_cast<int>(sub.summary.size()), sub.summary.data());
  }
  std::printf("\nexit status: 0 ok, 1 failed or bad configuration, 2 usage, 69 Redis unreachable\n");
}

}  // namespace

int main(int argc, char** argv) {
  auto options = sluice::parse_common_options(argc, argv);
  if (!options) {
    std::fprintf(stderr, "sluicectl: %s\n", options.error().detail.c_str());
    return sluice::ctl::kExitUsage;
  }
  if (options->help) {
    print_help();
    return sluice::ctl::kExitOk;
  }
  if (options->version) {
    std::printf("sluicectl %s\n", PACKAGE_VERSION);
    return sluice::ctl::kExitOk;
  }
  if (options->check_config) return sluice::check_config_and_report(*options);
  if (options->operands.empty()) {
    print_help();
    return sluice::ctl::kExitUsage;
  }

  const std::string name = options->operands.front();
  const Subcommand* sub = nullptr;
  for (const Subcommand& candidate : kSubcommands) {
    if (candidate.name == name) sub = &candidate;
  }
  if (sub == nullptr) {
    std::fprintf(stderr, "sluicectl: unknown command \"%s\" (try --help)\n", sluice::log_escape(name, 40).c_str());
    return sluice::ctl::kExitUsage;
  }

  sluice::LogOptions log_options;
  log_options.ident = "sluicectl";
  log_options.to_stderr = true;  // an interactive tool reports on its terminal
  log_options.level = options->verbose ? sluice::LogLevel::kDebug : sluice::LogLevel::kWarning;
  sluice::log_init(log_options);

  sluice::Config config = sluice::default_config();
  if (sub->needs_config) {
    auto loaded = sluice::load_config(options->config_path);
    if (!loaded) {
      std::fprintf(stderr, "sluicectl: %s\n", loaded.error().detail.c_str());
      return sluice::ctl::kExitFailed;
    }
    config = std::move(loaded).value();
  }
  CommandContext context{config, {options->operands.begin() + 1, options->operands.end()}};
  return sub->run(context);
}
