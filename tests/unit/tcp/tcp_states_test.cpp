// Packet-script tests of the TCP state machine (RFC 9293 sections 3.3.2 and 3.10): the test
// plays the peer, injecting segments at given times on a manual clock, and checks every segment
// the stack sends in reply, and that it sends nothing else ("send at t, expect at t, expect
// nothing until t"). Per-state factories (Script::established(), fin_wait_1(), ...) bring a
// connection into each state of the RFC's diagram so that a test starts where it matters.
//
// Covered: every transition of RFC 9293 Figure 5 reachable through the socket API, the listen
// queues and SYN cookies (RFC 4987, tcp/tcp.hpp), resets for closed ports (3.10.7.1), the
// RFC 5961 defences, PAWS (RFC 7323 5), TIME-WAIT's RFC 1337 and RFC 6191 rules, and the
// abortive closes (SO_LINGER 0, unread data, data after close).
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <source_location>
#include <string>
#include <vector>

#include "stack/socket_api.hpp"
#include "support/harness.hpp"

namespace flowgate::test {
namespace {

using namespace std::chrono_literals;
using tcp::TcpState;
using wire::TcpFlag;
using wire::TcpFlags;
using wire::TcpRepr;
using Where = std::source_location;

constexpr uint16_t kServerPort = 80;    // where the stack listens
constexpr uint16_t kClosedPort = 81;    // where nothing listens
constexpr uint16_t kPeerPort = 40000;   // the peer's port for passive opens
constexpr uint16_t kRemotePort = 5001;  // where the stack's active opens go
constexpr uint32_t kPeerIsn = 1'000'000;
constexpr uint32_t kPeerTsBase = 500'000;  // the peer's TSval at the script's start
// What the stack offers with the default configuration: the MSS of a 1500-byte MTU, window
// scale 3 for the 256 KiB receive buffer (65535 << 3 >= 262144), and in a SYN the unscaled
// window clamped to 65535 (RFC 7323 2.2).
constexpr uint16_t kOurMss = 1460;
constexpr uint8_t kOurWscale = 3;
constexpr uint16_t kSynWindow = 65535;

StackConfig states_config() {
  StackConfig c = lab_config();
  c.secret_key = std::array<uint8_t, 16>{0x51, 0xa7, 0xe5, 3, 1, 4, 1, 5, 9, 2, 6};
  c.arp.static_entries.push_back({kPeerIp, kPeerMac});
  return c;
}

sockaddr_in endpoint(wire::Ipv4Address ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(ip.value);
  a.sin_port = htons(port);
  return a;
}

std::string flags(TcpFlags f) {
  return wire::to_string(f);
}

// SEG.LEN (RFC 9293 3.4): payload plus one for SYN and one for FIN.
uint32_t seg_len(const TcpRepr& r) {
  return static_cast<uint32_t>(r.payload.size()) + (r.flags.has(TcpFlag::syn) ? 1u : 0u) +
         (r.flags.has(TcpFlag::fin) ? 1u : 0u);
}

// The remote end of one connection, played by the test: its options and both directions'
// sequence numbers as it sees them.
struct Peer {
  uint16_t port = kPeerPort;
  uint16_t our_port = kServerPort;  // the stack's end
  uint32_t isn = kPeerIsn;
  uint32_t snd_nxt = kPeerIsn;  // the next sequence number the peer sends
  uint32_t rcv_nxt = 0;         // the next sequence number the peer expects from the stack
  uint32_t our_iss = 0;         // the stack's ISS, once seen
  std::optional<uint16_t> mss = 1460;
  std::optional<uint8_t> wscale = 7;
  bool sack = true;
  bool timestamps = true;
  uint32_t ts_echo = 0;  // the last TSval the stack sent: the peer's TSecr
  uint32_t ts_sent = 0;  // the TSval of the peer's last in-sequence segment

  tcp::FourTuple tuple() const { return {kOurIp, our_port, kPeerIp, port}; }
};

Peer peer_on(uint16_t port) {
  Peer p;
  p.port = port;
  p.isn = kPeerIsn + uint32_t{port} * 100'000u;
  p.snd_nxt = p.isn;
  return p;
}

// A segment the stack sent, copied out of its frame.
struct Sent {
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  TcpFlags flags;
  uint16_t window = 0;
  wire::TcpOptions options;
  std::vector<std::byte> payload;
};

// A connection a factory built: the application's descriptor (-1 once it closed it) and the
// peer with the sequence numbers of both directions.
struct Conn {
  int fd = -1;
  Peer peer;
};

class Script {
 public:
  explicit Script(StackConfig config = states_config())
      : h(std::move(config)), t0_(h.clock.now()) {}

  Stack& stack() { return h.stack; }
  tcp::Tcp& tcp() { return h.stack.tcp(); }

  // ---- time, relative to the script's start ----
  Duration elapsed() const { return h.clock.now() - t0_; }
  // Moves the clock to `t`, running every timer due on the way.
  void at(Duration t, Where where = Where::current()) {
    if (t < elapsed()) {
      ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line()))
          << "the script cannot go back in time";
      return;
    }
    h.advance(t - elapsed());
  }
  // The stack sends nothing from now until `t` (timers run on the way); the clock is then at t.
  void expect_nothing_until(Duration t, Where where = Where::current()) {
    at(t, where);
    h.expect_no_frame(where);
  }
  void expect_nothing(Where where = Where::current()) { h.expect_no_frame(where); }
  // The peer's timestamp clock: 1 ms per tick (RFC 7323 5.4), driven by the script's clock.
  uint32_t tsval() const {
    return kPeerTsBase +
           static_cast<uint32_t>(
               std::chrono::duration_cast<std::chrono::milliseconds>(elapsed()).count());
  }

  // ---- segments from the peer ----
  // <SEQ=ISN><CTL=SYN> with the peer's options.
  TcpRepr syn(const Peer& p) const {
    TcpRepr r;
    r.src_port = p.port;
    r.dst_port = p.our_port;
    r.seq = p.isn;
    r.flags = TcpFlag::syn;
    r.window = 65535;
    r.options.mss = p.mss;
    r.options.window_scale = p.wscale;
    r.options.sack_permitted = p.sack;
    if (p.timestamps) r.options.timestamps = wire::TcpTimestamps{tsval(), 0};
    return r;
  }
  // <SEQ=ISN><ACK=RCV.NXT><CTL=SYN,ACK>, answering the stack's SYN.
  TcpRepr syn_ack(const Peer& p) const {
    TcpRepr r = syn(p);
    r.flags |= TcpFlag::ack;
    r.ack = p.rcv_nxt;
    if (p.timestamps) r.options.timestamps->tsecr = p.ts_echo;
    return r;
  }
  // The template segment: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=flags>; tests override fields.
  TcpRepr segment(const Peer& p, TcpFlags f = TcpFlag::ack) const {
    TcpRepr r;
    r.src_port = p.port;
    r.dst_port = p.our_port;
    r.seq = p.snd_nxt;
    r.flags = f;
    if (f.has(TcpFlag::ack)) r.ack = p.rcv_nxt;
    r.window = 65535;
    if (p.timestamps) r.options.timestamps = wire::TcpTimestamps{tsval(), p.ts_echo};
    return r;
  }
  // Injects any segment; the peer's state does not change.
  void inject(const TcpRepr& r, uint8_t ip_tos = 0) { h.receive(peer_tcp_frame(r, ip_tos)); }
  // Injects an in-sequence segment: the peer's SND.NXT moves over it.
  void send(Peer& p, const TcpRepr& r) {
    inject(r);
    p.snd_nxt = r.seq + seg_len(r);
    if (r.options.timestamps) p.ts_sent = r.options.timestamps->tsval;
  }
  void send_ack(Peer& p) { send(p, segment(p)); }
  void send_fin(Peer& p) { send(p, segment(p, TcpFlag::fin | TcpFlag::ack)); }
  // `data` must stay alive for the call only (the frame is built at once).
  void send_data(Peer& p, wire::Bytes data) {
    TcpRepr r = segment(p, TcpFlag::psh | TcpFlag::ack);
    r.payload = data;
    send(p, r);
  }

  // ---- segments from the stack ----
  // The next frame the stack sent: a TCP segment from the stack's end of `p` to the peer.
  // Remembers its TSval for the peer's next TSecr.
  Sent expect(Peer& p, Where where = Where::current()) {
    testing::ScopedTrace trace(where.file_name(), static_cast<int>(where.line()), "expect(peer)");
    Sent s;
    if (h.pending_frames() == 0) {
      ADD_FAILURE() << "expected a segment to port " << p.port << ", the stack sent nothing";
      return s;
    }
    ParsedFrame f = h.expect_frame(where);
    if (!f.ip || !f.tcp) {
      ADD_FAILURE() << "expected a TCP segment, got ethertype " << f.eth.ethertype;
      return s;
    }
    EXPECT_EQ(f.ip->dst, kPeerIp);
    EXPECT_EQ(f.ip->src, kOurIp);
    const TcpRepr& t = *f.tcp;
    EXPECT_EQ(t.src_port, p.our_port);
    EXPECT_EQ(t.dst_port, p.port);
    s.src_port = t.src_port;
    s.dst_port = t.dst_port;
    s.seq = t.seq;
    s.ack = t.ack;
    s.flags = t.flags;
    s.window = t.window;
    s.options = t.options;
    s.payload.assign(t.payload.begin(), t.payload.end());
    if (t.options.timestamps) p.ts_echo = t.options.timestamps->tsval;
    return s;
  }
  // <SEQ=p.rcv_nxt><ACK=p.snd_nxt><CTL=ACK> and nothing after it.
  Sent expect_ack(Peer& p, Where where = Where::current()) {
    testing::ScopedTrace trace(where.file_name(), static_cast<int>(where.line()), "expect_ack");
    Sent s = expect(p, where);
    EXPECT_EQ(flags(s.flags), "ACK");
    EXPECT_EQ(s.seq, p.rcv_nxt);
    EXPECT_EQ(s.ack, p.snd_nxt);
    EXPECT_TRUE(s.payload.empty());
    EXPECT_EQ(s.options.timestamps.has_value(), p.timestamps);
    expect_nothing(where);
    return s;
  }
  // <SEQ=p.rcv_nxt><ACK=p.snd_nxt><CTL=FIN,ACK>; the peer's RCV.NXT moves over the FIN.
  Sent expect_fin(Peer& p, Where where = Where::current()) {
    testing::ScopedTrace trace(where.file_name(), static_cast<int>(where.line()), "expect_fin");
    Sent s = expect(p, where);
    EXPECT_EQ(flags(s.flags), "ACK|FIN");
    EXPECT_EQ(s.seq, p.rcv_nxt);
    EXPECT_EQ(s.ack, p.snd_nxt);
    EXPECT_TRUE(s.payload.empty());
    p.rcv_nxt += 1;
    expect_nothing(where);
    return s;
  }
  // <SEQ=seq><CTL=RST> (RST alone, or RST with ACK when `with_ack`), and nothing after it.
  Sent expect_rst(Peer& p, uint32_t seq, bool with_ack = false, Where where = Where::current()) {
    testing::ScopedTrace trace(where.file_name(), static_cast<int>(where.line()), "expect_rst");
    Sent s = expect(p, where);
    EXPECT_EQ(flags(s.flags), with_ack ? "ACK|RST" : "RST");
    EXPECT_EQ(s.seq, seq);
    EXPECT_TRUE(s.payload.empty());
    expect_nothing(where);
    return s;
  }
  // Every frame the stack sent and nobody took yet.
  std::vector<Sent> drain(Peer& p, Where where = Where::current()) {
    std::vector<Sent> out;
    while (h.pending_frames() > 0) out.push_back(expect(p, where));
    return out;
  }

