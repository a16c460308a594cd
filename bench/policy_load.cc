// policy_load: load generator for Postfix SMTP access policy servers
// (SMTPD_POLICY_README protocol), used to compare sluice-policyd with other
// policy daemons (bench/run_policy_bench.sh, doc/BENCHMARKS.md).
//
// Each connection behaves like one Postfix smtpd process: it keeps one
// connection open, sends one request carrying every attribute Postfix 3.7
// sends, waits for the "action=..." reply and the empty line, then sends the
// next. A message is K RCPT requests (--mix rcpt), one END-OF-MESSAGE request
// (--mix eom) or K RCPT requests followed by END-OF-MESSAGE (--mix rcpt+eom);
// every message gets a fresh queue_id and instance, as Postfix does.
//
// One thread, one epoll set, non-blocking sockets. With --rate R the
// requests are paced on a global schedule (request i is due at start + i/R):
// a due request goes out on the next idle connection; if none is idle it
// waits, and its latency "from schedule" includes that wait (the usual
// coordinated-omission correction). Latency "from send" is the round trip
// of one request, what Postfix itself waits.
//
// Only loopback TCP addresses and unix sockets are accepted.
// No dependencies beyond libc and the C++ standard library.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "load_common.h"

namespace {

const char kLoadProgram[] = "policy_load";

enum class Mix { kRcpt, kEom, kRcptEom };

struct Options : RunOptions {
  Options() : RunOptions(5) {}
  double rate = 0;  // decisions/s over all connections; 0 = as fast as possible
  Mix mix = Mix::kRcpt;
  int rcpts_per_msg = 1;
  int users = 100;
  double suppressed_fraction = 0;
  int suppressed_count = 1000;
  std::string suppressed_domain = "suppressed.bench.example";
  std::uint64_t max_requests = 0;  // 0 = no cap beyond time
  unsigned seed = 1;
  int show_replies = 3;
};

void usage() {
  std::printf(
      "usage: policy_load --target inet:127.0.0.1:PORT|unix:/PATH [options]\n"
      "  --connections C            persistent client connections (default 1)\n"
      "  --duration S               measured seconds (default 10); hard stop at warmup + S + 5 s\n"
      "  --warmup S                 seconds of load before measuring starts (default 0)\n"
      "  --rate R                   decisions/s over all connections, paced (default 0 = as fast as possible)\n"
      "  --mix rcpt|eom|rcpt+eom    requests per message (default rcpt)\n"
      "  --rcpts-per-msg K          RCPT requests per message (default 1)\n"
      "  --users N                  distinct sasl_username values user0..user(N-1) (default 100)\n"
      "  --suppressed-fraction F    share of recipients drawn from the suppressed set (default 0)\n"
      "  --suppressed-count M       suppressed set: sup0..sup(M-1)@DOMAIN (default 1000)\n"
      "  --suppressed-domain D      (default suppressed.bench.example)\n"
      "  --timeout S                per-request timeout, then the connection is reopened (default 5)\n"
      "  --max-requests N           stop after N requests (default: no cap)\n"
      "  --seed N                   random seed (default 1)\n"
      "  --label TEXT               name printed in the RESULT line\n"
      "  --show-replies N           distinct reply texts shown per class (default 3)\n"
      "Prints a human summary and one machine-readable line starting with RESULT.\n");
}

Options parse_args(int argc, char** argv) {
  Options o;
  parse_options(argc, argv, usage, o, [&o](const char* name, const char* v) {
    const std::string_view a = name;
    if (a == "--rate") o.rate = parse_double("--rate", v, 0, 10'000'000);
    else if (a == "--mix") {
      const std::string_view m = v;
      if (m == "rcpt") o.mix = Mix::kRcpt;
      else if (m == "eom") o.mix = Mix::kEom;
      else if (m == "rcpt+eom") o.mix = Mix::kRcptEom;
      else die("--mix must be rcpt, eom or rcpt+eom");
    } else if (a == "--rcpts-per-msg") o.rcpts_per_msg = static_cast<int>(parse_double(name, v, 1, 1000));
    else if (a == "--users") o.users = static_cast<int>(parse_double("--users", v, 1, 10'000'000));
    else if (a == "--suppressed-fraction") o.suppressed_fraction = parse_double(name, v, 0, 1);
    else if (a == "--suppressed-count") o.suppressed_count = static_cast<int>(parse_double(name, v, 1, 1e8));
    else if (a == "--suppressed-domain") o.suppressed_domain = v;
    else if (a == "--max-requests") o.max_requests = static_cast<std::uint64_t>(parse_double(name, v, 0, 1e15));
    else if (a == "--seed") o.seed = static_cast<unsigned>(parse_double("--seed", v, 0, 4e9));
    else if (a == "--show-replies") o.show_replies = static_cast<int>(parse_double(name, v, 0, 1000));
    else return false;
    return true;
  });
  return o;
}

// inet:127.0.0.1:PORT, inet:[::1]:PORT or unix:/PATH (Postfix's spelling).
Target parse_target(const std::string& text) {
  if (text.rfind("unix:", 0) == 0) return unix_target(text);
  if (text.rfind("inet:", 0) != 0) die("target must be inet:127.0.0.1:PORT or unix:/PATH, not %s", text.c_str());
  std::string rest = text.substr(5);
  std::string host;
  std::string port;
  if (!rest.empty() && rest[0] == '[') {
    const auto close = rest.find(']');
    if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':') die("bad target %s", text.c_str());
    host = rest.substr(1, close - 1);
    port = rest.substr(close + 2);
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string::npos) die("bad target %s", text.c_str());
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  const int p = target_port(port, text);
  Target t;
  t.tcp = true;
  if (ipv4_loopback_target(t, host, p, text, "only loopback (127.0.0.0/8, ::1) targets: %s")) return t;
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&t.addr);
  if (inet_pton(AF_INET6, host.c_str(), &sin6->sin6_addr) == 1) {
    if (!IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr)) die("only loopback (127.0.0.0/8, ::1) targets: %s", text.c_str());
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<std::uint16_t>(p));
    t.len = sizeof *sin6;
  } else {
    die("target host must be a numeric loopback address: %s", text.c_str());
  }
  return t;
}

