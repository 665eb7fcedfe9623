// ARP and the neighbour table through the whole stack, as packet scripts on the manual clock:
// answering requests, resolving with a held queue, retransmission and timeout, the
// anti-poisoning rules, static entries, expiry and unicast refresh, and the table's bounds.
// Every test checks both the frames on the wire and the counters that name what happened.
#include <gtest/gtest.h>

#include <set>

#include "stack/socket_api.hpp"
#include "support/harness.hpp"

namespace flowgate::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using wire::ArpOperation;
using wire::ArpRepr;
using wire::EtherType;
using wire::Ipv4Address;
using wire::MacAddress;

constexpr uint16_t kRequest = static_cast<uint16_t>(ArpOperation::request);
constexpr uint16_t kReply = static_cast<uint16_t>(ArpOperation::reply);
constexpr uint16_t kEtherArp = static_cast<uint16_t>(EtherType::arp);
constexpr uint16_t kEtherIpv4 = static_cast<uint16_t>(EtherType::ipv4);

const MacAddress kOtherMac = *MacAddress::parse("02:00:00:00:00:99");

Ipv4Address lab_ip(uint8_t last) {
  return Ipv4Address::from_octets(198, 18, 0, last);
}

// A request from the peer (or `sender`) asking who has `target`, broadcast as hosts send them.
Frame request_from(const MacAddress& sender_mac, Ipv4Address sender_ip, Ipv4Address target) {
  return arp_frame(MacAddress::broadcast(), sender_mac,
                   ArpRepr{kRequest, sender_mac, sender_ip, MacAddress::zero(), target});
}

// A reply from `sender` addressed to us.
Frame reply_from(const MacAddress& sender_mac, Ipv4Address sender_ip) {
  return arp_frame(kOurMac, sender_mac, ArpRepr{kReply, sender_mac, sender_ip, kOurMac, kOurIp});
}

sockaddr_in endpoint(Ipv4Address ip, uint16_t port) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(ip.value);
  sin.sin_port = htons(port);
  return sin;
}

// A UDP socket and a way to send one datagram from it; each datagram is one IPv4 frame.
class Sender {
 public:
  explicit Sender(StackHarness& h) : h_(h), fd_(fg_socket(h.stack, AF_INET, SOCK_DGRAM, 0)) {
    EXPECT_GE(fd_, 0);
  }
  void send(Ipv4Address to, size_t size = 16, uint8_t seed = 0) {
    auto data = pattern(size, seed);
    const sockaddr_in dst = endpoint(to, 9000);
    const ssize_t n = fg_sendto(h_.stack, fd_, data.data(), data.size(), 0,
                                reinterpret_cast<const sockaddr*>(&dst), sizeof dst);
    EXPECT_EQ(n, static_cast<ssize_t>(size));
  }

 private:
  StackHarness& h_;
  int fd_;
};

void expect_broadcast_request(StackHarness& h, Ipv4Address target,
                              std::source_location where = std::source_location::current()) {
  SCOPED_TRACE(testing::Message() << "called from line " << where.line());
  auto f = h.expect_frame(where);
  ASSERT_TRUE(f.arp.has_value());
  EXPECT_EQ(f.eth.dst, MacAddress::broadcast());
  EXPECT_EQ(f.eth.src, kOurMac);
  EXPECT_EQ(f.eth.ethertype, kEtherArp);
  EXPECT_EQ(f.arp->operation, kRequest);
  EXPECT_EQ(f.arp->sender_mac, kOurMac);
  EXPECT_EQ(f.arp->sender_ip, kOurIp);
  EXPECT_EQ(f.arp->target_mac, MacAddress::zero());
  EXPECT_EQ(f.arp->target_ip, target);
}

void expect_udp_to(StackHarness& h, const MacAddress& mac, Ipv4Address ip,
                   std::source_location where = std::source_location::current()) {
  SCOPED_TRACE(testing::Message() << "called from line " << where.line());
  auto f = h.expect_frame(where);
  EXPECT_EQ(f.eth.dst, mac);
  EXPECT_EQ(f.eth.ethertype, kEtherIpv4);
  ASSERT_TRUE(f.ip.has_value());
  EXPECT_EQ(f.ip->dst, ip);
  EXPECT_TRUE(f.udp.has_value());
}

