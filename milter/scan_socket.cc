#include "milter/scan_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <utility>

#include "common/log.h"

namespace sluice::milter {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) reset(other.release());
  return *this;
}

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

namespace {

Error sys_error(Errc code, std::string_view call, int err) {
  return make_error(code, std::string(call) + ": " + std::strerror(err));
}

int remaining_ms(ScanConnection::Clock::time_point deadline) {
  const auto left = deadline - ScanConnection::Clock::now();
  if (left <= ScanConnection::Clock::duration::zero()) return 0;
  // Round up: a poll that wakes a fraction early would spin once more.
  return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
}

}  // namespace

std::string scan_address_label(const ListenAddress& address) {
  if (address.kind == ListenAddress::Kind::kUnix) return address.path;
  if (address.host.find(':') != std::string::npos) return "[" + address.host + "]:" + std::to_string(address.port);
  return address.host + ":" + std::to_string(address.port);
}

Result<UniqueFd> start_connect(const ListenAddress& address) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  if (address.kind == ListenAddress::Kind::kUnix) {
    auto* un = reinterpret_cast<sockaddr_un*>(&storage);
    un->sun_family = AF_UNIX;
    if (address.path.size() >= sizeof un->sun_path) return make_error(Errc::kConfig, "unix socket path too long");
    std::memcpy(un->sun_path, address.path.c_str(), address.path.size() + 1);
    length = sizeof(sockaddr_un);
  } else if (auto* in4 = reinterpret_cast<sockaddr_in*>(&storage);
             inet_pton(AF_INET, address.host.c_str(), &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons(static_cast<std::uint16_t>(address.port));
    length = sizeof(sockaddr_in);
  } else if (auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
             inet_pton(AF_INET6, address.host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<std::uint16_t>(address.port));
    length = sizeof(sockaddr_in6);
  } else {
    return make_error(Errc::kConfig, "not a numeric address: " + log_escape(address.host, 80));
  }
  UniqueFd fd(::socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return sys_error(Errc::kIo, "socket", errno);
  if (address.kind == ListenAddress::Kind::kInet) {
    // The request goes out in a few writes; Nagle would hold the last one
    // back waiting for an ACK the daemon delays.
    const int one = 1;
    (void)::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&storage), length) == 0) return fd;
  // EINTR: the connect goes on asynchronously, as after EINPROGRESS.
  if (errno == EINPROGRESS || errno == EINTR) return fd;
  if (errno == EAGAIN) return make_error(Errc::kUnavailable, "connect: the daemon's listen queue is full");
  return sys_error(Errc::kUnavailable, "connect", errno);
}

Result<std::size_t> send_some(int fd, std::string_view bytes) {
  for (;;) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return std::size_t{0};
    return sys_error(Errc::kUnavailable, "send", errno);
  }
}

Result<std::optional<std::size_t>> read_some(int fd, std::string& buffer, std::size_t cap) {
  const std::size_t room = buffer.size() < cap ? cap - buffer.size() : 0;
  // One byte more than there is room for tells "full" from "too long".
  char chunk[16384];
  const std::size_t want = room + 1 < sizeof chunk ? room + 1 : sizeof chunk;
  for (;;) {
    const ssize_t n = ::recv(fd, chunk, want, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return std::optional<std::size_t>();
    if (n < 0) return sys_error(Errc::kUnavailable, "read", errno);
    const auto got = static_cast<std::size_t>(n);
    if (got > room) return make_error(Errc::kTooLong, "answer longer than " + std::to_string(cap) + " bytes");
    buffer.append(chunk, got);
    return std::optional<std::size_t>(got);
  }
}

Status ScanConnection::open(const ListenAddress& address) {
  auto fd = start_connect(address);
  if (!fd) return std::move(fd).error();
  fd_ = std::move(fd).value();
  connecting_ = true;
  return {};
}

void ScanConnection::queue(std::string bytes) {
  if (bytes.empty()) return;
  unsent_ += bytes.size();
  out_.push_back(std::move(bytes));
}

Status ScanConnection::finish_connect() {
  int err = 0;
  socklen_t length = sizeof err;
  if (::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &length) != 0) err = errno;
  if (err != 0) return sys_error(Errc::kUnavailable, "connect", err);
  connecting_ = false;
  return {};
}

