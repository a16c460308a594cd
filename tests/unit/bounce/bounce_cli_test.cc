#include "bounce/bounce_cli.h"

#include <gtest/gtest.h>

#include <vector>

namespace sluice::bounce {
namespace {

Result<BounceOptions> parse(std::vector<std::string_view> args) { return parse_bounce_args(args); }

TEST(BounceCli, TakesPipeArguments) {
  auto got = parse({"-c", "/etc/sluice.conf", "--recipient", "bounce+x@verp.example", "--queue-id=4XyZ", "-f"});
  ASSERT_TRUE(got.ok()) << got.error().detail;
  EXPECT_EQ(got->common.config_path, "/etc/sluice.conf");
  EXPECT_TRUE(got->common.foreground);
  EXPECT_EQ(got->recipient, "bounce+x@verp.example");
  EXPECT_EQ(got->queue_id, "4XyZ");
  got = parse({"--recipient=a@b.example"});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->recipient, "a@b.example");
  EXPECT_FALSE(got->common.config_path.empty()) << "the default config path";
}

TEST(BounceCli, RefusesBadArguments) {
  EXPECT_FALSE(parse({"--recipient"}).ok());
  EXPECT_FALSE(parse({"--bogus"}).ok());
  EXPECT_FALSE(parse({"operand"}).ok());
  const std::string long_value(2000, 'a');
  EXPECT_FALSE(parse({"--recipient", long_value}).ok());
}

TEST(BounceCli, SharedOptions) {
  auto got = parse({"-n", "-v"});
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->common.check_config);
  EXPECT_TRUE(got->common.verbose);
  EXPECT_TRUE(parse({"-h"})->common.help);
  EXPECT_TRUE(parse({"-V"})->common.version);
}

}  // namespace
}  // namespace sluice::bounce