// Resolves the peer: one datagram, the broadcast request, our answer, the held datagram.
void resolve_peer(StackHarness& h, Sender& s) {
  s.send(kPeerIp);
  h.answer_arp(kPeerIp, kPeerMac);
  expect_udp_to(h, kPeerMac, kPeerIp);
  h.expect_no_frame();
  const NeighbourEntry* e = h.stack.arp().find(kPeerIp);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->state, NeighbourState::reachable);
}

// RFC 826: a request for our address is answered to the requester, sender fields ours.
TEST(Arp, RequestForOurAddressIsAnsweredUnicast) {
  StackHarness h;
  h.receive(request_from(kPeerMac, kPeerIp, kOurIp));

  auto f = h.expect_frame();
  ASSERT_TRUE(f.arp.has_value());
  EXPECT_EQ(f.eth.dst, kPeerMac);
  EXPECT_EQ(f.eth.src, kOurMac);
  EXPECT_EQ(f.eth.ethertype, kEtherArp);
  EXPECT_EQ(f.arp->operation, kReply);
  EXPECT_EQ(f.arp->sender_mac, kOurMac);
  EXPECT_EQ(f.arp->sender_ip, kOurIp);
  EXPECT_EQ(f.arp->target_mac, kPeerMac);
  EXPECT_EQ(f.arp->target_ip, kPeerIp);
  h.expect_no_frame();

  EXPECT_EQ(h.events(Event::arp_requests_received), 1u);
  EXPECT_EQ(h.events(Event::arp_replies_sent), 1u);
  EXPECT_EQ(h.stack.counters().total_drops(), 0u);
  // Anti-poisoning: a request teaches the table nothing.
  EXPECT_EQ(h.stack.arp().find(kPeerIp), nullptr);
  EXPECT_EQ(h.stack.arp().entries(), 0u);
}

TEST(Arp, RequestForAnotherAddressIsNotAnswered) {
  StackHarness h;
  h.receive(request_from(kPeerMac, kPeerIp, lab_ip(3)));
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::arp_not_for_us), 1u);
  EXPECT_EQ(h.events(Event::arp_requests_received), 0u);
  EXPECT_EQ(h.events(Event::arp_replies_sent), 0u);
  EXPECT_EQ(h.stack.arp().find(kPeerIp), nullptr);
}

TEST(Arp, ResolutionHoldsTheDatagramUntilTheReply) {
  StackHarness h;
  Sender s(h);
  const uint64_t requests_before = h.events(Event::arp_requests_sent);

  s.send(kPeerIp);
  expect_broadcast_request(h, kPeerIp);
  h.expect_no_frame();  // the datagram is held, not sent to a guessed MAC
  const NeighbourEntry* e = h.stack.arp().find(kPeerIp);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->state, NeighbourState::incomplete);
  EXPECT_EQ(e->queue.size(), 1u);
  EXPECT_EQ(h.events(Event::arp_requests_sent), requests_before + 1);

  h.receive(reply_from(kPeerMac, kPeerIp));
  expect_udp_to(h, kPeerMac, kPeerIp);
  h.expect_no_frame();
  e = h.stack.arp().find(kPeerIp);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->state, NeighbourState::reachable);
  EXPECT_EQ(e->mac, kPeerMac);
  EXPECT_TRUE(e->queue.empty());
  EXPECT_EQ(h.stack.arp().queued_bytes(), 0u);
  EXPECT_EQ(h.events(Event::arp_replies_received), 1u);

  // Resolved: the next datagram goes straight out.
  s.send(kPeerIp);
  expect_udp_to(h, kPeerMac, kPeerIp);
  h.expect_no_frame();
  EXPECT_EQ(h.events(Event::arp_requests_sent), requests_before + 1);
  EXPECT_EQ(h.stack.counters().total_drops(), 0u);
}

