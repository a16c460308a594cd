// Tests for policyd/policy_reader.*: Postfix requests as Postfix sends them,
// fed whole, byte by byte and split anywhere; pipelining; every limit; and
// hostile input (each must be an Error with a short, escaped detail).
#include "policyd/policy_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "policyd/policy_attr.h"

namespace sluice::policyd {
namespace {

using namespace std::string_literals;

// A RCPT request as Postfix 3.7 sends it for an authenticated submission over
// TLS (attribute list and order of SMTPD_POLICY_README).
const std::string kRcptRequest =
    "request=smtpd_access_policy\n"
    "protocol_state=RCPT\n"
    "protocol_name=ESMTP\n"
    "helo_name=laptop.example.net\n"
    "queue_id=4Yz3Kq1Ry2z9xVb\n"
    "sender=alice@example.com\n"
    "recipient=bob@example.org\n"
    "recipient_count=0\n"
    "client_address=192.0.2.10\n"
    "client_name=laptop.example.net\n"
    "reverse_client_name=laptop.example.net\n"
    "instance=a1b2.65f0c3d1.9e7a2.0\n"
    "sasl_method=PLAIN\n"
    "sasl_username=acct-42\n"
    "sasl_sender=\n"
    "size=48213\n"
    "ccert_subject=\n"
    "ccert_issuer=\n"
    "ccert_fingerprint=\n"
    "encryption_protocol=TLSv1.3\n"
    "encryption_cipher=TLS_AES_256_GCM_SHA384\n"
    "encryption_keysize=256\n"
    "etrn_domain=\n"
    "stress=\n"
    "ccert_pubkey_fingerprint=\n"
    "client_port=53122\n"
    "policy_context=submission\n"
    "server_address=192.0.2.1\n"
    "server_port=587\n"
    "\n";

// The END-OF-MESSAGE request for the same message: no current recipient,
// the recipient count and the actual size.
const std::string kEomRequest =
    "request=smtpd_access_policy\n"
    "protocol_state=END-OF-MESSAGE\n"
    "protocol_name=ESMTP\n"
    "helo_name=laptop.example.net\n"
    "queue_id=4Yz3Kq1Ry2z9xVb\n"
    "sender=alice@example.com\n"
    "recipient=\n"
    "recipient_count=3\n"
    "client_address=192.0.2.10\n"
    "client_name=laptop.example.net\n"
    "reverse_client_name=laptop.example.net\n"
    "instance=a1b2.65f0c3d1.9e7a2.0\n"
    "sasl_method=PLAIN\n"
    "sasl_username=acct-42\n"
    "sasl_sender=\n"
    "size=48377\n"
    "ccert_subject=\n"
    "ccert_issuer=\n"
    "ccert_fingerprint=\n"
    "encryption_protocol=TLSv1.3\n"
    "encryption_cipher=TLS_AES_256_GCM_SHA384\n"
    "encryption_keysize=256\n"
    "etrn_domain=\n"
    "stress=\n"
    "ccert_pubkey_fingerprint=\n"
    "client_port=53122\n"
    "policy_context=submission\n"
    "server_address=192.0.2.1\n"
    "server_port=587\n"
    "\n";

// Postfix 3.8 and later append these two.
const std::string kPostfix38Tail =
    "compatibility_level=3.6\n"
    "mail_version=3.8.1\n"
    "\n";

std::string postfix38(std::string request) {
  request.pop_back();  // the empty line
  return request + kPostfix38Tail;
}

// A minimal valid request with |lines| (each ending in "\n") added.
std::string request_with(std::string_view lines) {
  return "request=smtpd_access_policy\n" + std::string(lines) + "\n";
}

// Feeds |input| in one piece and returns every request, or the first error.
struct Outcome {
  std::vector<PolicyRequest> requests;
  bool failed = false;
  Error error;
};

Outcome read_all(PolicyReader& reader) {
  Outcome out;
  for (;;) {
    auto r = reader.next();
    if (!r.ok()) {
      out.failed = true;
      out.error = r.error();
      return out;
    }
    if (!r->has_value()) return out;
    out.requests.push_back(std::move(**r));
  }
}

Outcome parse_whole(std::string_view input, PolicyLimits limits = {}) {
  PolicyReader reader(limits);
  reader.feed(input);
  return read_all(reader);
}

// Feeds one byte at a time, draining after each (Envoy codec_impl_test style).
Outcome parse_bytewise(std::string_view input, PolicyLimits limits = {}) {
  PolicyReader reader(limits);
  Outcome out;
  for (const char c : input) {
    reader.feed(std::string_view(&c, 1));
    Outcome step = read_all(reader);
    for (auto& r : step.requests) out.requests.push_back(std::move(r));
    if (step.failed) {
      out.failed = true;
      out.error = step.error;
      return out;
    }
  }
  return out;
}

PolicyRequest parse_one(std::string_view input) {
  Outcome out = parse_whole(input);
  EXPECT_FALSE(out.failed) << "got error " << out.error.message() << ", want a request";
  EXPECT_EQ(out.requests.size(), 1u);
  return out.requests.empty() ? PolicyRequest{} : out.requests.front();
}

TEST(PolicyReader, ParsesRealisticRcptRequest) {
  const PolicyRequest r = parse_one(kRcptRequest);
  EXPECT_EQ(r.protocol_state, ProtocolState::kRcpt);
  EXPECT_EQ(r.protocol_name, "ESMTP");
  EXPECT_EQ(r.helo_name, "laptop.example.net");
  EXPECT_EQ(r.queue_id, "4Yz3Kq1Ry2z9xVb");
  EXPECT_EQ(r.sender, "alice@example.com");
  EXPECT_EQ(r.recipient, "bob@example.org");
  EXPECT_EQ(r.recipient_count, 0u);
  EXPECT_EQ(r.client_address, "192.0.2.10");
  EXPECT_EQ(r.client_name, "laptop.example.net");
  EXPECT_EQ(r.reverse_client_name, "laptop.example.net");
  EXPECT_EQ(r.instance, "a1b2.65f0c3d1.9e7a2.0");
  EXPECT_EQ(r.sasl_method, "PLAIN");
  EXPECT_EQ(r.sasl_username, "acct-42");
  EXPECT_TRUE(r.authenticated());
  EXPECT_EQ(r.sasl_sender, "");
  EXPECT_EQ(r.size, 48213u);
  EXPECT_EQ(r.encryption_protocol, "TLSv1.3");
  EXPECT_EQ(r.encryption_cipher, "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(r.encryption_keysize, 256u);
  EXPECT_EQ(r.client_port, std::optional<std::uint16_t>(53122));
  EXPECT_EQ(r.policy_context, "submission");
  EXPECT_EQ(r.server_address, "192.0.2.1");
  EXPECT_EQ(r.server_port, std::optional<std::uint16_t>(587));
  EXPECT_EQ(r.attribute_count, 29u);
  EXPECT_EQ(r.unknown_attributes, 0u);
}

TEST(PolicyReader, ParsesEndOfMessageRequest) {
  const PolicyRequest r = parse_one(kEomRequest);
  EXPECT_EQ(r.protocol_state, ProtocolState::kEndOfMessage);
  EXPECT_EQ(r.recipient, "");
  EXPECT_EQ(r.recipient_count, 3u);
  EXPECT_EQ(r.size, 48377u);
  EXPECT_EQ(r.instance, "a1b2.65f0c3d1.9e7a2.0");
}

TEST(PolicyReader, ParsesPostfix38Attributes) {
  const PolicyRequest r = parse_one(postfix38(kRcptRequest));
  EXPECT_EQ(r.compatibility_level, "3.6");
  EXPECT_EQ(r.mail_version, "3.8.1");
  EXPECT_EQ(r.attribute_count, 31u);
  EXPECT_EQ(r.unknown_attributes, 0u);
}

TEST(PolicyReader, ParsesAttributesInAnyOrder) {
  // The protocol does not fix an order; the name lookup must not rely on one.
  const PolicyRequest r = parse_one(
      "server_port=25\nrecipient=b@x.org\nrequest=smtpd_access_policy\nsender=a@x.org\n"
      "protocol_state=MAIL\n\n");
  EXPECT_EQ(r.protocol_state, ProtocolState::kMail);
  EXPECT_EQ(r.sender, "a@x.org");
  EXPECT_EQ(r.recipient, "b@x.org");
  EXPECT_EQ(r.server_port, std::optional<std::uint16_t>(25));
}

TEST(PolicyReader, GivesSameResultFedByteByByte) {
  for (const std::string& input : {kRcptRequest, kEomRequest, postfix38(kRcptRequest)}) {
    const Outcome whole = parse_whole(input);
    const Outcome bytewise = parse_bytewise(input);
    ASSERT_FALSE(bytewise.failed) << bytewise.error.message();
    ASSERT_EQ(bytewise.requests.size(), 1u);
    EXPECT_EQ(bytewise.requests, whole.requests);
  }
}

TEST(PolicyReader, GivesSameResultAtEverySplitPoint) {
  const std::string input = kRcptRequest + kEomRequest;
  const Outcome whole = parse_whole(input);
  ASSERT_EQ(whole.requests.size(), 2u);
  for (std::size_t cut = 0; cut <= input.size(); ++cut) {
    PolicyReader reader;
    reader.feed(std::string_view(input).substr(0, cut));
    Outcome first = read_all(reader);
    reader.feed(std::string_view(input).substr(cut));
    Outcome second = read_all(reader);
    ASSERT_FALSE(first.failed || second.failed) << "cut at " << cut;
    for (auto& r : second.requests) first.requests.push_back(std::move(r));
    EXPECT_EQ(first.requests, whole.requests) << "cut at " << cut;
    EXPECT_EQ(reader.buffered(), 0u) << "cut at " << cut;
  }
}

TEST(PolicyReader, ReturnsPipelinedRequestsInOrder) {
  PolicyReader reader;
  reader.feed(kRcptRequest + kRcptRequest + kEomRequest + "request=smtpd_acc");
  Outcome out = read_all(reader);
  ASSERT_FALSE(out.failed) << out.error.message();
  ASSERT_EQ(out.requests.size(), 3u);
  EXPECT_EQ(out.requests[0].protocol_state, ProtocolState::kRcpt);
  EXPECT_EQ(out.requests[1].protocol_state, ProtocolState::kRcpt);
  EXPECT_EQ(out.requests[2].protocol_state, ProtocolState::kEndOfMessage);
  EXPECT_EQ(reader.buffered(), std::string_view("request=smtpd_acc").size());
  reader.feed("ess_policy\nprotocol_state=DATA\n\n");
  out = read_all(reader);
  ASSERT_EQ(out.requests.size(), 1u);
  EXPECT_EQ(out.requests[0].protocol_state, ProtocolState::kData);
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(PolicyReader, HandlesHundredsOfRequestsOnOneConnection) {
  PolicyReader reader;
  for (int i = 0; i < 500; ++i) {
    reader.feed(i % 2 == 0 ? kRcptRequest : kEomRequest);
    auto r = reader.next();
    ASSERT_TRUE(r.ok() && r->has_value()) << "request " << i;
    auto none = reader.next();
    ASSERT_TRUE(none.ok() && !none->has_value()) << "request " << i;
    ASSERT_EQ(reader.buffered(), 0u);
  }
}

TEST(PolicyReader, NeedsMoreBytesUntilTheEmptyLine) {
  PolicyReader reader;
  std::string no_end = kRcptRequest;
  no_end.pop_back();
  reader.feed(no_end);
  auto r = reader.next();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value()) << "got a request before the empty line";
  reader.feed("\n");
  r = reader.next();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->has_value());
}

TEST(PolicyReader, AcceptsCrlf) {
  std::string crlf;
  for (const char c : kRcptRequest) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  const Outcome whole = parse_whole(crlf);
  const Outcome bytewise = parse_bytewise(crlf);
  ASSERT_FALSE(whole.failed) << whole.error.message();
  ASSERT_FALSE(bytewise.failed) << bytewise.error.message();
  ASSERT_EQ(whole.requests.size(), 1u);
  EXPECT_EQ(whole.requests, parse_whole(kRcptRequest).requests) << "CRLF must read as LF";
  EXPECT_EQ(bytewise.requests, whole.requests);
}

TEST(PolicyReader, KeepsValuesRaw) {
  struct Case {
    std::string line;
    std::string want_sender;
    const char* why;
  };
  const std::vector<Case> cases = {
      {"sender=a=b@x.org\n", "a=b@x.org", "only the first '=' separates name and value"},
      {"sender=\"john doe\"@x.org\n", "\"john doe\"@x.org", "quotes and spaces kept"},
      {"sender=bob+20x@x.org\n", "bob+20x@x.org", "no xtext decoding"},
      {"sender= a@x.org \n", " a@x.org ", "no trimming"},
      {"sender=J\xc3\xb6hn@x.org\n", "J\xc3\xb6hn@x.org", "UTF-8 kept"},
      {"sender=\n", "", "empty value is the null sender"},
      {"sender=a\tb\n", "a\tb", "a tab is not a line break"},
  };
  for (const auto& c : cases) {
    const Outcome out = parse_whole(request_with(c.line));
    ASSERT_FALSE(out.failed) << c.why << ": got error " << out.error.message();
    ASSERT_EQ(out.requests.size(), 1u) << c.why;
    EXPECT_EQ(out.requests[0].sender, c.want_sender) << c.why;
  }
}

TEST(PolicyReader, CountsAndIgnoresUnknownAttributes) {
  const PolicyRequest r = parse_one(request_with("future_thing=1\nsender=a@x.org\nx-vendor.ext=y\n"));
  EXPECT_EQ(r.unknown_attributes, 2u);
  EXPECT_EQ(r.attribute_count, 4u);
  EXPECT_EQ(r.sender, "a@x.org");
}

TEST(PolicyReader, MapsProtocolStates) {
  struct Case {
    std::string_view text;
    ProtocolState want;
  };
  const std::vector<Case> cases = {
      {"CONNECT", ProtocolState::kConnect},   {"EHLO", ProtocolState::kEhlo},
      {"HELO", ProtocolState::kHelo},         {"MAIL", ProtocolState::kMail},
      {"RCPT", ProtocolState::kRcpt},         {"DATA", ProtocolState::kData},
      {"END-OF-MESSAGE", ProtocolState::kEndOfMessage},
      {"VRFY", ProtocolState::kVrfy},         {"ETRN", ProtocolState::kEtrn},
      {"rcpt", ProtocolState::kRcpt},         // Postfix compares case-insensitively
      {"AUTH", ProtocolState::kOther},        // not a policy state: no error
      {"", ProtocolState::kOther},            {"RCPT ", ProtocolState::kOther},
  };
  for (const auto& c : cases) {
    const PolicyRequest r = parse_one(request_with("protocol_state=" + std::string(c.text) + "\n"));
    EXPECT_EQ(r.protocol_state, c.want) << "state \"" << c.text << "\": got "
                                        << protocol_state_name(r.protocol_state) << ", want "
                                        << protocol_state_name(c.want);
  }
  EXPECT_EQ(parse_one(request_with("")).protocol_state, ProtocolState::kOther) << "missing state";
  for (const auto& c : cases) {
    if (c.want != ProtocolState::kOther) {
      EXPECT_EQ(parse_protocol_state(protocol_state_name(c.want)), c.want) << "name round trip";
    }
  }
}

TEST(PolicyReader, ParsesNumbersStrictly) {
  struct Case {
    std::string line;
    bool ok;
    const char* why;
  };
  const std::vector<Case> cases = {
      {"size=0", true, "zero"},
      {"size=18446744073709551615", true, "largest uint64"},
      {"size=18446744073709551616", false, "uint64 overflow"},
      {"size=", false, "Postfix always sends a number"},
      {"size=-1", false, "sign"},
      {"size=+1", false, "plus sign"},
      {"size= 1", false, "leading space"},
      {"size=1 ", false, "trailing space"},
      {"size=0x10", false, "hex"},
      {"size=1e3", false, "exponent"},
      {"size=12abc", false, "trailing garbage"},
      {"recipient_count=4294967295", true, "largest uint32"},
      {"recipient_count=4294967296", false, "uint32 overflow"},
      {"recipient_count=three", false, "word"},
      {"encryption_keysize=256", true, "keysize"},
      {"encryption_keysize=-256", false, "negative keysize"},
      {"client_port=65535", true, "largest port"},
      {"client_port=65536", false, "port overflow"},
      {"client_port=unknown", true, "Postfix's CLIENT_PORT_UNKNOWN"},
      {"client_port=Unknown", false, "only Postfix's spelling"},
      {"client_port=", true, "empty port: absent"},
      {"server_port=25x", false, "server port garbage"},
  };
  for (const auto& c : cases) {
    const Outcome out = parse_whole(request_with(c.line + "\n"));
    EXPECT_EQ(!out.failed, c.ok) << c.why << " (" << c.line << "): got "
                                 << (out.failed ? out.error.message() : "a request") << ", want "
                                 << (c.ok ? "a request" : "an error");
    if (out.failed) {
      EXPECT_EQ(out.error.code, Errc::kInvalidInput) << c.why;
    }
  }
  EXPECT_EQ(parse_one(request_with("size=18446744073709551615\n")).size, 18446744073709551615u);
  EXPECT_EQ(parse_one(request_with("client_port=unknown\n")).client_port, std::nullopt);
  EXPECT_EQ(parse_one(request_with("client_port=0\n")).client_port, std::optional<std::uint16_t>(0));
}

TEST(PolicyReader, RejectsMalformedInput) {
  struct Case {
    std::string input;
    std::string_view want_detail;  // substring of the error detail
    const char* why;
  };
  const std::vector<Case> cases = {
      {request_with("sender\n"), "without '='", "line without '='"},
      {request_with("=value\n"), "empty name", "empty name"},
      {request_with("sen der=x\n"), "bad byte in attribute name", "space in a name"},
      {request_with("sen\x01" "der=x\n"), "bad byte in attribute name", "control byte in a name"},
      {request_with("sen"s + '\0' + "der=x\n"), "bad byte in attribute name", "NUL in a name"},
      {request_with("sender=a"s + '\0' + "b@x.org\n"), "NUL byte", "NUL in a value"},
      {request_with("sender=a\rb@x.org\n"), "CR inside", "bare CR inside a value"},
      {request_with("sender=a@x.org\r\r\n"), "CR inside", "two CRs before LF"},
      {request_with(std::string(65, 'n') + "=x\n"), "name longer than 64", "overlong name"},
      {request_with("sender=a@x.org\nsender=b@x.org\n"), "given twice", "repeated known attribute"},
      {request_with("x_new=1\nx_new=1\n"), "given twice", "repeated unknown attribute"},
      {"request=smtpd_access_policy\nrequest=smtpd_access_policy\n\n", "given twice", "repeated request"},
      {"protocol_state=RCPT\nsender=a@x.org\n\n", "without request=", "request attribute missing"},
      {"request=other_policy\n\n", "unsupported request", "wrong request type"},
      {"request=SMTPD_ACCESS_POLICY\n\n", "unsupported request", "request type is case-sensitive"},
      {"\n", "empty request", "empty line alone"},
      {kRcptRequest + "\n", "empty request", "two empty lines after a request"},
  };
  for (const auto& c : cases) {
    for (const bool bytewise : {false, true}) {
      const Outcome out = bytewise ? parse_bytewise(c.input) : parse_whole(c.input);
      ASSERT_TRUE(out.failed) << c.why << (bytewise ? " (bytewise)" : "") << ": got "
                              << out.requests.size() << " requests, want an error";
      EXPECT_EQ(out.error.code, Errc::kInvalidInput) << c.why << ": got " << out.error.message();
      EXPECT_NE(out.error.detail.find(c.want_detail), std::string::npos)
          << c.why << ": got \"" << out.error.detail << "\", want it to contain \"" << c.want_detail << "\"";
    }
  }
}

TEST(PolicyReader, ErrorDetailQuotesLittleEscapedInput) {
  const std::vector<std::string> hostile = {
      request_with(std::string(3000, 'A') + "\x1b[31m\n"),               // no '=' in a long line
      request_with("sender=" + std::string(500, '\xff') + "\n" + "sender=x\n"),  // repeat
      request_with("size=" + std::string(1000, '9') + "\x07\n"),          // number garbage
      "request=" + std::string(2000, '\x01') + "\n\n",                    // request type
      request_with(std::string(60, 'a') + "\x7f=1\n"),                    // name byte
  };
  for (const auto& in : hostile) {
    const Outcome out = parse_whole(in);
    ASSERT_TRUE(out.failed);
    EXPECT_LE(out.error.detail.size(), 160u) << "got \"" << out.error.detail << "\"";
    for (const char c : out.error.detail) {
      const auto u = static_cast<unsigned char>(c);
      EXPECT_TRUE(u >= 0x20 && u < 0x7f) << "raw byte 0x" << std::hex << int{u} << " in \"" << out.error.detail
                                         << "\"";
    }
  }
}

TEST(PolicyReader, RejectsOverlongLine) {
  const PolicyLimits limits;
  const std::string at_limit = "sender=" + std::string(limits.max_line_bytes - 7, 'a') + "\n";
  const std::string over = "sender=" + std::string(limits.max_line_bytes - 6, 'a') + "\n";
  EXPECT_FALSE(parse_whole(request_with(at_limit)).failed) << "a line of exactly max_line_bytes";
  EXPECT_FALSE(parse_bytewise(request_with(at_limit)).failed) << "bytewise, exactly max_line_bytes";
  for (const bool bytewise : {false, true}) {
    const Outcome out = bytewise ? parse_bytewise(request_with(over)) : parse_whole(request_with(over));
    ASSERT_TRUE(out.failed) << "one byte over max_line_bytes" << (bytewise ? " (bytewise)" : "");
    EXPECT_EQ(out.error.code, Errc::kTooLong) << out.error.message();
    EXPECT_NE(out.error.detail.find("line longer than 4096"), std::string::npos) << out.error.detail;
  }
}

TEST(PolicyReader, CountsCrAgainstTheLineLimit) {
  const PolicyLimits limits{.max_line_bytes = 10};
  EXPECT_FALSE(parse_whole("request=smtpd_access_policy\n\n", PolicyLimits{.max_line_bytes = 27}).failed);
  EXPECT_TRUE(parse_whole("request=smtpd_access_policy\r\n\r\n", PolicyLimits{.max_line_bytes = 27}).failed);
  EXPECT_EQ(parse_whole("abcdefghijk", limits).error.code, Errc::kTooLong) << "partial line over the limit";
}

TEST(PolicyReader, RejectsEndlessLineWithoutBufferingIt) {
  // A peer that never sends LF: the reader fails as soon as the partial
  // line passes the limit, holding no more than that.
  PolicyReader reader;
  const std::string chunk(100, 'x');
  for (int i = 0; i < 1000; ++i) {
    reader.feed(chunk);
    auto r = reader.next();
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, Errc::kTooLong);
      EXPECT_EQ(reader.buffered(), 0u) << "a failed reader keeps nothing";
      return;
    }
    ASSERT_LE(reader.buffered(), PolicyLimits{}.max_line_bytes);
  }
  FAIL() << "got no error after 100000 bytes without LF, want kTooLong";
}

