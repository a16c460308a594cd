#include "ctl/dns_command.h"

#include "common/small_file.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/ascii.h"
#include "common/dns_lookup.h"
#include "common/log.h"
#include "common/spf_check.h"
#include "ctl/dns_check.h"
#include "milter/dkim_key.h"
#include "milter/key_table.h"

namespace sluice::ctl {
namespace {

constexpr const char* kUsage =
    "usage: sluicectl dns check DOMAIN [--relay-ip IP]... [--selector SELECTOR]...\n"
    "  checks the SPF, DKIM and DMARC records of DOMAIN against this relay:\n"
    "  --relay-ip IP       an address the relay sends from (default: [dns] relay_addresses)\n"
    "  --selector SELECTOR a DKIM selector to check (default: DOMAIN's keys in [milter] key_table)\n"
    "exit status: 0 all good, 1 problems found, 2 usage, 3 DNS lookups failed (retry later)\n";

struct Arguments {
  std::string domain;
  std::vector<std::string> relay_ips;
  std::vector<std::string> selectors;
};

// Numeric IPv4 or IPv6 in inet_ntop's canonical form; empty if neither.
std::string canonical_ip(const std::string& text) {
  unsigned char bytes[sizeof(in6_addr)];
  char out[INET6_ADDRSTRLEN];
  for (const int family : {AF_INET, AF_INET6}) {
    if (inet_pton(family, text.c_str(), bytes) == 1 && inet_ntop(family, bytes, out, sizeof out) != nullptr) {
      return out;
    }
  }
  return "";
}

void add_unique(std::vector<std::string>& items, std::string item) {
  if (std::find(items.begin(), items.end(), item) == items.end()) items.push_back(std::move(item));
}

// Prints the reason and returns false on a usage error.
bool parse_arguments(const std::vector<std::string>& args, Arguments& out) {
  std::vector<std::string> positional;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") return false;
    if (arg != "--relay-ip" && arg != "--selector") {
      if (arg.starts_with("-")) {
        std::fprintf(stderr, "sluicectl: %s is not an option here\n", log_escape(arg, 40).c_str());
        return false;
      }
      positional.push_back(arg);
      continue;
    }
    if (i + 1 >= args.size()) {
      std::fprintf(stderr, "sluicectl: %s needs a value\n", arg.c_str());
      return false;
    }
    const std::string& value = args[++i];
    if (arg == "--relay-ip") {
      std::string ip = canonical_ip(value);
      if (ip.empty()) {
        std::fprintf(stderr, "sluicectl: --relay-ip: \"%s\" is not an IPv4 or IPv6 address\n",
                     log_escape(value, 60).c_str());
        return false;
      }
      add_unique(out.relay_ips, std::move(ip));
    } else {
      if (!milter::is_valid_dns_name(value)) {
        std::fprintf(stderr, "sluicectl: --selector: \"%s\" is not a DKIM selector\n", log_escape(value, 60).c_str());
        return false;
      }
      add_unique(out.selectors, value);
    }
  }
  if (positional.size() != 1) {
    std::fprintf(stderr, "sluicectl: dns check wants one DOMAIN\n");
    return false;
  }
  std::string domain = ascii_lower(positional[0]);
  if (domain.size() > 1 && domain.back() == '.') domain.pop_back();
  if (!milter::is_valid_dns_name(domain)) {
    std::fprintf(stderr, "sluicectl: \"%s\" is not a domain name\n", log_escape(positional[0], 60).c_str());
    return false;
  }
  out.domain = std::move(domain);
  return true;
}


DkimKeyExpectation expectation_for(const milter::KeyTableEntry& entry) {
  DkimKeyExpectation key;
  key.selector = entry.selector;
  key.key_file = entry.key_path;
  milter::DkimKeyPolicy policy;
  policy.min_rsa_bits = 1024;  // a weak key is still worth comparing with DNS; the milter says the rest
  auto loaded = milter::DkimKey::load_file(entry.key_path, policy);
  if (!loaded) {
    key.load_error = loaded.error().detail;
    return key;
  }
  const milter::DkimKey& dkim = **loaded;
  key.key_type = dkim.algorithm() == milter::DkimAlgorithm::kRsaSha256 ? "rsa" : "ed25519";
  key.public_key = dkim.dns_public_key();
  key.record = dkim.dns_record();
  return key;
}

// The key-table entries of |args.domain| (only the selectors asked for, if
// any), then the selectors asked for that the table does not have.
Result<std::vector<DkimKeyExpectation>> dkim_expectations(const Config& config, const Arguments& args) {
  std::vector<DkimKeyExpectation> keys;
  std::vector<std::string> found;
  if (!config.milter.key_table.empty()) {
    auto spec = milter::parse_table_spec(config.milter.key_table);
    if (!spec) return spec.error();
    auto text = read_small_file(spec->path, milter::kMaxTableBytes);
    if (!text) return text.error();
    auto table = milter::parse_key_table(*text, config.milter.key_table);
    if (!table) return table.error();
    for (const milter::KeyTableEntry& entry : table->entries()) {
      if (entry.domain != args.domain) continue;
      const bool wanted = args.selectors.empty() || std::find(args.selectors.begin(), args.selectors.end(),
                                                              entry.selector) != args.selectors.end();
      if (!wanted) continue;
      keys.push_back(expectation_for(entry));
      found.push_back(entry.selector);
    }
  }
  for (const std::string& selector : args.selectors) {
    if (std::find(found.begin(), found.end(), selector) != found.end()) continue;
    DkimKeyExpectation bare;
    bare.selector = selector;
    keys.push_back(std::move(bare));
  }
  return keys;
}

int check(const CommandContext& context) {
  Arguments args;
  if (!parse_arguments(context.args, args)) {
    const bool help = std::find(context.args.begin(), context.args.end(), "--help") != context.args.end() ||
                      std::find(context.args.begin(), context.args.end(), "-h") != context.args.end();
    std::fputs(kUsage, help ? stdout : stderr);
    return help ? kExitOk : kExitUsage;
  }
  DnsCheckInput input;
  input.domain = args.domain;
  input.relay_ips = args.relay_ips.empty() ? context.config.dns.relay_addresses : args.relay_ips;
  auto keys = dkim_expectations(context.config, args);
  if (!keys) {
    std::fprintf(stderr, "sluicectl: %s\n", keys.error().detail.c_str());
    return kExitFailed;
  }
  input.dkim = std::move(keys).value();

  auto resolver = SystemDnsResolver::create();
  if (!resolver) {
    std::fprintf(stderr, "sluicectl: %s\n", resolver.error().detail.c_str());
    return kDnsExitDnsFailed;
  }
  auto spf = SpfChecker::create();
  if (!spf) {
    std::fprintf(stderr, "sluicectl: %s\n", spf.error().detail.c_str());
    return kDnsExitDnsFailed;
  }
  const DnsCheckReport report = check_domain_dns(input, **resolver, *spf);
  std::fputs(render_dns_report(report).c_str(), stdout);
  return report.exit_status();
}

}  // namespace

int run_dns(const CommandContext& context) {
  const auto& args = context.args;
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h" || args[0] == "help")) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (args.empty() || args[0] != "check") {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  return check(context);
}

}  // namespace sluice::ctl