TEST(Arp, UnansweredResolutionRetransmitsThenDropsTheQueue) {
  StackHarness h;
  Sender s(h);
  const Duration interval = h.stack.config().arp.retransmit_interval;
  ASSERT_EQ(h.stack.config().arp.max_requests, 3u);

  s.send(kPeerIp);
  expect_broadcast_request(h, kPeerIp);
  s.send(kPeerIp);  // queued behind the first, no second request
  s.send(kPeerIp);
  h.expect_no_frame();
  ASSERT_NE(h.stack.arp().find(kPeerIp), nullptr);
  EXPECT_EQ(h.stack.arp().find(kPeerIp)->queue.size(), 3u);

  h.advance(interval - milliseconds(1));
  h.expect_no_frame();
  h.advance(milliseconds(1));
  expect_broadcast_request(h, kPeerIp);
  h.expect_no_frame();
  h.advance(interval);
  expect_broadcast_request(h, kPeerIp);
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::arp_resolution_timeout), 0u);

  // The third request's interval runs out: the held datagrams are dropped, the entry goes.
  h.advance(interval);
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::arp_resolution_timeout), 3u);
  EXPECT_EQ(h.stack.arp().find(kPeerIp), nullptr);
  EXPECT_EQ(h.stack.arp().queued_bytes(), 0u);

  h.advance(seconds(10));
  h.expect_no_frame();
  EXPECT_EQ(h.events(Event::arp_requests_sent), 1u + 3u);  // gratuitous + three
  EXPECT_EQ(h.stack.counters().total_drops(), 3u);
}

TEST(Arp, UnsolicitedReplyIsNotLearned) {
  StackHarness h;
  h.receive(reply_from(kPeerMac, kPeerIp));
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::arp_unsolicited), 1u);
  EXPECT_EQ(h.events(Event::arp_replies_received), 0u);
  EXPECT_EQ(h.stack.arp().find(kPeerIp), nullptr);
}

TEST(Arp, PacketClaimingOurAddressIsAConflict) {
  StackHarness h;
  h.receive(arp_frame(kOurMac, kOtherMac, ArpRepr{kReply, kOtherMac, kOurIp, kOurMac, kOurIp}));
  h.receive(request_from(kOtherMac, kOurIp, kOurIp));
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::arp_address_conflict), 2u);
  EXPECT_EQ(h.stack.arp().find(kOurIp), nullptr);
  EXPECT_EQ(h.events(Event::arp_replies_sent), 0u);
}

TEST(Arp, ReplyWithGroupOrZeroSenderMacIsRejected) {
  StackHarness h;
  Sender s(h);
  s.send(kPeerIp);
  expect_broadcast_request(h, kPeerIp);

  const MacAddress bad[] = {MacAddress::broadcast(), *MacAddress::parse("01:00:5e:00:00:01"),
                            MacAddress::zero()};
  for (const MacAddress& mac : bad) {
    SCOPED_TRACE(mac.to_string());
    h.receive(arp_frame(kOurMac, kPeerMac, ArpRepr{kReply, mac, kPeerIp, kOurMac, kOurIp}));
    h.expect_no_frame();
    const NeighbourEntry* e = h.stack.arp().find(kPeerIp);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->state, NeighbourState::incomplete);
    EXPECT_EQ(e->queue.size(), 1u);
  }
  EXPECT_EQ(h.drops(DropReason::arp_bad_sender), 3u);
  EXPECT_EQ(h.events(Event::arp_replies_received), 0u);

  // The real answer still resolves it.
  h.receive(reply_from(kPeerMac, kPeerIp));
  expect_udp_to(h, kPeerMac, kPeerIp);
  EXPECT_EQ(h.stack.arp().find(kPeerIp)->mac, kPeerMac);
}

TEST(Arp, GratuitousArpFromThePeerTeachesNothing) {
  StackHarness h;
  Sender s(h);
  // RFC 5227 announcements, in both forms hosts send them.
  const Frame announce_request = request_from(kPeerMac, kPeerIp, kPeerIp);
  const Frame announce_reply =
      arp_frame(MacAddress::broadcast(), kPeerMac,
                ArpRepr{kReply, kPeerMac, kPeerIp, MacAddress::zero(), kPeerIp});
  h.receive(announce_request);
  h.receive(announce_reply);
  h.expect_no_frame();
  EXPECT_EQ(h.stack.arp().find(kPeerIp), nullptr);
  EXPECT_EQ(h.drops(DropReason::arp_gratuitous), 2u);
  EXPECT_EQ(h.stack.counters().total_drops(), 2u);

  // Not even while we are resolving that address: only an answer to us resolves it.
  s.send(kPeerIp);
  expect_broadcast_request(h, kPeerIp);
  h.receive(announce_request);
  h.receive(announce_reply);
  h.expect_no_frame();
  const NeighbourEntry* e = h.stack.arp().find(kPeerIp);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->state, NeighbourState::incomplete);
  EXPECT_EQ(e->queue.size(), 1u);
  EXPECT_EQ(h.drops(DropReason::arp_gratuitous), 4u);
  EXPECT_EQ(h.events(Event::arp_replies_received), 0u);
}

