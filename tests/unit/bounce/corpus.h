// Reads a sample of tests/unit/bounce/corpus/ through $SLUICE_SRCDIR (set by
// `make check`; the tests fail with a clear message without it).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace sluice::bounce::test {

inline constexpr const char* kTrackingId = "01jd3xk6m5q3w8r2t4y6z8a0bc";

inline std::string corpus(const std::string& name) {
  const char* srcdir = std::getenv("SLUICE_SRCDIR");
  const std::string dir = srcdir != nullptr ? srcdir : ".";
  const std::string path = dir + "/tests/unit/bounce/corpus/" + name;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path << " (set SLUICE_SRCDIR to the source tree)";
    return {};
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The same message with CRLF line ends, as it travels in SMTP.
inline std::string with_crlf(const std::string& text) {
  std::string out;
  out.reserve(text.size() + text.size() / 20);
  for (char c : text) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

}  // namespace sluice::bounce::test
