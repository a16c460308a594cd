// milter_load: load generator speaking the Sendmail milter protocol
// (version 6) directly to a milter, the way Postfix's smtpd/cleanup do, to
// compare sluice-milter with OpenDKIM (bench/run_milter_bench.sh,
// doc/BENCHMARKS.md).
//
// Each connection is one SMTP session of an MTA: option negotiation, the
// connect information (client address, connect macros), then message after
// message on the same milter connection: MAIL (macros i, {mail_addr},
// {auth_authen}), RCPT, DATA, the header fields, EOH, the body in chunks of
// at most 65,535 bytes (Postfix's MILTER_CHUNK_SIZE), EOM (macro i), the
// modification actions up to the final reply, then SMFIC_ABORT before the
// next MAIL (what Postfix's smtpd does between the messages of one session,
// and libmilter expects). With --messages-per-conn N the session ends with
// SMFIC_QUIT after N messages and a new connection starts (Postfix opens a
// new milter connection per SMTP client).
//
// The steps and reply flags the milter negotiates are honoured: a step it
// asked to skip (SMFIP_NO*) is not sent, a reply it will not send
// (SMFIP_NR_*) is not waited for, and SMFIR_SKIP during the body jumps to
// EOM. As in Postfix 3.x, commands that need no reply are buffered and go
// out with the next one that does (one write per round trip).
//
// A message whose MAIL gets SMFIR_ACCEPT (not outbound for the milter) or any
// final reply before EOM ends there; it is counted apart, so a run that signs
// nothing shows it. DKIM-Signature fields added (SMFIR_ADDHEADER) or inserted
// (SMFIR_INSHEADER) are counted per message.
//
// One thread, one epoll set, non-blocking sockets. Only loopback TCP
// addresses and unix sockets are accepted. libc and the C++ standard library
// only.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "load_common.h"