TEST(Arp, ReachableEntryIsNotOverwrittenByAnotherMac) {
  StackHarness h;
  Sender s(h);
  resolve_peer(h, s);

  h.receive(reply_from(kOtherMac, kPeerIp));
  h.receive(request_from(kOtherMac, kPeerIp, kPeerIp));  // a spoofed announcement
  EXPECT_EQ(h.drops(DropReason::arp_unsolicited), 1u);
  EXPECT_EQ(h.drops(DropReason::arp_gratuitous), 1u);
  const NeighbourEntry* e = h.stack.arp().find(kPeerIp);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->state, NeighbourState::reachable);
  EXPECT_EQ(e->mac, kPeerMac);

  s.send(kPeerIp);
  expect_udp_to(h, kPeerMac, kPeerIp);
  h.expect_no_frame();
}

TEST(Arp, StartAnnouncesOurAddress) {
  StackHarness h(lab_config(), /*start=*/false);
  h.expect_no_frame();
  h.stack.start();

  auto f = h.expect_frame();
  ASSERT_TRUE(f.arp.has_value());
  EXPECT_EQ(f.eth.dst, MacAddress::broadcast());
  EXPECT_EQ(f.eth.src, kOurMac);
  EXPECT_EQ(f.arp->operation, kRequest);
  EXPECT_EQ(f.arp->sender_mac, kOurMac);
  EXPECT_EQ(f.arp->sender_ip, kOurIp);
  EXPECT_EQ(f.arp->target_ip, kOurIp);
  EXPECT_EQ(f.arp->target_mac, MacAddress::zero());
  h.expect_no_frame();
  EXPECT_EQ(h.events(Event::arp_requests_sent), 1u);
  EXPECT_EQ(h.stack.arp().entries(), 0u);
}

TEST(Arp, StaticEntryIsUsedWithoutResolutionAndNeverChanges) {
  StackConfig config = lab_config();
  config.arp.static_entries.push_back({kPeerIp, kPeerMac});
  StackHarness h(config);
  Sender s(h);
  const uint64_t requests_before = h.events(Event::arp_requests_sent);

  s.send(kPeerIp);
  expect_udp_to(h, kPeerMac, kPeerIp);
  h.expect_no_frame();

  h.receive(reply_from(kOtherMac, kPeerIp));
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::arp_unsolicited), 1u);
  const NeighbourEntry* e = h.stack.arp().find(kPeerIp);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->state, NeighbourState::permanent);
  EXPECT_EQ(e->mac, kPeerMac);

  // Static entries neither expire nor get refreshed.
  h.advance(config.arp.reachable_time * 2);
  s.send(kPeerIp);
  expect_udp_to(h, kPeerMac, kPeerIp);
  h.expect_no_frame();
  EXPECT_EQ(h.events(Event::arp_requests_sent), requests_before);
}

