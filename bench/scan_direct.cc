// scan_direct: a content scanner's own latency, measured without Sluice
// (bench/run_scan_bench.sh, doc/BENCHMARKS.md). It is the anchor the milter's
// end-of-message latency with that scanner is compared with, so it speaks
// each daemon's wire protocol itself, from the protocol documents, and shares
// no code with milter/spamd_client.cc, rspamd_client.cc or clamd_client.cc:
// a bug there must not hide in both figures.
//
// Each scan does what sluice-milter does at end of message: a fresh
// connection (TCP_NODELAY), the whole request (one send() per protocol part,
// as the milter writes them), shutdown(SHUT_WR) for spamd only (rspamd takes
// a half-closed connection for a client that went away and drops the task),
// then the answer up to its end (spamd and rspamd: the header block plus
// Content-length bytes, or end of stream; clamd: the NUL after its line).
// Scans run one after the other; the time of each runs from socket() to the
// last answer byte.
//
//   spamd   SYMBOLS SPAMC/1.5, Content-length, User (the SASL login)
//   rspamd  POST /checkv2 HTTP/1.1 with IP, From, Rcpt, Queue-Id, User
//   clamd   zINSTREAM: [u32 length][data] chunks of at most 64 KiB, then a
//           zero length
//
// The message is the one bench/milter_load sends for the same --size (the
// same header fields and body text, a new Message-ID per scan), as the
// milter hands it to a scanner: "Name: value" CRLF lines, an empty line, the
// body. --dump FILE writes one copy, to check it with spamc or clamdscan.
//
// Only loopback TCP targets and unix sockets. libc and the C++ standard
// library only.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "load_common.h"

namespace {

const char kLoadProgram[] = "scan_direct";

enum class Kind { kSpamd, kRspamd, kClamd };

struct Options : RunOptions {
  Options() : RunOptions(10) { duration_s = 120; }  // duration: a cap on the whole run
  Kind kind = Kind::kSpamd;
  std::string kind_name;
  std::size_t size = 4096;
  std::uint64_t count = 200;
  std::uint64_t warmup_count = 5;
  std::string auth = "bench-user";
  std::string from_domain = "bench.example";
  std::string client_address = "127.0.0.1";
  std::string dump;
  bool one_write = false;  // the whole request in one send(), not one per protocol part
};

void usage() {
  std::printf(
      "usage: scan_direct --scanner spamd|rspamd|clamd --target inet:127.0.0.1:PORT|unix:/PATH [options]\n"
      "  --count N            measured scans (default 200)\n"
      "  --warmup-count N     scans before measuring (default 5)\n"
      "  --size BYTES         message size as milter_load builds it (default 4096)\n"
      "  --duration S         stop after S seconds whatever the count (default 120)\n"
      "  --timeout S          per scan (default 10)\n"
      "  --auth USER          spamd/rspamd User (default bench-user; \"\" to omit)\n"
      "  --from-domain D      sender domain (default bench.example)\n"
      "  --dump FILE          write the message to FILE too\n"
      "  --writes parts|one   one send() per protocol part, as sluice-milter and clamdscan\n"
      "                       write them (default), or the whole request in one\n"
      "  --label TEXT         name printed in the RESULT line\n"
      "Scans run one at a time, each on a new connection. Prints a summary and one line\n"
      "starting with RESULT (latencies in microseconds).\n");
}

Options parse_args(int argc, char** argv) {
  Options o;
  parse_options(argc, argv, usage, o, [&o](const char* name, const char* v) {
    const std::string_view a = name;
    if (a == "--scanner") {
      o.kind_name = v;
      if (o.kind_name == "spamd") o.kind = Kind::kSpamd;
      else if (o.kind_name == "rspamd") o.kind = Kind::kRspamd;
      else if (o.kind_name == "clamd") o.kind = Kind::kClamd;
      else die("--scanner must be spamd, rspamd or clamd, not %s", v);
    } else if (a == "--count") o.count = static_cast<std::uint64_t>(parse_double(name, v, 1, 1e7));
    else if (a == "--warmup-count") o.warmup_count = static_cast<std::uint64_t>(parse_double(name, v, 0, 1e6));
    else if (a == "--size") o.size = static_cast<std::size_t>(parse_double(name, v, 512, 64e6));
    else if (a == "--auth") o.auth = v;
    else if (a == "--from-domain") o.from_domain = v;
    else if (a == "--dump") o.dump = v;
    else if (a == "--writes") {
      const std::string_view w = v;
      if (w != "one" && w != "parts") die("--writes must be one or parts, not %s", v);
      o.one_write = w == "one";
    }
    else return false;
    return true;
  });
  if (o.kind_name.empty()) die("--scanner is required (try --help)");
  if (o.connections != 1) die("scans are sequential: --connections must be 1");
  return o;
}

// inet:127.0.0.1:PORT (the [scanner] address syntax) or unix:/PATH.
Target parse_target(const std::string& text) {
  if (text.rfind("unix:", 0) == 0) return unix_target(text);
  if (text.rfind("inet:", 0) != 0) die("target must be inet:127.0.0.1:PORT or unix:/PATH, not %s", text.c_str());
  const std::string rest = text.substr(5);
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos) die("bad target %s", text.c_str());
  Target t;
  t.tcp = true;
  if (!ipv4_loopback_target(t, rest.substr(0, colon), target_port(rest.substr(colon + 1), text), text,
                            "only loopback (127.0.0.0/8) targets: %s")) {
    die("target host must be a numeric IPv4 address: %s", text.c_str());
  }
  return t;
}