  // ---- the application ----
  int listen(uint16_t port = kServerPort, int backlog = 16) {
    const int fd = fg_socket(stack(), AF_INET, SOCK_STREAM, 0);
    EXPECT_GE(fd, 0);
    auto local = endpoint(wire::Ipv4Address::any(), port);
    EXPECT_EQ(fg_bind(stack(), fd, reinterpret_cast<sockaddr*>(&local), sizeof local), 0);
    EXPECT_EQ(fg_listen(stack(), fd, backlog), 0);
    return fd;
  }
  // fg_accept: the new descriptor (and the peer's port), or -1 with errno.
  int accept(int listen_fd, uint16_t* peer_port = nullptr) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    const int fd = fg_accept(stack(), listen_fd, reinterpret_cast<sockaddr*>(&a), &len);
    if (fd >= 0 && peer_port != nullptr) *peer_port = ntohs(a.sin_port);
    return fd;
  }
  // fg_connect to the peer; learns the stack's ephemeral port.
  int connect(Peer& p, Where where = Where::current()) {
    testing::ScopedTrace trace(where.file_name(), static_cast<int>(where.line()), "connect");
    const int fd = fg_socket(stack(), AF_INET, SOCK_STREAM, 0);
    EXPECT_GE(fd, 0);
    auto remote = endpoint(kPeerIp, p.port);
    EXPECT_EQ(fg_connect(stack(), fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote), -1);
    EXPECT_EQ(errno, EINPROGRESS);
    sockaddr_in local{};
    socklen_t len = sizeof local;
    EXPECT_EQ(fg_getsockname(stack(), fd, reinterpret_cast<sockaddr*>(&local), &len), 0);
    p.our_port = ntohs(local.sin_port);
    return fd;
  }
  int connect_again(int fd) {
    auto remote = endpoint(kPeerIp, kRemotePort);
    return fg_connect(stack(), fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote);
  }
  // Level-triggered readiness of `fd`, as fg_epoll_wait reports it.
  uint32_t readiness(int fd) {
    const int ep = fg_epoll_create(stack());
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    ev.data.fd = fd;
    EXPECT_EQ(fg_epoll_ctl(stack(), ep, EPOLL_CTL_ADD, fd, &ev), 0);
    epoll_event out{};
    const int n = fg_epoll_wait(stack(), ep, &out, 1, 0);
    fg_close(stack(), ep);
    return n == 1 ? out.events : 0u;
  }
  int so_error(int fd) {
    int err = -1;
    socklen_t len = sizeof err;
    EXPECT_EQ(fg_getsockopt(stack(), fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    return err;
  }
  tcp::ConnectionInfo info(int fd) {
    tcp::ConnectionInfo i;
    socklen_t len = sizeof i;
    EXPECT_EQ(fg_getsockopt(stack(), fd, IPPROTO_TCP, TCP_INFO, &i, &len), 0);
    return i;
  }
  long recv(int fd, std::vector<std::byte>& out) {
    out.assign(65536, std::byte{0});
    const ssize_t n = fg_recv(stack(), fd, out.data(), out.size(), 0);
    out.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return n;
  }
  const tcp::Listener& listener_of(int fd) { return *tcp().socket(stack().slot(fd)->id)->listener; }

  // The state of p's connection: from its TCB, its TIME-WAIT record, or CLOSED when neither
  // exists (RFC 9293: "CLOSED is fictional because it represents the state when there is no
  // TCB").
  TcpState state(const Peer& p) {
    if (const tcp::Connection* c = tcp().find(p.tuple())) return c->state();
    if (tcp().find_time_wait(p.tuple()) != nullptr) return TcpState::time_wait;
    return TcpState::closed;
  }
  void expect_state(const Peer& p, TcpState want, Where where = Where::current()) {
    const TcpState got = state(p);
    if (got != want)
      ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line()))
          << "connection from port " << p.port << " is " << tcp::to_string(got) << ", expected "
          << tcp::to_string(want);
  }

  // ---- per-state factories ----
  // SYN-SENT: fg_connect sent <SEQ=ISS><CTL=SYN>.
  Conn syn_sent(Peer p = peer_on(kRemotePort), Where where = Where::current()) {
    testing::ScopedTrace trace(where.file_name(), static_cast<int>(where.line()), "syn_sent()");
    Conn c{connect(p, where), p};
    const Sent s = expect(c.peer, where);
    EXPECT_EQ(flags(s.flags), "SYN");
    c.peer.our_iss = s.seq;
    c.peer.rcv_nxt = s.seq + 1;
    expect_nothing(where);
    expect_state(c.peer, TcpState::syn_sent, where);
    return c;
  }
  // SYN-RECEIVED (passive): the peer's SYN reached the listener, our SYN-ACK is out.
  Conn syn_received(Peer p = {}, Where where = Where::current()) {
    testing::ScopedTrace trace(where.file_name(), static_cast<int>(where.line()), "syn_received()");
    if (listener < 0) listener = listen();
    Conn c{-1, p};
    send(c.peer, syn(c.peer));
    const Sent s = expect(c.peer, where);
    EXPECT_EQ(flags(s.flags), "ACK|SYN");
    EXPECT_EQ(s.ack, c.peer.isn + 1);
    c.peer.our_iss = s.seq;
    c.peer.rcv_nxt = s.seq + 1;
    expect_nothing(where);
    expect_state(c.peer, TcpState::syn_received, where);
    return c;
  }
  // ESTABLISHED (passive), accepted: the third step done, fg_accept returned it.
  Conn established(Peer p = {}, Where where = Where::current()) {
    testing::ScopedTrace trace(where.file_name(), static_cast<int>(where.line()), "established()");
    Conn c = syn_received(p, where);
    send_ack(c.peer);
    expect_nothing(where);
    uint16_t port = 0;
    c.fd = accept(listener, &port);
    EXPECT_GE(c.fd, 0) << std::strerror(errno);
    EXPECT_EQ(port, c.peer.port);
    expect_state(c.peer, TcpState::established, where);
    return c;
  }
  // FIN-WAIT-1: established, then fg_shutdown(SHUT_WR): our FIN is out, not yet acknowledged.
  Conn fin_wait_1(Peer p = {}, Where where = Where::current()) {
    Conn c = established(p, where);
    EXPECT_EQ(fg_shutdown(stack(), c.fd, SHUT_WR), 0);
    expect_fin(c.peer, where);
    expect_state(c.peer, TcpState::fin_wait_1, where);
    return c;
  }
  // FIN-WAIT-2: the peer acknowledged our FIN.
  Conn fin_wait_2(Peer p = {}, Where where = Where::current()) {
    Conn c = fin_wait_1(p, where);
    send_ack(c.peer);
    expect_nothing(where);
    expect_state(c.peer, TcpState::fin_wait_2, where);
    return c;
  }
  // CLOSE-WAIT: established, the peer's FIN acknowledged.
  Conn close_wait(Peer p = {}, Where where = Where::current()) {
    Conn c = established(p, where);
    send_fin(c.peer);
    expect_ack(c.peer, where);
    expect_state(c.peer, TcpState::close_wait, where);
    return c;
  }
  // LAST-ACK: close-wait, then fg_shutdown(SHUT_WR): our FIN is out.
  Conn last_ack(Peer p = {}, Where where = Where::current()) {
    Conn c = close_wait(p, where);
    EXPECT_EQ(fg_shutdown(stack(), c.fd, SHUT_WR), 0);
    expect_fin(c.peer, where);
    expect_state(c.peer, TcpState::last_ack, where);
    return c;
  }
  // CLOSING: fin-wait-1, then the peer's FIN crossed ours (it does not acknowledge ours).
  Conn closing(Peer p = {}, Where where = Where::current()) {
    Conn c = fin_wait_1(p, where);
    TcpRepr fin = segment(c.peer, TcpFlag::fin | TcpFlag::ack);
    fin.ack = c.peer.rcv_nxt - 1;  // our FIN's own sequence number: not acknowledged
    send(c.peer, fin);
    expect_ack(c.peer, where);
    expect_state(c.peer, TcpState::closing, where);
    return c;
  }
  // TIME-WAIT: fin-wait-2, then the peer's FIN acknowledged.
  Conn time_wait(Peer p = {}, Where where = Where::current()) {
    Conn c = fin_wait_2(p, where);
    send_fin(c.peer);
    expect_ack(c.peer, where);
    expect_state(c.peer, TcpState::time_wait, where);
    return c;
  }
  Conn in_state(TcpState s, Peer p = {}, Where where = Where::current()) {
    switch (s) {
      case TcpState::established:
        return established(p, where);
      case TcpState::fin_wait_1:
        return fin_wait_1(p, where);
      case TcpState::fin_wait_2:
        return fin_wait_2(p, where);
      case TcpState::close_wait:
        return close_wait(p, where);
      case TcpState::closing:
        return closing(p, where);
      case TcpState::last_ack:
        return last_ack(p, where);
      case TcpState::time_wait:
        return time_wait(p, where);
      default:
        ADD_FAILURE() << "no factory for " << tcp::to_string(s);
        return {};
    }
  }

  StackHarness h;
  int listener = -1;

 private:
  Instant t0_;
};

// ============================== opening ==============================

// RFC 9293 3.5 Figure 6 seen from the server: LISTEN -> SYN-RECEIVED -> ESTABLISHED, and the
// application sees the connection only after the third step.
TEST(TcpStatesOpen, PassiveOpenAcceptReturnsOnlyAfterTheThirdStep) {
  Script s;
  const int l = s.listen();
  Peer p;
  s.send(p, s.syn(p));
  const Sent sa = s.expect(p);
  EXPECT_EQ(flags(sa.flags), "ACK|SYN");
  EXPECT_EQ(sa.ack, kPeerIsn + 1);
  EXPECT_EQ(sa.window, kSynWindow);  // never scaled in a SYN
  EXPECT_EQ(sa.options.mss, kOurMss);
  EXPECT_EQ(sa.options.window_scale, kOurWscale);
  EXPECT_TRUE(sa.options.sack_permitted);
  ASSERT_TRUE(sa.options.timestamps.has_value());
  EXPECT_EQ(sa.options.timestamps->tsecr, p.ts_sent);
  EXPECT_TRUE(sa.payload.empty());
  s.expect_nothing();
  s.expect_state(p, TcpState::syn_received);
  EXPECT_EQ(s.listener_of(l).syn_queue, 1u);

  // Two steps done: nothing to accept, and the listener is not readable.
  EXPECT_EQ(s.accept(l), -1);
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(s.readiness(l) & EPOLLIN, 0u);

  s.at(10ms);
  p.our_iss = sa.seq;
  p.rcv_nxt = sa.seq + 1;
  s.send_ack(p);
  s.expect_nothing();
  s.expect_state(p, TcpState::established);
  EXPECT_EQ(s.listener_of(l).syn_queue, 0u);
  EXPECT_NE(s.readiness(l) & EPOLLIN, 0u);

  uint16_t port = 0;
  const int fd = s.accept(l, &port);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  EXPECT_EQ(port, kPeerPort);
  const auto i = s.info(fd);
  EXPECT_EQ(i.state, TcpState::established);
  EXPECT_EQ(i.smss, 1460u - 12u);  // the peer's MSS less the timestamp option
  EXPECT_EQ(i.snd_wscale, 7);
  EXPECT_EQ(i.rcv_wscale, kOurWscale);
  EXPECT_TRUE(i.sack);
  EXPECT_TRUE(i.timestamps);
  EXPECT_NE(s.readiness(fd) & EPOLLOUT, 0u);
  EXPECT_EQ(s.accept(l), -1);
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(s.h.events(Event::tcp_passive_opens), 1u);
  EXPECT_EQ(s.h.events(Event::tcp_established), 1u);
  EXPECT_EQ(s.h.events(Event::tcp_accepted), 1u);
  s.expect_nothing_until(5s);
}