// --- request generation ---

// xorshift64*: cheap and good enough to pick users and recipients.
struct Rng {
  std::uint64_t s;
  std::uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ULL;
  }
  double unit() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
};

void append_attr(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out += '=';
  out.append(value);
  out += '\n';
}

// Postfix queue IDs (short form): 10 to 12 upper-case hex digits.
std::string queue_id(std::uint64_t n) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%010" PRIX64, static_cast<std::uint64_t>(n & 0xFFFFFFFFFFULL));
  return buf;
}

enum class ReplyClass { kDunno, kTemp, kPerm, kOther };

struct Stats {
  std::vector<std::uint32_t> lat_send_us;   // measured requests, from send to the end of the reply
  std::vector<std::uint32_t> lat_sched_us;  // from the scheduled time (paced runs)
  std::uint64_t decisions = 0;              // measured replies
  std::uint64_t all_replies = 0;            // including warm-up
  std::uint64_t by_class[4] = {0, 0, 0, 0};
  std::uint64_t rcpt_requests = 0;
  std::uint64_t eom_requests = 0;
  std::uint64_t suppressed_requests = 0;
  std::uint64_t conn_errors = 0;     // connect refused/failed
  std::uint64_t resets = 0;          // reset or closed by the server
  std::uint64_t timeouts = 0;        // request outstanding longer than --timeout
  std::uint64_t malformed = 0;       // reply without action= or oversized
  std::uint64_t reconnects = 0;
  std::uint64_t unfinished = 0;      // still in flight at the hard stop
  std::uint64_t late_starts = 0;     // paced: sent more than 1 ms after schedule
  std::map<std::string, std::uint64_t> texts[4];  // reply texts per class, first few distinct
  std::uint64_t texts_other[4] = {0, 0, 0, 0};
};

