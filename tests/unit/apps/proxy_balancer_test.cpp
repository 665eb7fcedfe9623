// Smooth weighted round robin and weighted least connections.
#include "apps/proxy/balancer.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace flowgate::proxy {
namespace {

TEST(SmoothRoundRobin, EqualWeightsTakeTurns) {
  SmoothRoundRobin rr;
  std::vector<Candidate> c(3);
  std::string order;
  for (int i = 0; i < 6; ++i) order += static_cast<char>('a' + rr.pick(c));
  EXPECT_EQ(order, "abcabc");
}

TEST(SmoothRoundRobin, WeightsAreExactAndSpreadOut) {
  SmoothRoundRobin rr;
  std::vector<Candidate> c = {{5, 0, true}, {1, 0, true}, {1, 0, true}};
  std::string order;
  for (int i = 0; i < 7; ++i) order += static_cast<char>('a' + rr.pick(c));
  EXPECT_EQ(order, "aabacaa");  // nginx's example: not aaaaabc
  // Over many rounds each gets exactly its weight's share.
  std::vector<int> count(3, 0);
  for (int i = 0; i < 700; ++i) ++count[static_cast<size_t>(rr.pick(c))];
  EXPECT_EQ(count[0], 500);
  EXPECT_EQ(count[1], 100);
  EXPECT_EQ(count[2], 100);
}

TEST(SmoothRoundRobin, IneligibleAndZeroWeightAreSkipped) {
  SmoothRoundRobin rr;
  std::vector<Candidate> c = {{1, 0, true}, {1, 0, false}, {0, 0, true}, {1, 0, true}};
  std::vector<int> count(4, 0);
  for (int i = 0; i < 100; ++i) ++count[static_cast<size_t>(rr.pick(c))];
  EXPECT_EQ(count[0], 50);
  EXPECT_EQ(count[1], 0);
  EXPECT_EQ(count[2], 0);
  EXPECT_EQ(count[3], 50);
  std::vector<Candidate> none = {{1, 0, false}, {0, 0, true}};
  EXPECT_EQ(rr.pick(none), kNoCandidate);
}

TEST(LeastConnections, PicksTheFewestPerWeight) {
  LeastConnections lc;
  std::vector<Candidate> c = {{1, 5, true}, {1, 2, true}, {1, 9, true}};
  EXPECT_EQ(lc.pick(c), 1);
  // Weight 4 with 6 connections (1.5 each) beats weight 1 with 2.
  std::vector<Candidate> w = {{4, 6, true}, {1, 2, true}};
  EXPECT_EQ(lc.pick(w), 0);
  c[1].eligible = false;
  EXPECT_EQ(lc.pick(c), 0);
  std::vector<Candidate> none = {{1, 0, false}, {0, 0, true}};
  EXPECT_EQ(lc.pick(none), kNoCandidate);
}

TEST(LeastConnections, ConvergesToWeightedBalanceAndRotatesTies) {
  LeastConnections lc;
  std::vector<Candidate> c = {{1, 0, true}, {2, 0, true}, {1, 0, true}};
  // Connections that never end: the open counts follow the weights 1:2:1.
  for (int i = 0; i < 400; ++i) ++c[static_cast<size_t>(lc.pick(c))].active;
  EXPECT_EQ(c[0].active, 100u);
  EXPECT_EQ(c[1].active, 200u);
  EXPECT_EQ(c[2].active, 100u);
  // Equal and idle: turns, not the first one every time.
  LeastConnections ties;
  std::vector<Candidate> idle(3);
  std::vector<int> count(3, 0);
  for (int i = 0; i < 30; ++i) ++count[static_cast<size_t>(ties.pick(idle))];
  EXPECT_EQ(count, (std::vector<int>{10, 10, 10}));
}

}  // namespace
}  // namespace flowgate::proxy