TEST(PolicyReader, RejectsTooManyAttributes) {
  std::string at_limit, over;
  for (int i = 0; i < 63; ++i) at_limit += "x" + std::to_string(i) + "=v\n";  // + request= = 64
  for (int i = 0; i < 64; ++i) over += "x" + std::to_string(i) + "=v\n";      // + request= = 65
  const Outcome ok = parse_whole(request_with(at_limit));
  ASSERT_FALSE(ok.failed) << ok.error.message();
  EXPECT_EQ(ok.requests[0].attribute_count, 64u);
  EXPECT_EQ(ok.requests[0].unknown_attributes, 63u);
  for (const bool bytewise : {false, true}) {
    const Outcome out = bytewise ? parse_bytewise(request_with(over)) : parse_whole(request_with(over));
    ASSERT_TRUE(out.failed) << "65 attributes" << (bytewise ? " (bytewise)" : "");
    EXPECT_EQ(out.error.code, Errc::kTooLong);
    EXPECT_NE(out.error.detail.find("more than 64 attributes"), std::string::npos) << out.error.detail;
  }
}

TEST(PolicyReader, RejectsOverlongRequest) {
  // Four lines of 4000 bytes stay under the line limit; with request= and
  // the empty line they make 16,000 + 28 + 1 + 4 LFs. Pad to the exact cap.
  const PolicyLimits limits;
  std::string body;
  for (int i = 0; i < 4; ++i) body += "a" + std::to_string(i) + "=" + std::string(3900, 'v') + "\n";
  const std::size_t fixed = std::string("request=smtpd_access_policy\n").size() + body.size() + 1;
  const std::size_t pad = limits.max_request_bytes - fixed - std::string("pad=\n").size();
  const std::string exact = request_with(body + "pad=" + std::string(pad, 'p') + "\n");
  ASSERT_EQ(exact.size(), limits.max_request_bytes);
  const std::string over = request_with(body + "pad=" + std::string(pad + 1, 'p') + "\n");
  for (const bool bytewise : {false, true}) {
    const Outcome ok = bytewise ? parse_bytewise(exact) : parse_whole(exact);
    EXPECT_FALSE(ok.failed) << "exactly max_request_bytes: " << ok.error.message();
    const Outcome out = bytewise ? parse_bytewise(over) : parse_whole(over);
    ASSERT_TRUE(out.failed) << "one byte over max_request_bytes" << (bytewise ? " (bytewise)" : "");
    EXPECT_EQ(out.error.code, Errc::kTooLong);
    EXPECT_NE(out.error.detail.find("request longer than 16384"), std::string::npos) << out.error.detail;
  }
}