struct Conn {
  int index = 0;
  int fd = -1;
  bool connecting = false;
  bool busy = false;           // a request is out, waiting for its reply
  bool in_idle_queue = false;
  std::string out;             // unsent bytes of the current request
  std::size_t out_off = 0;
  std::string in;              // bytes of the reply so far
  Nanos sent_at = 0;
  Nanos scheduled_at = 0;
  bool suppressed_rcpt = false;
  // message state
  std::uint64_t msg_seq = 0;
  int rcpt_done = 0;           // RCPTs sent for the current message
  bool need_eom = false;
  std::string qid;
  std::string instance;
  std::string sasl;
  std::string sender;
  std::uint64_t size = 0;
  Nanos reconnect_at = 0;
};

class Load {
 public:
  Load(Options o, Target t) : o_(std::move(o)), t_(t), rng_{0x9E3779B97F4A7C15ULL ^ o_.seed} {
    if (o_.users < 1) o_.users = 1;
    conns_.resize(static_cast<std::size_t>(o_.connections));
    for (int i = 0; i < o_.connections; ++i) conns_[static_cast<std::size_t>(i)].index = i;
    stats_.lat_send_us.reserve(1 << 20);
    if (o_.rate > 0) stats_.lat_sched_us.reserve(1 << 20);
  }

  int run();

 private:
  void open(Conn& c);
  void drop(Conn& c, std::uint64_t* counter);
  bool finish_connect(Conn& c);
  void start_message(Conn& c);
  void build_request(Conn& c);
  void send_next(Conn& c, Nanos scheduled);
  void flush(Conn& c);
  void on_readable(Conn& c);
  void on_reply(Conn& c, std::string_view reply, Nanos at);
  void make_idle(Conn& c);
  void pace(Nanos now);
  void arm_timer(Nanos at);
  void report(Nanos measured_ns);

  Options o_;
  Target t_;
  Rng rng_;
  std::vector<Conn> conns_;
  std::deque<int> idle_;   // paced runs: idle connections waiting for a slot
  int ep_ = -1;
  int timer_ = -1;
  Nanos start_ = 0;        // load starts
  Nanos measure_from_ = 0;
  Nanos stop_at_ = 0;      // no new requests after this
  Nanos hard_stop_ = 0;
  std::uint64_t slot_ = 0;  // next paced slot
  std::uint64_t sent_ = 0;
  bool stopping_ = false;
  Stats stats_;
  std::uint64_t instance_base_ = 0;
};

void Load::open(Conn& c) {
  c.fd = socket(t_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) die("socket: %s", std::strerror(errno));
  if (t_.tcp) {
    const int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  c.connecting = true;
  c.busy = false;
  c.in.clear();
  c.out.clear();
  c.out_off = 0;
  const int rc = connect(c.fd, reinterpret_cast<const sockaddr*>(&t_.addr), t_.len);
  if (rc != 0 && errno != EINPROGRESS && errno != EAGAIN) {
    ++stats_.conn_errors;
    ::close(c.fd);
    c.fd = -1;
    c.connecting = false;
    c.reconnect_at = now_ns() + 100'000'000;  // retry in 100 ms
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
  ev.data.u64 = static_cast<std::uint64_t>(c.index);
  if (epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev) != 0) die("epoll_ctl: %s", std::strerror(errno));
}

// A non-blocking connect became writable: false (and dropped) if it
// failed, else the connection now waits for answers only.
bool Load::finish_connect(Conn& c) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    drop(c, &stats_.conn_errors);
    return false;
  }
  c.connecting = false;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.u64 = static_cast<std::uint64_t>(c.index);
  epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  return true;
}

// Closes after an error; the connection reopens shortly, like smtpd would.
void Load::drop(Conn& c, std::uint64_t* counter) {
  if (counter != nullptr) ++*counter;
  if (c.fd >= 0) {
    epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
  }
  c.fd = -1;
  c.busy = false;
  c.connecting = false;
  c.need_eom = false;
  c.rcpt_done = 0;
  c.reconnect_at = now_ns() + 10'000'000;  // 10 ms
  c.msg_seq += 1;                           // the message in progress is abandoned
  c.qid.clear();
}

