#include "stack/counters.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace flowgate {
namespace {

TEST(Counters, EveryDropReasonHasAUniqueNameAndHelp) {
  std::set<std::string> names;
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    auto r = static_cast<DropReason>(i);
    EXPECT_FALSE(name(r).empty());
    EXPECT_FALSE(help(r).empty());
    EXPECT_TRUE(names.insert(std::string(name(r))).second) << name(r);
  }
  EXPECT_EQ(name(DropReason::ipv4_bad_checksum), "ipv4_bad_checksum");
  EXPECT_EQ(name(Event::frames_received), "frames_received");
}

TEST(Counters, DropIncrementsOnlyItsReason) {
  StackCounters c;
  c.drop(DropReason::udp_bad_checksum);
  c.drop(DropReason::udp_bad_checksum);
  EXPECT_EQ(c[DropReason::udp_bad_checksum], 2u);
  EXPECT_EQ(c.total_drops(), 2u);
}

}  // namespace
}  // namespace flowgate