TEST(PolicyReader, RejectsRequestThatNeverEnds) {
  // Short valid-looking lines forever: the request cap ends it.
  PolicyReader reader(PolicyLimits{.max_attributes = 100000});
  reader.feed("request=smtpd_access_policy\n");
  for (int i = 0; i < 10000; ++i) {
    reader.feed("x" + std::to_string(i) + "=yyyyyyyyyy\n");
    auto r = reader.next();
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, Errc::kTooLong) << r.error().message();
      return;
    }
    ASSERT_LT(reader.buffered(), PolicyLimits{}.max_request_bytes);
  }
  FAIL() << "got no error, want kTooLong from max_request_bytes";
}

TEST(PolicyReader, HonoursConfiguredLimits) {
  const PolicyLimits tiny{.max_line_bytes = 40, .max_attributes = 3, .max_request_bytes = 100};
  EXPECT_FALSE(parse_whole(request_with("sender=a@x.org\nrecipient=b@x.org\n"), tiny).failed);
  EXPECT_EQ(parse_whole(request_with("sender=a@x.org\nrecipient=b@x.org\nsize=1\n"), tiny).error.code,
            Errc::kTooLong) << "fourth attribute";
  EXPECT_EQ(parse_whole(request_with("sender=" + std::string(40, 'a') + "\n"), tiny).error.code,
            Errc::kTooLong) << "47-byte line";
  EXPECT_EQ(parse_whole(request_with("a=" + std::string(35, 'a') + "\nb=" + std::string(35, 'b') + "\n"), tiny)
                .error.code,
            Errc::kTooLong) << "over 100 bytes";
}