// RFC 7323 2.2/3.2 and RFC 2018 2: the SYN-ACK carries Window Scale, SACK-permitted and
// Timestamps only when the SYN offered them; MSS is always sent.
TEST(TcpStatesOpen, SynAckOptionsOnlyWhenOffered) {
  Script s;
  const int l = s.listen();

  Peer bare = peer_on(41001);
  bare.mss.reset();
  bare.wscale.reset();
  bare.sack = false;
  bare.timestamps = false;
  s.send(bare, s.syn(bare));
  Sent sa = s.expect(bare);
  EXPECT_EQ(flags(sa.flags), "ACK|SYN");
  EXPECT_EQ(sa.ack, bare.isn + 1);
  EXPECT_EQ(sa.window, kSynWindow);
  EXPECT_EQ(sa.options.mss, kOurMss);
  EXPECT_FALSE(sa.options.window_scale.has_value());
  EXPECT_FALSE(sa.options.sack_permitted);
  EXPECT_FALSE(sa.options.timestamps.has_value());
  bare.rcv_nxt = sa.seq + 1;

  Peer sack_only = peer_on(41002);
  sack_only.wscale.reset();
  sack_only.timestamps = false;
  s.send(sack_only, s.syn(sack_only));
  sa = s.expect(sack_only);
  EXPECT_EQ(sa.options.mss, kOurMss);
  EXPECT_FALSE(sa.options.window_scale.has_value());
  EXPECT_TRUE(sa.options.sack_permitted);
  EXPECT_FALSE(sa.options.timestamps.has_value());
  sack_only.rcv_nxt = sa.seq + 1;

  Peer ws_ts = peer_on(41003);
  ws_ts.sack = false;
  s.send(ws_ts, s.syn(ws_ts));
  sa = s.expect(ws_ts);
  EXPECT_EQ(sa.window, kSynWindow);
  EXPECT_EQ(sa.options.window_scale, kOurWscale);
  EXPECT_FALSE(sa.options.sack_permitted);
  ASSERT_TRUE(sa.options.timestamps.has_value());
  EXPECT_EQ(sa.options.timestamps->tsecr, ws_ts.ts_sent);
  ws_ts.rcv_nxt = sa.seq + 1;
  s.expect_nothing();

  // What was negotiated, once established: no option means MSS 536 (RFC 9293 3.7.1).
  for (Peer* p : {&bare, &sack_only, &ws_ts}) s.send_ack(*p);
  s.expect_nothing();
  const int fd_bare = s.accept(l);
  const int fd_sack = s.accept(l);
  const int fd_ws = s.accept(l);
  ASSERT_GE(fd_ws, 0);
  auto i = s.info(fd_bare);
  EXPECT_EQ(i.smss, 536u);
  EXPECT_FALSE(i.timestamps);
  EXPECT_FALSE(i.sack);
  EXPECT_EQ(i.snd_wscale, 0);
  EXPECT_EQ(i.rcv_wscale, 0);
  i = s.info(fd_sack);
  EXPECT_EQ(i.smss, 1460u);
  EXPECT_TRUE(i.sack);
  EXPECT_EQ(i.rcv_wscale, 0);
  i = s.info(fd_ws);
  EXPECT_EQ(i.smss, 1448u);
  EXPECT_FALSE(i.sack);
  EXPECT_EQ(i.snd_wscale, 7);
  EXPECT_EQ(i.rcv_wscale, kOurWscale);
}

// RFC 9293 3.5 Figure 6 from the client: CLOSED -> SYN-SENT -> ESTABLISHED.
TEST(TcpStatesOpen, ActiveOpenSynSynAckAck) {
  Script s;
  Peer p = peer_on(kRemotePort);
  const int fd = s.connect(p);
  const Sent syn = s.expect(p);
  EXPECT_EQ(flags(syn.flags), "SYN");
  EXPECT_EQ(syn.ack, 0u);
  EXPECT_EQ(syn.window, kSynWindow);
  EXPECT_EQ(syn.options.mss, kOurMss);
  EXPECT_EQ(syn.options.window_scale, kOurWscale);
  EXPECT_TRUE(syn.options.sack_permitted);
  ASSERT_TRUE(syn.options.timestamps.has_value());
  EXPECT_EQ(syn.options.timestamps->tsecr, 0u);
  EXPECT_GE(p.our_port, 49152);
  s.expect_nothing();
  s.expect_state(p, TcpState::syn_sent);
  EXPECT_EQ(s.readiness(fd) & EPOLLOUT, 0u);
  EXPECT_EQ(s.connect_again(fd), -1);
  EXPECT_EQ(errno, EALREADY);

  s.at(30ms);
  p.our_iss = syn.seq;
  p.rcv_nxt = syn.seq + 1;
  s.send(p, s.syn_ack(p));
  s.expect_ack(p);  // <SEQ=ISS+1><ACK=peer ISN+1><CTL=ACK>
  s.expect_state(p, TcpState::established);
  EXPECT_NE(s.readiness(fd) & EPOLLOUT, 0u);
  EXPECT_EQ(s.so_error(fd), 0);
  EXPECT_EQ(s.connect_again(fd), -1);
  EXPECT_EQ(errno, EISCONN);
  const auto i = s.info(fd);
  EXPECT_EQ(i.smss, 1448u);
  EXPECT_EQ(i.snd_wscale, 7);
  EXPECT_TRUE(i.sack);
  EXPECT_EQ(s.h.events(Event::tcp_active_opens), 1u);
  s.expect_nothing_until(10s);
}

// RFC 9293 3.10.7.3: "If the ACK bit is set ... If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a
// reset (unless the RST bit is set ...) <SEQ=SEG.ACK><CTL=RST>" — and stay in SYN-SENT.
TEST(TcpStatesOpen, SynSentUnacceptableAckGetsResetAndConnectionSurvives) {
  Script s;
  Conn c = s.syn_sent();
  Peer& p = c.peer;
  TcpRepr bad = s.syn_ack(p);
  bad.ack = p.our_iss + 1000;
  s.inject(bad);
  s.expect_rst(p, p.our_iss + 1000);
  EXPECT_EQ(s.h.drops(DropReason::tcp_syn_sent_bad_ack), 1u);
  // A RST with an unacceptable ACK is dropped silently, one without ACK too (RFC 5961 3.2).
  TcpRepr rst = s.segment(p, TcpFlag::rst | TcpFlag::ack);
  rst.ack = p.our_iss;  // =< ISS
  s.inject(rst);
  TcpRepr bare_rst = s.segment(p, TcpFlag::rst);
  s.inject(bare_rst);
  s.expect_nothing();
  s.expect_state(p, TcpState::syn_sent);

  s.send(p, s.syn_ack(p));
  s.expect_ack(p);
  s.expect_state(p, TcpState::established);
  EXPECT_NE(s.readiness(c.fd) & EPOLLOUT, 0u);
}