namespace {

const char kLoadProgram[] = "milter_load";

// --- protocol constants (libmilter/mfdef.h, protocol version 6) ---

constexpr std::uint32_t kVersion = 6;
// Every action Postfix 3.7 offers.
constexpr std::uint32_t kOfferedActions = 0x1FF;  // ADDHDRS..SETSYMLIST
// Every step/reply flag of version 6 up to SMFIP_HDR_LEADSPC, as Postfix 3.7.
constexpr std::uint32_t kOfferedProtocol = 0x1FFFFF;

constexpr std::uint32_t P_NOCONNECT = 0x1, P_NOHELO = 0x2, P_NOMAIL = 0x4, P_NORCPT = 0x8, P_NOBODY = 0x10,
                        P_NOHDRS = 0x20, P_NOEOH = 0x40, P_NR_HDR = 0x80, P_NODATA = 0x200, P_SKIP = 0x400,
                        P_NR_CONN = 0x1000, P_NR_HELO = 0x2000, P_NR_MAIL = 0x4000, P_NR_RCPT = 0x8000,
                        P_NR_DATA = 0x10000, P_NR_EOH = 0x40000, P_NR_BODY = 0x80000, P_HDR_LEADSPC = 0x100000;

constexpr std::size_t kMaxPacket = 4 * 1024 * 1024;

std::string flag_names(std::uint32_t p) {
  static const struct {
    std::uint32_t bit;
    const char* name;
  } names[] = {{0x1, "NOCONNECT"}, {0x2, "NOHELO"},   {0x4, "NOMAIL"},     {0x8, "NORCPT"},     {0x10, "NOBODY"},
               {0x20, "NOHDRS"},   {0x40, "NOEOH"},   {0x80, "NR_HDR"},    {0x100, "NOUNKNOWN"}, {0x200, "NODATA"},
               {0x400, "SKIP"},    {0x800, "RCPT_REJ"}, {0x1000, "NR_CONN"}, {0x2000, "NR_HELO"}, {0x4000, "NR_MAIL"},
               {0x8000, "NR_RCPT"}, {0x10000, "NR_DATA"}, {0x20000, "NR_UNKN"}, {0x40000, "NR_EOH"},
               {0x80000, "NR_BODY"}, {0x100000, "HDR_LEADSPC"}};
  std::string out;
  for (const auto& n : names) {
    if ((p & n.bit) != 0) {
      if (!out.empty()) out += ',';
      out += n.name;
    }
  }
  return out.empty() ? "-" : out;
}

struct Options : RunOptions {
  Options() : RunOptions(10) {}
  std::size_t size = 4096;        // whole message, header + body, roughly
  std::size_t chunk = 65535;      // body bytes per SMFIC_BODY
  int rcpts = 1;
  std::uint64_t per_conn = 0;     // messages per connection; 0: the whole run
  std::uint64_t max_messages = 0; // 0: no cap beyond time
  std::string client_address = "127.0.0.1";
  std::string auth = "bench-user";  // {auth_authen}; empty: not sent
  std::string from_domain = "bench.example";
  bool show_sample = true;
};

void usage() {
  std::printf(
      "usage: milter_load --target unix:/PATH|inet:PORT@127.0.0.1 [options]\n"
      "  --connections C          concurrent milter connections (default 1)\n"
      "  --duration S             measured seconds (default 10)\n"
      "  --warmup S               seconds of load before measuring (default 0)\n"
      "  --size BYTES             message size, header + body (default 4096)\n"
      "  --chunk BYTES            body bytes per SMFIC_BODY, at most 65535 (default 65535)\n"
      "  --rcpts K                RCPT steps per message (default 1)\n"
      "  --messages-per-conn N    QUIT and reconnect after N messages (default 0: keep the connection)\n"
      "  --max-messages N         stop after N messages (default: no cap)\n"
      "  --client-address IP      address in the connect information (default 127.0.0.1)\n"
      "  --auth USER              {auth_authen} at MAIL (default bench-user; \"\" to omit)\n"
      "  --from-domain D          sender domain (default bench.example)\n"
      "  --timeout S              per-reply timeout, then the connection is reopened (default 10)\n"
      "  --label TEXT             name printed in the RESULT line\n"
      "Targets: unix:/PATH, inet:PORT@127.0.0.1 (milter style) or inet:127.0.0.1:PORT.\n"
      "Prints a human summary and one machine-readable line starting with RESULT.\n");
}

Options parse_args(int argc, char** argv) {
  Options o;
  parse_options(argc, argv, usage, o, [&o](const char* name, const char* v) {
    const std::string_view a = name;
    if (a == "--size") o.size = static_cast<std::size_t>(parse_double(name, v, 512, 64e6));
    else if (a == "--chunk") o.chunk = static_cast<std::size_t>(parse_double(name, v, 1, 65535));
    else if (a == "--rcpts") o.rcpts = static_cast<int>(parse_double(name, v, 1, 1000));
    else if (a == "--messages-per-conn") o.per_conn = static_cast<std::uint64_t>(parse_double(name, v, 0, 1e15));
    else if (a == "--max-messages") o.max_messages = static_cast<std::uint64_t>(parse_double(name, v, 0, 1e15));
    else if (a == "--client-address") o.client_address = v;
    else if (a == "--auth") o.auth = v;
    else if (a == "--from-domain") o.from_domain = v;
    else return false;
    return true;
  });
  return o;
}

// unix:/PATH or local:/PATH, inet:PORT@127.0.0.1 (milter style) or
// inet:127.0.0.1:PORT (Postfix style); IPv4 only.
Target parse_target(const std::string& text) {
  if (text.rfind("unix:", 0) == 0 || text.rfind("local:", 0) == 0) return unix_target(text);
  if (text.rfind("inet:", 0) != 0) die("target must be unix:/PATH or inet:PORT@127.0.0.1, not %s", text.c_str());
  const std::string rest = text.substr(5);
  std::string host;
  std::string port;
  if (const auto at = rest.find('@'); at != std::string::npos) {  // milter style PORT@HOST
    port = rest.substr(0, at);
    host = rest.substr(at + 1);
  } else if (const auto colon = rest.rfind(':'); colon != std::string::npos) {  // Postfix style HOST:PORT
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  } else {
    die("bad target %s", text.c_str());
  }
  const int p = target_port(port, text);
  Target t;
  t.tcp = true;
  if (!ipv4_loopback_target(t, host, p, text, "only loopback (127.0.0.0/8) targets: %s")) {
    die("target host must be a numeric IPv4 address: %s", text.c_str());
  }
  return t;
}

// --- packets ---

void put32(std::string& out, std::uint32_t v) {
  const std::uint32_t n = htonl(v);
  out.append(reinterpret_cast<const char*>(&n), 4);
}

// Appends one packet: length (command byte + data), command, data.
void packet(std::string& out, char cmd, std::string_view data) {
  put32(out, static_cast<std::uint32_t>(data.size() + 1));
  out += cmd;
  out.append(data);
}

std::string z(std::string_view s) {  // NUL-terminated
  std::string r(s);
  r += '\0';
  return r;
}

// --- statistics ---

struct Stats {
  std::uint64_t started = 0;
  std::uint64_t done = 0;             // messages with a final reply (any)
  std::uint64_t in_window = 0;        // of those, finished inside the measured window
  std::uint64_t eom_continue = 0, eom_accept = 0, eom_tempfail = 0, eom_reject = 0, eom_discard = 0,
                eom_replycode = 0, eom_other = 0;
  std::uint64_t early_accept = 0, early_reject = 0;  // final reply before EOM (e.g. ACCEPT at MAIL)
  std::uint64_t signed_msgs = 0, dkim_headers = 0, other_headers = 0, chgheader = 0, chgfrom = 0, other_mods = 0;
  std::uint64_t skips = 0, progress = 0;
  std::uint64_t conn_err = 0, timeouts = 0, malformed = 0, unexpected = 0, reconnects = 0, unfinished = 0;
  std::uint64_t bytes_out = 0;
  std::vector<Nanos> eom_lat, msg_lat;
  std::string sample_sig, sample_reply, negotiated;
};

// --- connections ---

enum class Step { kConnect, kHelo, kMail, kRcpt, kData, kHeader, kEoh, kBody, kEom, kDone };

struct Conn {
  int fd = -1;
  int index = 0;
  std::uint32_t proto = 0;
  bool negotiated = false;
  bool session_started = false;
  bool want_out = false;
  std::string out;
  std::size_t out_off = 0;
  std::string in;
  Step step = Step::kConnect;
  Step waiting = Step::kDone;  // the step whose reply is awaited; kDone: none
  bool waiting_optneg = false;
  std::size_t header_i = 0, body_off = 0;
  int rcpt_i = 0;
  std::uint64_t msgs_in_conn = 0;
  std::uint64_t msg_no = 0;
  Nanos msg_start = 0, eom_sent = 0, reply_deadline = 0;
  int dkim_in_msg = 0;
  bool in_message = false;
};

class Load {
 public:
  Load(Options o) : o_(std::move(o)), target_(parse_target(o_.target)) { build_message(); }

