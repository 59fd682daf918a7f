// Tests of partition and site-RTT configuration lines.
#include "scheduler/partition_config.h"

#include <gtest/gtest.h>

namespace gm::sched {
namespace {

TEST(PartitionConfigTest, ParsesEveryKey) {
  auto p = ParsePartition(
      "name=gpu default=yes gpu-models=H100,A100 regions=eu features=ib nodes=node[1-3] "
      "min-trust=2 default-time=30 max-time=1-00:00:00");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->name, "gpu");
  EXPECT_TRUE(p->is_default);
  EXPECT_EQ(p->gpu_models, (std::set<std::string>{"A100", "H100"}));
  EXPECT_EQ(p->node_names, (std::set<std::string>{"node1", "node2", "node3"}));
  EXPECT_EQ(p->min_trust, 2);
  EXPECT_EQ(p->default_time_s, 1800);
  EXPECT_EQ(p->max_time_s, 86400);
}

TEST(PartitionConfigTest, ErrorsNameTheKey) {
  for (const char* bad : {"default=yes", "name=a colour=blue", "name=a min-trust=5", "name=a max-time=UNLIMITED",
                          "name=a default-time=2:00:00 max-time=1:00:00", "name=a nodes=n[3-1]", "name=a junk"}) {
    auto p = ParsePartition(bad);
    EXPECT_FALSE(p.ok()) << bad;
  }
  EXPECT_NE(ParsePartition("name=a colour=blue").status().message().find("colour"), std::string::npos);
}

TEST(PartitionConfigTest, SiteRtt) {
  auto r = ParseSiteRtt("fra1,fra2,1.5");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<0>(*r), "fra1");
  EXPECT_DOUBLE_EQ(std::get<2>(*r), 1.5);
  EXPECT_FALSE(ParseSiteRtt("fra1,fra2").ok());
  EXPECT_FALSE(ParseSiteRtt("fra1,fra2,-3").ok());
}

}  // namespace
}  // namespace gm::sched
