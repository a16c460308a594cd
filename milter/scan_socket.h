// The socket side of talking to a scanner daemon: addresses, a
// non-blocking connect, and ScanConnection, one request/answer exchange
// driven by poll(). SocketScanSession builds the ScanSession state machine
// on it, so each client only says what to send and how to read the answer.
//
// Guarantees: every descriptor is owned by a UniqueFd; sends use
// MSG_NOSIGNAL (no SIGPIPE); the answer is capped; nothing blocks except
// ScanConnection::drain(), which waits at most until its deadline. Errors
// are Status values whose detail reads "connect: Connection refused".
#pragma once

#include <poll.h>

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include "common/listen_address.h"
#include "common/result.h"
#include "milter/scanner.h"

namespace sluice::milter {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// "127.0.0.1:783", "[::1]:783" or "/run/clamav/clamd.ctl": for details.
std::string scan_address_label(const ListenAddress& address);

// A non-blocking stream socket to |address| with the connect started
// (TCP_NODELAY on inet sockets). Refused or unreachable at once: an Error.
Result<UniqueFd> start_connect(const ListenAddress& address);

// Sends what the socket takes now; 0 when it takes nothing.
Result<std::size_t> send_some(int fd, std::string_view bytes);

// Appends what is readable now to |buffer|: the byte count, 0 at end of
// stream, nullopt when nothing is ready. kTooLong once |buffer| would
// exceed |cap|.
Result<std::optional<std::size_t>> read_some(int fd, std::string& buffer, std::size_t cap);

// One exchange: queued request bytes go out as the socket takes them, the
// answer comes into a buffer capped at reply_cap.
class ScanConnection {
 public:
  using Clock = std::chrono::steady_clock;

  explicit ScanConnection(std::size_t reply_cap) : reply_cap_(reply_cap) {}

  Status open(const ListenAddress& address);
  bool is_open() const { return static_cast<bool>(fd_); }
  int fd() const { return fd_.get(); }
  void close() {
    fd_.reset();
    out_.clear();
    unsent_ = 0;
  }

  void queue(std::string bytes);
  std::size_t unsent() const { return unsent_; }
  // Half-closes the socket once everything queued is written.
  void shut_write_when_sent() { shut_write_ = true; }

  // Writes what the socket takes now, without blocking (none while the
  // connect is in progress).
  Status flush();
  // Blocks until at most |bound| bytes are unsent, or fails at |deadline|.
  Status drain(std::size_t bound, Clock::time_point deadline);

  short events() const;
  // On readiness: completes the connect, writes, reads the answer.
  Status step(short revents);

  const std::string& reply() const { return reply_; }
  bool eof() const { return eof_; }
  bool send_failed() const { return send_failed_; }
  const std::string& send_error() const { return send_error_; }
  // What it was doing, for a timeout's detail.
  std::string_view phase() const;

 private:
  Status finish_connect();
  Status write_out();
  Status read_in();

  std::size_t reply_cap_;
  UniqueFd fd_;
  bool connecting_ = false;
  std::deque<std::string> out_;
  std::size_t out_offset_ = 0;  // into out_.front()
  std::size_t unsent_ = 0;
  bool shut_write_ = false;
  bool write_shut_ = false;
  bool send_failed_ = false;
  std::string send_error_;
  std::string reply_;
  bool eof_ = false;
};

// The common state machine of the three clients. A client queues its
// request (in the constructor, the streaming calls, or prepare_finish) and
// reads the answer in interpret(). It copies what it needs of the settings,
// so it does not depend on the configuration snapshot outliving it.
class SocketScanSession : public ScanSession {
 public:
  // The message as the daemon gets it: header lines, the blank line, the
  // body, each passed to add().
  void header(std::string_view name, std::string_view value) final;
  void end_of_headers() final;
  void body(std::string_view chunk) final;
  void start_finish(Clock::time_point start, std::string_view queue_id) final;
  pollfd poll_request() const final;
  void on_ready(short revents) final;
  void on_deadline() final;
  Clock::time_point deadline() const final { return deadline_; }
  bool done() const final { return verdict_.has_value(); }
  ScanVerdict take_verdict() final;

 protected:
  // |kind_name| is "spamd", "rspamd" or "clamd".
  SocketScanSession(const ScannerSettings& settings, std::string_view kind_name, std::size_t reply_cap);

  // Takes the next bytes of the message (once settled, ignores them).
  virtual void add(std::string_view bytes) = 0;
  // The message is complete: queue the rest of the request (opening the
  // connection if not yet open), or settle the verdict with settle().
  virtual void prepare_finish(std::string_view queue_id) = 0;
  // The verdict from the answer so far, or nullopt while more may come.
  // At |eof| it must return a verdict.
  virtual std::optional<ScanVerdict> interpret(std::string_view answer, bool eof) = 0;

  std::size_t max_size() const { return max_size_; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  const std::string& label() const { return label_; }  // "spamd 127.0.0.1:783"
  const std::optional<ListenAddress>& address() const { return address_; }
  ScanConnection& connection() { return connection_; }
  // Opens the connection; a failure settles the verdict. False then.
  bool open_connection();
  void settle(ScanVerdict verdict);
  void fail(std::string_view what) { settle(scan_failure(label_, what)); }
  // Settles kSkipped: the message is larger than max_size.
  void skip_oversized();
  bool settled() const { return verdict_.has_value(); }
  // Settles on |error|, unless the daemon's answer so far explains it (a
  // daemon that stops reading usually says why first).
  void fail_with_answer(const Error& error);

 private:
  void conclude(bool eof);

  std::chrono::milliseconds timeout_;
  std::size_t max_size_;
  std::string label_;
  std::optional<ListenAddress> address_;  // unset: the address did not parse
  std::string address_problem_;
  ScanConnection connection_;
  Clock::time_point deadline_{};
  std::optional<ScanVerdict> verdict_;
};

// A client that sends the whole message at end of message, after a head
// that announces its length (spamd, rspamd): the message is buffered up to
// max_size; a larger one is dropped at once and skipped, never sent.
class BufferedScanSession : public SocketScanSession {
 protected:
  enum class HalfClose { kNo, kAfterRequest };
  BufferedScanSession(const ScannerSettings& settings, std::string_view kind_name, std::size_t reply_cap,
                      HalfClose half_close)
      : SocketScanSession(settings, kind_name, reply_cap), half_close_(half_close) {}

  // The request head for a |content_length|-byte message.
  virtual std::string request_head(std::size_t content_length, std::string_view queue_id) = 0;

 private:
  void add(std::string_view bytes) final;
  void prepare_finish(std::string_view queue_id) final;

  HalfClose half_close_;
  std::string message_;
  std::size_t size_ = 0;
  bool over_ = false;
};

}  // namespace sluice::milter