void Load::start_message(Conn& c) {
  ++c.msg_seq;
  c.rcpt_done = 0;
  c.need_eom = false;
  const std::uint64_t msg = static_cast<std::uint64_t>(c.index) << 40 | c.msg_seq;
  c.qid = queue_id(rng_.next());
  // Postfix: "%lx.%lx.%lx.%x" (pid, time, per-process counter, ...); unique per message.
  char inst[80];
  std::snprintf(inst, sizeof inst, "%" PRIx64 ".%" PRIx64 ".%" PRIx64 ".0", instance_base_ + static_cast<std::uint64_t>(c.index),
                static_cast<std::uint64_t>(time(nullptr)), msg);
  c.instance = inst;
  const std::uint64_t user = rng_.next() % static_cast<std::uint64_t>(o_.users);
  c.sasl = "user" + std::to_string(user);
  c.sender = c.sasl + "@customer" + std::to_string(user % 97) + ".bench.example";
  c.size = 1000 + rng_.next() % 60000;
}

void Load::build_request(Conn& c) {
  const bool eom = o_.mix == Mix::kEom || (o_.mix == Mix::kRcptEom && c.need_eom);
  std::string& r = c.out;
  r.clear();
  c.out_off = 0;
  c.suppressed_rcpt = false;
  std::string recipient;
  if (!eom) {
    if (o_.suppressed_fraction > 0 && rng_.unit() < o_.suppressed_fraction) {
      recipient = "sup" + std::to_string(rng_.next() % static_cast<std::uint64_t>(o_.suppressed_count)) + "@" +
                  o_.suppressed_domain;
      c.suppressed_rcpt = true;
    } else {
      recipient = "r" + std::to_string(rng_.next() % 100000000) + "@dest" + std::to_string(rng_.next() % 1000) +
                  ".bench.example";
    }
  }
  const std::string port = std::to_string(40000 + c.index % 20000);
  append_attr(r, "request", "smtpd_access_policy");
  append_attr(r, "protocol_state", eom ? "END-OF-MESSAGE" : "RCPT");
  append_attr(r, "protocol_name", "ESMTP");
  append_attr(r, "helo_name", "client" + std::to_string(c.index) + ".bench.example");
  append_attr(r, "queue_id", c.qid);
  append_attr(r, "sender", c.sender);
  append_attr(r, "recipient", recipient);
  // At RCPT: recipients accepted so far; at END-OF-MESSAGE: all of them.
  append_attr(r, "recipient_count", std::to_string(eom ? std::max(1, c.rcpt_done) : c.rcpt_done));
  append_attr(r, "client_address", "192.0.2." + std::to_string(1 + c.index % 250));
  append_attr(r, "client_name", "client" + std::to_string(c.index) + ".bench.example");
  append_attr(r, "reverse_client_name", "client" + std::to_string(c.index) + ".bench.example");
  append_attr(r, "instance", c.instance);
  append_attr(r, "sasl_method", "PLAIN");
  append_attr(r, "sasl_username", c.sasl);
  append_attr(r, "sasl_sender", "");
  append_attr(r, "size", std::to_string(c.size));
  append_attr(r, "ccert_subject", "");
  append_attr(r, "ccert_issuer", "");
  append_attr(r, "ccert_fingerprint", "");
  append_attr(r, "ccert_pubkey_fingerprint", "");
  append_attr(r, "encryption_protocol", "TLSv1.3");
  append_attr(r, "encryption_cipher", "TLS_AES_256_GCM_SHA384");
  append_attr(r, "encryption_keysize", "256");
  append_attr(r, "etrn_domain", "");
  append_attr(r, "stress", "");
  append_attr(r, "server_address", "127.0.0.1");
  append_attr(r, "server_port", "587");
  append_attr(r, "policy_context", "");
  append_attr(r, "compatibility_level", "3.6");
  append_attr(r, "mail_version", "3.7.11");
  append_attr(r, "client_port", port);
  r += '\n';
  if (eom) {
    ++stats_.eom_requests;
    c.need_eom = false;
    c.rcpt_done = 0;
    c.qid.clear();  // next request starts a new message
  } else {
    ++stats_.rcpt_requests;
    if (c.suppressed_rcpt) ++stats_.suppressed_requests;
    ++c.rcpt_done;
    if (c.rcpt_done >= o_.rcpts_per_msg) {
      if (o_.mix == Mix::kRcptEom) c.need_eom = true;
      else c.qid.clear();
    }
  }
}