Status ScanConnection::write_out() {
  while (!out_.empty()) {
    const std::string_view rest = std::string_view(out_.front()).substr(out_offset_);
    auto sent = send_some(fd_.get(), rest);
    if (!sent) {
      send_failed_ = true;
      return std::move(sent).error();
    }
    if (*sent == 0) return {};
    unsent_ -= *sent;
    out_offset_ += *sent;
    if (out_offset_ == out_.front().size()) {
      out_.pop_front();  // frees the buffer as soon as it is on the wire
      out_offset_ = 0;
    }
  }
  if (shut_write_ && !write_shut_) {
    write_shut_ = true;
    (void)::shutdown(fd_.get(), SHUT_WR);  // a failure shows up on the next read
  }
  return {};
}

Status ScanConnection::read_in() {
  // Bounded: each round either grows reply_ toward its cap or stops.
  while (!eof_) {
    auto got = read_some(fd_.get(), reply_, reply_cap_);
    if (!got) return std::move(got).error();
    if (!*got) return {};
    if (**got == 0) eof_ = true;
  }
  return {};
}

Status ScanConnection::flush() {
  if (!fd_) return make_error(Errc::kInternal, "not connected");
  if (connecting_) {
    pollfd p{fd_.get(), POLLOUT, 0};
    if (::poll(&p, 1, 0) <= 0) return {};
    if (Status done = finish_connect(); !done) return done;
  }
  Status sent = write_out();
  if (!sent) {
    send_error_ = sent.error().detail;
    (void)read_in();  // best effort: why the daemon stopped reading
  }
  return sent;
}

Status ScanConnection::drain(std::size_t bound, Clock::time_point deadline) {
  for (;;) {
    if (Status sent = flush(); !sent) return sent;
    if (unsent_ <= bound) return {};
    const int wait_ms = remaining_ms(deadline);
    if (wait_ms == 0) return make_error(Errc::kTimeout, "timed out " + std::string(phase()));
    pollfd p{fd_.get(), POLLOUT, 0};
    if (::poll(&p, 1, wait_ms) < 0 && errno != EINTR) return sys_error(Errc::kIo, "poll", errno);
  }
}

short ScanConnection::events() const {
  if (!fd_) return 0;
  if (connecting_) return POLLOUT;
  short wanted = 0;
  if (!eof_) wanted |= POLLIN;
  if (unsent_ > 0 || (shut_write_ && !write_shut_)) wanted |= POLLOUT;
  return wanted;
}

Status ScanConnection::step(short revents) {
  if (!fd_) return make_error(Errc::kInternal, "not connected");
  if (connecting_) {
    if ((revents & (POLLOUT | POLLERR | POLLHUP)) == 0) return {};
    if (Status done = finish_connect(); !done) return done;
  }
  if (!send_failed_ && (unsent_ > 0 || (shut_write_ && !write_shut_))) {
    // A send failure is not the end: the daemon may have said why it
    // stopped reading, and the caller wants that answer.
    if (Status sent = write_out(); !sent) send_error_ = sent.error().detail;
  }
  if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0 || send_failed_) return read_in();
  return {};
}

std::string_view ScanConnection::phase() const {
  if (connecting_) return "connecting";
  if (unsent_ > 0) return "sending the message";
  if (reply_.empty()) return "waiting for the answer";
  return "reading the answer";
}

void SocketScanSession::header(std::string_view name, std::string_view value) {
  std::string line;
  append_header_line(line, name, value);
  add(line);
}

void SocketScanSession::end_of_headers() { add("\r\n"); }

void SocketScanSession::body(std::string_view chunk) { add(chunk); }

void SocketScanSession::skip_oversized() {
  ScanVerdict skipped;
  skipped.kind = ScanVerdictKind::kSkipped;
  skipped.detail = scan_detail(label_, "message larger than max_size " + std::to_string(max_size_) + " bytes");
  settle(std::move(skipped));
}