TEST(PolicyReader, ReportsSameLimitErrorHoweverSplit) {
  // The byte that breaks a cap decides the error, not where a feed ended.
  const PolicyLimits limits{.max_line_bytes = 40, .max_attributes = 64, .max_request_bytes = 50};
  struct Case {
    std::string input;
    std::string_view want_detail;
    const char* why;
  };
  const std::vector<Case> cases = {
      {"request=smtpd_access_policy\n" + std::string(45, 'x') + "\n", "request longer", "request cap breaks first"},
      {std::string(45, 'x') + "\n", "line longer", "line cap breaks first"},
      {std::string(41, 'x'), "line longer", "partial line"},
  };
  for (const auto& c : cases) {
    for (const bool bytewise : {false, true}) {
      const Outcome out = bytewise ? parse_bytewise(c.input, limits) : parse_whole(c.input, limits);
      ASSERT_TRUE(out.failed) << c.why;
      EXPECT_NE(out.error.detail.find(c.want_detail), std::string::npos)
          << c.why << (bytewise ? " (bytewise)" : "") << ": got \"" << out.error.detail << "\"";
    }
  }
}

TEST(PolicyReader, StaysFailedAfterError) {
  PolicyReader reader;
  reader.feed("garbage\n" + kRcptRequest);
  auto first = reader.next();
  ASSERT_FALSE(first.ok());
  EXPECT_TRUE(reader.failed());
  EXPECT_EQ(reader.buffered(), 0u) << "a failed reader releases its buffer";
  reader.feed(kRcptRequest);
  EXPECT_EQ(reader.buffered(), 0u) << "feed after failure is discarded";
  auto again = reader.next();
  ASSERT_FALSE(again.ok()) << "got a request after an error, want the same error";
  EXPECT_EQ(again.error().code, first.error().code);
  EXPECT_EQ(again.error().detail, first.error().detail);
}

TEST(PolicyReader, ReleasesConsumedBytes) {
  PolicyReader reader;
  reader.feed(kRcptRequest.substr(0, 100));
  EXPECT_EQ(reader.buffered(), 100u);
  ASSERT_TRUE(reader.next().ok());
  reader.feed(kRcptRequest.substr(100));
  auto r = reader.next();
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ(reader.buffered(), 0u);
  EXPECT_FALSE(reader.failed());
}

TEST(PolicyReader, StartsEachRequestAfresh) {
  // Attributes of one request never leak into the next, and a name given in
  // one request may be given again in the next.
  PolicyReader reader;
  reader.feed(request_with("sender=a@x.org\nsasl_username=u1\nx_ext=1\n") + request_with("x_ext=2\n"));
  Outcome out = read_all(reader);
  ASSERT_FALSE(out.failed) << out.error.message();
  ASSERT_EQ(out.requests.size(), 2u);
  EXPECT_EQ(out.requests[1].sender, "");
  EXPECT_FALSE(out.requests[1].authenticated());
  EXPECT_EQ(out.requests[1].unknown_attributes, 1u);
}

}  // namespace
}  // namespace sluice::policyd