void Load::send_next(Conn& c, Nanos scheduled) {
  if (c.qid.empty()) start_message(c);
  build_request(c);
  c.busy = true;
  c.in.clear();
  c.sent_at = now_ns();
  c.scheduled_at = scheduled != 0 ? scheduled : c.sent_at;
  if (scheduled != 0 && c.sent_at - scheduled > 1'000'000 && c.sent_at >= measure_from_) ++stats_.late_starts;
  ++sent_;
  flush(c);
}

void Load::flush(Conn& c) {
  while (c.out_off < c.out.size()) {
    const ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_off += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // EPOLLOUT will resume
    drop(c, &stats_.resets);
    return;
  }
}

ReplyClass classify(std::string_view action) {
  auto starts = [&](std::string_view p) {
    if (action.size() < p.size()) return false;
    for (std::size_t i = 0; i < p.size(); ++i) {
      char ch = action[i];
      if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
      if (ch != p[i]) return false;
    }
    return true;
  };
  if (starts("DUNNO")) return ReplyClass::kDunno;
  if (!action.empty() && action[0] == '4') return ReplyClass::kTemp;
  if (starts("DEFER") || starts("TEMPFAIL")) return ReplyClass::kTemp;  // DEFER, DEFER_IF_PERMIT, DEFER_IF_REJECT
  if (!action.empty() && action[0] == '5') return ReplyClass::kPerm;
  if (starts("REJECT")) return ReplyClass::kPerm;
  return ReplyClass::kOther;
}

void Load::on_reply(Conn& c, std::string_view reply, Nanos at) {
  c.busy = false;
  ++stats_.all_replies;
  // The reply is "action=...\n" and possibly other attributes, then "\n".
  std::string_view action;
  std::size_t pos = 0;
  while (pos < reply.size()) {
    std::size_t eol = reply.find('\n', pos);
    if (eol == std::string_view::npos) eol = reply.size();
    const std::string_view line = reply.substr(pos, eol - pos);
    if (line.rfind("action=", 0) == 0) {
      action = line.substr(7);
      break;
    }
    pos = eol + 1;
  }
  if (action.empty()) {
    ++stats_.malformed;
  }
  // A decision counts when its reply arrives inside the measured window.
  if (at >= measure_from_ && at < stop_at_) {
    ++stats_.decisions;
    const ReplyClass cls = action.empty() ? ReplyClass::kOther : classify(action);
    const int k = static_cast<int>(cls);
    ++stats_.by_class[k];
    const auto us = [](Nanos d) { return static_cast<std::uint32_t>(std::min<Nanos>(d / 1000, 0xFFFFFFFF)); };
    stats_.lat_send_us.push_back(us(at - c.sent_at));
    if (o_.rate > 0) stats_.lat_sched_us.push_back(us(at - c.scheduled_at));
    if (cls != ReplyClass::kDunno) {
      // Numbers vary (recipients, counters, dates): each run of digits after
      // the reply code becomes "#", so one kind of answer is one sample.
      std::string key;
      const std::string_view text = action.substr(0, 200);
      std::size_t code_end = std::min(text.find(' '), text.size());  // "450" or "DEFER_IF_PERMIT"
      if (code_end < text.size()) code_end = std::min(text.find(' ', code_end + 1), text.size());  // "4.7.1"
      for (std::size_t i = 0; i < text.size(); ++i) {
        const bool digit = text[i] >= '0' && text[i] <= '9';
        if (i < code_end || !digit) key += text[i];
        else if (key.empty() || key.back() != '#') key += '#';
      }
      auto it = stats_.texts[k].find(key);
      if (it != stats_.texts[k].end()) ++it->second;
      else if (stats_.texts[k].size() < 50) stats_.texts[k].emplace(std::move(key), 1);
      else ++stats_.texts_other[k];
    }
  }
}

