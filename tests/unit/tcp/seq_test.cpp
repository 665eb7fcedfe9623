#include "tcp/seq.hpp"

#include <gtest/gtest.h>

namespace flowgate::tcp {
namespace {

TEST(SeqNum, ComparesAcrossTheWrap) {
  const SeqNum before_wrap(0xfffffff0u);
  const SeqNum after_wrap(0x10u);
  EXPECT_LT(before_wrap, after_wrap);
  EXPECT_GT(after_wrap, before_wrap);
  EXPECT_EQ(after_wrap - before_wrap, 0x20);
  EXPECT_EQ(before_wrap - after_wrap, -0x20);
  EXPECT_EQ(before_wrap + 0x20u, after_wrap);
  EXPECT_LE(before_wrap, before_wrap);
  EXPECT_GE(after_wrap, after_wrap);
}

TEST(SeqNum, InWindowIsHalfOpenAndWrapSafe) {
  const SeqNum first(0xfffffffeu);
  EXPECT_TRUE(in_window(first, first, 4));
  EXPECT_TRUE(in_window(SeqNum(1), first, 4));
  EXPECT_FALSE(in_window(SeqNum(2), first, 4));
  EXPECT_FALSE(in_window(first - 1, first, 4));
  EXPECT_FALSE(in_window(first, first, 0)) << "an empty window holds nothing";
}

TEST(SeqNum, MinMax) {
  EXPECT_EQ(seq_max(SeqNum(0xffffffffu), SeqNum(3)), SeqNum(3));
  EXPECT_EQ(seq_min(SeqNum(0xffffffffu), SeqNum(3)), SeqNum(0xffffffffu));
}

}  // namespace
}  // namespace flowgate::tcp
