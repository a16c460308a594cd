#include "milter/dkim_canon.h"
#include "common/ascii.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace sluice::milter {
namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t'; }


// Collects canonical bytes into a string (canonical_body()).
class StringSink final : public ByteSink {
 public:
  void write(std::string_view bytes) override { out.append(bytes); }
  std::string out;
};

}  // namespace

std::string_view canon_name(Canon canon) { return canon == Canon::kSimple ? "simple" : "relaxed"; }

void append_canonical_header(Canon canon, std::string_view name, std::string_view value, std::string& out) {
  if (canon == Canon::kSimple) {
    // RFC 6376 3.4.1: no change at all, except that a bare LF fold is the
    // CRLF the field will carry on the wire.
    out.append(name);
    out.push_back(':');
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (value[i] == '\n' && (i == 0 || value[i - 1] != '\r')) out.push_back('\r');
      out.push_back(value[i]);
    }
    out.append("\r\n");
    return;
  }
  // RFC 6376 3.4.2, in its order: lowercase the name; unfold; collapse WSP
  // runs to one SP; drop WSP at the end of the value; drop WSP around ':'.
  while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);
  for (char c : name) out.push_back(ascii_lower(c));
  out.push_back(':');
  bool pending_space = false;
  bool started = false;  // leading WSP of the value is dropped
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '\n') continue;                                           // unfold (CRLF or bare LF)
    if (c == '\r' && i + 1 < value.size() && value[i + 1] == '\n') continue;
    if (is_wsp(c)) {
      pending_space = started;
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    started = true;
    out.push_back(c);
  }
  out.append("\r\n");
}

std::string canonical_header(Canon canon, std::string_view name, std::string_view value) {
  std::string out;
  out.reserve(name.size() + value.size() + 3);
  append_canonical_header(canon, name, value, out);
  return out;
}

void BodyCanonicalizer::put(const char* bytes, std::size_t n) {
  output_size_ += n;
  while (n > 0) {
    if (used_ == buf_.size()) {
      sink_->write(std::string_view(buf_.data(), used_));
      used_ = 0;
    }
    const std::size_t take = std::min(n, buf_.size() - used_);
    std::memcpy(buf_.data() + used_, bytes, take);
    used_ += take;
    bytes += take;
    n -= take;
  }
}

void BodyCanonicalizer::flush(ByteSink& out) {
  if (used_ > 0) out.write(std::string_view(buf_.data(), used_));
  used_ = 0;
}

// Starts or continues a line's content with |n| bytes that are neither line
// ends nor (relaxed) WSP: the withheld empty lines and WSP are real after all.
void BodyCanonicalizer::content(const char* bytes, std::size_t n) {
  if (!line_has_content_) {
    for (; empty_lines_ > 0; --empty_lines_) put("\r\n", 2);
    line_has_content_ = true;
  }
  if (pending_wsp_) {
    put(" ", 1);  // relaxed 3.4.4 a: a WSP run inside a line is one SP
    pending_wsp_ = false;
  }
  put(bytes, n);
}

void BodyCanonicalizer::end_of_line() {
  pending_wsp_ = false;  // relaxed 3.4.4 a: WSP at the end of a line is ignored
  if (line_has_content_) {
    put("\r\n", 2);
    line_has_content_ = false;
  } else {
    ++empty_lines_;  // 3.4.3 / 3.4.4 b: emitted only if content follows
  }
}

void BodyCanonicalizer::update(std::string_view chunk, ByteSink& out) {
  sink_ = &out;
  const char* p = chunk.data();
  const char* const end = p + chunk.size();
  if (pending_cr_ && p < end) {
    pending_cr_ = false;
    if (*p == '\n') {
      end_of_line();
      ++p;
    } else {
      content("\r", 1);  // a bare CR is data, not a line end
    }
  }
  if (canon_ == Canon::kSimple) {
    update_simple(p, end);
  } else {
    update_relaxed(p, end);
  }
  flush(out);
  sink_ = nullptr;
}