void Load::on_readable(Conn& c) {
  char buf[8192];
  while (true) {
    const ssize_t n = ::read(c.fd, buf, sizeof buf);
    if (n > 0) {
      if (!c.busy) {  // bytes nobody asked for
        ++stats_.malformed;
        continue;
      }
      c.in.append(buf, static_cast<std::size_t>(n));
      const auto end = c.in.find("\n\n");
      if (end != std::string::npos) {
        const Nanos at = now_ns();
        if (end + 2 != c.in.size()) ++stats_.malformed;  // more than one reply
        on_reply(c, std::string_view(c.in).substr(0, end + 1), at);
        c.in.clear();
        make_idle(c);
        return;
      }
      if (c.in.size() > 65536) {
        drop(c, &stats_.malformed);
        return;
      }
      continue;
    }
    if (n == 0) {
      drop(c, &stats_.resets);
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    drop(c, &stats_.resets);
    return;
  }
}

// A connection is free for the next request.
void Load::make_idle(Conn& c) {
  if (stopping_) return;
  if (o_.max_requests != 0 && sent_ >= o_.max_requests) return;
  if (o_.rate <= 0) {
    send_next(c, 0);
    return;
  }
  if (!c.in_idle_queue) {
    c.in_idle_queue = true;
    idle_.push_back(c.index);
  }
  pace(now_ns());
}

// Paced: hands every slot that is due to an idle connection.
void Load::pace(Nanos now) {
  const double interval = 1e9 / o_.rate;
  while (!idle_.empty()) {
    const Nanos due = start_ + static_cast<Nanos>(static_cast<double>(slot_) * interval);
    if (due > now || due >= stop_at_) break;
    if (o_.max_requests != 0 && sent_ >= o_.max_requests) break;
    Conn& c = conns_[static_cast<std::size_t>(idle_.front())];
    idle_.pop_front();
    c.in_idle_queue = false;
    if (c.fd < 0 || c.connecting || c.busy) continue;
    ++slot_;
    send_next(c, due);
  }
}

void Load::arm_timer(Nanos at) {
  itimerspec its{};
  its.it_value.tv_sec = at / 1'000'000'000;
  its.it_value.tv_nsec = at % 1'000'000'000;
  if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
  timerfd_settime(timer_, TFD_TIMER_ABSTIME, &its, nullptr);
}

int Load::run() {
  signal(SIGPIPE, SIG_IGN);
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  timer_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (ep_ < 0 || timer_ < 0) die("epoll/timerfd: %s", std::strerror(errno));
  epoll_event tev{};
  tev.events = EPOLLIN;
  tev.data.u64 = ~0ULL;
  epoll_ctl(ep_, EPOLL_CTL_ADD, timer_, &tev);
  instance_base_ = (static_cast<std::uint64_t>(getpid()) << 20) ^ (rng_.next() & 0xFFFFF);

  // Connect everything first (Postfix's smtpd processes are long-lived), then start the clock.
  const Nanos connect_deadline = now_ns() + 5'000'000'000;
  start_ = now_ns();
  measure_from_ = start_ + static_cast<Nanos>(o_.warmup_s * 1e9);
  stop_at_ = measure_from_ + static_cast<Nanos>(o_.duration_s * 1e9);
  hard_stop_ = stop_at_ + 5'000'000'000;
  for (Conn& c : conns_) open(c);
  std::vector<epoll_event> events(256);
  int connected = 0;
  while (connected < o_.connections && now_ns() < connect_deadline) {
    const int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 100);
    for (int i = 0; i < n; ++i) {
      if (events[static_cast<std::size_t>(i)].data.u64 == ~0ULL) continue;
      Conn& c = conns_[events[static_cast<std::size_t>(i)].data.u64];
      if (c.fd < 0 || !c.connecting) continue;
      if (finish_connect(c)) ++connected;
    }
    for (Conn& c : conns_) {
      if (c.fd < 0 && now_ns() >= c.reconnect_at) open(c);
    }
  }
  if (connected == 0) {
    std::fprintf(stderr, "policy_load: could not connect to %s (%" PRIu64 " failures)\n", o_.target.c_str(),
                 stats_.conn_errors);
    std::printf("RESULT label=%s target=%s conns=%d decisions=0 error=connect\n",
                o_.label.empty() ? "-" : o_.label.c_str(), o_.target.c_str(), o_.connections);
    return 1;
  }

  // The clock starts now that connections are up.
  start_ = now_ns();
  measure_from_ = start_ + static_cast<Nanos>(o_.warmup_s * 1e9);
  stop_at_ = measure_from_ + static_cast<Nanos>(o_.duration_s * 1e9);
  hard_stop_ = stop_at_ + 5'000'000'000;
  for (Conn& c : conns_) {
    if (c.fd >= 0 && !c.connecting) make_idle(c);
  }
  const Nanos timeout_ns = static_cast<Nanos>(o_.timeout_s * 1e9);
  Nanos next_sweep = start_ + 10'000'000;
  while (true) {
    Nanos now = now_ns();
    if (!stopping_ && (now >= stop_at_ || (o_.max_requests != 0 && sent_ >= o_.max_requests &&
                                           std::none_of(conns_.begin(), conns_.end(), [](const Conn& c) { return c.busy; })))) {
      stopping_ = true;
    }
    if (stopping_) {
      const bool any_busy = std::any_of(conns_.begin(), conns_.end(), [](const Conn& c) { return c.busy; });
      if (!any_busy || now >= hard_stop_) break;
    }
    int wait_ms = 10;
    if (o_.rate > 0 && !stopping_) {
      // Wake for the next slot with the timerfd (sub-ms); epoll_wait's own timeout is coarse.
      const double interval = 1e9 / o_.rate;
      const Nanos due = start_ + static_cast<Nanos>(static_cast<double>(slot_) * interval);
      if (!idle_.empty() && due < stop_at_) arm_timer(std::max(due, now + 1000));
    }
    const int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), wait_ms);
    if (n < 0 && errno != EINTR) die("epoll_wait: %s", std::strerror(errno));
    for (int i = 0; i < n; ++i) {
      const epoll_event& ev = events[static_cast<std::size_t>(i)];
      if (ev.data.u64 == ~0ULL) {
        std::uint64_t ticks;
        while (read(timer_, &ticks, sizeof ticks) > 0) {
        }
        continue;
      }
      Conn& c = conns_[ev.data.u64];
      if (c.fd < 0) continue;
      if (c.connecting) {
        if (finish_connect(c)) {
          ++stats_.reconnects;
          make_idle(c);
        }
        continue;
      }
      if ((ev.events & EPOLLIN) != 0) on_readable(c);
      if (c.fd < 0) continue;
      if ((ev.events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) != 0 && (ev.events & EPOLLIN) == 0) {
        drop(c, &stats_.resets);
        continue;
      }
      if ((ev.events & EPOLLOUT) != 0 && c.busy) flush(c);
    }
    now = now_ns();
    if (o_.rate > 0 && !stopping_) pace(now);
    if (now >= next_sweep) {
      next_sweep = now + 10'000'000;
      for (Conn& c : conns_) {
        if (c.busy && now - c.sent_at > timeout_ns) {
          drop(c, &stats_.timeouts);
        } else if (c.fd < 0 && !stopping_ && now >= c.reconnect_at) {
          open(c);
        } else if (c.fd >= 0 && c.connecting && now - c.reconnect_at > timeout_ns) {
          drop(c, &stats_.conn_errors);
        }
      }
    }
  }
  for (const Conn& c : conns_) {
    if (c.busy) ++stats_.unfinished;
  }
  const Nanos measured = std::min(now_ns(), stop_at_) - measure_from_;
  report(measured);
  for (Conn& c : conns_) {
    if (c.fd >= 0) ::close(c.fd);
  }
  return 0;
}

