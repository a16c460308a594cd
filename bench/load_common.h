// load_common.h: what the load generators (policy_load.cc, milter_load.cc)
// share: the clock, fatal errors, option parsing, loopback-only target
// addresses and latency percentiles. Header-only, libc and the C++ standard
// library only, so run_*_bench.sh can still build a generator with one g++
// call on its .cc file.
//
// Everything here has internal linkage (anonymous namespace). The program
// defines kLoadProgram, the prefix of its fatal error messages.
#ifndef SLUICE_BENCH_LOAD_COMMON_H_
#define SLUICE_BENCH_LOAD_COMMON_H_

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

// Defined by the program: "policy_load", "milter_load".
extern const char kLoadProgram[];

using Nanos = std::int64_t;

Nanos now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<Nanos>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

[[noreturn]] void die(const char* fmt, const char* arg = "") {
  std::fprintf(stderr, "%s: ", kLoadProgram);
  std::fprintf(stderr, fmt, arg);
  std::fprintf(stderr, "\n");
  std::exit(2);
}

// --- options ---

double parse_double(const char* name, const char* text, double min, double max) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !(v >= min && v <= max)) die("bad value for %s", name);
  return v;
}

// The options both generators take, with the same meaning and bounds; each
// program's Options derives from it. Only the reply timeout's default differs.
struct RunOptions {
  explicit RunOptions(double default_timeout_s) : timeout_s(default_timeout_s) {}
  std::string target;
  int connections = 1;
  double duration_s = 10;
  double warmup_s = 0;
  double timeout_s;
  std::string label;
};

// Every option takes a value ("--name value"); -h/--help prints usage() and
// exits. The options of RunOptions are handled here; set(name, value) applies
// one of the program's own and returns false for a name it does not know.
// --target is required.
template <class SetOption>
void parse_options(int argc, char** argv, void (*usage)(), RunOptions& o, SetOption set) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "-h" || a == "--help") {
      usage();
      std::exit(0);
    }
    if (i + 1 >= argc) die("%s needs a value (try --help)", argv[i]);
    const char* name = argv[i];
    const char* v = argv[++i];
    if (a == "--target") o.target = v;
    else if (a == "--connections") o.connections = static_cast<int>(parse_double(name, v, 1, 10000));
    else if (a == "--duration") o.duration_s = parse_double(name, v, 0.1, 3600);
    else if (a == "--warmup") o.warmup_s = parse_double(name, v, 0, 600);
    else if (a == "--timeout") o.timeout_s = parse_double(name, v, 0.001, 600);
    else if (a == "--label") o.label = v;
    else if (!set(name, v)) die("unknown option %s (try --help)", name);
  }
  if (o.target.empty()) die("--target is required (try --help)");
}

// --- target address: loopback TCP or unix socket only ---
// Only loopback: a load generator pointed at a remote server by mistake
// would be a denial of service, and its numbers would measure the network.

struct Target {
  sockaddr_storage addr{};
  socklen_t len = 0;
  bool tcp = false;
};

// "unix:/PATH" (or another "KIND:/PATH"): the socket path follows the first ':'.
Target unix_target(const std::string& text) {
  Target t;
  const std::string path = text.substr(text.find(':') + 1);
  auto* sun = reinterpret_cast<sockaddr_un*>(&t.addr);
  if (path.empty() || path.size() >= sizeof sun->sun_path) die("bad unix socket path in %s", text.c_str());
  sun->sun_family = AF_UNIX;
  std::memcpy(sun->sun_path, path.c_str(), path.size() + 1);
  t.len = sizeof(sockaddr_un);
  return t;
}

// The port of a TCP target; `text` (the whole target) is for the message.
int target_port(const std::string& port, const std::string& text) {
  const int p = std::atoi(port.c_str());
  if (p <= 0 || p > 65535) die("bad port in %s", text.c_str());
  return p;
}

// Fills `t` with HOST:PORT when HOST is a numeric IPv4 address and returns
// true; false when it is not one. An IPv4 address outside 127.0.0.0/8 is
// fatal, with `not_loopback_fmt` (one %s: the whole target `text`).
bool ipv4_loopback_target(Target& t, const std::string& host, int port, const std::string& text,
                          const char* not_loopback_fmt) {
  auto* sin = reinterpret_cast<sockaddr_in*>(&t.addr);
  if (inet_pton(AF_INET, host.c_str(), &sin->sin_addr) != 1) return false;
  if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127) die(not_loopback_fmt, text.c_str());
  sin->sin_family = AF_INET;
  sin->sin_port = htons(static_cast<std::uint16_t>(port));
  t.len = sizeof *sin;
  return true;
}

// --- latency statistics ---

// The p-th percentile (0 < p <= 100) of an ascending vector: the value at
// rank floor(p/100 * n), capped at the last; 0 when empty.
template <class T>
T percentile(const std::vector<T>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double rank = p / 100.0 * static_cast<double>(sorted.size());
  std::size_t i = static_cast<std::size_t>(rank);
  if (i >= sorted.size()) i = sorted.size() - 1;
  return sorted[i];
}

// The largest value of an ascending vector; 0 when empty.
template <class T>
T max_of(const std::vector<T>& sorted) {
  return sorted.empty() ? T{0} : sorted.back();
}

}  // namespace

#endif  // SLUICE_BENCH_LOAD_COMMON_H_