// --- the message: bench/milter_load.cc's build_message(), byte for byte ---

struct Message {
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

Message build_message(std::size_t size, const std::string& from_domain) {
  Message m;
  m.headers = {
      {"From", "Bench Sender <sender@" + from_domain + ">"},
      {"To", "Recipient <rcpt@dest.bench.example>"},
      {"Subject", "milter benchmark message"},
      {"Date", "Fri, 27 Nov 2026 12:00:00 +0000"},
      {"Message-ID", ""},
      {"MIME-Version", "1.0"},
      {"Content-Type", "text/plain; charset=utf-8"},
  };
  std::size_t header_bytes = 0;
  for (const auto& h : m.headers) header_bytes += h.first.size() + h.second.size() + 4 + 40;
  const std::size_t body_size = size > header_bytes + 64 ? size - header_bytes : 64;
  static const char kText[] =
      "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore ";
  std::size_t line = 0;
  while (m.body.size() < body_size) {
    const std::size_t want = std::min<std::size_t>(60 + (line * 7) % 15, body_size - m.body.size());
    const std::size_t n = want > 2 ? want - 2 : 0;
    for (std::size_t i = 0; i < n; ++i) m.body += kText[(line * 13 + i) % (sizeof kText - 1)];
    m.body += "\r\n";
    ++line;
  }
  return m;
}

// The message as the milter passes it to a scanner, with scan number |no|'s Message-ID.
std::string render(const Message& m, std::uint64_t no, const std::string& from_domain) {
  std::string out;
  for (const auto& h : m.headers) {
    std::string value = h.second;
    if (h.first == "Message-ID") value = "<" + std::to_string(no) + ".0.scan-direct@" + from_domain + ">";
    out += h.first + ": " + value + "\r\n";
  }
  out += "\r\n";
  out += m.body;
  return out;
}

// --- requests ---

constexpr std::size_t kClamdChunk = 64 * 1024;  // what sluice-milter streams

// The request as the writes that carry it.
std::vector<std::string> request_parts(const Options& o, std::uint64_t no, const std::string& message) {
  const std::string from = "<sender@" + o.from_domain + ">";
  switch (o.kind) {
    case Kind::kSpamd: {
      std::string r = "SYMBOLS SPAMC/1.5\r\nContent-length: " + std::to_string(message.size()) + "\r\n";
      if (!o.auth.empty()) r += "User: " + o.auth + "\r\n";
      return {r + "\r\n", message};
    }
    case Kind::kRspamd: {
      char qid[32];
      std::snprintf(qid, sizeof qid, "D%" PRIX64, no + 0x100000);
      std::string r = "POST /checkv2 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: " +
                      std::to_string(message.size()) + "\r\nIP: " + o.client_address + "\r\nFrom: " + from +
                      "\r\nRcpt: <rcpt0@dest.bench.example>\r\nQueue-Id: " + qid + "\r\n";
      if (!o.auth.empty()) r += "User: " + o.auth + "\r\n";
      return {r + "\r\n", message};
    }
    case Kind::kClamd: {
      std::vector<std::string> parts{std::string("zINSTREAM\0", 10)};
      for (std::size_t off = 0; off < message.size(); off += kClamdChunk) {
        const std::string_view data = std::string_view(message).substr(off, kClamdChunk);
        const std::uint32_t n = htonl(static_cast<std::uint32_t>(data.size()));
        std::string chunk(reinterpret_cast<const char*>(&n), 4);
        chunk += data;
        parts.push_back(std::move(chunk));
      }
      parts.emplace_back(4, '\0');
      return parts;
    }
  }
  return {};
}

// The whole request as one string.
std::string request(const Options& o, std::uint64_t no, const std::string& message) {
  std::string all;
  for (const std::string& part : request_parts(o, no, message)) all += part;
  return all;
}

// --- answers ---

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    const auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
    if (lower(text[i]) != lower(prefix[i])) return false;
  }
  return true;
}

