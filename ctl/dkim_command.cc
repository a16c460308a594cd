#include "ctl/dkim_command.h"

#include "ctl/dns_check.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "common/config_values.h"
#include "milter/dkim_key.h"
#include "milter/key_table.h"

namespace sluice::ctl {
namespace {

constexpr const char* kUsage =
    "usage: sluicectl dkim keygen --domain DOMAIN --selector SELECTOR [--algorithm rsa|ed25519]\n"
    "                             [--bits 2048|3072|4096] [--out DIR]\n"
    "       sluicectl dkim record KEYFILE --domain DOMAIN --selector SELECTOR\n";

using Options = std::map<std::string, std::string>;

// --name value pairs after the positional arguments; unknown names are usage errors.
bool parse_options(const std::vector<std::string>& args, std::size_t first, std::initializer_list<const char*> known,
                   Options& out, std::vector<std::string>& positional) {
  for (std::size_t i = first; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!arg.starts_with("--")) {
      positional.push_back(arg);
      continue;
    }
    const std::string name = arg.substr(2);
    bool ok = false;
    for (const char* k : known) ok = ok || name == k;
    if (!ok || i + 1 >= args.size()) {
      std::fprintf(stderr, "sluicectl: %s %s\n", arg.c_str(), ok ? "needs a value" : "is not an option here");
      return false;
    }
    out[name] = args[++i];
  }
  return true;
}

// The zone-file line, split into TXT strings as `dns check` suggests it.
void print_record(const std::string& domain, const std::string& selector, const std::string& record) {
  std::fputs(zone_txt_record(selector + "._domainkey." + domain, record).c_str(), stdout);
}

int keygen(const Options& options) {
  const auto domain = options.find("domain");
  const auto selector = options.find("selector");
  if (domain == options.end() || selector == options.end()) {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  if (!milter::is_valid_dns_name(domain->second) || !milter::is_valid_dns_name(selector->second)) {
    std::fprintf(stderr, "sluicectl: --domain and --selector must be DNS names\n");
    return kExitUsage;
  }
  const std::string algorithm = options.contains("algorithm") ? options.at("algorithm") : "rsa";
  int bits = 2048;
  if (options.contains("bits")) {
    auto parsed = parse_int_value(options.at("bits"), 2048, 4096);
    if (!parsed) {
      std::fprintf(stderr, "sluicectl: --bits: %s\n", parsed.error().detail.c_str());
      return kExitUsage;
    }
    bits = static_cast<int>(*parsed);
  }
  EVP_PKEY* raw = nullptr;
  if (algorithm == "rsa") {
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits));
  } else if (algorithm == "ed25519") {
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  } else {
    std::fprintf(stderr, "sluicectl: --algorithm must be rsa or ed25519\n");
    return kExitUsage;
  }
  milter::EvpPkeyPtr key{raw};
  if (!key) {
    std::fprintf(stderr, "sluicectl: key generation failed\n");
    return kExitFailed;
  }
  const std::string dir = options.contains("out") ? options.at("out") : ".";
  const std::string path = dir + "/" + selector->second + "." + domain->second + ".key";
  // O_EXCL: never overwrite a key that may already be published.
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::fprintf(stderr, "sluicectl: cannot create %s: %s\n", path.c_str(), std::strerror(errno));
    return kExitFailed;
  }
  FILE* file = fdopen(fd, "w");
  const bool written = file != nullptr &&
                       PEM_write_PrivateKey(file, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  if (file != nullptr) std::fclose(file);
  if (!written) {
    std::fprintf(stderr, "sluicectl: cannot write %s\n", path.c_str());
    unlink(path.c_str());
    return kExitFailed;
  }
  // Read back through the milter's own loader: what we print is what it uses.
  auto loaded = milter::DkimKey::load_file(path, milter::DkimKeyPolicy{});
  if (!loaded) {
    std::fprintf(stderr, "sluicectl: %s\n", loaded.error().detail.c_str());
    return kExitFailed;
  }
  std::printf("; private key: %s (mode 0600; give it to the user sluice-milter runs as)\n", path.c_str());
  std::printf("; key table line:     %s-%s %s:%s:%s\n", selector->second.c_str(), domain->second.c_str(),
              domain->second.c_str(), selector->second.c_str(), path.c_str());
  std::printf("; signing table line: *@%s %s-%s   (refile:)\n", domain->second.c_str(), selector->second.c_str(),
              domain->second.c_str());
  std::printf("; publish in DNS:\n");
  print_record(domain->second, selector->second, (*loaded)->dns_record());
  return kExitOk;
}

int record(const std::string& path, const Options& options) {
  if (!options.contains("domain") || !options.contains("selector")) {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  milter::DkimKeyPolicy policy;
  policy.min_rsa_bits = 1024;  // show the record even for a weak key being retired
  auto loaded = milter::DkimKey::load_file(path, policy);
  if (!loaded) {
    std::fprintf(stderr, "sluicectl: %s\n", loaded.error().detail.c_str());
    return kExitFailed;
  }
  print_record(options.at("domain"), options.at("selector"), (*loaded)->dns_record());
  return kExitOk;
}

}  // namespace

int run_dkim(const CommandContext& context) {
  const auto& args = context.args;
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? kExitUsage : kExitOk;
  }
  Options options;
  std::vector<std::string> positional;
  if (args[0] == "keygen") {
    if (!parse_options(args, 1, {"domain", "selector", "algorithm", "bits", "out"}, options, positional) ||
        !positional.empty()) {
      std::fputs(kUsage, stderr);
      return kExitUsage;
    }
    return keygen(options);
  }
  if (args[0] == "record") {
    if (!parse_options(args, 1, {"domain", "selector"}, options, positional) || positional.size() != 1) {
      std::fputs(kUsage, stderr);
      return kExitUsage;
    }
    return record(positional[0], options);
  }
  std::fputs(kUsage, stderr);
  return kExitUsage;
}

}  // namespace sluice::ctl
