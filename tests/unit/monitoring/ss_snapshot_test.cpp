// The connection snapshot behind `flowgate ss`: a stack with connections in several states
// (two stacks back to back on a manual clock), its snapshot written into a heap area as the
// worker writes it into the segment, each record compared with TCP_INFO; truncation when
// more than fit; the request/done protocol and its seqlock; the output lines.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netdb.h>
#include <netinet/tcp.h>

#include <cstring>
#include <map>
#include <new>

#include "monitoring/connection_snapshot.hpp"
#include "stack/socket_api.hpp"
#include "support/harness.hpp"

namespace flowgate::test {
namespace {

using tcp::TcpState;

// Zeroed, cache-line-aligned memory standing in for a worker's area of the segment.
class HeapArea {
 public:
  explicit HeapArea(size_t bytes)
      : bytes_(static_cast<std::byte*>(::operator new (bytes, std::align_val_t{64}))),
        size_(bytes) {
    std::memset(bytes_, 0, size_);
  }
  HeapArea(const HeapArea&) = delete;
  HeapArea& operator=(const HeapArea&) = delete;
  ~HeapArea() { ::operator delete (bytes_, std::align_val_t{64}); }
  std::span<std::byte> bytes() { return {bytes_, size_}; }
  ConnectionSnapshotHeader& header() {
    return *reinterpret_cast<ConnectionSnapshotHeader*>(bytes_);
  }

 private:
  std::byte* bytes_;
  size_t size_;
};

size_t area_for(uint32_t records) {
  return kSnapshotRecordsOffset + records * sizeof(ConnectionRecord);
}

StackConfig server_config() {
  StackConfig c = lab_config();
  c.secret_key = std::array<uint8_t, 16>{1, 2, 3};
  return c;
}

StackConfig client_config() {
  StackConfig c = lab_config();
  c.mac = kPeerMac;
  c.address = {kPeerIp, 24};
  c.first_ip_id = 30000;
  c.secret_key = std::array<uint8_t, 16>{4, 5, 6};
  return c;
}

sockaddr_in endpoint(wire::Ipv4Address ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(ip.value);
  a.sin_port = htons(port);
  return a;
}

// A server (stack a, 198.18.0.1) listening on port 80 and a client (stack b) opening
// connections to it, each brought to a chosen state.
struct Lab {
  static constexpr uint16_t kPort = 80;
  static constexpr int kBacklog = 16;

  BackToBack net{server_config(), client_config()};
  int listener = -1;
  std::map<uint16_t, int> server_fd;  // by the client's port

  Stack& server() { return net.a; }
  Stack& client() { return net.b; }

  Lab() {
    net.run();
    listener = fg_socket(server(), AF_INET, SOCK_STREAM, 0);
    auto local = endpoint(wire::Ipv4Address::any(), kPort);
    EXPECT_EQ(fg_bind(server(), listener, reinterpret_cast<sockaddr*>(&local), sizeof local), 0);
    EXPECT_EQ(fg_listen(server(), listener, kBacklog), 0);
  }

  // A new ESTABLISHED connection; accepted by the server unless `accept` is false. Returns
  // the client's descriptor and sets `port` to the client's port.
  int connect(uint16_t* port, bool accept = true) {
    const int fd = fg_socket(client(), AF_INET, SOCK_STREAM, 0);
    auto remote = endpoint(kOurIp, kPort);
    EXPECT_EQ(fg_connect(client(), fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote), -1);
    net.run();
    sockaddr_in mine{};
    socklen_t len = sizeof mine;
    EXPECT_EQ(fg_getsockname(client(), fd, reinterpret_cast<sockaddr*>(&mine), &len), 0);
    *port = ntohs(mine.sin_port);
    if (accept) {
      sockaddr_in peer{};
      len = sizeof peer;
      const int s = fg_accept(server(), listener, reinterpret_cast<sockaddr*>(&peer), &len);
      EXPECT_GE(s, 0);
      EXPECT_EQ(ntohs(peer.sin_port), *port);
      server_fd[*port] = s;
    }
    return fd;
  }

  tcp::ConnectionInfo tcp_info(int fd) {
    tcp::ConnectionInfo info;
    socklen_t len = sizeof info;
    EXPECT_EQ(fg_getsockopt(server(), fd, IPPROTO_TCP, TCP_INFO, &info, &len), 0);
    return info;
  }

