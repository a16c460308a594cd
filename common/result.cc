#include "common/result.h"

namespace sluice {

std::string_view errc_name(Errc code) {
  switch (code) {
    case Errc::kInvalidInput: return "invalid-input";
    case Errc::kTooLong: return "too-long";
    case Errc::kConfig: return "config";
    case Errc::kNotFound: return "not-found";
    case Errc::kIo: return "io";
    case Errc::kTimeout: return "timeout";
    case Errc::kUnavailable: return "unavailable";
    case Errc::kProtocol: return "protocol";
    case Errc::kInternal: return "internal";
  }
  return "unknown";
}

std::string Error::message() const {
  std::string out{errc_name(code)};
  if (!detail.empty()) {
    out += ": ";
    out += detail;
  }
  return out;
}

}  // namespace sluice
