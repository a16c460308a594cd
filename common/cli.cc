#include "common/cli.h"

#include <cstdio>
#include <memory>

namespace sluice {

Result<CommonOptions> parse_common_options(std::span<const std::string_view> args) {
  CommonOptions options;
  std::size_t i = 0;
  auto need_value = [&](std::string_view option) -> Result<std::string> {
    if (i + 1 >= args.size()) {
      return make_error(Errc::kInvalidInput, "option " + std::string(option) + " needs a value");
    }
    return std::string(args[++i]);
  };
  for (; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') break;  // first operand
    if (arg == "-c" || arg == "--config") {
      auto value = need_value(arg);
      if (!value) return value.error();
      options.config_path = *value;
    } else if (arg.starts_with("--config=")) {
      options.config_path = arg.substr(9);
    } else if (arg.starts_with("-c")) {
      options.config_path = arg.substr(2);
    } else if (arg == "-n" || arg == "--check-config") {
      options.check_config = true;
    } else if (arg == "-f" || arg == "--foreground") {
      options.foreground = true;
    } else if (arg == "-v" || arg == "--verbose") {
      options.verbose = true;
    } else if (arg == "-h" || arg == "--help") {
      options.help = true;
    } else if (arg == "-V" || arg == "--version") {
      options.version = true;
    } else {
      return make_error(Errc::kInvalidInput, "unknown option " + std::string(arg) + " (try --help)");
    }
    if ((arg.starts_with("-c") || arg.starts_with("--config")) && options.config_path.empty()) {
      return make_error(Errc::kInvalidInput, "option -c needs a file name");
    }
  }
  if (options.config_path.empty()) options.config_path = default_config_path();
  for (; i < args.size(); ++i) options.operands.emplace_back(args[i]);
  return options;
}

Result<CommonOptions> parse_common_options(int argc, char** argv) {
  std::vector<std::string_view> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return parse_common_options(args);
}

std::string_view common_options_help() {
  return "  -c, --config FILE   configuration file (default $SLUICE_CONFIG or " SLUICE_SYSCONFDIR
         "/sluice/sluice.conf)\n"
         "  -n, --check-config  check the configuration, print the result and exit (0 ok, 1 error)\n"
         "  -f, --foreground    stay in the foreground and log to stderr\n"
         "  -v, --verbose       log debug messages\n"
         "  -h, --help          show this help\n"
         "  -V, --version       show the version\n";
}

DaemonStart start_daemon_cli(int argc, char** argv, std::string_view program, std::string_view summary) {
  const std::string name(program);
  auto options = parse_common_options(argc, argv);
  if (!options) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), options.error().detail.c_str());
    return DaemonStart{std::nullopt, 2};
  }
  if (options->help) {
    std::printf("usage: %s [options]\n\n%.*s\n\noptions:\n%.*s", name.c_str(), static_cast<int>(summary.size()),
                summary.data(), static_cast<int>(common_options_help().size()), common_options_help().data());
    return DaemonStart{std::nullopt, 0};
  }
  if (options->version) {
    std::printf("%s %s\n", name.c_str(), PACKAGE_VERSION);
    return DaemonStart{std::nullopt, 0};
  }
  if (!options->operands.empty()) {
    std::fprintf(stderr, "%s: unexpected argument \"%s\" (try --help)\n", name.c_str(), options->operands[0].c_str());
    return DaemonStart{std::nullopt, 2};
  }
  return DaemonStart{std::move(options).value(), 0};
}

int check_config_and_report(const CommonOptions& options) {
  auto config = load_config(options.config_path);
  if (!config) {
    std::fprintf(stderr, "%s\n", config.error().detail.c_str());
    return 1;
  }
  std::printf("%s: configuration OK\n", options.config_path.c_str());
  return 0;
}

ConfigPtr load_config_or_report(const CommonOptions& options, std::string_view program) {
  auto loaded = load_config(options.config_path);
  if (!loaded) {
    std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(program.size()), program.data(), loaded.error().detail.c_str());
    return nullptr;
  }
  return std::make_shared<const Config>(std::move(loaded).value());
}

LogOptions daemon_log_options(std::string ident, const Config& config, const CommonOptions& options) {
  LogOptions log;
  log.ident = std::move(ident);
  log.facility = config.log.facility;
  log.level = options.verbose ? LogLevel::kDebug : config.log.level;
  log.to_stderr = options.foreground;
  return log;
}

ConfigPtr reload_config_or_log(const CommonOptions& options, std::string ident) {
  auto config = load_config(options.config_path);
  if (!config) {
    log_error("reload refused, keeping the running configuration: %s", config.error().detail.c_str());
    return nullptr;
  }
  log_init(daemon_log_options(std::move(ident), *config, options));
  return std::make_shared<const Config>(std::move(config).value());
}

}  // namespace sluice
