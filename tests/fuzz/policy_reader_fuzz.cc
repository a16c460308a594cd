// libFuzzer target for policyd/policy_reader.* and policyd/verdict.*.
// The first input byte picks the limits (defaults or tiny ones, so the caps
// are reached often); the rest is fed in chunks whose sizes come from the
// input itself. Besides "no crash, no sanitizer report" it checks:
//   - the same bytes fed in one piece give the same requests and error;
//   - buffered() never exceeds max_request_bytes plus the last feed, is
//     below max_request_bytes whenever next() says "need more", and is 0
//     once the reader failed; a failed reader repeats its error;
//   - error details are short and printable ASCII;
//   - requests respect the limits (attribute count, value lengths);
//   - each value rendered as verdict text gives one reply line, bounded,
//     with no control byte, ending in "\n\n".
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "policyd/policy_reader.h"
#include "policyd/verdict.h"

namespace {

using sluice::policyd::PolicyLimits;
using sluice::policyd::PolicyReader;
using sluice::policyd::PolicyRequest;

void check(bool ok) {
  if (!ok) std::abort();  // a property failed: libFuzzer saves the input
}

struct Run {
  std::vector<PolicyRequest> requests;
  bool failed = false;
  sluice::Error error;
};

void check_error(const sluice::Error& e) {
  check(e.code == sluice::Errc::kInvalidInput || e.code == sluice::Errc::kTooLong);
  check(!e.detail.empty() && e.detail.size() <= 160);
  for (const char c : e.detail) {
    const auto u = static_cast<unsigned char>(c);
    check(u >= 0x20 && u < 0x7f);
  }
}

void check_request(const PolicyRequest& r, const PolicyLimits& limits) {
  check(r.attribute_count >= 1 && r.attribute_count <= limits.max_attributes);
  check(r.unknown_attributes < r.attribute_count);
  for (const std::string* v : {&r.sender, &r.recipient, &r.helo_name, &r.sasl_username, &r.ccert_subject}) {
    check(v->size() <= limits.max_line_bytes);
    check(v->find('\n') == std::string::npos && v->find('\r') == std::string::npos &&
          v->find('\0') == std::string::npos);
  }
}

void check_verdict_text(const std::string& text) {
  for (const auto& v : {sluice::policyd::verdict_reject("5.7.1", text),
                        sluice::policyd::verdict_defer(text, text, static_cast<int>(text.size())),
                        sluice::policyd::verdict_warn(text)}) {
    const std::string reply = sluice::policyd::render_verdict(v);
    check(reply.size() >= 2 && reply.size() <= sluice::policyd::kMaxActionLine + 2);
    check(reply.compare(reply.size() - 2, 2, "\n\n") == 0);
    check(reply.compare(0, 7, "action=") == 0);
    for (std::size_t i = 0; i + 2 < reply.size(); ++i) {
      const auto u = static_cast<unsigned char>(reply[i]);
      check(u >= 0x20 && u < 0x7f);
    }
  }
}

// Drains the reader, checking the buffer bound after every call.
bool drain(PolicyReader& reader, const PolicyLimits& limits, std::size_t last_feed, Run& run) {
  for (;;) {
    check(reader.buffered() <= limits.max_request_bytes + last_feed);
    auto r = reader.next();
    if (!r.ok()) {
      check_error(r.error());
      check(reader.failed() && reader.buffered() == 0);
      auto again = reader.next();
      check(!again.ok() && again.error().detail == r.error().detail);
      run.failed = true;
      run.error = r.error();
      return false;
    }
    if (!r->has_value()) {
      check(reader.buffered() < limits.max_request_bytes);
      return true;
    }
    check_request(**r, limits);
    run.requests.push_back(std::move(**r));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  PolicyLimits limits;
  if (mode & 1) limits = PolicyLimits{.max_line_bytes = 40, .max_attributes = 4, .max_request_bytes = 128};

  // Chunked: chunk sizes cycle through a few values picked by the mode byte.
  static constexpr std::size_t kChunks[] = {1, 2, 3, 7, 16, 64, 509, 4096};
  PolicyReader chunked(limits);
  Run a;
  std::size_t pos = 0;
  for (unsigned step = mode >> 1; pos < in.size(); ++step) {
    const std::size_t n = std::min(kChunks[step % 8], in.size() - pos);
    chunked.feed(in.substr(pos, n));
    pos += n;
    if (!drain(chunked, limits, n, a)) break;
  }
  if (a.failed) {
    chunked.feed(in);
    check(chunked.buffered() == 0);
  }

  // Whole: the same bytes in one feed must give the same answer.
  PolicyReader whole(limits);
  whole.feed(in);
  Run b;
  drain(whole, limits, in.size(), b);
  check(a.failed == b.failed);
  check(a.requests == b.requests);
  if (a.failed) check(a.error.code == b.error.code && a.error.detail == b.error.detail);

  for (const auto& r : a.requests) {
    check_verdict_text(r.sender);
    check_verdict_text(r.recipient);
  }
  if (in.size() <= 4096) check_verdict_text(std::string(in));
  return 0;
}
