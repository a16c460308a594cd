// Result<T>: a value or an Error, for code that must not throw per message or
// request. g++ 12 has no std::expected, so this is the small subset we use.
// Each Errc says whether the failure is temporary (retry later: SMTP 4xx,
// EX_TEMPFAIL) or permanent (5xx), as KumoMTA's DKIMError::status() does.
#pragma once

#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace sluice {

enum class Errc {
  kInvalidInput,  // hostile or malformed bytes from the network or a file
  kTooLong,       // a length cap was hit
  kConfig,        // configuration error (detail is "file:line: reason")
  kNotFound,      // a named thing does not exist
  kIo,            // a system call failed
  kTimeout,       // a peer did not answer in time
  kUnavailable,   // a peer (Redis, a scanner) cannot be reached
  kProtocol,      // a peer answered something we did not expect
  kInternal,      // a broken invariant we chose to survive
};

// Temporary errors may succeed if retried later; permanent ones will not.
constexpr bool is_temporary(Errc code) {
  switch (code) {
    case Errc::kIo:
    case Errc::kTimeout:
    case Errc::kUnavailable:
    case Errc::kProtocol:
    case Errc::kInternal:
      return true;
    case Errc::kInvalidInput:
    case Errc::kTooLong:
    case Errc::kConfig:
    case Errc::kNotFound:
      return false;
  }
  return true;
}

// Short stable name of an Errc, for logs ("timeout", "invalid-input", ...).
std::string_view errc_name(Errc code);

struct Error {
  Errc code = Errc::kInternal;
  std::string detail;

  bool temporary() const { return is_temporary(code); }
  // "timeout: redis 127.0.0.1:6379 did not answer in 500 ms"
  std::string message() const;
};

inline Error make_error(Errc code, std::string detail) { return Error{code, std::move(detail)}; }

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return checked(); }
  const T& value() const& { return const_cast<Result*>(this)->checked(); }
  T&& value() && { return std::move(checked()); }
  T& operator*() & { return checked(); }
  const T& operator*() const& { return const_cast<Result*>(this)->checked(); }
  T* operator->() { return &checked(); }
  const T* operator->() const { return &const_cast<Result*>(this)->checked(); }

  const Error& error() const& {
    if (ok()) std::abort();  // asking a success for its error is a bug
    return std::get<1>(v_);
  }
  Error&& error() && {
    if (ok()) std::abort();
    return std::move(std::get<1>(v_));
  }

 private:
  T& checked() {
    if (!ok()) std::abort();  // using a failed Result's value is a bug
    return std::get<0>(v_);
  }
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& {
    if (ok_) std::abort();
    return error_;
  }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace sluice