  tcp::FourTuple tuple(uint16_t client_port) const { return {kOurIp, kPort, kPeerIp, client_port}; }
};

// Every field of a record against the TCP_INFO it was made from.
void expect_matches(const ConnectionRecord& r, const tcp::ConnectionInfo& i) {
  EXPECT_EQ(r.tcp_state(), i.state);
  EXPECT_EQ(r.smss, i.smss);
  EXPECT_EQ(r.rcv_mss, i.rcv_mss);
  EXPECT_EQ(r.cwnd, i.cwnd);
  EXPECT_EQ(r.ssthresh, i.ssthresh);
  ASSERT_TRUE(i.srtt.has_value());
  EXPECT_EQ(r.srtt_us, std::chrono::duration_cast<std::chrono::microseconds>(*i.srtt).count());
  EXPECT_EQ(r.rttvar_us, std::chrono::duration_cast<std::chrono::microseconds>(i.rttvar).count());
  EXPECT_EQ(r.rto_us, std::chrono::duration_cast<std::chrono::microseconds>(i.rto).count());
  EXPECT_EQ(r.retransmits, i.retransmits);
  EXPECT_EQ(r.snd_wscale, i.snd_wscale);
  EXPECT_EQ(r.rcv_wscale, i.rcv_wscale);
  EXPECT_EQ(r.has(ConnectionRecord::kTimestamps), i.timestamps);
  EXPECT_EQ(r.has(ConnectionRecord::kSack), i.sack);
  EXPECT_EQ(r.has(ConnectionRecord::kEcn), i.ecn);
  EXPECT_EQ(r.bytes_acked, i.bytes_acked);
  EXPECT_EQ(r.bytes_in_flight, i.bytes_in_flight);
  EXPECT_EQ(r.bytes_sendable, i.bytes_sendable);
  EXPECT_EQ(r.bytes_not_sendable, i.bytes_not_sendable);
  EXPECT_EQ(r.snd_wnd, i.snd_wnd);
  EXPECT_EQ(r.bytes_received, i.bytes_received);
  EXPECT_EQ(r.bytes_unread, i.bytes_unread);
  EXPECT_EQ(r.rcv_wnd, i.rcv_wnd);
  EXPECT_EQ(r.bytes_out_of_order, i.bytes_out_of_order);
}

const ConnectionRecord* find(const ConnectionSnapshot& s, uint16_t remote_port, TcpState state) {
  for (const ConnectionRecord& r : s.records) {
    if (r.remote_port == remote_port && r.tcp_state() == state) return &r;
  }
  return nullptr;
}

// The states of the lecture on one server: the fixture every snapshot test starts from.
struct States : Lab {
  uint16_t idle = 0, unread = 0, blocked = 0, half_closed = 0, closed = 0, queued = 0;
  int blocked_client = -1;