// Whether |in| holds a whole answer: clamd's line ends with a NUL; spamd's
// and rspamd's with the header block and Content-length bytes after it.
// Without a Content-length, end of stream ends it.
bool answer_complete(Kind kind, const std::string& in) {
  if (kind == Kind::kClamd) return in.find('\0') != std::string::npos;
  const auto head_end = in.find("\r\n\r\n");
  if (head_end == std::string::npos) return false;
  std::size_t pos = 0;
  while (pos < head_end) {
    const auto eol = in.find("\r\n", pos);
    const std::string_view line(in.data() + pos, eol - pos);
    if (iequals_prefix(line, "content-length:")) {
      const std::size_t length = std::strtoull(std::string(line.substr(15)).c_str(), nullptr, 10);
      return in.size() >= head_end + 4 + length;
    }
    pos = eol + 2;
  }
  return false;
}

// What the answer says, in a few words: "clean", "spam", or "other".
const char* verdict(Kind kind, const std::string& in) {
  switch (kind) {
    case Kind::kSpamd:
      if (in.find("Spam: False") != std::string::npos) return "clean";
      if (in.find("Spam: True") != std::string::npos) return "spam";
      return "other";
    case Kind::kRspamd:
      if (in.find("\"action\":\"no action\"") != std::string::npos) return "clean";
      if (in.find("\"action\":\"") != std::string::npos) return "spam";
      return "other";
    case Kind::kClamd:
      if (in.rfind("stream: OK", 0) == 0) return "clean";
      if (in.find(" FOUND") != std::string::npos) return "spam";
      return "other";
  }
  return "other";
}

// One scan, start to finish. Returns the answer; |error| says why there is none.
std::string scan_once(const Target& target, Kind kind, const std::vector<std::string>& writes, double timeout_s,
                      std::string& error) {
  const Nanos deadline = now_ns() + static_cast<Nanos>(timeout_s * 1e9);
  std::string in;
  const int fd = socket(target.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket: %s", std::strerror(errno));
  const auto fail = [&](const char* what) {
    error = std::string(what) + (errno != 0 ? std::string(": ") + std::strerror(errno) : std::string());
    close(fd);
    return std::string();
  };
  if (target.tcp) {
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  // Loopback or a unix socket: a blocking connect is immediate or refused.
  if (connect(fd, reinterpret_cast<const sockaddr*>(&target.addr), target.len) != 0) return fail("connect");
  for (const std::string& part : writes) {
    std::size_t off = 0;
    while (off < part.size()) {
      pollfd p{fd, POLLOUT, 0};
      const Nanos left = deadline - now_ns();
      if (left <= 0) {
        errno = 0;
        return fail("timeout sending");
      }
      if (poll(&p, 1, static_cast<int>(left / 1'000'000) + 1) < 0 && errno != EINTR) return fail("poll");
      const ssize_t n = send(fd, part.data() + off, part.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) off += static_cast<std::size_t>(n);
      else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return fail("send");
    }
  }
  if (kind == Kind::kSpamd) shutdown(fd, SHUT_WR);
  char buf[16384];
  for (;;) {
    if (answer_complete(kind, in)) break;
    pollfd p{fd, POLLIN, 0};
    const Nanos left = deadline - now_ns();
    if (left <= 0) {
      errno = 0;
      return fail("timeout reading");
    }
    if (poll(&p, 1, static_cast<int>(left / 1'000'000) + 1) < 0 && errno != EINTR) return fail("poll");
    const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      in.append(buf, static_cast<std::size_t>(n));
      if (in.size() > (1u << 20)) {
        errno = 0;
        return fail("answer over 1 MiB");
      }
    } else if (n == 0) {
      break;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return fail("recv");
    }
  }
  close(fd);
  if (in.empty()) error = "connection closed without an answer";
  return in;
}

// The part of an answer worth printing: clamd's line, spamd's Spam header,
// rspamd's action and score.
std::string sample_of(Kind kind, const std::string& in) {
  std::string out;
  if (kind == Kind::kClamd) {
    out = in.substr(0, in.find('\0'));
  } else if (kind == Kind::kSpamd) {
    const auto at = in.find("Spam:");
    out = at == std::string::npos ? in.substr(0, 80) : in.substr(at, in.find("\r\n", at) - at);
  } else {
    const auto a = in.find("\"action\"");
    const auto s = in.find("\"score\"");
    if (a != std::string::npos) out += in.substr(a, in.find(',', a) - a);
    if (s != std::string::npos) out += " " + in.substr(s, in.find(',', s) - s);
    if (out.empty()) out = in.substr(0, 80);
  }
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '.';
  }
  return out.substr(0, 160);
}