void Load::report(Nanos measured_ns) {
  auto& s = stats_;
  std::sort(s.lat_send_us.begin(), s.lat_send_us.end());
  std::sort(s.lat_sched_us.begin(), s.lat_sched_us.end());
  const double secs = static_cast<double>(measured_ns) / 1e9;
  const double dps = secs > 0 ? static_cast<double>(s.decisions) / secs : 0;
  const char* mix = o_.mix == Mix::kRcpt ? "rcpt" : o_.mix == Mix::kEom ? "eom" : "rcpt+eom";
  const char* names[4] = {"DUNNO", "4xx/DEFER", "5xx/REJECT", "other"};
  const auto& L = s.lat_send_us;
  std::printf("policy_load %s: target %s, %d connections, %.1f s measured, mix %s, rate %s\n",
              o_.label.empty() ? "" : o_.label.c_str(), o_.target.c_str(), o_.connections, secs, mix,
              o_.rate > 0 ? std::to_string(static_cast<long long>(o_.rate)).c_str() : "max");
  std::printf("  decisions      %" PRIu64 " (%.0f/s); requests sent incl. warm-up: RCPT %" PRIu64
              " (suppressed recipients %" PRIu64 "), END-OF-MESSAGE %" PRIu64 "\n",
              s.decisions, dps, s.rcpt_requests, s.suppressed_requests, s.eom_requests);
  std::printf("  latency (us)   p50 %u  p90 %u  p99 %u  p99.9 %u  max %u  (send to reply)\n", percentile(L, 50),
              percentile(L, 90), percentile(L, 99), percentile(L, 99.9), max_of(L));
  if (o_.rate > 0) {
    const auto& S = s.lat_sched_us;
    std::printf("  latency (us)   p50 %u  p90 %u  p99 %u  p99.9 %u  max %u  (from schedule; %" PRIu64
                " sent > 1 ms late)\n",
                percentile(S, 50), percentile(S, 90), percentile(S, 99), percentile(S, 99.9), max_of(S),
                s.late_starts);
  }
  std::printf("  actions        DUNNO %" PRIu64 "  4xx/DEFER %" PRIu64 "  5xx/REJECT %" PRIu64 "  other %" PRIu64 "\n",
              s.by_class[0], s.by_class[1], s.by_class[2], s.by_class[3]);
  std::printf("  errors         connect %" PRIu64 "  reset/closed %" PRIu64 "  timeout %" PRIu64 "  malformed %" PRIu64
              "  unfinished %" PRIu64 "  reconnects %" PRIu64 "\n",
              s.conn_errors, s.resets, s.timeouts, s.malformed, s.unfinished, s.reconnects);
  for (int k = 1; k < 4; ++k) {
    int shown = 0;
    for (const auto& [text, count] : s.texts[k]) {
      if (shown++ >= o_.show_replies) break;
      std::printf("  sample %-10s x%" PRIu64 ": action=%s\n", names[k], count, text.c_str());
    }
    if (s.texts[k].size() > static_cast<std::size_t>(o_.show_replies) || s.texts_other[k] > 0) {
      std::printf("  sample %-10s (%zu distinct texts kept, %" PRIu64 " more not kept)\n", names[k],
                  s.texts[k].size(), s.texts_other[k]);
    }
  }
  const auto& S = o_.rate > 0 ? s.lat_sched_us : s.lat_send_us;
  std::printf("RESULT label=%s target=%s conns=%d rate=%.0f mix=%s secs=%.2f decisions=%" PRIu64
              " dps=%.0f p50=%u p90=%u p99=%u p999=%u max=%u sp50=%u sp99=%u sp999=%u dunno=%" PRIu64
              " temp=%" PRIu64 " perm=%" PRIu64 " other=%" PRIu64 " conn_err=%" PRIu64 " resets=%" PRIu64
              " timeouts=%" PRIu64 " malformed=%" PRIu64 " unfinished=%" PRIu64 " late=%" PRIu64 "\n",
              o_.label.empty() ? "-" : o_.label.c_str(), o_.target.c_str(), o_.connections, o_.rate, mix, secs,
              s.decisions, dps, percentile(L, 50), percentile(L, 90), percentile(L, 99), percentile(L, 99.9),
              max_of(L), percentile(S, 50), percentile(S, 99), percentile(S, 99.9), s.by_class[0],
              s.by_class[1], s.by_class[2], s.by_class[3], s.conn_errors, s.resets, s.timeouts, s.malformed,
              s.unfinished, s.late_starts);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Options options = parse_args(argc, argv);
  const Target target = parse_target(options.target);
  Load load(std::move(options), target);
  return load.run();
}