// simple: only line ends matter; a line is everything before LF, minus the CR
// of a CRLF. memchr finds the LFs (vectorised in glibc).
void BodyCanonicalizer::update_simple(const char* p, const char* end) {
  while (p < end) {
    const auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    if (nl == nullptr) {
      // No line end in the rest: a final CR may be the first half of a CRLF.
      const bool cr_last = end[-1] == '\r';
      if (end - p > (cr_last ? 1 : 0)) content(p, static_cast<std::size_t>(end - p) - (cr_last ? 1 : 0));
      pending_cr_ = cr_last;
      return;
    }
    const char* line_end = (nl > p && nl[-1] == '\r') ? nl - 1 : nl;
    if (line_end > p) content(p, static_cast<std::size_t>(line_end - p));
    end_of_line();  // CRLF, or a bare LF: the CRLF the MTA puts on the wire
    p = nl + 1;
  }
}

// relaxed: bytes are content, WSP (collapsed, dropped at line ends) or line
// ends. A run of content may include single SPs between content bytes, which
// relaxed leaves as they are; that keeps ordinary text in long runs.
void BodyCanonicalizer::update_relaxed(const char* p, const char* end) {
  static constexpr auto kSpecial = [] {
    std::array<bool, 256> t{};
    t['\r'] = t['\n'] = t[' '] = t['\t'] = true;
    return t;
  }();
  const auto special = [](char c) { return kSpecial[static_cast<unsigned char>(c)]; };
  while (p < end) {
    const char c = *p;
    if (c == '\r') {
      if (p + 1 == end) {
        pending_cr_ = true;  // decided by the next chunk
        return;
      }
      if (p[1] == '\n') {
        end_of_line();
        p += 2;
      } else {
        content("\r", 1);  // a bare CR is data
        ++p;
      }
    } else if (c == '\n') {
      end_of_line();  // bare LF
      ++p;
    } else if (c == ' ' || c == '\t') {
      pending_wsp_ = true;
      ++p;
    } else {
      const char* q = p + 1;
      while (q < end) {
        if (*q == ' ' && q + 1 < end && !special(q[1])) {
          q += 2;
        } else if (special(*q)) {
          break;
        } else {
          ++q;
        }
      }
      content(p, static_cast<std::size_t>(q - p));
      p = q;
    }
  }
}

void BodyCanonicalizer::finish(ByteSink& out) {
  sink_ = &out;
  if (pending_cr_) {
    pending_cr_ = false;
    content("\r", 1);
  }
  pending_wsp_ = false;
  if (line_has_content_) {
    put("\r\n", 2);  // 3.4.3 / 3.4.4: a body not ending in CRLF gets one
    line_has_content_ = false;
  }
  empty_lines_ = 0;  // trailing empty lines are ignored
  if (output_size_ == 0 && canon_ == Canon::kSimple) put("\r\n", 2);  // 3.4.3: empty body is one CRLF
  flush(out);
  sink_ = nullptr;
}

const EVP_MD* dkim_sha256() {
  static EVP_MD* const md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) std::abort();  // no SHA-256 in this OpenSSL: nothing can work
    return fetched;
  }();
  return md;
}

BodyHasher::BodyHasher(Canon canon) : canon_(canon), ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), dkim_sha256(), nullptr) != 1) std::abort();  // out of memory
}

void BodyHasher::write(std::string_view bytes) {
  if (EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size()) != 1) std::abort();  // cannot fail for SHA-256
}

std::string BodyHasher::finish() {
  canon_.finish(*this);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_.get(), digest, &len) != 1) std::abort();
  return std::string(reinterpret_cast<const char*>(digest), len);
}

std::string canonical_body(Canon canon, std::string_view body) {
  BodyCanonicalizer canonicalizer(canon);
  StringSink sink;
  canonicalizer.update(body, sink);
  canonicalizer.finish(sink);
  return std::move(sink.out);
}

}  // namespace sluice::milter