  int run();

 private:
  void build_message();
  void open_conn(Conn& c);
  void close_conn(Conn& c);
  void fail(Conn& c, std::uint64_t Stats::*counter, const char* what);
  void advance(Conn& c);
  void expect(Conn& c, Step s);
  bool send_and_wait(Conn& c, Step s, std::uint32_t no_reply_flag);
  void flush(Conn& c);
  void on_readable(Conn& c);
  void on_packet(Conn& c, char cmd, std::string_view data);
  void finish_message(Conn& c, Nanos t);
  bool may_start() const;
  void update_epoll(Conn& c);

  Options o_;
  Target target_;
  int ep_ = -1;
  std::vector<Conn> conns_;
  std::vector<std::pair<std::string, std::string>> headers_;  // name, value without leading space
  std::string body_;
  Stats st_;
  Nanos t0_ = 0, t_measure_ = 0, t_end_ = 0;
  std::uint64_t next_msg_ = 0;
  bool logged_negotiation_ = false;
};

void Load::build_message() {
  headers_ = {
      {"From", "Bench Sender <sender@" + o_.from_domain + ">"},
      {"To", "Recipient <rcpt@dest.bench.example>"},
      {"Subject", "milter benchmark message"},
      {"Date", "Fri, 27 Nov 2026 12:00:00 +0000"},
      {"Message-ID", ""},  // filled per message
      {"MIME-Version", "1.0"},
      {"Content-Type", "text/plain; charset=utf-8"},
  };
  std::size_t header_bytes = 0;
  for (const auto& h : headers_) header_bytes += h.first.size() + h.second.size() + 4 + 40;
  const std::size_t body_size = o_.size > header_bytes + 64 ? o_.size - header_bytes : 64;
  static const char kText[] =
      "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore ";
  std::size_t line = 0;
  while (body_.size() < body_size) {
    const std::size_t want = std::min<std::size_t>(60 + (line * 7) % 15, body_size - body_.size());
    const std::size_t n = want > 2 ? want - 2 : 0;
    for (std::size_t i = 0; i < n; ++i) body_ += kText[(line * 13 + i) % (sizeof kText - 1)];
    body_ += "\r\n";
    ++line;
  }
}

bool Load::may_start() const {
  if (now_ns() >= t_end_) return false;
  if (o_.max_messages != 0 && next_msg_ >= o_.max_messages) return false;
  return true;
}

void Load::update_epoll(Conn& c) {
  epoll_event ev{};
  ev.events = EPOLLIN | (c.want_out ? static_cast<std::uint32_t>(EPOLLOUT) : 0u);
  ev.data.u32 = static_cast<std::uint32_t>(c.index);
  epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
}

void Load::open_conn(Conn& c) {
  const int index = c.index;
  c = Conn();
  c.index = index;
  const int fd = socket(target_.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket: %s", std::strerror(errno));
  // Blocking connect (loopback; a refused connection is an error to report).
  if (connect(fd, reinterpret_cast<const sockaddr*>(&target_.addr), target_.len) != 0) {
    const int e = errno;
    close(fd);
    if (st_.done == 0 && st_.started == 0) die("connect: %s", std::strerror(e));
    ++st_.conn_err;
    c.fd = -1;
    return;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  c.fd = fd;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u32 = static_cast<std::uint32_t>(c.index);
  epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
  std::string data;
  put32(data, kVersion);
  put32(data, kOfferedActions);
  put32(data, kOfferedProtocol);
  packet(c.out, 'O', data);
  c.waiting_optneg = true;
  c.reply_deadline = now_ns() + static_cast<Nanos>(o_.timeout_s * 1e9);
  flush(c);
}

void Load::close_conn(Conn& c) {
  if (c.fd >= 0) {
    epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    close(c.fd);
  }
  if (c.in_message) ++st_.unfinished;
  c.fd = -1;
  c.in_message = false;
}

void Load::fail(Conn& c, std::uint64_t Stats::*counter, const char* what) {
  ++(st_.*counter);
  if (st_.*counter <= 3) std::fprintf(stderr, "milter_load: connection %d: %s\n", c.index, what);
  close_conn(c);
  if (may_start()) {
    ++st_.reconnects;
    open_conn(c);
  }
}

void Load::flush(Conn& c) {
  while (c.out_off < c.out.size()) {
    const ssize_t n = send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_off += static_cast<std::size_t>(n);
      st_.bytes_out += static_cast<std::uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!c.want_out) {
        c.want_out = true;
        update_epoll(c);
      }
      return;
    }
    fail(c, &Stats::conn_err, "write failed");
    return;
  }
  c.out.clear();
  c.out_off = 0;
  if (c.want_out) {
    c.want_out = false;
    update_epoll(c);
  }
}

void Load::expect(Conn& c, Step s) {
  c.waiting = s;
  c.reply_deadline = now_ns() + static_cast<Nanos>(o_.timeout_s * 1e9);
}

// The command of step s is buffered. Unless the milter negotiated not to
// reply to it (no_reply_flag, an SMFIP_NR_* bit), everything buffered goes
// out now and the reply is awaited (true); otherwise it stays buffered for
// the next command that gets a reply (false), as Postfix does.
bool Load::send_and_wait(Conn& c, Step s, std::uint32_t no_reply_flag) {
  if (c.proto & no_reply_flag) return false;
  expect(c, s);
  flush(c);
  return true;
}

// Appends the commands of the current message up to the next one whose reply
// the milter will send, then writes them out.
void Load::advance(Conn& c) {
  const std::uint32_t p = c.proto;
  for (;;) {
    switch (c.step) {
      case Step::kConnect: {
        c.step = Step::kHelo;
        if (c.session_started) break;
        c.session_started = true;
        if (p & P_NOCONNECT) break;
        packet(c.out, 'D', "C" + z("j") + z("mx.bench.example") + z("{daemon_name}") + z("bench") + z("v") +
                               z("Postfix 3.7 (milter_load)") + z("_") + z("localhost [" + o_.client_address + "]"));
        std::string conn_data = z("localhost");
        conn_data += '4';
        const std::uint16_t port = htons(static_cast<std::uint16_t>(40000 + c.index));
        conn_data.append(reinterpret_cast<const char*>(&port), 2);
        conn_data += z(o_.client_address);
        packet(c.out, 'C', conn_data);
        if (send_and_wait(c, Step::kConnect, P_NR_CONN)) return;
        break;
      }
      case Step::kHelo:
        c.step = Step::kMail;
        if (c.msgs_in_conn > 0 || (p & P_NOHELO)) break;  // once per session
        packet(c.out, 'H', z("client.bench.example"));
        if (send_and_wait(c, Step::kHelo, P_NR_HELO)) return;
        break;
      case Step::kMail: {
        if (!may_start()) {
          c.step = Step::kDone;
          // End of the session: QUIT, as an MTA does at the end of SMTP.
          packet(c.out, 'Q', "");
          flush(c);
          if (c.fd >= 0) close_conn(c);
          return;
        }
        c.msg_no = next_msg_++;
        ++st_.started;
        c.in_message = true;
        c.msg_start = now_ns();
        c.dkim_in_msg = 0;
        c.header_i = 0;
        c.body_off = 0;
        c.rcpt_i = 0;
        c.step = Step::kRcpt;
        if (p & P_NOMAIL) break;
        char qid[32];
        std::snprintf(qid, sizeof qid, "B%" PRIX64, c.msg_no + 0x100000);
        const std::string from = "sender@" + o_.from_domain;
        std::string macros = "M" + z("i") + z(qid) + z("{mail_addr}") + z(from);
        if (!o_.auth.empty()) macros += z("{auth_type}") + z("PLAIN") + z("{auth_authen}") + z(o_.auth);
        packet(c.out, 'D', macros);
        packet(c.out, 'M', z("<" + from + ">") + z("SIZE=" + std::to_string(o_.size)));
        if (send_and_wait(c, Step::kMail, P_NR_MAIL)) return;
        break;
      }
      case Step::kRcpt:
        if (c.rcpt_i >= o_.rcpts || (p & P_NORCPT)) {
          c.step = Step::kData;
          break;
        }
        {
          const std::string rcpt = "rcpt" + std::to_string(c.rcpt_i) + "@dest.bench.example";
          packet(c.out, 'D', "R" + z("{rcpt_addr}") + z(rcpt));
          packet(c.out, 'R', z("<" + rcpt + ">"));
          ++c.rcpt_i;
        }
        if (send_and_wait(c, Step::kRcpt, P_NR_RCPT)) return;
        break;
      case Step::kData:
        c.step = Step::kHeader;
        if (p & P_NODATA) break;
        packet(c.out, 'T', "");
        if (send_and_wait(c, Step::kData, P_NR_DATA)) return;
        break;
      case Step::kHeader: {
        if (c.header_i >= headers_.size() || (p & P_NOHDRS)) {
          c.step = Step::kEoh;
          break;
        }
        const auto& h = headers_[c.header_i++];
        std::string value = h.second;
        if (h.first == "Message-ID") {
          char id[96];
          std::snprintf(id, sizeof id, "<%" PRIu64 ".%d.milter-load@%s>", c.msg_no, c.index, o_.from_domain.c_str());
          value = id;
        }
        if (p & P_HDR_LEADSPC) value.insert(0, " ");
        packet(c.out, 'L', z(h.first) + z(value));
        if (send_and_wait(c, Step::kHeader, P_NR_HDR)) return;
        break;
      }
      case Step::kEoh:
        c.step = Step::kBody;
        if (p & P_NOEOH) break;
        packet(c.out, 'N', "");
        if (send_and_wait(c, Step::kEoh, P_NR_EOH)) return;
        break;
      case Step::kBody: {
        if (c.body_off >= body_.size() || (p & P_NOBODY)) {
          c.step = Step::kEom;
          break;
        }
        const std::size_t n = std::min(o_.chunk, body_.size() - c.body_off);
        packet(c.out, 'B', std::string_view(body_).substr(c.body_off, n));
        c.body_off += n;
        if (send_and_wait(c, Step::kBody, P_NR_BODY)) return;
        break;
      }
      case Step::kEom: {
        char qid[32];
        std::snprintf(qid, sizeof qid, "B%" PRIX64, c.msg_no + 0x100000);
        packet(c.out, 'D', "E" + z("i") + z(qid));
        packet(c.out, 'E', "");
        c.step = Step::kDone;
        expect(c, Step::kEom);
        c.eom_sent = now_ns();
        flush(c);
        return;
      }
      case Step::kDone:
        return;
    }
  }
}

void Load::finish_message(Conn& c, Nanos t) {
  c.in_message = false;
  c.waiting = Step::kDone;
  ++st_.done;
  ++c.msgs_in_conn;
  if (c.dkim_in_msg > 0) ++st_.signed_msgs;
  if (t >= t_measure_ && t <= t_end_) {
    ++st_.in_window;
    if (c.msg_start >= t_measure_) {
      st_.msg_lat.push_back(t - c.msg_start);
      if (c.eom_sent != 0) st_.eom_lat.push_back(t - c.eom_sent);
    }
  }
  c.eom_sent = 0;
  // Between messages of one session Postfix aborts the milter's message
  // state (smtpd mail_reset -> milter8_abort); no reply follows.
  packet(c.out, 'A', "");
  if (o_.per_conn != 0 && c.msgs_in_conn >= o_.per_conn) {
    packet(c.out, 'Q', "");
    const int fd = c.fd;
    flush(c);
    if (c.fd != fd) return;  // the write failed and fail() took over
    close_conn(c);
    if (may_start()) open_conn(c);
    return;
  }
  c.step = Step::kMail;
  advance(c);
}

void Load::on_packet(Conn& c, char cmd, std::string_view data) {
  const Nanos t = now_ns();
  if (c.waiting_optneg) {
    if (cmd != 'O' || data.size() < 12) {
      fail(c, &Stats::malformed, "bad option negotiation reply");
      return;
    }
    std::uint32_t v[3];
    std::memcpy(v, data.data(), 12);
    const std::uint32_t version = ntohl(v[0]), actions = ntohl(v[1]), proto = ntohl(v[2]);
    c.proto = proto & kOfferedProtocol;
    c.negotiated = true;
    c.waiting_optneg = false;
    if (!logged_negotiation_) {
      logged_negotiation_ = true;
      char buf[512];
      std::snprintf(buf, sizeof buf, "version %u actions 0x%x protocol 0x%x (%s)%s", version, actions, proto,
                    flag_names(c.proto).c_str(), data.size() > 12 ? " + macro lists" : "");
      st_.negotiated = buf;
    }
    c.step = Step::kConnect;
    advance(c);
    return;
  }
  if (c.waiting == Step::kDone) {
    ++st_.unexpected;
    if (st_.unexpected <= 3) std::fprintf(stderr, "milter_load: unsolicited reply '%c' on connection %d\n", cmd, c.index);
    return;
  }
  const bool at_eom = c.waiting == Step::kEom;
  switch (cmd) {
    case 'p':  // progress: keep waiting, with a fresh timeout
      ++st_.progress;
      expect(c, c.waiting);
      return;
    case 'c':
      if (at_eom) {
        ++st_.eom_continue;
        finish_message(c, t);
      } else {
        c.waiting = Step::kDone;
        advance(c);
      }
      return;
    case 's':  // skip the rest of the body
      if (c.waiting != Step::kBody) {
        fail(c, &Stats::malformed, "SMFIR_SKIP outside the body");
        return;
      }
      ++st_.skips;
      c.waiting = Step::kDone;
      c.step = Step::kEom;
      advance(c);
      return;
    case 'a':
    case 'r':
    case 't':
    case 'd':
    case 'y':
      if (st_.sample_reply.empty() && cmd == 'y') st_.sample_reply = std::string(data.substr(0, data.find('\0')));
      if (at_eom) {
        (cmd == 'a' ? st_.eom_accept : cmd == 'r' ? st_.eom_reject : cmd == 't' ? st_.eom_tempfail
                      : cmd == 'd' ? st_.eom_discard : st_.eom_replycode)++;
      } else if (cmd == 'a') {
        ++st_.early_accept;
      } else {
        ++st_.early_reject;
      }
      c.eom_sent = at_eom ? c.eom_sent : 0;
      finish_message(c, t);
      return;
    case 'h':
    case 'i':
    case 'm':
    case 'e':
    case '+':
    case '-':
    case '2':
    case 'b':
    case 'q':
      if (!at_eom) {
        fail(c, &Stats::malformed, "modification action before EOM");
        return;
      }
      if (cmd == 'h' || cmd == 'i') {
        std::string_view rest = data.substr(cmd == 'i' ? 4 : 0);
        const std::string_view name = rest.substr(0, rest.find('\0'));
        if (name.size() == 14 && strncasecmp(name.data(), "DKIM-Signature", 14) == 0) {
          ++st_.dkim_headers;
          ++c.dkim_in_msg;
          if (st_.sample_sig.empty()) {
            std::string_view value = rest.substr(std::min(rest.size(), name.size() + 1));
            value = value.substr(0, value.find('\0'));
            st_.sample_sig = std::string(value);
            for (char& ch : st_.sample_sig) {
              if (ch == '\n' || ch == '\r' || ch == '\t') ch = ' ';
            }
          }
        } else {
          ++st_.other_headers;
        }
      } else if (cmd == 'm') {
        ++st_.chgheader;
      } else if (cmd == 'e') {
        ++st_.chgfrom;
      } else {
        ++st_.other_mods;
      }
      return;
    default:
      fail(c, &Stats::malformed, "unknown reply command");
      return;
  }
}

void Load::on_readable(Conn& c) {
  char buf[65536];
  for (;;) {
    const ssize_t n = recv(c.fd, buf, sizeof buf, 0);
    if (n > 0) {
      c.in.append(buf, static_cast<std::size_t>(n));
      if (static_cast<std::size_t>(n) < sizeof buf) break;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    fail(c, &Stats::conn_err, n == 0 ? "closed by the milter" : "read failed");
    return;
  }
  std::size_t off = 0;
  const int fd = c.fd;
  while (c.fd == fd && c.in.size() - off >= 4) {
    std::uint32_t len = 0;
    std::memcpy(&len, c.in.data() + off, 4);
    len = ntohl(len);
    if (len == 0 || len > kMaxPacket) {
      fail(c, &Stats::malformed, "bad packet length");
      return;
    }
    if (c.in.size() - off - 4 < len) break;
    const char cmd = c.in[off + 4];
    // Copy: on_packet may reopen the connection, which clears c.in.
    const std::string data = c.in.substr(off + 5, len - 1);
    off += 4 + len;
    on_packet(c, cmd, data);
  }
  if (c.fd == fd) c.in.erase(0, off);
}

int Load::run() {
  signal(SIGPIPE, SIG_IGN);
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) die("epoll_create1: %s", std::strerror(errno));
  t0_ = now_ns();
  t_measure_ = t0_ + static_cast<Nanos>(o_.warmup_s * 1e9);
  t_end_ = t_measure_ + static_cast<Nanos>(o_.duration_s * 1e9);
  const Nanos hard_stop = t_end_ + static_cast<Nanos>(o_.timeout_s * 1e9) + 1'000'000'000;
  conns_.resize(static_cast<std::size_t>(o_.connections));
  for (int i = 0; i < o_.connections; ++i) {
    conns_[i].index = i;
    open_conn(conns_[i]);
  }
  std::vector<epoll_event> events(256);
  Nanos next_timeout_check = now_ns() + 100'000'000;
  for (;;) {
    bool any_open = false;
    for (const Conn& c : conns_) any_open |= c.fd >= 0;
    const Nanos t = now_ns();
    if (!any_open && (!may_start() || t >= t_end_)) break;
    if (t >= hard_stop) break;
    if (!any_open) {  // every connection failed: retry once a 100 ms
      usleep(100'000);
      for (Conn& c : conns_) {
        if (c.fd < 0 && may_start()) open_conn(c);
      }
      continue;
    }
    const int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 50);
    if (n < 0 && errno != EINTR) die("epoll_wait: %s", std::strerror(errno));
    for (int i = 0; i < n; ++i) {
      Conn& c = conns_[events[i].data.u32];
      if (c.fd < 0) continue;
      if (events[i].events & EPOLLOUT) flush(c);
      if (c.fd >= 0 && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) on_readable(c);
    }
    const Nanos now = now_ns();
    if (now >= next_timeout_check) {
      next_timeout_check = now + 100'000'000;
      for (Conn& c : conns_) {
        if (c.fd < 0) continue;
        const bool waiting = c.waiting_optneg || c.waiting != Step::kDone;
        if (waiting && now > c.reply_deadline) fail(c, &Stats::timeouts, "reply timeout");
        // Idle between messages only when the run is over: start the end of the session.
        if (c.fd >= 0 && !waiting && c.step == Step::kMail) advance(c);
      }
    }
  }
  for (Conn& c : conns_) close_conn(c);

  const double secs = o_.duration_s;
  // Latencies are kept in ns and reported in us.
  auto pct = [](const std::vector<Nanos>& sorted, double p) { return static_cast<double>(percentile(sorted, p)) / 1000.0; };
  auto print_latency = [&pct](const char* what, const std::vector<Nanos>& sorted) {
    std::printf("  latency %s us: p50 %.0f p90 %.0f p99 %.0f max %.0f\n", what, pct(sorted, 50), pct(sorted, 90),
                pct(sorted, 99), static_cast<double>(max_of(sorted)) / 1000.0);
  };
  std::sort(st_.eom_lat.begin(), st_.eom_lat.end());
  std::sort(st_.msg_lat.begin(), st_.msg_lat.end());
  const double mps = static_cast<double>(st_.in_window) / secs;
  const double mbps = mps * static_cast<double>(o_.size) / 1e6;
  std::printf("milter_load %s: target %s, %d connections, %zu-byte messages (body %zu), %.1f s + %.1f s warm-up\n",
              o_.label.c_str(), o_.target.c_str(), o_.connections, o_.size, body_.size(), o_.duration_s, o_.warmup_s);
  std::printf("  negotiated: %s\n", st_.negotiated.c_str());
  std::printf("  messages: %.0f/s (%.1f MB/s), %" PRIu64 " in the window, %" PRIu64 " started, %" PRIu64 " finished\n",
              mps, mbps, st_.in_window, st_.started, st_.done);
  print_latency("EOM round trip", st_.eom_lat);
  print_latency("whole message", st_.msg_lat);
  std::printf("  final replies at EOM: continue %" PRIu64 " accept %" PRIu64 " tempfail %" PRIu64 " reject %" PRIu64
              " discard %" PRIu64 " replycode %" PRIu64 "; before EOM: accept %" PRIu64 " other %" PRIu64 "\n",
              st_.eom_continue, st_.eom_accept, st_.eom_tempfail, st_.eom_reject, st_.eom_discard, st_.eom_replycode,
              st_.early_accept, st_.early_reject);
  std::printf("  actions: DKIM-Signature %" PRIu64 " (%" PRIu64 " messages signed), other headers %" PRIu64
              ", chgheader %" PRIu64 ", chgfrom %" PRIu64 ", other %" PRIu64 "; skip %" PRIu64 ", progress %" PRIu64 "\n",
              st_.dkim_headers, st_.signed_msgs, st_.other_headers, st_.chgheader, st_.chgfrom, st_.other_mods, st_.skips,
              st_.progress);
  std::printf("  errors: connect/io %" PRIu64 " timeouts %" PRIu64 " malformed %" PRIu64 " unsolicited %" PRIu64
              " unfinished %" PRIu64 " reconnects %" PRIu64 "\n",
              st_.conn_err, st_.timeouts, st_.malformed, st_.unexpected, st_.unfinished, st_.reconnects);
  if (!st_.sample_sig.empty()) std::printf("  sample DKIM-Signature:%.160s...\n", st_.sample_sig.c_str());
  if (!st_.sample_reply.empty()) std::printf("  sample reply: %s\n", st_.sample_reply.c_str());
  std::printf("RESULT label=%s conns=%d size=%zu mps=%.1f eom_p50=%.0f eom_p99=%.0f msg_p50=%.0f msg_p99=%.0f "
              "window=%" PRIu64 " done=%" PRIu64 " continue=%" PRIu64 " accept=%" PRIu64 " tempfail=%" PRIu64
              " reject=%" PRIu64 " early_accept=%" PRIu64 " early_other=%" PRIu64 " dkim=%" PRIu64 " signed=%" PRIu64
              " conn_err=%" PRIu64 " timeouts=%" PRIu64 " malformed=%" PRIu64 " unfinished=%" PRIu64 "\n",
              o_.label.empty() ? "-" : o_.label.c_str(), o_.connections, o_.size, mps, pct(st_.eom_lat, 50),
              pct(st_.eom_lat, 99), pct(st_.msg_lat, 50), pct(st_.msg_lat, 99), st_.in_window, st_.done,
              st_.eom_continue, st_.eom_accept, st_.eom_tempfail, st_.eom_reject + st_.eom_discard + st_.eom_replycode,
              st_.early_accept, st_.early_reject, st_.dkim_headers, st_.signed_msgs, st_.conn_err, st_.timeouts,
              st_.malformed, st_.unfinished);
  const bool ok = st_.conn_err == 0 && st_.timeouts == 0 && st_.malformed == 0 && st_.done > 0;
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Load load(parse_args(argc, argv));
  return load.run();
}
