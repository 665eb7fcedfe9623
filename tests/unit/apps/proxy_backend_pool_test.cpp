// A pool's choice of backend with live state: health and ejection take backends out of
// rotation (Maglev rebuilds without them, moving only their clients), tried backends are
// skipped, each worker allows its share of max_connections, and a reload keeps the state of
// the backends it keeps.
#include "apps/proxy/backend_pool.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace flowgate::proxy {
namespace {

using std::chrono::seconds;

const Instant kT0 = Instant(seconds(1000));

PoolConfig pool_of(BalanceKind balance, const std::vector<uint32_t>& weights) {
  PoolConfig p;
  p.name = "web";
  p.balance = balance;
  for (size_t i = 0; i < weights.size(); ++i) {
    BackendConfig b;
    b.address = wire::Ipv4Address::from_octets(198, 18, 0, static_cast<uint8_t>(11 + i));
    b.port = 80;
    b.weight = weights[i];
    p.backends.push_back(b);
  }
  return p;
}

// Client address -> backend name, for `clients` addresses from 10.0.0.0.
std::map<uint32_t, std::string> owners(BackendPool& pool, uint32_t clients, Instant now) {
  std::map<uint32_t, std::string> out;
  for (uint32_t c = 0; c < clients; ++c) {
    const auto b = pool.choose(0x0A000000u + c, {}, now);
    out[c] = b ? b->name : "";
  }
  return out;
}

TEST(BackendPool, MaglevMovesOnlyTheClientsOfABackendThatGoesDownAndBringsThemBack) {
  PoolConfig config = pool_of(BalanceKind::maglev, {1, 1, 1, 1});
  config.health_check = HealthCheckConfig{seconds(1), seconds(1), 1, 1};
  BackendPool pool(config, 1, kT0);
  const auto before = owners(pool, 20000, kT0);
  Backend& third = *pool.backends()[2];
  third.health->record(false);  // fall 1: down
  ASSERT_FALSE(third.up());
  const auto during = owners(pool, 20000, kT0);
  size_t moved = 0, moved_others = 0;
  for (const auto& [client, name] : before) {
    if (during.at(client) == name) continue;
    ++moved;
    if (name != third.name) ++moved_others;
  }
  // Its clients move, and Maglev's table rebuild moves almost no one else (measured: 10 of
  // 20000 here, 0.05%).
  EXPECT_LE(moved_others, 20000u / 200) << "only the down backend's clients move";
  EXPECT_NEAR(double(moved) / 20000.0, 0.25, 0.02);
  for (const auto& [client, name] : during) EXPECT_NE(name, third.name);
  third.health->record(true);  // rise 1: up again, and its clients return
  EXPECT_EQ(owners(pool, 20000, kT0), before);
  EXPECT_EQ(pool.maglev_rebuilds(), 3u);
}

TEST(BackendPool, MaglevRetriesGoToAnotherBackendTheSameWayEachTime) {
  BackendPool pool(pool_of(BalanceKind::maglev, {1, 1, 1}), 1, kT0);
  const auto first = pool.choose(0x0A000001u, {}, kT0);
  ASSERT_TRUE(first);
  const Backend* tried[] = {first.get()};
  const auto second = pool.choose(0x0A000001u, tried, kT0);
  ASSERT_TRUE(second);
  EXPECT_NE(second, first);
  EXPECT_EQ(pool.choose(0x0A000001u, tried, kT0), second);
  const Backend* all[] = {pool.backends()[0].get(), pool.backends()[1].get(),
                          pool.backends()[2].get()};
  EXPECT_EQ(pool.choose(0x0A000001u, all, kT0), nullptr);
}

TEST(BackendPool, EjectedAndDrainedBackendsAreSkippedUntilTheirTimeIsUp) {
  PoolConfig config = pool_of(BalanceKind::round_robin, {1, 1, 0});
  config.passive_ejection = PassiveEjectionConfig{1, seconds(5)};
  BackendPool pool(config, 1, kT0);
  pool.backends()[0]->ejection->on_failure(kT0);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(pool.choose(1, {}, kT0 + seconds(4)), pool.backends()[1]);
  int first = 0;
  for (int i = 0; i < 6; ++i) first += pool.choose(1, {}, kT0 + seconds(5)) == pool.backends()[0];
  EXPECT_EQ(first, 3) << "back in rotation after the cool-down; weight 0 never chosen";
}

TEST(BackendPool, EachWorkerAllowsItsShareOfMaxConnections) {
  PoolConfig config = pool_of(BalanceKind::least_connections, {1, 1});
  config.backends[0].max_connections = 10;
  config.backends[1].max_connections = 1;
  BackendPool three_workers(config, 3, kT0);
  EXPECT_EQ(three_workers.backends()[0]->max_connections, 4u);  // ceil(10 / 3)
  EXPECT_EQ(three_workers.backends()[1]->max_connections, 1u);
  BackendPool one_worker(config, 1, kT0);
  EXPECT_EQ(one_worker.backends()[0]->max_connections, 10u);
  one_worker.backends()[0]->active = 10;
  one_worker.backends()[1]->active = 1;
  EXPECT_EQ(one_worker.choose(1, {}, kT0), nullptr) << "both full";
}

TEST(BackendPool, AReloadKeepsTheStateOfTheBackendsItKeeps) {
  PoolConfig config = pool_of(BalanceKind::round_robin, {1, 1});
  config.health_check = HealthCheckConfig{seconds(1), seconds(1), 2, 1};
  BackendPool old_pool(config, 1, kT0);
  old_pool.backends()[0]->active = 7;
  old_pool.backends()[1]->health->record(false);
  ASSERT_FALSE(old_pool.backends()[1]->up());

  PoolConfig next = pool_of(BalanceKind::round_robin, {5, 1, 1});  // weight changed, one added
  next.health_check = config.health_check;
  BackendPool new_pool(next, 1, kT0 + seconds(1), &old_pool);
  EXPECT_EQ(new_pool.backends()[0], old_pool.backends()[0]) << "the same object: same counts";
  EXPECT_EQ(new_pool.backends()[0]->active, 7u);
  EXPECT_EQ(new_pool.backends()[0]->weight, 5u);
  EXPECT_FALSE(new_pool.backends()[1]->up()) << "a down backend stays down across a reload";
  EXPECT_TRUE(new_pool.backends()[2]->up()) << "a new backend starts up";
  EXPECT_TRUE(new_pool.backends()[2]->schedule->due(kT0 + seconds(1))) << "checked at once";

  // Without health_check the verdict goes: always up.
  BackendPool unchecked(pool_of(BalanceKind::round_robin, {1, 1}), 1, kT0, &new_pool);
  EXPECT_TRUE(unchecked.backends()[1]->up());
}

}  // namespace
}  // namespace flowgate::proxy
