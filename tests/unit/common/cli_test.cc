#include "common/cli.h"

#include <gtest/gtest.h>

#include <vector>

namespace sluice {
namespace {

Result<CommonOptions> parse(std::vector<std::string_view> args) { return parse_common_options(args); }

TEST(CommonOptions, ReadsSharedFlags) {
  auto r = parse({"-c", "/tmp/s.conf", "-n", "-f", "-v"});
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(r->config_path, "/tmp/s.conf");
  EXPECT_TRUE(r->check_config);
  EXPECT_TRUE(r->foreground);
  EXPECT_TRUE(r->verbose);
  EXPECT_TRUE(r->operands.empty());
}

TEST(CommonOptions, AcceptsLongAndAttachedForms) {
  EXPECT_EQ(parse({"--config=/a.conf"})->config_path, "/a.conf");
  EXPECT_EQ(parse({"--config", "/b.conf"})->config_path, "/b.conf");
  EXPECT_EQ(parse({"-c/c.conf"})->config_path, "/c.conf");
  EXPECT_TRUE(parse({"--check-config"})->check_config);
  EXPECT_TRUE(parse({"--help"})->help);
  EXPECT_TRUE(parse({"-V"})->version);
}

// A subcommand's own options must reach the subcommand untouched.
TEST(CommonOptions, StopsAtTheFirstOperand) {
  auto r = parse({"-c", "x.conf", "status", "-n", "--json"});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->check_config);
  EXPECT_EQ(r->operands, (std::vector<std::string>{"status", "-n", "--json"}));
  auto dashed = parse({"--", "-weird"});
  EXPECT_EQ(dashed->operands, (std::vector<std::string>{"-weird"}));
}

TEST(CommonOptions, RejectsUnknownOptionsAndMissingValues) {
  EXPECT_EQ(parse({"-x"}).error().detail, "unknown option -x (try --help)");
  EXPECT_EQ(parse({"-c"}).error().detail, "option -c needs a value");
  EXPECT_EQ(parse({"--config="}).error().detail, "option -c needs a file name");
}

TEST(CommonOptions, FallsBackToEnvironmentThenSysconfdir) {
  setenv("SLUICE_CONFIG", "/env/sluice.conf", 1);
  EXPECT_EQ(parse({})->config_path, "/env/sluice.conf");
  unsetenv("SLUICE_CONFIG");
  EXPECT_EQ(parse({})->config_path, std::string(SLUICE_SYSCONFDIR) + "/sluice/sluice.conf");
}

}  // namespace
}  // namespace sluice