TEST(Arp, EntryUsedNearExpiryIsRefreshedByUnicast) {
  StackHarness h;
  Sender s(h);
  const ArpConfig& arp = h.stack.config().arp;
  resolve_peer(h, s);
  const Instant resolved = h.clock.now();
  const Instant original_expiry = resolved + arp.reachable_time;
  ASSERT_EQ(h.stack.arp().find(kPeerIp)->expires, original_expiry);

  // Outside the refresh window: sent, no request.
  h.advance(arp.reachable_time - arp.refresh_before_expiry - seconds(1));
  s.send(kPeerIp);
  expect_udp_to(h, kPeerMac, kPeerIp);
  h.expect_no_frame();

  // Inside it: sent, and a unicast request to the MAC we hold.
  h.advance(seconds(5));
  const uint64_t requests_before = h.events(Event::arp_requests_sent);
  s.send(kPeerIp);
  expect_udp_to(h, kPeerMac, kPeerIp);
  auto refresh = h.expect_frame();
  ASSERT_TRUE(refresh.arp.has_value());
  EXPECT_EQ(refresh.eth.dst, kPeerMac);
  EXPECT_EQ(refresh.arp->operation, kRequest);
  EXPECT_EQ(refresh.arp->sender_mac, kOurMac);
  EXPECT_EQ(refresh.arp->sender_ip, kOurIp);
  EXPECT_EQ(refresh.arp->target_ip, kPeerIp);
  h.expect_no_frame();
  EXPECT_EQ(h.events(Event::arp_requests_sent), requests_before + 1);
  EXPECT_EQ(h.stack.arp().find(kPeerIp)->state, NeighbourState::refreshing);

  // The answer extends the entry from now.
  const Instant answered = h.clock.now();
  h.receive(reply_from(kPeerMac, kPeerIp));
  h.expect_no_frame();
  const NeighbourEntry* e = h.stack.arp().find(kPeerIp);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->state, NeighbourState::reachable);
  EXPECT_EQ(e->expires, answered + arp.reachable_time);

  // Past the original expiry the entry still works, with no new resolution.
  h.clock.set(original_expiry);
  h.advance(seconds(1));
  s.send(kPeerIp);
  expect_udp_to(h, kPeerMac, kPeerIp);
  h.expect_no_frame();
  EXPECT_EQ(h.events(Event::arp_requests_sent), requests_before + 1);
  EXPECT_EQ(h.stack.counters().total_drops(), 0u);
}

TEST(Arp, UnansweredRefreshLetsTheEntryExpire) {
  StackHarness h;
  Sender s(h);
  const ArpConfig& arp = h.stack.config().arp;
  resolve_peer(h, s);
  const Instant expiry = h.clock.now() + arp.reachable_time;

  h.advance(arp.reachable_time - arp.refresh_before_expiry + seconds(2));
  s.send(kPeerIp);
  expect_udp_to(h, kPeerMac, kPeerIp);
  for (uint32_t i = 0; i < arp.max_requests; ++i) {
    SCOPED_TRACE(i);
    if (i > 0) h.advance(arp.retransmit_interval);
    auto f = h.expect_frame();
    ASSERT_TRUE(f.arp.has_value());
    EXPECT_EQ(f.eth.dst, kPeerMac);
    EXPECT_EQ(f.arp->target_ip, kPeerIp);
    h.expect_no_frame();
  }
  h.advance(arp.retransmit_interval);
  h.expect_no_frame();

  // Still used until it expires.
  h.clock.set(expiry - milliseconds(1));
  s.send(kPeerIp);
  expect_udp_to(h, kPeerMac, kPeerIp);
  h.expect_no_frame();

  h.advance(milliseconds(1));
  h.expect_no_frame();
  EXPECT_EQ(h.stack.arp().find(kPeerIp), nullptr);

  // A fresh resolution, broadcast.
  s.send(kPeerIp);
  expect_broadcast_request(h, kPeerIp);
  h.expect_no_frame();
}

TEST(Arp, IdleEntryExpiresAtReachableTime) {
  StackHarness h;
  Sender s(h);
  const ArpConfig& arp = h.stack.config().arp;
  resolve_peer(h, s);

  h.advance(arp.reachable_time - milliseconds(1));
  ASSERT_NE(h.stack.arp().find(kPeerIp), nullptr);
  h.advance(milliseconds(1));
  EXPECT_EQ(h.stack.arp().find(kPeerIp), nullptr);
  h.expect_no_frame();

  s.send(kPeerIp);
  expect_broadcast_request(h, kPeerIp);
  h.expect_no_frame();
}

TEST(Arp, QueuePerNeighbourIsBounded) {
  StackConfig config = lab_config();
  config.arp.max_queued_per_neighbour = 2;
  StackHarness h(config);
  Sender s(h);

  s.send(kPeerIp, 16, 1);
  s.send(kPeerIp, 16, 2);
  s.send(kPeerIp, 16, 3);  // over the limit: dropped, yet sendto succeeds as on Linux
  EXPECT_EQ(h.drops(DropReason::arp_queue_full), 1u);
  EXPECT_EQ(h.stack.arp().find(kPeerIp)->queue.size(), 2u);

  h.answer_arp(kPeerIp, kPeerMac);
  expect_udp_to(h, kPeerMac, kPeerIp);
  expect_udp_to(h, kPeerMac, kPeerIp);
  h.expect_no_frame();
}