SocketScanSession::SocketScanSession(const ScannerSettings& settings, std::string_view kind_name,
                                     std::size_t reply_cap)
    : timeout_(settings.timeout), max_size_(settings.max_size), connection_(reply_cap) {
  auto parsed = parse_listen_address(settings.address);
  if (parsed) {
    address_ = std::move(parsed).value();
    label_ = std::string(kind_name) + " " + scan_address_label(*address_);
  } else {
    address_problem_ = parsed.error().detail;
    label_ = std::string(kind_name) + " " + log_escape(settings.address, 80);
  }
}

bool SocketScanSession::open_connection() {
  if (!address_) {
    fail(address_problem_);
    return false;
  }
  if (Status opened = connection_.open(*address_); !opened) {
    fail(opened.error().detail);
    return false;
  }
  return true;
}

void SocketScanSession::settle(ScanVerdict verdict) {
  verdict_ = std::move(verdict);
  connection_.close();  // the daemon's worker is free at once
}

void SocketScanSession::start_finish(Clock::time_point start, std::string_view queue_id) {
  deadline_ = start + timeout_;
  if (settled()) return;
  prepare_finish(queue_id);
  if (!settled() && !connection_.is_open()) fail("no connection to finish on");
}

pollfd SocketScanSession::poll_request() const {
  if (settled()) return pollfd{-1, 0, 0};
  return pollfd{connection_.fd(), connection_.events(), 0};
}

void SocketScanSession::on_ready(short revents) {
  if (settled()) return;
  Status stepped = connection_.step(revents);
  if (!stepped) {
    fail_with_answer(stepped.error());
    return;
  }
  if (connection_.send_failed()) {
    fail_with_answer(make_error(Errc::kUnavailable, connection_.send_error()));
    return;
  }
  conclude(connection_.eof());
}

void SocketScanSession::fail_with_answer(const Error& error) {
  // An answer cut at its cap explains nothing.
  if (error.code != Errc::kTooLong && !connection_.reply().empty()) {
    if (auto said = interpret(connection_.reply(), true); said && said->kind == ScanVerdictKind::kFailure) {
      settle(std::move(*said));
      return;
    }
  }
  fail(error.detail);
}

void SocketScanSession::conclude(bool eof) {
  auto verdict = interpret(connection_.reply(), eof);
  if (!verdict) {
    if (eof) fail("connection closed in the middle of the answer");
    return;
  }
  if (verdict->kind != ScanVerdictKind::kFailure && connection_.unsent() > 0) {
    // A verdict on part of the message is no verdict on the message.
    fail("answered before the whole message was sent");
    return;
  }
  settle(std::move(*verdict));
}

void SocketScanSession::on_deadline() {
  if (settled()) return;
  fail("timed out after " + std::to_string(timeout_.count()) + " ms " + std::string(connection_.phase()));
}

ScanVerdict SocketScanSession::take_verdict() {
  if (!verdict_) return scan_failure(label_, "no verdict (internal error)");
  ScanVerdict verdict = std::move(*verdict_);
  return verdict;
}

void BufferedScanSession::add(std::string_view bytes) {
  if (settled()) return;
  size_ += bytes.size();
  if (over_) return;
  if (size_ > max_size()) {
    over_ = true;
    std::string().swap(message_);  // the memory goes now, not at the end
    return;
  }
  try {
    message_.append(bytes);
  } catch (const std::bad_alloc&) {
    std::string().swap(message_);
    fail("out of memory buffering the message");
  }
}

void BufferedScanSession::prepare_finish(std::string_view queue_id) {
  if (over_) {
    skip_oversized();
    return;
  }
  if (!open_connection()) return;
  connection().queue(request_head(message_.size(), queue_id));
  connection().queue(std::move(message_));
  if (half_close_ == HalfClose::kAfterRequest) connection().shut_write_when_sent();
}

}  // namespace sluice::milter