int run(const Options& o) {
  signal(SIGPIPE, SIG_IGN);
  const Target target = parse_target(o.target);
  const Message message = build_message(o.size, o.from_domain);
  const std::string first = render(message, 0, o.from_domain);
  if (!o.dump.empty()) {
    FILE* f = std::fopen(o.dump.c_str(), "wb");
    if (f == nullptr) die("cannot write %s", o.dump.c_str());
    std::fwrite(first.data(), 1, first.size(), f);
    std::fclose(f);
  }
  const Nanos t_end = now_ns() + static_cast<Nanos>(o.duration_s * 1e9);
  std::vector<Nanos> lat;
  lat.reserve(o.count);
  std::uint64_t clean = 0, spam = 0, other = 0, errors = 0;
  std::string sample, first_error;
  const std::uint64_t total = o.warmup_count + o.count;
  std::uint64_t no = 0;
  for (; no < total && now_ns() < t_end; ++no) {
    std::vector<std::string> writes = request_parts(o, no, render(message, no, o.from_domain));
    if (o.one_write) writes = {request(o, no, render(message, no, o.from_domain))};
    std::string error;
    const Nanos t0 = now_ns();
    const std::string answer = scan_once(target, o.kind, writes, o.timeout_s, error);
    const Nanos t1 = now_ns();
    if (!error.empty()) {
      ++errors;
      if (first_error.empty()) first_error = error;
      continue;
    }
    const std::string_view v = verdict(o.kind, answer);
    if (sample.empty()) sample = sample_of(o.kind, answer);
    if (no < o.warmup_count) continue;
    if (v == "clean") ++clean;
    else if (v == "spam") ++spam;
    else ++other;
    lat.push_back(t1 - t0);
  }
  std::sort(lat.begin(), lat.end());
  auto us = [](Nanos n) { return static_cast<double>(n) / 1000.0; };
  double mean = 0;
  for (const Nanos n : lat) mean += us(n);
  if (!lat.empty()) mean /= static_cast<double>(lat.size());
  std::printf("scan_direct %s: %s at %s, %zu-byte message (%zu on the wire), %" PRIu64 " scans measured after %" PRIu64
              " warm-up%s\n",
              o.label.c_str(), o.kind_name.c_str(), o.target.c_str(), first.size(), request(o, 0, first).size(),
              static_cast<std::uint64_t>(lat.size()), o.warmup_count,
              no < total ? " (stopped by --duration)" : "");
  std::printf("  latency us: p50 %.0f p90 %.0f p99 %.0f max %.0f mean %.0f\n", us(percentile(lat, 50)),
              us(percentile(lat, 90)), us(percentile(lat, 99)), us(max_of(lat)), mean);
  const std::string first_note = first_error.empty() ? "" : " (first: " + first_error + ")";
  std::printf("  verdicts: clean %" PRIu64 " spam %" PRIu64 " other %" PRIu64 "; errors %" PRIu64 "%s\n", clean, spam,
              other, errors, first_note.c_str());
  if (!sample.empty()) std::printf("  sample answer: %s\n", sample.c_str());
  std::printf("RESULT label=%s scanner=%s size=%zu n=%zu p50=%.0f p90=%.0f p99=%.0f max=%.0f mean=%.0f clean=%" PRIu64
              " spam=%" PRIu64 " other=%" PRIu64 " errors=%" PRIu64 "\n",
              o.label.empty() ? "-" : o.label.c_str(), o.kind_name.c_str(), first.size(), lat.size(),
              us(percentile(lat, 50)), us(percentile(lat, 90)), us(percentile(lat, 99)), us(max_of(lat)), mean, clean,
              spam, other, errors);
  return errors == 0 && !lat.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) { return run(parse_args(argc, argv)); }