// With the default limits, a burst as large as a listener's answer to a SYN burst from a new
// client (1000 SYN-ACK-sized datagrams) waits for the resolution whole: none is dropped.
TEST(Arp, DefaultQueueHoldsABurstToANewNeighbour) {
  StackHarness h;
  Sender s(h);
  constexpr int kBurst = 1000;
  for (int k = 0; k < kBurst; ++k) s.send(kPeerIp, 20, static_cast<uint8_t>(k));
  EXPECT_EQ(h.drops(DropReason::arp_queue_full), 0u);
  h.answer_arp(kPeerIp, kPeerMac);
  for (int k = 0; k < kBurst; ++k) expect_udp_to(h, kPeerMac, kPeerIp);
  h.expect_no_frame();
}

TEST(Arp, TableFullOfPendingResolutionsRefusesNewOnes) {
  StackConfig config = lab_config();
  config.arp.max_entries = 2;
  StackHarness h(config);
  Sender s(h);

  s.send(lab_ip(2));
  s.send(lab_ip(3));
  expect_broadcast_request(h, lab_ip(2));
  expect_broadcast_request(h, lab_ip(3));
  s.send(lab_ip(4));
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::arp_table_full), 1u);
  EXPECT_EQ(h.stack.arp().entries(), 2u);
  EXPECT_EQ(h.stack.arp().find(lab_ip(4)), nullptr);
}

TEST(Arp, RequestsAreRateLimited) {
  StackConfig config = lab_config();
  config.arp.requests_per_second = 1;
  config.arp.request_burst = 1;
  config.arp.gratuitous_on_start = false;
  StackHarness h(config);
  Sender s(h);

  s.send(lab_ip(2));
  s.send(lab_ip(3));
  s.send(lab_ip(4));
  expect_broadcast_request(h, lab_ip(2));
  h.expect_no_frame();
  EXPECT_EQ(h.events(Event::arp_requests_rate_limited), 2u);
  EXPECT_EQ(h.events(Event::arp_requests_sent), 1u);

  // One token a second: never more than one request per second, and the held resolutions
  // get their first request as tokens come.
  std::set<uint32_t> asked;
  for (int second = 1; second <= 8; ++second) {
    SCOPED_TRACE(second);
    h.advance(milliseconds(999));
    h.expect_no_frame();
    h.advance(milliseconds(1));
    ASSERT_EQ(h.pending_frames(), 1u);
    auto f = h.expect_frame();
    ASSERT_TRUE(f.arp.has_value());
    EXPECT_EQ(f.eth.dst, MacAddress::broadcast());
    asked.insert(f.arp->target_ip.value);
  }
  EXPECT_TRUE(asked.contains(lab_ip(3).value));
  EXPECT_TRUE(asked.contains(lab_ip(4).value));
  EXPECT_EQ(h.events(Event::arp_requests_sent), 9u);
  EXPECT_GT(h.events(Event::arp_requests_rate_limited), 2u);
}

// ARP payloads built by hand: the checked view must reject them before anything is read.
Frame raw_arp_frame(std::vector<std::byte> payload) {
  return ethernet_frame({kOurMac, kPeerMac, std::nullopt, kEtherArp}, payload);
}

std::vector<std::byte> reply_payload() {
  std::vector<std::byte> p(ArpRepr::buffer_len());
  ArpRepr{kReply, kPeerMac, kPeerIp, kOurMac, kOurIp}.emit(p);
  return p;
}

TEST(Arp, TruncatedPacketIsDropped) {
  StackHarness h;
  auto p = reply_payload();
  p.resize(ArpRepr::buffer_len() - 1);
  h.receive(raw_arp_frame(p));
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::arp_truncated), 1u);
  EXPECT_EQ(h.stack.counters().total_drops(), 1u);
}