// RFC 9293 3.10.7.3 SYN-SENT, "second check the RST bit": an acceptable RST refuses the
// connection ("error: connection reset", ECONNREFUSED for a connect()).
TEST(TcpStatesOpen, ConnectRefusedByReset) {
  Script s;
  Conn c = s.syn_sent();
  Peer& p = c.peer;
  // What a closed port answers to a SYN: <SEQ=0><ACK=ISS+1><CTL=RST,ACK>.
  TcpRepr rst = s.segment(p, TcpFlag::rst | TcpFlag::ack);
  rst.seq = 0;
  rst.options = {};
  s.inject(rst);
  s.expect_nothing();
  s.expect_state(p, TcpState::closed);
  const uint32_t ev = s.readiness(c.fd);
  EXPECT_NE(ev & EPOLLERR, 0u);
  EXPECT_NE(ev & EPOLLHUP, 0u);
  // Calling connect() again reports the error that ended the attempt.
  EXPECT_EQ(s.connect_again(c.fd), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
  EXPECT_EQ(s.so_error(c.fd), 0);  // reported once

  // The same with SO_ERROR read first.
  Conn d = s.syn_sent(peer_on(kRemotePort));
  s.inject([&] {
    TcpRepr r = s.segment(d.peer, TcpFlag::rst | TcpFlag::ack);
    r.seq = 0;
    return r;
  }());
  s.expect_nothing();
  EXPECT_EQ(s.so_error(d.fd), ECONNREFUSED);
  EXPECT_EQ(s.so_error(d.fd), 0);
  EXPECT_EQ(s.h.events(Event::tcp_connect_failed), 2u);
  EXPECT_EQ(s.h.events(Event::tcp_resets_received), 2u);
  EXPECT_EQ(s.tcp().connections(), 2u);  // the descriptors still hold them
  s.expect_nothing_until(200s);          // no SYN retransmission after the reset
}

// A refused socket is not connected: once the error was read, connect() must not claim
// EISCONN (Linux answers ECONNABORTED and lets the next connect() start over).
TEST(TcpStatesOpen, ConnectAfterReportedRefusalIsNotEisconn) {
  Script s;
  Conn c = s.syn_sent();
  TcpRepr rst = s.segment(c.peer, TcpFlag::rst | TcpFlag::ack);
  rst.seq = 0;
  s.inject(rst);
  EXPECT_EQ(s.so_error(c.fd), ECONNREFUSED);
  EXPECT_EQ(s.connect_again(c.fd), -1);
  EXPECT_NE(errno, EISCONN) << "connect() after a refused attempt says EISCONN";
  EXPECT_EQ(s.info(c.fd).state, TcpState::closed);
}

// RFC 6298 5.5 and Linux's tcp_syn_retries = 6: the SYN is retransmitted after 1, 2, 4, 8, 16
// and 32 s (at 1, 3, 7, 15, 31, 63 s), then the attempt fails with ETIMEDOUT at 127 s.
TEST(TcpStatesOpen, ConnectTimeoutDoublesThenEtimedout) {
  Script s;
  Conn c = s.syn_sent();
  Peer& p = c.peer;
  for (const Duration t : {1s, 3s, 7s, 15s, 31s, 63s}) {
    SCOPED_TRACE(std::to_string(std::chrono::duration_cast<std::chrono::seconds>(t).count()) +
                 " s");
    s.expect_nothing_until(t - 1ms);
    s.expect_state(p, TcpState::syn_sent);
    s.at(t);
    const Sent syn = s.expect(p);
    EXPECT_EQ(flags(syn.flags), "SYN");
    EXPECT_EQ(syn.seq, p.our_iss);
    EXPECT_EQ(syn.options.mss, kOurMss);
    s.expect_nothing();
  }
  s.expect_nothing_until(127s - 1ms);
  s.expect_state(p, TcpState::syn_sent);
  EXPECT_EQ(s.so_error(c.fd), 0);
  s.at(127s);
  s.expect_nothing();  // giving up sends nothing
  s.expect_state(p, TcpState::closed);
  EXPECT_NE(s.readiness(c.fd) & EPOLLERR, 0u);
  EXPECT_EQ(s.so_error(c.fd), ETIMEDOUT);
  EXPECT_EQ(s.h.events(Event::tcp_connect_failed), 1u);
  EXPECT_EQ(s.h.events(Event::tcp_timeouts), 7u);
  s.expect_nothing_until(300s);
}

// RFC 9293 3.5 Figure 7, simultaneous open, exactly as drawn:
//   2. SYN-SENT     --> <SEQ=100><CTL=SYN>
//   3. SYN-RECEIVED <-- <SEQ=300><CTL=SYN>
//   5.              --> <SEQ=100><ACK=301><CTL=SYN,ACK>
//   6. ESTABLISHED  <-- <SEQ=300><ACK=101><CTL=SYN,ACK>
TEST(TcpStatesOpen, SimultaneousOpenAsInFigure7) {
  Script s;
  Conn c = s.syn_sent();
  Peer& p = c.peer;
  s.at(5ms);
  s.send(p, s.syn(p));  // the peer's SYN crossed ours
  const Sent sa = s.expect(p);
  EXPECT_EQ(flags(sa.flags), "ACK|SYN");
  EXPECT_EQ(sa.seq, p.our_iss);
  EXPECT_EQ(sa.ack, p.isn + 1);
  EXPECT_EQ(sa.options.mss, kOurMss);
  s.expect_nothing();
  s.expect_state(p, TcpState::syn_received);
  EXPECT_EQ(s.readiness(c.fd) & EPOLLOUT, 0u);

  // Line 6: the peer's SYN-ACK (it answered our SYN from its SYN-RECEIVED).
  TcpRepr peer_sa = s.syn_ack(p);
  s.inject(peer_sa);
  s.drain(p);  // an ACK here would be harmless
  s.expect_state(p, TcpState::established);
  EXPECT_NE(s.readiness(c.fd) & EPOLLOUT, 0u);
  EXPECT_EQ(s.so_error(c.fd), 0);
}

// Simultaneous open completed by a plain ACK of our SYN-ACK: SYN-RECEIVED -> ESTABLISHED for
// an active connection.
TEST(TcpStatesOpen, SimultaneousOpenCompletedByAck) {
  Script s;
  Conn c = s.syn_sent();
  Peer& p = c.peer;
  s.send(p, s.syn(p));
  const Sent sa = s.expect(p);
  EXPECT_EQ(flags(sa.flags), "ACK|SYN");
  EXPECT_EQ(sa.ack, p.isn + 1);
  s.expect_state(p, TcpState::syn_received);
  s.send_ack(p);
  s.expect_nothing();
  s.expect_state(p, TcpState::established);
  EXPECT_NE(s.readiness(c.fd) & EPOLLOUT, 0u);
  // It is usable: data goes out.
  const auto data = pattern(100);
  EXPECT_EQ(fg_send(s.stack(), c.fd, data.data(), data.size(), 0), 100);
  const Sent d = s.expect(p);
  EXPECT_EQ(d.seq, p.rcv_nxt);
  EXPECT_TRUE(d.payload == data);
}

// RFC 9293 3.10.4 CLOSE in SYN-RECEIVED: "If no SENDs have been issued and there is no pending
// data to send, then form a FIN segment and send it, and enter FIN-WAIT-1 state". The FIN must
// go out (at once, or once the handshake's ACK arrived) and complete the close.
TEST(TcpStatesOpen, ShutdownInSynReceivedSendsFin) {
  Script s;
  Conn c = s.syn_sent();
  Peer& p = c.peer;
  s.send(p, s.syn(p));
  s.expect(p);  // SYN-ACK
  s.expect_state(p, TcpState::syn_received);
  EXPECT_EQ(fg_shutdown(s.stack(), c.fd, SHUT_WR), 0);
  std::vector<Sent> out = s.drain(p);
  s.send_ack(p);  // acknowledges our SYN
  for (Sent& x : s.drain(p)) out.push_back(std::move(x));
  s.at(1s);
  for (Sent& x : s.drain(p)) out.push_back(std::move(x));
  bool fin = false;
  for (const Sent& x : out) fin = fin || (x.flags.has(TcpFlag::fin) && x.seq == p.rcv_nxt);
  EXPECT_TRUE(fin) << "no FIN <SEQ=ISS+1> after shutdown(SHUT_WR) in SYN-RECEIVED; state "
                   << tcp::to_string(s.state(p));
  s.expect_state(p, TcpState::fin_wait_1);
  p.rcv_nxt += 1;
  s.send_ack(p);  // acknowledges the FIN
  s.drain(p);
  s.expect_state(p, TcpState::fin_wait_2);
}

// SYN-SENT -> CLOSED on close(): "delete the TCB"; a late SYN-ACK then meets a closed port.
TEST(TcpStatesOpen, CloseInSynSentDeletesTheTcb) {
  Script s;
  Conn c = s.syn_sent();
  Peer& p = c.peer;
  EXPECT_EQ(fg_close(s.stack(), c.fd), 0);
  s.expect_nothing();
  s.expect_state(p, TcpState::closed);
  EXPECT_EQ(s.tcp().connections(), 0u);
  s.expect_nothing_until(5s);  // no SYN retransmission
  s.inject(s.syn_ack(p));
  s.expect_rst(p, p.rcv_nxt);  // <SEQ=SEG.ACK><CTL=RST>
}

// Passive SYN-RECEIVED gives up after tcp_synack_retries = 5 retransmissions (1, 3, 7, 15,
// 31 s) and goes back to LISTEN (the half-open connection disappears) at 63 s.
TEST(TcpStatesOpen, SynReceivedTimesOut) {
  Script s;
  Conn c = s.syn_received();
  Peer& p = c.peer;
  for (const Duration t : {1s, 3s, 7s, 15s, 31s}) {
    s.expect_nothing_until(t - 1ms);
    s.at(t);
    const Sent sa = s.expect(p);
    EXPECT_EQ(flags(sa.flags), "ACK|SYN");
    EXPECT_EQ(sa.seq, p.our_iss);
    EXPECT_EQ(sa.ack, p.isn + 1);
    s.expect_nothing();
  }
  s.expect_nothing_until(63s - 1ms);
  s.expect_state(p, TcpState::syn_received);
  s.at(63s);
  s.expect_nothing();
  s.expect_state(p, TcpState::closed);
  EXPECT_EQ(s.listener_of(s.listener).syn_queue, 0u);
  EXPECT_EQ(s.accept(s.listener), -1);
  EXPECT_EQ(errno, EAGAIN);
  // The late ACK finds only the listener: no cookie matches, so it is reset.
  s.send_ack(p);
  s.expect_rst(p, p.rcv_nxt);
}

// The handshake's ACK may carry data: ESTABLISHED, and the data is delivered.
TEST(TcpStatesOpen, HandshakeAckCarryingData) {
  Script s;
  Conn c = s.syn_received();
  Peer& p = c.peer;
  const auto up = pattern(100, 6);
  s.send_data(p, up);
  s.expect_nothing();
  const int fd = s.accept(s.listener);
  ASSERT_GE(fd, 0);
  std::vector<std::byte> buf;
  EXPECT_EQ(s.recv(fd, buf), 100);
  EXPECT_TRUE(buf == up);
  s.at(40ms);
  s.expect_ack(p);
}

// SYN-RECEIVED -> ESTABLISHED -> CLOSE-WAIT in one segment: the ACK completing the handshake
// carries FIN. The connection is accepted in CLOSE-WAIT and reads end of stream.
TEST(TcpStatesOpen, HandshakeAckCarryingFin) {
  Script s;
  Conn c = s.syn_received();
  Peer& p = c.peer;
  s.send_fin(p);
  s.expect_ack(p);  // <ACK=FIN+1>, at once
  s.expect_state(p, TcpState::close_wait);
  const int fd = s.accept(s.listener);
  ASSERT_GE(fd, 0);
  std::vector<std::byte> buf;
  EXPECT_EQ(s.recv(fd, buf), 0);
  EXPECT_EQ(fg_close(s.stack(), fd), 0);
  s.expect_fin(p);
  s.expect_state(p, TcpState::last_ack);
  s.send_ack(p);
  s.expect_state(p, TcpState::closed);
}

// In SYN-RECEIVED: a retransmitted SYN gets the SYN-ACK again; an unacceptable ACK gets
// <SEQ=SEG.ACK><CTL=RST> (RFC 9293 3.10.7.4, fifth); an in-window RST not at RCV.NXT gets a
// challenge ACK (RFC 5961 3.2). None of them changes the state.
TEST(TcpStatesOpen, SynReceivedDuplicateSynBadAckAndInexactRst) {
  Script s;
  Conn c = s.syn_received();
  Peer& p = c.peer;
  s.at(200ms);
  s.inject(s.syn(p));
  const Sent sa = s.expect(p);
  EXPECT_EQ(flags(sa.flags), "ACK|SYN");
  EXPECT_EQ(sa.seq, p.our_iss);
  EXPECT_EQ(sa.ack, p.isn + 1);
  s.expect_nothing();

  TcpRepr bad = s.segment(p);
  bad.ack = p.rcv_nxt + 100;
  s.inject(bad);
  s.expect_rst(p, p.rcv_nxt + 100);
  EXPECT_EQ(s.h.drops(DropReason::tcp_ack_unacceptable), 1u);
  s.expect_state(p, TcpState::syn_received);

  TcpRepr rst = s.segment(p, TcpFlag::rst);
  rst.seq = p.snd_nxt + 100;
  s.inject(rst);
  s.expect_ack(p);
  EXPECT_EQ(s.h.drops(DropReason::tcp_rst_not_exact), 1u);
  s.expect_state(p, TcpState::syn_received);

  s.send_ack(p);
  s.expect_nothing();
  s.expect_state(p, TcpState::established);
  EXPECT_GE(s.accept(s.listener), 0);
}

// ============================== closing ==============================

// RFC 9293 Figure 13, the side that closes first: ESTABLISHED -> FIN-WAIT-1 -> FIN-WAIT-2 ->
// TIME-WAIT -> CLOSED after exactly 2*MSL = 60 s.
TEST(TcpStatesClose, ActiveCloseThroughTimeWait) {
  Script s;
  Conn c = s.established();
  Peer& p = c.peer;
  s.at(100ms);
  EXPECT_EQ(fg_close(s.stack(), c.fd), 0);
  s.expect_fin(p);
  s.expect_state(p, TcpState::fin_wait_1);
  s.at(150ms);
  s.send_ack(p);
  s.expect_nothing();
  s.expect_state(p, TcpState::fin_wait_2);
  s.expect_nothing_until(2s);
  s.send_fin(p);
  s.expect_ack(p);
  s.expect_state(p, TcpState::time_wait);
  EXPECT_EQ(s.tcp().time_wait_records(), 1u);
  EXPECT_EQ(s.tcp().connections(), 0u);  // the orphan's TCB gave way to the compact record
  EXPECT_EQ(s.h.events(Event::tcp_time_wait_entered), 1u);

  s.expect_nothing_until(62s - 1ms);
  s.expect_state(p, TcpState::time_wait);
  s.at(62s);
  s.expect_nothing();
  s.expect_state(p, TcpState::closed);
  EXPECT_EQ(s.tcp().time_wait_records(), 0u);
  EXPECT_FALSE(s.tcp().next_deadline().has_value());
}

// RFC 9293 Figure 13, the other side: ESTABLISHED -> CLOSE-WAIT -> LAST-ACK -> CLOSED.
TEST(TcpStatesClose, PassiveClose) {
  Script s;
  Conn c = s.established();
  Peer& p = c.peer;
  s.at(1s);
  s.send_fin(p);
  s.expect_ack(p);  // at once: <SEQ=SND.NXT><ACK=FIN+1>
  s.expect_state(p, TcpState::close_wait);
  std::vector<std::byte> buf;
  EXPECT_EQ(s.recv(c.fd, buf), 0);  // end of stream
  const uint32_t ev = s.readiness(c.fd);
  EXPECT_NE(ev & EPOLLRDHUP, 0u);
  EXPECT_NE(ev & EPOLLIN, 0u);
  EXPECT_NE(ev & EPOLLOUT, 0u);  // our direction is still open
  EXPECT_EQ(ev & EPOLLHUP, 0u);

  // CLOSE-WAIT can still send.
  const auto data = pattern(10);
  EXPECT_EQ(fg_send(s.stack(), c.fd, data.data(), data.size(), 0), 10);
  const Sent d = s.expect(p);
  EXPECT_EQ(flags(d.flags), "ACK|PSH");
  EXPECT_EQ(d.seq, p.rcv_nxt);
  EXPECT_EQ(d.ack, p.snd_nxt);
  EXPECT_TRUE(d.payload == data);
  p.rcv_nxt += 10;
  s.send_ack(p);
  s.expect_nothing();

  s.at(2s);
  EXPECT_EQ(fg_close(s.stack(), c.fd), 0);
  s.expect_fin(p);
  s.expect_state(p, TcpState::last_ack);
  s.at(2s + 20ms);
  s.send_ack(p);
  s.expect_nothing();
  s.expect_state(p, TcpState::closed);
  EXPECT_EQ(s.tcp().connections(), 0u);
  EXPECT_EQ(s.tcp().time_wait_records(), 0u);  // only the side closing first waits
  s.expect_nothing_until(100s);
}

// RFC 9293 Figure 14, simultaneous close: FIN-WAIT-1 -> CLOSING -> TIME-WAIT.
TEST(TcpStatesClose, SimultaneousClose) {
  Script s;
  Conn c = s.closing();  // the FINs crossed; we acknowledged the peer's
  Peer& p = c.peer;
  EXPECT_NE(s.readiness(c.fd) & EPOLLRDHUP, 0u);
  s.at(10ms);
  s.send_ack(p);  // acknowledges our FIN
  s.expect_nothing();
  s.expect_state(p, TcpState::time_wait);
  EXPECT_EQ(s.tcp().time_wait_records(), 1u);
  s.expect_nothing_until(60s + 10ms - 1ms);
  s.expect_state(p, TcpState::time_wait);
  s.at(60s + 10ms);
  s.expect_state(p, TcpState::closed);
}

// RFC 9293 3.10.7.4 FIN-WAIT-1, eighth: "If our FIN has been ACKed (perhaps in this segment),
// then enter TIME-WAIT": one segment with FIN and the ACK of our FIN.
TEST(TcpStatesClose, FinAckTogetherGoesStraightToTimeWait) {
  Script s;
  Conn c = s.fin_wait_1();
  Peer& p = c.peer;
  s.send_fin(p);  // ack = our FIN + 1
  s.expect_ack(p);
  s.expect_state(p, TcpState::time_wait);
  EXPECT_EQ(s.h.events(Event::tcp_time_wait_entered), 1u);
  std::vector<std::byte> buf;
  EXPECT_EQ(s.recv(c.fd, buf), 0);
  EXPECT_NE(s.readiness(c.fd) & EPOLLHUP, 0u);
}

// Half-close: after shutdown(SHUT_WR) the receive direction keeps working in FIN-WAIT-1 and
// FIN-WAIT-2 (RFC 9293 3.10.7.4, seventh: "ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2 ... deliver
// the segment text").
TEST(TcpStatesClose, HalfCloseKeepsReceiving) {
  Script s;
  Conn c = s.fin_wait_1();
  Peer& p = c.peer;
  const auto x = std::vector<std::byte>{std::byte{'x'}};
  EXPECT_EQ(fg_send(s.stack(), c.fd, x.data(), x.size(), 0), -1);
  EXPECT_EQ(errno, EPIPE);

  // Data in FIN-WAIT-1, not acknowledging our FIN yet.
  const auto first = pattern(100, 1);
  TcpRepr r = s.segment(p, TcpFlag::psh | TcpFlag::ack);
  r.ack = p.rcv_nxt - 1;
  r.payload = first;
  s.send(p, r);
  s.expect_nothing();  // delayed ACK (RFC 1122 4.2.3.2)
  s.expect_nothing_until(40ms - 1ms);
  s.at(40ms);
  s.expect_ack(p);
  s.expect_state(p, TcpState::fin_wait_1);
  std::vector<std::byte> buf;
  EXPECT_EQ(s.recv(c.fd, buf), 100);
  EXPECT_TRUE(buf == first);

  // The peer acknowledges our FIN, then keeps sending in FIN-WAIT-2.
  s.at(50ms);
  s.send_ack(p);
  s.expect_nothing();
  s.expect_state(p, TcpState::fin_wait_2);
  s.at(60ms);
  const auto second = pattern(1000, 2);
  s.send_data(p, second);
  s.expect_nothing_until(100ms - 1ms);
  s.at(100ms);
  s.expect_ack(p);
  EXPECT_EQ(s.recv(c.fd, buf), 1000);
  EXPECT_TRUE(buf == second);
  EXPECT_EQ(s.recv(c.fd, buf), -1);
  EXPECT_EQ(errno, EAGAIN);

  s.at(1s);
  s.send_fin(p);
  s.expect_ack(p);
  s.expect_state(p, TcpState::time_wait);
  EXPECT_EQ(s.recv(c.fd, buf), 0);
}

// RFC 9293 3.10.7.4 TIME-WAIT, eighth: a retransmitted FIN is acknowledged and "restart the
// 2 MSL timeout".
TEST(TcpStatesClose, RetransmittedFinInTimeWaitRestartsTheTimer) {
  Script s;
  Conn c = s.time_wait();
  Peer& p = c.peer;
  s.expect_nothing_until(30s);
  TcpRepr fin = s.segment(p, TcpFlag::fin | TcpFlag::ack);
  fin.seq = p.snd_nxt - 1;  // the same FIN again: our ACK was lost
  s.inject(fin);
  s.expect_ack(p);
  // 2*MSL now counts from 30 s.
  s.expect_nothing_until(60s);
  s.expect_state(p, TcpState::time_wait);
  s.expect_nothing_until(90s - 1ms);
  s.expect_state(p, TcpState::time_wait);
  s.at(90s);
  s.expect_nothing();
  s.expect_state(p, TcpState::closed);
}

// With tcp.max_time_wait records held, a connection that would enter TIME-WAIT closes at once
// and is counted (as Linux beyond tcp_max_tw_buckets): memory stays bounded under a close
// flood. Its FIN is still acknowledged; once a record expires there is room again.
TEST(TcpStatesClose, FullTimeWaitTableClosesWithoutARecord) {
  StackConfig config = states_config();
  config.tcp.max_time_wait = 1;
  Script s(config);
  Conn a = s.time_wait(peer_on(40001));
  Conn b = s.fin_wait_2(peer_on(40002));
  s.send_fin(b.peer);
  s.expect_ack(b.peer);
  s.expect_state(b.peer, TcpState::closed);
  s.expect_state(a.peer, TcpState::time_wait);
  EXPECT_EQ(s.tcp().time_wait_records(), 1u);
  EXPECT_EQ(s.h.events(Event::tcp_time_wait_entered), 2u);
  EXPECT_EQ(s.h.events(Event::tcp_time_wait_overflow), 1u);
  EXPECT_EQ(s.h.events(Event::tcp_connections_closed), 2u) << "both ended in order";

  s.at(s.elapsed() + 60s);  // a's 2 MSL are over
  s.expect_state(a.peer, TcpState::closed);
  const Conn c = s.time_wait(peer_on(40003));
  EXPECT_NE(s.tcp().find_time_wait(c.peer.tuple()), nullptr);
  EXPECT_EQ(s.tcp().time_wait_records(), 1u);
  EXPECT_EQ(s.h.events(Event::tcp_time_wait_overflow), 1u);
}

// RFC 1337: a RST must not end TIME-WAIT early (the "assassination" hazard).
TEST(TcpStatesClose, RstInTimeWaitIsIgnored) {
  Script s;
  Conn c = s.time_wait();
  Peer& p = c.peer;
  s.at(1s);
  s.inject(s.segment(p, TcpFlag::rst));
  s.inject(s.segment(p, TcpFlag::rst | TcpFlag::ack));
  s.expect_nothing();
  EXPECT_EQ(s.h.drops(DropReason::tcp_time_wait_rst), 2u);
  s.expect_state(p, TcpState::time_wait);
  s.expect_nothing_until(60s - 1ms);
  s.expect_state(p, TcpState::time_wait);
  s.at(60s);
  s.expect_state(p, TcpState::closed);
}

// RFC 6191: a SYN for a pair in TIME-WAIT opens a new connection if its timestamp is newer than
// the old connection's; an older one is answered with the TIME-WAIT ACK.
TEST(TcpStatesClose, TimeWaitReusedByNewerSyn) {
  Script s;
  Conn c = s.time_wait();
  Peer& p = c.peer;
  const uint32_t fin_tsval = p.ts_sent;
  s.at(2s);

  Peer next = p;
  next.isn = p.snd_nxt + 1'000'000;
  next.snd_nxt = next.isn;
  TcpRepr old_syn = s.syn(next);
  old_syn.options.timestamps->tsval = fin_tsval - 1;
  s.inject(old_syn);
  s.expect_ack(p);  // <SEQ=SND.NXT><ACK=RCV.NXT> of the old connection
  s.expect_state(p, TcpState::time_wait);
  EXPECT_EQ(s.h.events(Event::tcp_time_wait_reused), 0u);

  s.send(next, s.syn(next));  // TSval 2 s newer
  const Sent sa = s.expect(next);
  EXPECT_EQ(flags(sa.flags), "ACK|SYN");
  EXPECT_EQ(sa.ack, next.isn + 1);
  s.expect_nothing();
  EXPECT_EQ(s.h.events(Event::tcp_time_wait_reused), 1u);
  EXPECT_EQ(s.tcp().find_time_wait(p.tuple()), nullptr);
  s.expect_state(next, TcpState::syn_received);
  next.our_iss = sa.seq;
  next.rcv_nxt = sa.seq + 1;
  s.send_ack(next);
  s.expect_nothing();
  uint16_t port = 0;
  const int fd = s.accept(s.listener, &port);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(port, p.port);
  s.expect_state(next, TcpState::established);
}

// RFC 6191 without timestamps (and RFC 1122 4.2.2.13): a SYN may reopen the pair only if its
// sequence number is beyond the end of the old connection's.
TEST(TcpStatesClose, TimeWaitReuseWithoutTimestampsBySequenceNumber) {
  Script s;
  Peer p0;
  p0.timestamps = false;
  Conn c = s.time_wait(p0);
  Peer& p = c.peer;
  s.at(1s);
  Peer next = p;
  next.isn = p.snd_nxt - 10;  // inside the old connection's sequence space
  next.snd_nxt = next.isn;
  s.inject(s.syn(next));
  s.expect_ack(p);
  s.expect_state(p, TcpState::time_wait);
  EXPECT_EQ(s.h.events(Event::tcp_time_wait_reused), 0u);

  next.isn = p.snd_nxt + 100'000;
  next.snd_nxt = next.isn;
  s.send(next, s.syn(next));
  const Sent sa = s.expect(next);
  EXPECT_EQ(flags(sa.flags), "ACK|SYN");
  EXPECT_EQ(sa.ack, next.isn + 1);
  EXPECT_FALSE(sa.options.timestamps.has_value());
  s.expect_nothing();
  EXPECT_EQ(s.h.events(Event::tcp_time_wait_reused), 1u);
  s.expect_state(next, TcpState::syn_received);
}

// SO_LINGER with a zero timeout: close() aborts, <SEQ=SND.NXT><CTL=RST> (RFC 9293 3.10.5).
TEST(TcpStatesClose, LingerZeroCloseSendsRst) {
  Script s;
  Conn c = s.established();
  Peer& p = c.peer;
  linger l{1, 0};
  ASSERT_EQ(fg_setsockopt(s.stack(), c.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l), 0);
  EXPECT_EQ(fg_close(s.stack(), c.fd), 0);
  const Sent r = s.expect(p);
  EXPECT_TRUE(r.flags.has(TcpFlag::rst));
  EXPECT_FALSE(r.flags.has(TcpFlag::fin));
  EXPECT_EQ(r.seq, p.rcv_nxt);
  s.expect_nothing();
  s.expect_state(p, TcpState::closed);
  EXPECT_EQ(s.tcp().time_wait_records(), 0u);
  EXPECT_EQ(s.tcp().connections(), 0u);
  s.expect_nothing_until(10s);
}

// RFC 2525 2.17 / RFC 9293 3.10.4: closing with unread data aborts with RST, not FIN.
TEST(TcpStatesClose, CloseWithUnreadDataSendsRst) {
  Script s;
  Conn c = s.established();
  Peer& p = c.peer;
  const auto data = pattern(100);
  s.send_data(p, data);
  s.expect_nothing();  // the ACK is delayed
  EXPECT_EQ(fg_close(s.stack(), c.fd), 0);
  const Sent r = s.expect(p);
  EXPECT_TRUE(r.flags.has(TcpFlag::rst));
  EXPECT_FALSE(r.flags.has(TcpFlag::fin));
  EXPECT_EQ(r.seq, p.rcv_nxt);
  s.expect_nothing();
  s.expect_state(p, TcpState::closed);
  EXPECT_EQ(s.h.events(Event::tcp_resets_sent), 1u);
  s.expect_nothing_until(10s);  // neither the delayed ACK nor a FIN follow
}

// Data for a socket the application closed: nobody will read it, so RST (as Linux does).
TEST(TcpStatesClose, DataAfterCloseGetsRst) {
  Script s;
  Conn c = s.established();
  Peer& p = c.peer;
  EXPECT_EQ(fg_close(s.stack(), c.fd), 0);
  s.expect_fin(p);
  s.expect_state(p, TcpState::fin_wait_1);
  const auto data = pattern(100);
  s.send_data(p, data);  // also acknowledges our FIN
  const Sent r = s.expect(p);
  EXPECT_TRUE(r.flags.has(TcpFlag::rst));
  EXPECT_EQ(r.seq, p.rcv_nxt);
  s.expect_nothing();
  EXPECT_EQ(s.h.drops(DropReason::tcp_data_after_close), 1u);
  s.expect_state(p, TcpState::closed);
  EXPECT_EQ(s.tcp().connections(), 0u);
}

// An orphaned FIN-WAIT-2 (close() was called, the peer never sends its FIN) does not live
// forever: like Linux's tcp_fin_timeout it ends 60 s after entering FIN-WAIT-2.
TEST(TcpStatesClose, OrphanedFinWait2TimesOut) {
  Script s;
  Conn c = s.established();
  Peer& p = c.peer;
  EXPECT_EQ(fg_close(s.stack(), c.fd), 0);
  s.expect_fin(p);
  s.at(100ms);
  s.send_ack(p);
  s.expect_nothing();
  s.expect_state(p, TcpState::fin_wait_2);
  s.expect_nothing_until(60s + 100ms - 1ms);
  s.expect_state(p, TcpState::fin_wait_2);
  s.at(60s + 100ms);
  s.expect_state(p, TcpState::closed);
  EXPECT_EQ(s.tcp().connections(), 0u);
  s.drain(p);  // a RST here is what Linux sends; nothing is fine too
  // The peer's late FIN meets no connection: it is reset.
  s.at(70s);
  s.send_fin(p);
  s.expect_rst(p, p.rcv_nxt);
}

// FIN-WAIT-2 with the descriptor open has no such limit: the application may still read.
TEST(TcpStatesClose, FinWait2WithOpenDescriptorWaits) {
  Script s;
  Conn c = s.fin_wait_2();
  Peer& p = c.peer;
  s.expect_nothing_until(300s);
  s.expect_state(p, TcpState::fin_wait_2);
  const auto data = pattern(10);
  s.send_data(p, data);
  s.at(300s + 40ms);
  s.expect_ack(p);
  std::vector<std::byte> buf;
  EXPECT_EQ(s.recv(c.fd, buf), 10);
}

// LISTEN -> CLOSED: a closed listener's port answers SYNs with RST, and connections that were
// waiting in its accept queue are reset.
TEST(TcpStatesClose, ClosingTheListener) {
  Script s;
  Conn c = s.syn_received();
  Peer& p = c.peer;
  s.send_ack(p);  // established, never accepted
  s.expect_nothing();
  EXPECT_EQ(fg_close(s.stack(), s.listener), 0);
  s.expect_rst(p, p.rcv_nxt);
  s.expect_state(p, TcpState::closed);
  EXPECT_EQ(s.tcp().connections(), 0u);
  Peer q = peer_on(41000);
  s.inject(s.syn(q));
  const Sent r = s.expect_rst(q, 0, true);
  EXPECT_EQ(r.ack, q.isn + 1);
}

// ============================== resets in each synchronized state ==============================

std::string state_name(const testing::TestParamInfo<TcpState>& info) {
  std::string n(tcp::to_string(info.param));
  for (char& ch : n) {
    if (ch == '-') ch = '_';
  }
  return n;
}

class TcpStatesSynchronized : public testing::TestWithParam<TcpState> {};

// RFC 5961 3.2 / RFC 9293 3.10.7.4 "second, check the RST bit": a RST at exactly RCV.NXT ends
// the connection; ESTABLISHED, FIN-WAIT-1/2 and CLOSE-WAIT report ECONNRESET, CLOSING and
// LAST-ACK just close.
TEST_P(TcpStatesSynchronized, ExactRstCloses) {
  Script s;
  Conn c = s.in_state(GetParam());
  Peer& p = c.peer;
  s.at(10ms);
  s.inject(s.segment(p, TcpFlag::rst));
  s.expect_nothing();
  s.expect_state(p, TcpState::closed);
  EXPECT_EQ(s.h.events(Event::tcp_resets_received), 1u);
  const bool reports = GetParam() == TcpState::established || GetParam() == TcpState::fin_wait_1 ||
                       GetParam() == TcpState::fin_wait_2 || GetParam() == TcpState::close_wait;
  EXPECT_EQ(s.so_error(c.fd), reports ? ECONNRESET : 0);
  s.expect_nothing_until(100s);  // nothing retransmitted, no TIME-WAIT
  EXPECT_EQ(s.tcp().time_wait_records(), 0u);
}

// RFC 5961 3.2: a RST in the window but not at RCV.NXT gets a challenge ACK and changes nothing.
TEST_P(TcpStatesSynchronized, InWindowRstGetsChallengeAck) {
  Script s;
  Conn c = s.in_state(GetParam());
  Peer& p = c.peer;
  s.at(10ms);
  TcpRepr rst = s.segment(p, TcpFlag::rst);
  rst.seq = p.snd_nxt + 1000;
  s.inject(rst);
  s.expect_ack(p);
  EXPECT_EQ(s.h.drops(DropReason::tcp_rst_not_exact), 1u);
  EXPECT_EQ(s.h.events(Event::tcp_challenge_acks_sent), 1u);
  s.expect_state(p, GetParam());
}

// RFC 5961 4.2: a SYN in a synchronized state gets a challenge ACK, never a reset.
TEST_P(TcpStatesSynchronized, SynGetsChallengeAck) {
  Script s;
  Conn c = s.in_state(GetParam());
  Peer& p = c.peer;
  s.at(10ms);
  TcpRepr syn = s.syn(p);
  syn.seq = p.snd_nxt + 5;  // in the window
  s.inject(syn);
  s.expect_ack(p);
  EXPECT_EQ(s.h.drops(DropReason::tcp_syn_in_synchronized), 1u);
  EXPECT_EQ(s.h.events(Event::tcp_challenge_acks_sent), 1u);
  s.expect_state(p, GetParam());
}

INSTANTIATE_TEST_SUITE_P(TcpStates, TcpStatesSynchronized,
                         testing::Values(TcpState::established, TcpState::fin_wait_1,
                                         TcpState::fin_wait_2, TcpState::close_wait,
                                         TcpState::closing, TcpState::last_ack),
                         state_name);

// ============================== RFC 5961 and PAWS in ESTABLISHED ==============================

TEST(TcpStatesRfc5961, ExactRstResetsThenEpipeAndEof) {
  Script s;
  Conn c = s.established();
  Peer& p = c.peer;
  s.at(1s);
  s.inject(s.segment(p, TcpFlag::rst));
  s.expect_nothing();
  s.expect_state(p, TcpState::closed);
  const uint32_t ev = s.readiness(c.fd);
  EXPECT_NE(ev & EPOLLERR, 0u);
  EXPECT_NE(ev & EPOLLHUP, 0u);
  std::vector<std::byte> buf;
  EXPECT_EQ(s.recv(c.fd, buf), -1);
  EXPECT_EQ(errno, ECONNRESET);
  EXPECT_EQ(s.recv(c.fd, buf), 0);  // reported once, then end of stream
  const auto data = pattern(10);
  EXPECT_EQ(fg_send(s.stack(), c.fd, data.data(), data.size(), 0), -1);
  EXPECT_EQ(errno, EPIPE);
  sockaddr_in a{};
  socklen_t len = sizeof a;
  EXPECT_EQ(fg_getpeername(s.stack(), c.fd, reinterpret_cast<sockaddr*>(&a), &len), -1);
  EXPECT_EQ(errno, ENOTCONN);
  s.expect_nothing();
}

TEST(TcpStatesRfc5961, ResetSeenFirstBySend) {
  Script s;
  Conn c = s.established();
  s.inject(s.segment(c.peer, TcpFlag::rst | TcpFlag::ack));
  const auto data = pattern(10);
  EXPECT_EQ(fg_send(s.stack(), c.fd, data.data(), data.size(), 0), -1);
  EXPECT_EQ(errno, ECONNRESET);
  EXPECT_EQ(fg_send(s.stack(), c.fd, data.data(), data.size(), 0), -1);
  EXPECT_EQ(errno, EPIPE);
  s.expect_nothing();
}

TEST(TcpStatesRfc5961, OutOfWindowRstIgnored) {
  Script s;
  Conn c = s.established();
  Peer& p = c.peer;
  TcpRepr rst = s.segment(p, TcpFlag::rst);
  rst.seq = p.snd_nxt + 10'000'000;  // far beyond the 256 KiB window
  s.inject(rst);
  rst.seq = p.snd_nxt - 1;  // left of the window
  s.inject(rst);
  s.expect_nothing();
  EXPECT_EQ(s.h.drops(DropReason::tcp_rst_out_of_window), 2u);
  s.expect_state(p, TcpState::established);
  // Still working.
  const auto data = pattern(5);
  s.send_data(p, data);
  std::vector<std::byte> buf;
  EXPECT_EQ(s.recv(c.fd, buf), 5);
}

TEST(TcpStatesRfc5961, ChallengeAcksAreRateLimited) {
  StackConfig config = states_config();
  config.tcp.challenge_acks_per_second = 2;
  Script s(config);
  Conn c = s.established();
  Peer& p = c.peer;
  s.at(1s);
  for (uint32_t i = 0; i < 5; ++i) {
    TcpRepr rst = s.segment(p, TcpFlag::rst);
    rst.seq = p.snd_nxt + 100 + i;
    s.inject(rst);
  }
  s.expect(p);
  s.expect_ack(p);  // the second and last
  EXPECT_EQ(s.h.events(Event::tcp_challenge_acks_sent), 2u);
  EXPECT_EQ(s.h.events(Event::tcp_challenge_acks_limited), 3u);
  EXPECT_EQ(s.h.drops(DropReason::tcp_rst_not_exact), 5u);
  // A SYN shares the budget.
  TcpRepr syn = s.syn(p);
  syn.seq = p.snd_nxt + 7;
  s.inject(syn);
  s.expect_nothing();
  EXPECT_EQ(s.h.events(Event::tcp_challenge_acks_limited), 4u);

  // One second later the bucket holds two again.
  s.at(2s);
  for (uint32_t i = 0; i < 3; ++i) {
    TcpRepr rst = s.segment(p, TcpFlag::rst);
    rst.seq = p.snd_nxt + 200 + i;
    s.inject(rst);
  }
  s.expect(p);
  s.expect_ack(p);
  EXPECT_EQ(s.h.events(Event::tcp_challenge_acks_sent), 4u);
  EXPECT_EQ(s.h.events(Event::tcp_challenge_acks_limited), 5u);
  s.expect_state(p, TcpState::established);
}

// RFC 5961 5.2 / RFC 9293 3.10.7.4: "If the ACK acks something not yet sent (SEG.ACK >
// SND.NXT), then send an ACK, drop the segment, and return" — its data is not taken.
TEST(TcpStatesRfc5961, AckBeyondSndNxtGetsAckAndIsDropped) {
  Script s;
  Conn c = s.established();
  Peer& p = c.peer;
  const auto data = pattern(50);
  TcpRepr bad = s.segment(p, TcpFlag::psh | TcpFlag::ack);
  bad.ack = p.rcv_nxt + 1000;
  bad.payload = data;
  s.inject(bad);
  s.expect_ack(p);  // <SEQ=SND.NXT><ACK=RCV.NXT>, RCV.NXT not moved
  EXPECT_EQ(s.h.drops(DropReason::tcp_ack_unacceptable), 1u);
  EXPECT_EQ(s.h.events(Event::tcp_challenge_acks_sent), 1u);
  std::vector<std::byte> buf;
  EXPECT_EQ(s.recv(c.fd, buf), -1);
  EXPECT_EQ(errno, EAGAIN);
  s.expect_state(p, TcpState::established);

  // The same bytes with a sane ACK are taken.
  s.send_data(p, data);
  EXPECT_EQ(s.recv(c.fd, buf), 50);
  EXPECT_TRUE(buf == data);
  s.at(40ms);
  s.expect_ack(p);
}

// RFC 7323 5.3 R1: "If SEG.TSval < TS.Recent ... the segment is not acceptable: Send an
// acknowledgment in reply ... and drop the segment".
TEST(TcpStatesRfc5961, PawsDropsOldTimestamp) {
  Script s;
  Conn c = s.established();
  Peer& p = c.peer;
  s.at(1s);
  const auto first = pattern(20, 1);
  s.send_data(p, first);  // TS.Recent is now this segment's TSval
  const uint32_t recent = p.ts_sent;
  std::vector<std::byte> buf;
  EXPECT_EQ(s.recv(c.fd, buf), 20);
  s.at(1s + 40ms);
  s.expect_ack(p);

  s.at(2s);
  const auto second = pattern(30, 2);
  TcpRepr old = s.segment(p, TcpFlag::psh | TcpFlag::ack);
  old.payload = second;
  old.options.timestamps->tsval = recent - 1;
  s.inject(old);
  s.expect_ack(p);
  EXPECT_EQ(s.h.drops(DropReason::tcp_paws_rejected), 1u);
  EXPECT_EQ(s.recv(c.fd, buf), -1);
  EXPECT_EQ(errno, EAGAIN);

  s.send_data(p, second);  // a current TSval
  EXPECT_EQ(s.recv(c.fd, buf), 30);
  EXPECT_TRUE(buf == second);
  s.expect_state(p, TcpState::established);
}

// ============================== closed ports ==============================

// RFC 9293 3.10.7.1: "If the ACK bit is off, sequence number zero is used,
// <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>".
TEST(TcpStatesClosedPort, SynGetsRstAck) {
  Script s;
  Peer p = peer_on(41000);
  p.our_port = kClosedPort;
  s.inject(s.syn(p));
  Sent r = s.expect_rst(p, 0, true);
  EXPECT_EQ(r.ack, p.isn + 1);
  EXPECT_EQ(r.window, 0);
  EXPECT_FALSE(r.options.timestamps.has_value());
  EXPECT_FALSE(r.options.mss.has_value());

  // SEG.LEN counts SYN, data and FIN.
  const auto data = pattern(4);
  TcpRepr syn_data = s.syn(p);
  syn_data.payload = data;
  syn_data.flags |= TcpFlag::fin;
  s.inject(syn_data);
  r = s.expect_rst(p, 0, true);
  EXPECT_EQ(r.ack, p.isn + 1 + 4 + 1);
  EXPECT_EQ(s.h.drops(DropReason::tcp_no_socket), 2u);
  EXPECT_EQ(s.h.events(Event::tcp_resets_sent), 2u);
}

// "If the ACK bit is on, <SEQ=SEG.ACK><CTL=RST>".
TEST(TcpStatesClosedPort, AckGetsRst) {
  Script s;
  Peer p = peer_on(41000);
  p.our_port = kClosedPort;
  p.rcv_nxt = 0xdeadbeef;
  const auto data = pattern(10);
  TcpRepr r = s.segment(p, TcpFlag::psh | TcpFlag::ack);
  r.payload = data;
  s.inject(r);
  const Sent rst = s.expect_rst(p, 0xdeadbeef);
  EXPECT_EQ(rst.ack, 0u);
  EXPECT_FALSE(rst.options.timestamps.has_value());
  s.inject(s.segment(p, TcpFlag::fin | TcpFlag::ack));
  s.expect_rst(p, 0xdeadbeef);
}

// "An incoming segment containing a RST is discarded."
TEST(TcpStatesClosedPort, RstGetsNothing) {
  Script s;
  Peer p = peer_on(41000);
  p.our_port = kClosedPort;
  s.inject(s.segment(p, TcpFlag::rst));
  s.inject(s.segment(p, TcpFlag::rst | TcpFlag::ack));
  s.expect_nothing();
  EXPECT_EQ(s.h.drops(DropReason::tcp_no_socket), 2u);
  EXPECT_EQ(s.h.events(Event::tcp_resets_sent), 0u);
}

// RFC 9293 3.10.7.4 SYN-RECEIVED, second: "If this connection was initiated with a passive
// OPEN (i.e., came from the LISTEN state), then return this connection to LISTEN state": the
// half-open connection goes away and the listener carries on.
TEST(TcpStatesClosedPort, RstInSynReceivedRemovesTheHalfOpenConnection) {
  Script s;
  Conn c = s.syn_received();
  Peer& p = c.peer;
  s.at(100ms);
  s.inject(s.segment(p, TcpFlag::rst));
  s.expect_nothing();
  s.expect_state(p, TcpState::closed);
  EXPECT_EQ(s.tcp().connections(), 0u);
  EXPECT_EQ(s.listener_of(s.listener).syn_queue, 0u);
  EXPECT_EQ(s.accept(s.listener), -1);
  EXPECT_EQ(errno, EAGAIN);
  s.expect_nothing_until(10s);  // no SYN-ACK retransmission

  // The listener still works, for the same pair too.
  Peer q = p;
  q.isn = p.isn + 500'000;
  q.snd_nxt = q.isn;
  Conn d = s.established(q);
  EXPECT_GE(d.fd, 0);
}

// ============================== listen queues and SYN cookies ==============================

// tcp/tcp.hpp: half-open connections fill the SYN queue up to TcpConfig::max_syn_backlog; then
// SYNs are answered statelessly with cookies (RFC 4987 3.6), and the ACK carrying a valid
// cookie creates an ESTABLISHED connection with MSS, window scale and SACK recovered.
TEST(TcpStatesListen, SynCookiesWhenTheSynQueueIsFull) {
  StackConfig config = states_config();
  config.tcp.max_syn_backlog = 4;
  Script s(config);
  const int l = s.listen();
  s.listener = l;
  std::vector<Conn> half_open;
  for (uint16_t i = 0; i < 4; ++i) half_open.push_back(s.syn_received(peer_on(42000 + i)));
  EXPECT_EQ(s.listener_of(l).syn_queue, 4u);
  EXPECT_EQ(s.tcp().connections(), 4u);
  EXPECT_EQ(s.h.events(Event::tcp_syn_cookies_sent), 0u);

  // Fifth: a cookie, and no state.
  s.at(10ms);
  Peer a = peer_on(43000);
  s.send(a, s.syn(a));
  const Sent sa = s.expect(a);
  s.expect_nothing();
  EXPECT_EQ(flags(sa.flags), "ACK|SYN");
  EXPECT_EQ(sa.ack, a.isn + 1);
  EXPECT_EQ(sa.window, kSynWindow);
  EXPECT_EQ(sa.options.mss, kOurMss);
  EXPECT_EQ(sa.options.window_scale, kOurWscale);
  EXPECT_TRUE(sa.options.sack_permitted);
  ASSERT_TRUE(sa.options.timestamps.has_value());
  EXPECT_EQ(sa.options.timestamps->tsecr, a.ts_sent);
  EXPECT_EQ(s.h.events(Event::tcp_syn_cookies_sent), 1u);
  EXPECT_EQ(s.tcp().connections(), 4u);
  EXPECT_EQ(s.listener_of(l).syn_queue, 4u);
  s.expect_state(a, TcpState::closed);

  // Another with other options: MSS 1200, window scale 2, no SACK.
  Peer b = peer_on(43001);
  b.mss = 1200;
  b.wscale = 2;
  b.sack = false;
  s.send(b, s.syn(b));
  const Sent sb = s.expect(b);
  EXPECT_FALSE(sb.options.sack_permitted);
  EXPECT_EQ(sb.options.window_scale, kOurWscale);
  // And one without timestamps: only the MSS survives, so nothing else is offered.
  Peer n = peer_on(43002);
  n.timestamps = false;
  s.send(n, s.syn(n));
  const Sent sn = s.expect(n);
  EXPECT_EQ(sn.options.mss, kOurMss);
  EXPECT_FALSE(sn.options.window_scale.has_value());
  EXPECT_FALSE(sn.options.sack_permitted);
  EXPECT_FALSE(sn.options.timestamps.has_value());
  s.expect_nothing();
  EXPECT_EQ(s.h.events(Event::tcp_syn_cookies_sent), 3u);
  EXPECT_EQ(s.tcp().connections(), 4u);

  // The third steps, half a second later.
  s.at(500ms);
  for (auto [peer, syn_ack] : {std::pair{&a, &sa}, std::pair{&b, &sb}, std::pair{&n, &sn}}) {
    peer->our_iss = syn_ack->seq;
    peer->rcv_nxt = syn_ack->seq + 1;
    s.send_ack(*peer);
  }
  s.expect_nothing();
  EXPECT_EQ(s.h.events(Event::tcp_syn_cookies_validated), 3u);
  EXPECT_EQ(s.tcp().connections(), 7u);
  s.expect_state(a, TcpState::established);
  s.expect_state(b, TcpState::established);
  s.expect_state(n, TcpState::established);

  uint16_t port = 0;
  const int fa = s.accept(l, &port);
  ASSERT_GE(fa, 0);
  EXPECT_EQ(port, a.port);
  const int fb = s.accept(l, &port);
  ASSERT_GE(fb, 0);
  EXPECT_EQ(port, b.port);
  const int fn = s.accept(l, &port);
  ASSERT_GE(fn, 0);
  EXPECT_EQ(port, n.port);
  EXPECT_EQ(s.accept(l), -1);  // the four half-open ones are still in SYN-RECEIVED
  EXPECT_EQ(errno, EAGAIN);

  auto i = s.info(fa);
  EXPECT_EQ(i.state, TcpState::established);
  EXPECT_EQ(i.smss, 1460u - 12u);
  EXPECT_EQ(i.snd_wscale, 7);
  EXPECT_EQ(i.rcv_wscale, kOurWscale);
  EXPECT_TRUE(i.sack);
  EXPECT_TRUE(i.timestamps);
  i = s.info(fb);
  EXPECT_EQ(i.smss, 1200u - 12u);
  EXPECT_EQ(i.snd_wscale, 2);
  EXPECT_FALSE(i.sack);
  i = s.info(fn);
  EXPECT_EQ(i.smss, 1460u);
  EXPECT_EQ(i.snd_wscale, 0);
  EXPECT_EQ(i.rcv_wscale, 0);
  EXPECT_FALSE(i.sack);
  EXPECT_FALSE(i.timestamps);
}

// A listener whose SYN queue is already full: max_syn_backlog 1, taken by one half-open
// connection, so `p`'s SYN is answered with a cookie. Returns p with RCV.NXT = cookie + 1.
Peer cookie_syn_ack(Script& s, Peer p, Where where = Where::current()) {
  testing::ScopedTrace trace(where.file_name(), static_cast<int>(where.line()), "cookie");
  s.listener = s.listen();
  s.syn_received(peer_on(42000), where);
  s.send(p, s.syn(p));
  const Sent sa = s.expect(p, where);
  EXPECT_EQ(flags(sa.flags), "ACK|SYN");
  EXPECT_EQ(sa.window, kSynWindow);  // the window the peer may fill at once
  EXPECT_EQ(s.h.events(Event::tcp_syn_cookies_sent), 1u);
  p.our_iss = sa.seq;
  p.rcv_nxt = sa.seq + 1;
  s.expect_nothing(where);
  return p;
}

StackConfig cookie_config() {
  StackConfig config = states_config();
  config.tcp.max_syn_backlog = 1;
  return config;
}

// The cookie SYN-ACK offered a 65535-byte window (RFC 9293 3.8.6: a window once offered must
// be honoured): data right after the handshake is in it and must be taken, not dropped.
TEST(TcpStatesListen, SynCookieConnectionTakesDataInTheOfferedWindow) {
  Script s(cookie_config());
  Peer a = cookie_syn_ack(s, peer_on(43000));
  s.at(10ms);
  s.send_ack(a);
  s.expect_nothing();
  s.expect_state(a, TcpState::established);
  const int fa = s.accept(s.listener);
  ASSERT_GE(fa, 0);

  const auto up = pattern(300, 3);
  s.send_data(a, up);
  s.expect_nothing();  // taken; the ACK is delayed
  std::vector<std::byte> buf;
  EXPECT_EQ(s.recv(fa, buf), 300);
  EXPECT_TRUE(buf == up);
  s.at(50ms);
  s.expect_ack(a);

  const auto down = pattern(200, 4);
  EXPECT_EQ(fg_send(s.stack(), fa, down.data(), down.size(), 0), 200);
  const Sent d = s.expect(a);
  EXPECT_EQ(d.seq, a.rcv_nxt);
  EXPECT_EQ(d.ack, a.snd_nxt);
  EXPECT_TRUE(d.payload == down);
  s.expect_nothing();
}

// The ACK completing a cookie handshake may carry data (tcp/connection.hpp open_from_cookie:
// "whose data and FIN are then processed"): it is delivered.
TEST(TcpStatesListen, SynCookieAckCarryingData) {
  Script s(cookie_config());
  Peer a = cookie_syn_ack(s, peer_on(43000));
  const auto up = pattern(100, 5);
  s.send_data(a, up);  // <SEQ=ISN+1><ACK=cookie+1><CTL=PSH,ACK> + 100 bytes
  s.expect_nothing();
  EXPECT_EQ(s.h.events(Event::tcp_syn_cookies_validated), 1u);
  const int fa = s.accept(s.listener);
  ASSERT_GE(fa, 0);
  std::vector<std::byte> buf;
  EXPECT_EQ(s.recv(fa, buf), 100);
  EXPECT_TRUE(buf == up);
  s.at(40ms);
  s.expect_ack(a);  // acknowledges the 100 bytes
}

// An ACK to a listener that matches no cookie is reset: <SEQ=SEG.ACK><CTL=RST>.
TEST(TcpStatesListen, ForgedCookieGetsRst) {
  StackConfig config = states_config();
  config.tcp.max_syn_backlog = 1;
  Script s(config);
  s.listener = s.listen();
  s.syn_received(peer_on(42000));  // the SYN queue is full
  Peer a = peer_on(43000);
  s.send(a, s.syn(a));
  const Sent sa = s.expect(a);
  EXPECT_EQ(s.h.events(Event::tcp_syn_cookies_sent), 1u);

  // A guessed cookie.
  a.rcv_nxt = sa.seq + 12345;
  s.send_ack(a);
  s.expect_rst(a, sa.seq + 12345);
  // The real cookie, but for another initial sequence number: the cookie covers it.
  TcpRepr wrong_seq = s.segment(a);
  wrong_seq.seq = a.snd_nxt + 1;
  wrong_seq.ack = sa.seq + 1;
  s.inject(wrong_seq);
  s.expect_rst(a, sa.seq + 1);
  EXPECT_EQ(s.h.drops(DropReason::tcp_bad_syn_cookie), 2u);
  EXPECT_EQ(s.h.events(Event::tcp_syn_cookies_validated), 0u);
  EXPECT_EQ(s.tcp().connections(), 1u);
  s.expect_state(a, TcpState::closed);

  // The genuine one still works.
  a.rcv_nxt = sa.seq + 1;
  s.send_ack(a);
  s.expect_nothing();
  s.expect_state(a, TcpState::established);
  EXPECT_EQ(s.h.events(Event::tcp_syn_cookies_validated), 1u);
}

// tcp/tcp.hpp: backlog + 1 connections may wait in the accept queue. When it is full, a new
// SYN is dropped, and so is the ACK completing a handshake, leaving that connection in
// SYN-RECEIVED; our SYN-ACK retransmission makes the client ACK again, and once fg_accept()
// made room that ACK completes it.
TEST(TcpStatesListen, AcceptQueueFull) {
  Script s;
  const int l = s.listen(kServerPort, 1);
  s.listener = l;
  Conn a = s.syn_received(peer_on(42001));
  Conn b = s.syn_received(peer_on(42002));
  Conn c = s.syn_received(peer_on(42003));
  s.send_ack(a.peer);
  s.send_ack(b.peer);
  s.expect_nothing();
  s.expect_state(a.peer, TcpState::established);
  s.expect_state(b.peer, TcpState::established);
  EXPECT_EQ(s.listener_of(l).accept_queue.size(), 2u);

  // The queue is full: c's ACK is dropped and c stays half-open.
  s.send_ack(c.peer);
  s.expect_nothing();
  s.expect_state(c.peer, TcpState::syn_received);
  EXPECT_EQ(s.h.drops(DropReason::tcp_accept_queue_full), 1u);
  // A new SYN is dropped without an answer.
  Peer d = peer_on(42004);
  s.send(d, s.syn(d));
  s.expect_nothing();
  s.expect_state(d, TcpState::closed);
  EXPECT_EQ(s.h.drops(DropReason::tcp_accept_queue_full), 2u);
  EXPECT_EQ(s.h.events(Event::tcp_syn_cookies_sent), 0u);

  // c's SYN-ACK is retransmitted after the initial RTO.
  s.expect_nothing_until(1s - 1ms);
  s.at(1s);
  const Sent again = s.expect(c.peer);
  EXPECT_EQ(flags(again.flags), "ACK|SYN");
  EXPECT_EQ(again.seq, c.peer.our_iss);
  EXPECT_EQ(again.ack, c.peer.isn + 1);
  s.expect_nothing();

  uint16_t port = 0;
  EXPECT_GE(s.accept(l, &port), 0);
  EXPECT_EQ(port, a.peer.port);
  s.send_ack(c.peer);  // the client answers the retransmitted SYN-ACK
  s.expect_nothing();
  s.expect_state(c.peer, TcpState::established);
  EXPECT_GE(s.accept(l, &port), 0);
  EXPECT_EQ(port, b.peer.port);
  EXPECT_GE(s.accept(l, &port), 0);
  EXPECT_EQ(port, c.peer.port);
  EXPECT_EQ(s.accept(l), -1);
  EXPECT_EQ(errno, EAGAIN);

  // d's retransmitted SYN is answered now.
  s.at(1s + 10ms);
  s.send(d, s.syn(d));
  const Sent sd = s.expect(d);
  EXPECT_EQ(flags(sd.flags), "ACK|SYN");
  EXPECT_EQ(sd.ack, d.isn + 1);
  s.expect_nothing_until(1s + 500ms);
}

// The connection a cookie becomes keeps the SYN-ACK's timestamp clock: its TSvals never go
// below the cookie SYN-ACK's (which carries the per-tuple offset too), so a peer's PAWS check
// (RFC 7323 5.3) accepts them. Found by flowgate bench: without the offset in the SYN-ACK
// about half the cookie connections had every later segment dropped by the client.
TEST(TcpStatesListen, SynCookieTimestampsStayOnTheConnectionsClock) {
  for (uint16_t port = 43000; port < 43064; ++port) {
    Script s(cookie_config());
    Peer a = cookie_syn_ack(s, peer_on(port));
    const uint32_t syn_ack_tsval = a.ts_echo;
    s.at(10ms);
    s.send_ack(a);
    s.expect_state(a, TcpState::established);
    const int fa = s.accept(s.listener);
    ASSERT_GE(fa, 0);
    const auto down = pattern(50, 1);
    ASSERT_EQ(fg_send(s.stack(), fa, down.data(), down.size(), 0), 50);
    const Sent d = s.expect(a);
    ASSERT_TRUE(d.options.timestamps.has_value());
    // Newer in sequence space (RFC 7323 5.3: "TSval < TS.Recent" compared modulo 2^32), and
    // by no more than the 10 ms that passed plus the cookie's option bits.
    const auto ahead = static_cast<int32_t>(d.options.timestamps->tsval - syn_ack_tsval);
    EXPECT_GE(ahead, 0) << port;
    EXPECT_LE(ahead, 10 + 64) << port;
  }
}

}  // namespace
}  // namespace flowgate::test
