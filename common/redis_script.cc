#include "common/redis_script.h"

#include <openssl/evp.h>

#include <cstdlib>
#include <utility>
#include <vector>

namespace sluice {

std::string sha1_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha1(), nullptr) != 1 || len != 20) {
    std::abort();  // SHA1 is built into every libcrypto: failure is a broken invariant
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

RedisScript::RedisScript(std::string name, std::string source)
    : name_(std::move(name)), source_(std::move(source)), sha1_(sha1_hex(source_)) {}

Result<RedisReplyPtr> RedisScript::load_reply(RedisConn& conn) const {
  Result<RedisReplyPtr> reply = conn.command({"SCRIPT", "LOAD", source_});
  if (!reply || !reply_error(**reply).empty()) return reply;
  Result<std::string_view> sha = reply_string(**reply);
  if (!sha || *sha != sha1_) {
    return make_error(Errc::kProtocol, "redis " + conn.endpoint() + ": SCRIPT LOAD of " + name_ + " answered " +
                                           reply_describe(**reply) + ", want \"" + sha1_ + "\"");
  }
  return reply;
}

Status RedisScript::load(RedisConn& conn) const {
  Result<RedisReplyPtr> reply = load_reply(conn);
  if (!reply) return std::move(reply).error();
  if (const std::string_view err = reply_error(**reply); !err.empty()) {
    return make_error(Errc::kInternal,
                      "redis " + conn.endpoint() + " refused script " + name_ + ": " + reply_describe(**reply));
  }
  return {};
}

Result<RedisReplyPtr> RedisScript::eval(RedisConn& conn, std::span<const std::string> keys,
                                        std::span<const std::string> args) const {
  const std::string numkeys = std::to_string(keys.size());
  std::vector<std::string_view> argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.push_back("EVALSHA");
  argv.push_back(sha1_);
  argv.push_back(numkeys);
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());

  Result<RedisReplyPtr> reply = conn.command(argv);
  if (!reply || !reply_error_is(**reply, "NOSCRIPT")) return reply;

  Result<RedisReplyPtr> loaded = load_reply(conn);
  if (!loaded || !reply_error(**loaded).empty()) return loaded;
  return conn.command(argv);
}

}  // namespace sluice