TEST(Arp, NonEthernetOrNonIpv4IsUnsupported) {
  StackHarness h;
  auto ieee802 = reply_payload();
  wire::store_be16(ieee802, wire::ArpReader::kHtypeOffset, 6);
  auto ipv6 = reply_payload();
  wire::store_be16(ipv6, wire::ArpReader::kPtypeOffset, 0x86dd);
  auto long_hw = reply_payload();
  wire::store_u8(long_hw, wire::ArpReader::kHlenOffset, 8);
  h.receive(raw_arp_frame(ieee802));
  h.receive(raw_arp_frame(ipv6));
  h.receive(raw_arp_frame(long_hw));
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::arp_unsupported), 3u);
  EXPECT_EQ(h.stack.counters().total_drops(), 3u);
}

TEST(Arp, UnknownOperationIsDropped) {
  StackHarness h;
  // 3 and 4 are RARP (RFC 903), which we do not speak; a "request" for us with them gets no
  // reply.
  h.receive(arp_frame(kOurMac, kPeerMac, ArpRepr{3, kPeerMac, kPeerIp, kOurMac, kOurIp}));
  h.receive(arp_frame(kOurMac, kPeerMac, ArpRepr{4, kPeerMac, kPeerIp, kOurMac, kOurIp}));
  h.expect_no_frame();
  EXPECT_EQ(h.drops(DropReason::arp_unknown_operation), 2u);
  EXPECT_EQ(h.stack.counters().total_drops(), 2u);
  EXPECT_EQ(h.stack.arp().find(kPeerIp), nullptr);
}

// The neighbour gauge follows every insertion and removal; a failed resolution counts once,
// however many datagrams waited for it (each of those is a drop).
TEST(Arp, EntriesGaugeAndFailedResolutionsFollowTheTable) {
  StackConfig config = lab_config();
  config.arp.static_entries.push_back({lab_ip(9), kOtherMac});
  StackHarness h(config);
  Sender s(h);
  const auto entries = [&] { return h.stack.counters()[StackGauge::arp_entries]; };
  EXPECT_EQ(entries(), 1u);  // the static entry, installed at start

  s.send(kPeerIp);
  s.send(kPeerIp);
  expect_broadcast_request(h, kPeerIp);
  EXPECT_EQ(entries(), 2u);
  s.send(lab_ip(3));
  s.send(lab_ip(3));
  expect_broadcast_request(h, lab_ip(3));
  EXPECT_EQ(entries(), 3u);
  EXPECT_EQ(entries(), h.stack.arp().entries());

  h.receive(reply_from(kPeerMac, kPeerIp));  // resolved: still one entry
  expect_udp_to(h, kPeerMac, kPeerIp);
  expect_udp_to(h, kPeerMac, kPeerIp);
  EXPECT_EQ(entries(), 3u);

  // lab_ip(3) never answers: its two datagrams are dropped, one resolution failed.
  const Duration interval = h.stack.config().arp.retransmit_interval;
  for (uint32_t i = 1; i < h.stack.config().arp.max_requests; ++i) {
    h.advance(interval);
    expect_broadcast_request(h, lab_ip(3));
  }
  h.advance(interval);
  EXPECT_EQ(h.events(Event::arp_resolutions_failed), 1u);
  EXPECT_EQ(h.drops(DropReason::arp_resolution_timeout), 2u);
  EXPECT_EQ(entries(), 2u);

  // The peer's entry expires unused: gone from the gauge, and no failure (nothing needed it).
  h.advance(h.stack.config().arp.reachable_time);
  h.expect_no_frame();
  EXPECT_EQ(h.stack.arp().find(kPeerIp), nullptr);
  EXPECT_EQ(entries(), 1u);
  EXPECT_EQ(h.events(Event::arp_resolutions_failed), 1u);
}

TEST(Arp, EntriesGaugeCountsAnEvictionAndItsReplacementAsOne) {
  StackConfig config = lab_config();
  config.arp.max_entries = 1;
  StackHarness h(config);
  Sender s(h);
  s.send(kPeerIp);
  h.answer_arp(kPeerIp, kPeerMac);
  expect_udp_to(h, kPeerMac, kPeerIp);
  EXPECT_EQ(h.stack.counters()[StackGauge::arp_entries], 1u);
  s.send(lab_ip(3));  // the resolved entry makes room for the new resolution
  expect_broadcast_request(h, lab_ip(3));
  EXPECT_EQ(h.stack.arp().find(kPeerIp), nullptr);
  EXPECT_EQ(h.stack.counters()[StackGauge::arp_entries], 1u);
}

}  // namespace
}  // namespace flowgate::test