  States() {
    connect(&idle);
    // 1000 bytes the server does not read: its Recv-Q.
    const int u = connect(&unread);
    const auto request = pattern(1000, 3);
    EXPECT_EQ(fg_send(client(), u, request.data(), request.size(), 0), 1000);
    net.run();
    // The server sends more than the client reads: its window closes, data waits.
    blocked_client = connect(&blocked);
    const auto bulk = pattern(600 * 1024, 5);
    size_t sent = 0;
    for (int i = 0; i < 50; ++i) {
      const ssize_t n =
          fg_send(server(), server_fd[blocked], bulk.data() + sent, bulk.size() - sent, 0);
      if (n > 0) sent += static_cast<size_t>(n);
      net.run();
      net.advance(std::chrono::milliseconds(1));
    }
    // The client shuts its side: the server is in CLOSE-WAIT.
    const int h = connect(&half_closed);
    EXPECT_EQ(fg_shutdown(client(), h, SHUT_WR), 0);
    net.run();
    // The server closes first, then the client: the server keeps a TIME-WAIT record.
    const int c = connect(&closed);
    EXPECT_EQ(fg_close(server(), server_fd[closed]), 0);
    net.run();
    EXPECT_EQ(fg_close(client(), c), 0);
    net.run();
    server_fd.erase(closed);
    // Established and waiting in the accept queue.
    connect(&queued, /*accept=*/false);
    net.run();
  }
};

TEST(SsSnapshot, RecordsOfEveryStateMatchTcpInfo) {
  States lab;
  HeapArea memory(shm::kConnectionSnapshotBytes);
  ConnectionSnapshotArea area(memory.bytes());
  EXPECT_EQ(area.capacity(), kConnectionSnapshotCapacity);

  const uint32_t ticket = area.request();
  ASSERT_TRUE(area.requested());
  EXPECT_FALSE(area.read(ticket).has_value()) << "no answer yet";
  const Instant now = lab.net.clock.now();
  EXPECT_EQ(area.answer(lab.server().tcp(), now, 4242), 7u);
  EXPECT_FALSE(area.requested());
  const auto snapshot = area.read(ticket);
  ASSERT_TRUE(snapshot.has_value());

  const ConnectionSnapshotSummary& s = snapshot->summary;
  EXPECT_EQ(s.format, kSnapshotFormat);
  EXPECT_EQ(s.pid, 4242);
  EXPECT_EQ(s.listeners, 1u);
  EXPECT_EQ(s.connections, 5u);
  EXPECT_EQ(s.time_wait, 1u);
  EXPECT_EQ(s.total, 7u);
  EXPECT_EQ(s.records, 7u);
  EXPECT_EQ(s.taken_ns, static_cast<uint64_t>(now.time_since_epoch().count()));
  ASSERT_EQ(snapshot->records.size(), 7u);

  // The listener comes first: its queues as ss shows them (Recv-Q accept queue, Send-Q backlog).
  const ConnectionRecord& l = snapshot->records.front();
  EXPECT_EQ(l.tcp_state(), TcpState::listen);
  EXPECT_TRUE(l.has(ConnectionRecord::kListener));
  EXPECT_EQ(l.local_port, Lab::kPort);
  EXPECT_EQ(l.accept_queue, 1u);
  EXPECT_EQ(l.backlog, static_cast<uint32_t>(Lab::kBacklog));
  EXPECT_EQ(l.receive_queue(), 1u);
  EXPECT_EQ(l.send_queue(), static_cast<uint64_t>(Lab::kBacklog));

  // Accepted connections: each record is its TCP_INFO.
  const std::pair<uint16_t, TcpState> accepted[] = {{lab.idle, TcpState::established},
                                                    {lab.unread, TcpState::established},
                                                    {lab.blocked, TcpState::established},
                                                    {lab.half_closed, TcpState::close_wait}};
  for (const auto& [port, state] : accepted) {
    SCOPED_TRACE("client port " + std::to_string(port));
    const ConnectionRecord* r = find(*snapshot, port, state);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->local_ip, kOurIp.value);
    EXPECT_EQ(r->local_port, Lab::kPort);
    EXPECT_EQ(r->remote_ip, kPeerIp.value);
    EXPECT_TRUE(r->has(ConnectionRecord::kPassive));
    EXPECT_FALSE(r->has(ConnectionRecord::kTimeWaitRecord));
    expect_matches(*r, lab.tcp_info(lab.server_fd[port]));
  }
  // The queues the scenario built.
  EXPECT_EQ(find(*snapshot, lab.unread, TcpState::established)->receive_queue(), 1000u);
  const ConnectionRecord* blocked = find(*snapshot, lab.blocked, TcpState::established);
  EXPECT_GT(blocked->send_queue(), 0u);
  EXPECT_GT(blocked->bytes_acked, 0u);
  EXPECT_GT(blocked->bytes_not_sendable, 0u) << "beyond the client's closed window";
  EXPECT_LT(blocked->snd_wnd, blocked->smss) << "the client's window is (nearly) closed";
  // Not accepted yet: the same record as the connection's own info.
  const ConnectionRecord* queued = find(*snapshot, lab.queued, TcpState::established);
  ASSERT_NE(queued, nullptr);
  expect_matches(*queued, lab.server().tcp().find(lab.tuple(lab.queued))->info());
  // TIME-WAIT: the compact record, last, with its time left (2 MSL = 60 s, none elapsed).
  const ConnectionRecord& tw = snapshot->records.back();
  EXPECT_EQ(tw.tcp_state(), TcpState::time_wait);
  EXPECT_TRUE(tw.has(ConnectionRecord::kTimeWaitRecord));
  EXPECT_EQ(tw.remote_port, lab.closed);
  EXPECT_EQ(tw.local_port, Lab::kPort);
  EXPECT_LE(tw.time_wait_left_ms, 60'000u);
  EXPECT_GT(tw.time_wait_left_ms, 59'000u);
}

TEST(SsSnapshot, TheClientSideHasItsOwnStates) {
  States lab;
  // An active open waiting for ARP: SYN-SENT with no RTT sample yet.
  const int fd = fg_socket(lab.client(), AF_INET, SOCK_STREAM, 0);
  auto nobody = endpoint(wire::Ipv4Address::from_octets(198, 18, 0, 99), 80);
  EXPECT_EQ(fg_connect(lab.client(), fd, reinterpret_cast<sockaddr*>(&nobody), sizeof nobody), -1);
  HeapArea memory(area_for(16));
  ConnectionSnapshotArea area(memory.bytes());
  const uint32_t ticket = area.request();
  area.answer(lab.client().tcp(), lab.net.clock.now(), 1);
  const auto snapshot = area.read(ticket);
  ASSERT_TRUE(snapshot.has_value());
  EXPECT_EQ(snapshot->summary.listeners, 0u);
  const ConnectionRecord* syn_sent = nullptr;
  for (const ConnectionRecord& r : snapshot->records) {
    if (r.tcp_state() == TcpState::syn_sent) syn_sent = &r;
    EXPECT_FALSE(r.has(ConnectionRecord::kPassive));
  }
  ASSERT_NE(syn_sent, nullptr);
  EXPECT_EQ(syn_sent->srtt_us, ConnectionRecord::kNoRtt);
  EXPECT_EQ(syn_sent->remote_port, 80);
  EXPECT_NE(find(*snapshot, Lab::kPort, TcpState::fin_wait_2), nullptr) << "the half-closed one";
  // The connection the server closed first: CLOSE-WAIT, then LAST-ACK, then gone once its
  // FIN was acknowledged.
  EXPECT_EQ(find(*snapshot, Lab::kPort, TcpState::last_ack), nullptr);
}

TEST(SsSnapshot, MoreConnectionsThanFitAreCountedNotCopied) {
  States lab;
  HeapArea memory(area_for(3));
  ConnectionSnapshotArea area(memory.bytes());
  ASSERT_EQ(area.capacity(), 3u);
  const uint32_t ticket = area.request();
  EXPECT_EQ(area.answer(lab.server().tcp(), lab.net.clock.now(), 1), 3u);
  const auto snapshot = area.read(ticket);
  ASSERT_TRUE(snapshot.has_value());
  EXPECT_EQ(snapshot->summary.records, 3u);
  EXPECT_EQ(snapshot->summary.capacity, 3u);
  EXPECT_EQ(snapshot->summary.total, 7u);
  ASSERT_EQ(snapshot->records.size(), 3u);
  // Listeners first, then live connections; the TIME-WAIT record is what falls off.
  EXPECT_EQ(snapshot->records[0].tcp_state(), TcpState::listen);
  EXPECT_NE(snapshot->records[1].tcp_state(), TcpState::time_wait);
  EXPECT_NE(snapshot->records[2].tcp_state(), TcpState::time_wait);
}

TEST(SsSnapshot, NothingAskedNothingWritten) {
  Lab lab;
  HeapArea memory(area_for(4));
  ConnectionSnapshotArea area(memory.bytes());
  EXPECT_FALSE(area.requested());
  EXPECT_EQ(memory.header().sequence, 0u);
  EXPECT_EQ(memory.header().done, 0u);
}

TEST(SsSnapshotProtocol, OneAnswerServesEveryToolThatAskedBeforeIt) {
  Lab lab;
  HeapArea memory(area_for(4));
  ConnectionSnapshotArea area(memory.bytes());
  const uint32_t first = area.request();
  const uint32_t second = area.request();
  EXPECT_EQ(second, first + 1);
  area.answer(lab.server().tcp(), lab.net.clock.now(), 1);
  EXPECT_EQ(memory.header().done, second);
  EXPECT_TRUE(area.read(first).has_value());
  EXPECT_TRUE(area.read(second).has_value());
  EXPECT_EQ(area.read(second)->summary.answered, second);
  // A request after the answer is not answered by it.
  const uint32_t third = area.request();
  EXPECT_TRUE(area.requested());
  EXPECT_FALSE(area.answered(third));
  EXPECT_FALSE(area.read(third).has_value());
  area.answer(lab.server().tcp(), lab.net.clock.now(), 1);
  EXPECT_TRUE(area.read(third).has_value());
}

TEST(SsSnapshotProtocol, AReaderNeverTakesRecordsBeingRewritten) {
  Lab lab;
  HeapArea memory(area_for(4));
  ConnectionSnapshotArea area(memory.bytes());
  const uint32_t ticket = area.request();
  area.answer(lab.server().tcp(), lab.net.clock.now(), 1);
  const uint32_t even = memory.header().sequence;
  EXPECT_EQ(even % 2, 0u);
  EXPECT_EQ(even, 2u);
  // The worker is writing again (for a later request): odd sequence, no copy.
  memory.header().sequence = even + 1;
  EXPECT_FALSE(area.read(ticket).has_value());
  // A worker that died mid-write leaves it odd; its successor's answer makes it even again.
  const uint32_t later = area.request();
  area.answer(lab.server().tcp(), lab.net.clock.now(), 2);
  EXPECT_EQ(memory.header().sequence % 2, 0u);
  EXPECT_GT(memory.header().sequence, even + 1);
  const auto snapshot = area.read(later);
  ASSERT_TRUE(snapshot.has_value());
  EXPECT_EQ(snapshot->summary.pid, 2);
}

TEST(SsSnapshotProtocol, TicketsWrapAround) {
  Lab lab;
  HeapArea memory(area_for(4));
  memory.header().request = 0xffffffffu;
  memory.header().done = 0xffffffffu;
  ConnectionSnapshotArea area(memory.bytes());
  EXPECT_FALSE(area.requested());
  const uint32_t ticket = area.request();
  EXPECT_EQ(ticket, 0u);
  EXPECT_FALSE(area.answered(ticket)) << "0xffffffff is before 0";
  area.answer(lab.server().tcp(), lab.net.clock.now(), 1);
  EXPECT_TRUE(area.answered(ticket));
  EXPECT_TRUE(area.read(ticket).has_value());
}

TEST(SsSnapshotProtocol, AnotherFormatIsReportedWithoutRecords) {
  Lab lab;
  HeapArea memory(area_for(4));
  ConnectionSnapshotArea area(memory.bytes());
  const uint32_t ticket = area.request();
  area.answer(lab.server().tcp(), lab.net.clock.now(), 1);
  memory.header().summary.format = kSnapshotFormat + 1;
  const auto snapshot = area.read(ticket);
  ASSERT_TRUE(snapshot.has_value());
  EXPECT_EQ(snapshot->summary.format, kSnapshotFormat + 1);
  EXPECT_TRUE(snapshot->records.empty());
}

TEST(SsSnapshotProtocol, TheWorkersAreaHoldsTheDocumentedNumberOfRecords) {
  EXPECT_EQ(snapshot_capacity(shm::kConnectionSnapshotBytes), kConnectionSnapshotCapacity);
  EXPECT_LE(kSnapshotRecordsOffset + kConnectionSnapshotCapacity * sizeof(ConnectionRecord),
            shm::kConnectionSnapshotBytes);
  EXPECT_EQ(offsetof(shm::WorkerBlock, connection_snapshot) % alignof(ConnectionSnapshotHeader),
            0u);
  EXPECT_EQ(snapshot_capacity(kSnapshotRecordsOffset - 1), 0u);
}

// ---- output ----

ConnectionRecord sample_established() {
  ConnectionRecord r;
  r.local_ip = kOurIp.value;
  r.local_port = 80;
  r.remote_ip = kPeerIp.value;
  r.remote_port = 41234;
  r.state = static_cast<uint8_t>(TcpState::established);
  r.flags = ConnectionRecord::kPassive | ConnectionRecord::kTimestamps | ConnectionRecord::kSack;
  r.snd_wscale = 7;
  r.rcv_wscale = 9;
  r.srtt_us = 81;
  r.rttvar_us = 40;
  r.rto_us = 201'000;
  r.smss = 1448;
  r.rcv_mss = 1460;
  r.cwnd = 14480;
  r.ssthresh = 0x7fffffff;
  r.retransmits = 2;
  r.bytes_acked = 123456;
  r.bytes_in_flight = 2896;
  r.bytes_sendable = 100;
  r.bytes_not_sendable = 5000;
  r.snd_wnd = 64256;
  r.bytes_received = 800;
  r.bytes_unread = 40;
  r.rcv_wnd = 262144;
  return r;
}

TEST(SsOutput, AnEstablishedConnectionLikeSsTni) {
  const std::string text = format_connection(sample_established(), 1, /*numeric=*/true);
  EXPECT_EQ(text,
            "ESTAB      40      7996    198.18.0.1:80          198.18.0.2:41234       1\n"
            "\t rtt:0.081/0.040 rto:201 mss:1448 rcvmss:1460 cwnd:10 cwnd_bytes:14480 "
            "ssthresh:- ssthresh_bytes:- retrans:2 wscale:7,9 ts sack passive\n"
            "\t send: acked:123456 in_flight:2896 sendable:100 not_sendable:5000 snd_wnd:64256\n"
            "\t recv: read:760 unread:40 rcv_wnd:262144 out_of_order:0\n");
}

TEST(SsOutput, SsthreshAfterACongestionEventInSegmentsAndBytes) {
  ConnectionRecord r = sample_established();
  r.ssthresh = 7240;
  const std::string text = format_connection(r, 0, true);
  EXPECT_NE(text.find(" ssthresh:5 ssthresh_bytes:7240 "), std::string::npos) << text;
}

TEST(SsOutput, TimeWaitListenerAndHeader) {
  ConnectionRecord tw;
  tw.local_ip = kOurIp.value;
  tw.local_port = 80;
  tw.remote_ip = kPeerIp.value;
  tw.remote_port = 5000;
  tw.state = static_cast<uint8_t>(TcpState::time_wait);
  tw.flags = ConnectionRecord::kTimeWaitRecord;
  tw.time_wait_left_ms = 59'250;
  EXPECT_EQ(format_connection(tw, 0, true),
            "TIME-WAIT  0       0       198.18.0.1:80          198.18.0.2:5000        0\n"
            "\t timer:(timewait,59.2s) compact record\n");
  const ConnectionRecord l = record_of(tcp::Listener{kOurIp, 8080, 511, 2, 0, {}});
  EXPECT_EQ(format_connection(l, 3, true),
            "LISTEN     0       511     198.18.0.1:8080        0.0.0.0:*              3\n"
            "\t accept_queue:0 syn_queue:2 backlog:511\n");
  EXPECT_EQ(format_connection_header(),
            "State      Recv-Q  Send-Q  Local Address:Port     Peer Address:Port      Worker\n");
}

TEST(SsOutput, WithoutNumericWellKnownPortsAreNamed) {
  const std::string text = format_connection(sample_established(), 0, /*numeric=*/false);
  // /etc/services names port 80 "http" where it exists; the peer's port has no name.
  if (::getservbyport(htons(80), "tcp") != nullptr) {
    EXPECT_NE(text.find("198.18.0.1:http "), std::string::npos) << text;
  }
  EXPECT_NE(text.find("198.18.0.2:41234 "), std::string::npos) << text;
}

TEST(SsOutput, StateNamesFromTheCommandLine) {
  EXPECT_EQ(parse_state_name("established"), TcpState::established);
  EXPECT_EQ(parse_state_name("ESTAB"), TcpState::established);
  EXPECT_EQ(parse_state_name("time-wait"), TcpState::time_wait);
  EXPECT_EQ(parse_state_name("TIME_WAIT"), TcpState::time_wait);
  EXPECT_EQ(parse_state_name("syn-recv"), TcpState::syn_received);
  EXPECT_EQ(parse_state_name("SYN-RECEIVED"), TcpState::syn_received);
  EXPECT_EQ(parse_state_name("listen"), TcpState::listen);
  EXPECT_EQ(parse_state_name("close-wait"), TcpState::close_wait);
  EXPECT_EQ(parse_state_name("fin-wait-2"), TcpState::fin_wait_2);
  EXPECT_FALSE(parse_state_name("estab lished").has_value());
  EXPECT_FALSE(parse_state_name("").has_value());
}

}  // namespace
}  // namespace flowgate::test
