// The AF_XDP data path on a real veth pair, against the Linux stack and tools in a network
// namespace: our XDP program (native and skb attach), AF_XDP sockets over a UMEM that lives in
// a shm_open mapping, and the AF_PACKET fallback port. Root only: exits 77 ("skipped")
// otherwise.
//
// Each test builds its own lab with unique names (fgx + 6 hex digits) on 198.18.77.0/24,
// which no other test uses:
//   198.18.77.1  ours: answered by this test through the port, never configured on a kernel
//   198.18.77.2  the peer, in the namespace
//   198.18.77.3  the gateway side's kernel (pass-through and ports-mode checks)
#include <bpf/bpf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "rx_tx/af_packet_port.hpp"
#include "rx_tx/interface_info.hpp"
#include "rx_tx/xdp/xdp_program.hpp"
#include "rx_tx/xdp/xsk_port.hpp"
#include "wire/arp.hpp"
#include "wire/ethernet.hpp"
#include "wire/ipv4.hpp"

extern char** environ;

namespace flowgate {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

const wire::Ipv4Address kOurs = wire::Ipv4Address::from_octets(198, 18, 77, 1);
const wire::Ipv4Address kPeer = wire::Ipv4Address::from_octets(198, 18, 77, 2);
const wire::Ipv4Address kKernel = wire::Ipv4Address::from_octets(198, 18, 77, 3);
constexpr uint16_t kMarkedPort = 8080;
constexpr uint16_t kUnmarkedPort = 8081;
constexpr uint32_t kFrameSize = 2048;
constexpr uint32_t kFrameCount = 1024;
constexpr const char* kLabPrefix = "fgx";

std::string self_path;  // /proc/self/exe, for the child that attaches and dies

// Runs a shell command; returns its exit status (-1 if it did not exit normally).
int shell(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string shell_output(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  ::pclose(p);
  return out;
}

void must(const std::string& command) {
  if (shell(command + " >/dev/null 2>&1") != 0) {
    throw std::runtime_error("lab setup failed: " + command);
  }
}

std::string random_suffix() {
  std::random_device rd;
  char buf[8];
  std::snprintf(buf, sizeof buf, "%06x", static_cast<unsigned>(rd() & 0xffffff));
  return buf;
}

// Namespaces of earlier runs that were killed before their cleanup (a ctest timeout): any
// fgx* namespace older than the longest this test may run. Deleting a namespace deletes the
// peer veth in it, and with it the pair.
void remove_stale_labs() {
  const std::filesystem::path dir = "/run/netns";
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return;
  const auto now = std::filesystem::file_time_type::clock::now();
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kLabPrefix, 0) != 0 || name.size() != 9) continue;
    const auto age = now - std::filesystem::last_write_time(entry.path(), ec);
    if (!ec && age > std::chrono::minutes(15)) shell("ip netns del " + name + " 2>/dev/null");
  }
}

// A veth pair: `gateway` in this namespace (our ports and program), `peer` in a new namespace
// with the ordinary Linux stack. Removed on destruction, also when the test failed.
class Lab {
 public:
  explicit Lab(int queues = 1)
      : name_(kLabPrefix + random_suffix()), gateway_(name_ + "g"), peer_(name_ + "p") {
    try {
      const std::string q =
          " numtxqueues " + std::to_string(queues) + " numrxqueues " + std::to_string(queues);
      must("ip netns add " + name_);
      must("ip link add " + gateway_ + q + " type veth peer name " + peer_ + q);
      must("ip link set " + peer_ + " netns " + name_);
      // No IPv6 chatter: every frame on the link comes from what the test does.
      must("sysctl -q -w net.ipv6.conf." + gateway_ + ".disable_ipv6=1");
      must(in_ns("sysctl -q -w net.ipv6.conf." + peer_ + ".disable_ipv6=1"));
      must("ip addr add " + kKernel.to_string() + "/24 dev " + gateway_);
      must("ip link set " + gateway_ + " up");
      must(in_ns("ip link set lo up"));
      must(in_ns("ip addr add " + kPeer.to_string() + "/24 dev " + peer_));
      must(in_ns("ip link set " + peer_ + " up"));
      // Partial checksums would reach XDP otherwise (DESIGN.md, "Lab").
      must(in_ns("ethtool -K " + peer_ + " tx off tso off gso off"));
      gateway_mac_ = query_interface(gateway_).mac;
    } catch (...) {
      remove();
      throw;
    }
  }
  ~Lab() { remove(); }
  Lab(const Lab&) = delete;
  Lab& operator=(const Lab&) = delete;

  const std::string& name() const { return name_; }
  const std::string& gateway() const { return gateway_; }
  const std::string& peer() const { return peer_; }
  wire::MacAddress gateway_mac() const { return gateway_mac_; }
  std::string in_ns(const std::string& command) const {
    return "ip netns exec " + name_ + " " + command;
  }
  // What `ip -d link show` says about XDP on the gateway side: empty when nothing attached.
  std::string xdp_state() const {
    return shell_output("ip -d link show dev " + gateway_ + " | grep -o 'prog/xdp.*name [^ ]*'");
  }

 private:
  void remove() {
    shell("ip link del " + gateway_ + " 2>/dev/null");
    shell("ip netns del " + name_ + " 2>/dev/null");
  }

  std::string name_, gateway_, peer_;
  wire::MacAddress gateway_mac_;
};

// The UMEM as the I/O process will have it: inside a POSIX shared-memory object.
class SharedUmem {
 public:
  explicit SharedUmem(const std::string& lab) : name_("/" + lab + "-umem") {
    fd_ = ::shm_open(name_.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd_ < 0) throw std::runtime_error("shm_open " + name_ + ": " + std::strerror(errno));
    if (::ftruncate(fd_, size()) != 0) throw std::runtime_error("ftruncate");
    base_ = map();
    if (base_ == nullptr) throw std::runtime_error("mmap: " + std::string(std::strerror(errno)));
  }
  ~SharedUmem() {
    if (base_ != nullptr) ::munmap(base_, size());
    if (fd_ >= 0) ::close(fd_);
    ::shm_unlink(name_.c_str());
  }
  SharedUmem(const SharedUmem&) = delete;
  SharedUmem& operator=(const SharedUmem&) = delete;

  static constexpr uint64_t size() { return uint64_t{kFrameSize} * kFrameCount; }
  UmemArea area() const { return UmemArea{base_, size(), kFrameSize}; }
  // A second, independent mapping of the same object, as a worker process has.
  void* map() const {
    void* p = ::mmap(nullptr, size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    return p == MAP_FAILED ? nullptr : p;
  }

 private:
  std::string name_;
  int fd_ = -1;
  void* base_ = nullptr;
};

// A shell command running while the test services its port; output kept in a file.
class Background {
 public:
  explicit Background(const std::string& command)
      : output_path_(std::filesystem::temp_directory_path() / ("fgx-" + random_suffix())) {
    const std::string full = command + " >" + output_path_.string() + " 2>&1";
    const char* argv[] = {"/bin/sh", "-c", full.c_str(), nullptr};
    if (::posix_spawn(&pid_, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) {
      pid_ = -1;
    }
  }
  ~Background() {
    if (pid_ > 0 && !finished()) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status_, 0);
    }
    std::error_code ec;
    std::filesystem::remove(output_path_, ec);
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  bool finished() {
    if (pid_ <= 0 || done_) return true;
    if (::waitpid(pid_, &status_, WNOHANG) == pid_) done_ = true;
    return done_;
  }
  // Exit status once finished; -1 when it was killed or could not start.
  int exit_status() const { return done_ && WIFEXITED(status_) ? WEXITSTATUS(status_) : -1; }
  std::string output() const {
    std::ifstream in(output_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  std::filesystem::path output_path_;
  pid_t pid_ = -1;
  int status_ = 0;
  bool done_ = false;
};

// One frame the port received, reduced to what the assertions look at.
struct SeenFrame {
  uint16_t ethertype = 0;
  std::optional<wire::ArpRepr> arp;
  wire::Ipv4Address ip_dst;
  uint8_t ip_protocol = 0;
  uint16_t dst_port = 0;
  bool tcp_syn = false;
};

// Services a FramePort as the I/O process would, in miniature: keeps half the frames posted
// for reception, answers ARP requests for our address by building the reply in a free frame,
// and records every frame it saw.
class Responder {
 public:
  // Uses frames [first, first + count) of the UMEM: ports sharing a UMEM get disjoint ranges.
  Responder(FramePort& port, const UmemArea& umem, wire::MacAddress mac, uint32_t first = 0,
            uint32_t count = kFrameCount)
      : port_(port), umem_(umem), mac_(mac) {
    std::vector<uint64_t> rx;
    for (uint32_t i = first; i < first + count; ++i) {
      (i < first + count / 2 ? rx : free_).push_back(uint64_t{i} * kFrameSize);
    }
    EXPECT_EQ(port_.post_rx_frames(rx), rx.size());
  }

  // Services the port until `command` finishes or `limit` passes.
  void run_while(Background& command, std::chrono::milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (!command.finished() && Clock::now() < deadline) pump(20);
    pump(0);  // what arrived last
  }
  void run_for(std::chrono::milliseconds span) {
    const auto deadline = Clock::now() + span;
    while (Clock::now() < deadline) pump(20);
  }

  const std::vector<SeenFrame>& seen() const { return seen_; }
  uint32_t replies_sent() const { return replies_sent_; }
  // The bytes of the first ARP request received, as read through the port's own mapping.
  const std::vector<std::byte>& first_request_bytes() const { return first_request_; }
  uint64_t first_request_offset() const { return first_request_offset_; }

  // One round: wait up to timeout_ms for frames, answer them, recycle frames.
  void pump(int timeout_ms) {
    if (auto* xsk = dynamic_cast<XskPort*>(&port_); xsk != nullptr && xsk->fill_needs_wakeup()) {
      xsk->wake_rx();
    }
    pollfd p{port_.fd(), POLLIN, 0};
    (void)::poll(&p, 1, timeout_ms);
    FrameDesc frames[64];
    const uint32_t n = port_.receive(frames);
    std::vector<uint64_t> repost;
    for (uint32_t i = 0; i < n; ++i) {
      handle(frames[i]);
      repost.push_back(frames[i].offset & ~uint64_t{kFrameSize - 1});
    }
    EXPECT_EQ(port_.post_rx_frames(repost), repost.size());
    port_.flush();
    uint64_t done[64];
    const uint32_t c = port_.completed(done);
    free_.insert(free_.end(), done, done + c);
  }

 private:
  std::byte* at(uint64_t offset) const { return static_cast<std::byte*>(umem_.base) + offset; }

  void handle(const FrameDesc& frame) {
    const wire::Bytes bytes(at(frame.offset), frame.length);
    const auto eth = wire::EthernetReader::check(bytes);
    if (!eth) return;
    SeenFrame seen;
    seen.ethertype = eth->ethertype();
    const size_t l3 =
        eth->has_vlan() ? wire::EthernetReader::kVlanHeaderLen : wire::EthernetReader::kHeaderLen;
    const wire::Bytes payload = bytes.subspan(l3);
    if (seen.ethertype == static_cast<uint16_t>(wire::EtherType::arp)) {
      if (const auto arp = wire::ArpReader::check(payload)) {
        seen.arp = wire::ArpRepr::parse(*arp);
        if (seen.arp->operation == static_cast<uint16_t>(wire::ArpOperation::request) &&
            seen.arp->target_ip == kOurs) {
          if (first_request_.empty()) {
            first_request_.assign(bytes.begin(), bytes.end());
            first_request_offset_ = frame.offset;
          }
          reply(*seen.arp);
        }
      }
    } else if (seen.ethertype == static_cast<uint16_t>(wire::EtherType::ipv4)) {
      if (const auto ip = wire::Ipv4Reader::check(payload)) {
        seen.ip_dst = ip->dst();
        seen.ip_protocol = ip->protocol();
        const wire::Bytes l4 = ip->payload();
        if ((seen.ip_protocol == 6 || seen.ip_protocol == 17) && l4.size() >= 4) {
          seen.dst_port = wire::load_be16(l4, 2);
        }
        if (seen.ip_protocol == 6 && l4.size() >= 14) {
          seen.tcp_syn = (wire::load_u8(l4, 13) & 0x02) != 0;
        }
      }
    }
    seen_.push_back(seen);
  }

  void reply(const wire::ArpRepr& request) {
    if (free_.empty()) return;
    const uint64_t slot = free_.back();
    free_.pop_back();
    const wire::MutableBytes out(at(slot), wire::EthernetReader::kMinFrameLen);
    std::fill(out.begin(), out.end(), std::byte{0});
    wire::EthernetRepr eth{request.sender_mac, mac_, std::nullopt,
                           static_cast<uint16_t>(wire::EtherType::arp)};
    const size_t l3 = eth.emit(out);
    wire::ArpRepr answer{static_cast<uint16_t>(wire::ArpOperation::reply), mac_, kOurs,
                         request.sender_mac, request.sender_ip};
    answer.emit(out.subspan(l3));
    const FrameDesc desc{slot, static_cast<uint32_t>(out.size())};
    if (port_.transmit({&desc, 1}) == 1) {
      ++replies_sent_;
    } else {
      free_.push_back(slot);
    }
  }

  FramePort& port_;
  UmemArea umem_;
  wire::MacAddress mac_;
  std::vector<uint64_t> free_;
  std::vector<SeenFrame> seen_;
  uint32_t replies_sent_ = 0;
  std::vector<std::byte> first_request_;
  uint64_t first_request_offset_ = 0;
};

bool saw_arp_request_for(const std::vector<SeenFrame>& seen, wire::Ipv4Address target) {
  for (const SeenFrame& f : seen) {
    if (f.arp && f.arp->target_ip == target &&
        f.arp->operation == static_cast<uint16_t>(wire::ArpOperation::request)) {
      return true;
    }
  }
  return false;
}

size_t count_ipv4_to(const std::vector<SeenFrame>& seen, wire::Ipv4Address dst) {
  size_t n = 0;
  for (const SeenFrame& f : seen) {
    if (f.ethertype == static_cast<uint16_t>(wire::EtherType::ipv4) && f.ip_dst == dst) ++n;
  }
  return n;
}

size_t count_tcp_syn_to(const std::vector<SeenFrame>& seen, uint16_t port) {
  size_t n = 0;
  for (const SeenFrame& f : seen) {
    if (f.ip_protocol == 6 && f.dst_port == port && f.tcp_syn) ++n;
  }
  return n;
}

std::string arping(const Lab& lab) {
  // Debian's arping (Habets): exit 0 when a reply came. timeout bounds it whatever happens.
  return lab.in_ns("timeout 8 arping -c 2 -w 5 -i " + lab.peer() + " " + kOurs.to_string());
}

// ---------------------------------------------------------------------------------------

class XdpPortTest : public ::testing::TestWithParam<XdpAttachMode> {
 protected:
  void SetUp() override {
    remove_stale_labs();
    const std::string bpffs = ensure_bpffs();
    ASSERT_EQ(bpffs, "") << bpffs;
    lab_.emplace();
  }
  void TearDown() override { lab_.reset(); }

  XdpAttachMode mode() const { return GetParam(); }
  Lab& lab() { return *lab_; }

  std::optional<Lab> lab_;
};

TEST_P(XdpPortTest, ArpRequestArrivesOnXskAndTheReplyLeavesThroughIt) {
  auto program = XdpProgram::attach(lab().gateway(), mode());
  std::printf("[ info     ] %s mode, %s\n", to_string(mode()),
              program->uses_dispatcher() ? "under libxdp's dispatcher" : "single (legacy) program");
  program->set_address(kOurs, true);
  SharedUmem shm(lab().name());
  XskRingSizes rings{1024, 1024, 512, 512};
  auto umem = XskUmem::create(shm.area(), rings);
  XskPort port(*umem, lab().gateway(), 0, *program, rings, false);
  Responder responder(port, shm.area(), lab().gateway_mac());

  Background command(arping(lab()));
  responder.run_while(command, 10s);
  EXPECT_EQ(command.exit_status(), 0) << command.output();
  EXPECT_NE(command.output().find(kOurs.to_string()), std::string::npos) << command.output();
  EXPECT_TRUE(saw_arp_request_for(responder.seen(), kOurs));
  EXPECT_GE(responder.replies_sent(), 1u);

  // The UMEM lives in shared memory: another mapping of the same object (a worker's) sees the
  // very bytes the kernel wrote.
  ASSERT_FALSE(responder.first_request_bytes().empty());
  void* second = shm.map();
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(
      std::memcmp(static_cast<std::byte*>(second) + responder.first_request_offset(),
                  responder.first_request_bytes().data(), responder.first_request_bytes().size()),
      0);
  ::munmap(second, SharedUmem::size());

  const XdpProgram::Stats stats = program->stats();
  EXPECT_GE(stats.redirected, 2u);
  EXPECT_EQ(stats.redirect_failed, 0u);
  const XskPort::Stats xsk = port.stats();
  EXPECT_GE(xsk.rx_frames, 2u);
  EXPECT_EQ(xsk.tx_frames, responder.replies_sent());
  EXPECT_EQ(xsk.tx_invalid_descs, 0u);
  EXPECT_EQ(xsk.rx_invalid_descs, 0u);
  std::printf("[ info     ] zero-copy %d; xdp redirected %lu passed %lu; xsk kicks %lu\n",
              port.zero_copy(), static_cast<unsigned long>(stats.redirected),
              static_cast<unsigned long>(stats.passed), static_cast<unsigned long>(xsk.tx_kicks));
  // Every frame is accounted for: what the port holds is what was posted and not returned.
  EXPECT_EQ(port.frames_held(), kFrameCount / 2);
}

TEST_P(XdpPortTest, OtherAddressesPassToTheKernel) {
  auto program = XdpProgram::attach(lab().gateway(), mode());
  program->set_address(kOurs, true);
  SharedUmem shm(lab().name());
  XskRingSizes rings{1024, 1024, 512, 512};
  auto umem = XskUmem::create(shm.area(), rings);
  XskPort port(*umem, lab().gateway(), 0, *program, rings, false);
  Responder responder(port, shm.area(), lab().gateway_mac());

  Background command(lab().in_ns("ping -c 3 -i 0.2 -W 1 -w 5 " + kKernel.to_string()));
  responder.run_while(command, 8s);
  EXPECT_EQ(command.exit_status(), 0) << command.output();
  EXPECT_EQ(count_ipv4_to(responder.seen(), kKernel), 0u);
  EXPECT_FALSE(saw_arp_request_for(responder.seen(), kKernel));
  EXPECT_GE(program->stats().passed, 4u);  // ARP request and three echo requests at least
  EXPECT_EQ(program->stats().redirected, 0u);
}

TEST_P(XdpPortTest, PortsModeRedirectsOnlyMarkedPorts) {
  auto program = XdpProgram::attach(lab().gateway(), mode());
  // The kernel keeps 198.18.77.3 (ARP, ICMP, other ports); only TCP 8080 is ours.
  program->set_address(kKernel, false);
  program->set_port(6, kMarkedPort, true);
  program->set_port(17, kUnmarkedPort, true);  // UDP only: TCP to it stays the kernel's
  SharedUmem shm(lab().name());
  XskRingSizes rings{1024, 1024, 512, 512};
  auto umem = XskUmem::create(shm.area(), rings);
  XskPort port(*umem, lab().gateway(), 0, *program, rings, false);
  Responder responder(port, shm.area(), lab().gateway_mac());

  auto connect = [&](uint16_t p) {
    return lab().in_ns("timeout 2 bash -c 'exec 3<>/dev/tcp/" + kKernel.to_string() + "/" +
                       std::to_string(p) + "'");
  };
  {
    Background marked(connect(kMarkedPort));  // the SYN is ours: nobody answers, it times out
    responder.run_while(marked, 4s);
  }
  EXPECT_GE(count_tcp_syn_to(responder.seen(), kMarkedPort), 1u);

  {
    Background unmarked(connect(kUnmarkedPort));  // the kernel answers with a RST at once
    responder.run_while(unmarked, 4s);
    EXPECT_EQ(unmarked.exit_status(), 1) << unmarked.output();  // refused, not timed out (124)
  }
  EXPECT_EQ(count_tcp_syn_to(responder.seen(), kUnmarkedPort), 0u);
  EXPECT_FALSE(saw_arp_request_for(responder.seen(), kKernel));

  const XdpProgram::Stats stats = program->stats();
  EXPECT_GE(stats.redirected, 1u);
  EXPECT_GE(stats.passed, 2u);

  // Unmarking gives the port back to the kernel.
  program->set_port(6, kMarkedPort, false);
  const size_t before = count_tcp_syn_to(responder.seen(), kMarkedPort);
  {
    Background again(connect(kMarkedPort));
    responder.run_while(again, 4s);
    EXPECT_EQ(again.exit_status(), 1) << again.output();
  }
  EXPECT_EQ(count_tcp_syn_to(responder.seen(), kMarkedPort), before);
}

TEST_P(XdpPortTest, FramesForOursWithoutSocketFallBackAndAreCounted) {
  auto program = XdpProgram::attach(lab().gateway(), mode());
  program->set_address(kOurs, true);
  Background command(arping(lab()));
  for (int i = 0; i < 100 && !command.finished(); ++i) ::usleep(100'000);
  EXPECT_NE(command.exit_status(), 0);  // nobody answers
  EXPECT_GE(program->stats().redirect_failed, 1u);
}

TEST_P(XdpPortTest, TwoQueuesShareOneUmemWithTheirOwnFillRings) {
  Lab two(2);  // a second lab: this one has two RX queues on the gateway side
  auto program = XdpProgram::attach(two.gateway(), mode());
  program->set_address(kOurs, true);
  SharedUmem shm(two.name());
  XskRingSizes rings{512, 512, 256, 256};
  auto umem = XskUmem::create(shm.area(), rings);
  XskPort first(*umem, two.gateway(), 0, *program, rings, false);
  XskPort second(*umem, two.gateway(), 1, *program, rings, false);
  Responder on_first(first, shm.area(), two.gateway_mac(), 0, kFrameCount / 2);
  Responder on_second(second, shm.area(), two.gateway_mac(), kFrameCount / 2, kFrameCount / 2);
  // Steer the peer's transmit queue by CPU (XPS), and send from each CPU in turn: veth
  // delivers on the receive queue numbered like the sender's transmit queue, so each of our
  // sockets gets traffic of its own.
  for (int q = 0; q < 2; ++q) {
    must(two.in_ns("sh -c 'echo " + std::to_string(1 << q) + " > /sys/class/net/" + two.peer() +
                   "/queues/tx-" + std::to_string(q) + "/xps_cpus'"));
  }
  const std::string both = "sh -c '" + std::string("taskset -c 0 ") + arping(two) +
                           " && taskset -c 1 " + arping(two) + "'";
  Background command(both);
  const auto deadline = Clock::now() + 20s;
  while (!command.finished() && Clock::now() < deadline) {
    on_first.pump(10);
    on_second.pump(10);
  }
  on_first.pump(0);
  on_second.pump(0);
  EXPECT_EQ(command.exit_status(), 0) << command.output();
  if (mode() == XdpAttachMode::native) {
    EXPECT_TRUE(saw_arp_request_for(on_first.seen(), kOurs));
    EXPECT_TRUE(saw_arp_request_for(on_second.seen(), kOurs));
  } else {
    // Generic XDP on veth: without native XDP, veth hands frames to the stack outside its
    // NAPI queues, so every frame reports RX queue 0 and the second socket gets nothing.
    EXPECT_TRUE(saw_arp_request_for(on_first.seen(), kOurs));
  }
  EXPECT_EQ(program->stats().redirect_failed, 0u);
  std::printf("[ info     ] frames on queue 0: %zu, on queue 1: %zu\n", on_first.seen().size(),
              on_second.seen().size());
  EXPECT_EQ(first.frames_held(), kFrameCount / 4);
  EXPECT_EQ(second.frames_held(), kFrameCount / 4);
}

TEST_P(XdpPortTest, ErrorsNameTheInterfaceQueueAndCause) {
  try {
    (void)XdpProgram::attach("fgx-missing0", mode());
    ADD_FAILURE() << "attached to a missing interface";
  } catch (const XdpError& e) {
    EXPECT_NE(std::string(e.what()).find("interface fgx-missing0: not found"), std::string::npos)
        << e.what();
  }
  auto program = XdpProgram::attach(lab().gateway(), mode());
  SharedUmem shm(lab().name());
  XskRingSizes rings{512, 512, 256, 256};
  auto umem = XskUmem::create(shm.area(), rings);
  try {
    XskPort port(*umem, lab().gateway(), 5, *program, rings, false);  // veth has one queue
    ADD_FAILURE() << "bound a socket to a queue the interface does not have";
  } catch (const XskError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("interface " + lab().gateway() + " queue 5"), std::string::npos) << what;
    EXPECT_NE(what.find("Invalid argument"), std::string::npos) << what;
    std::printf("[ info     ] %s\n", what.c_str());
  }
  // The UMEM is still usable after the failed bind.
  XskPort port(*umem, lab().gateway(), 0, *program, rings, true);
  EXPECT_FALSE(port.zero_copy());
}

// Runs this binary as a child that attaches the program and dies by SIGKILL, as a crashed
// gateway would; `no_bpffs` makes libxdp in the child believe bpffs is missing.
void attach_in_child_and_kill_it(const std::string& interface, XdpAttachMode mode, bool no_bpffs) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (no_bpffs) ::setenv("LIBXDP_BPFFS", "/nonexistent-fgx", 1);
    ::execl(self_path.c_str(), self_path.c_str(), "--attach-and-die", interface.c_str(),
            to_string(mode), nullptr);
    ::_exit(127);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;
}

TEST_P(XdpPortTest, DetachLeavesNoProgramAndAStaleOneIsReplaced) {
  {
    auto program = XdpProgram::attach(lab().gateway(), mode());
    EXPECT_NE(lab().xdp_state().find("flowgate_xdp"), std::string::npos) << lab().xdp_state();
    program->detach();
    EXPECT_EQ(lab().xdp_state(), "");
    program->detach();  // idempotent
  }
  for (const bool no_bpffs : {false, true}) {
    SCOPED_TRACE(no_bpffs ? "stale program attached without bpffs" : "stale program");
    attach_in_child_and_kill_it(lab().gateway(), mode(), no_bpffs);
    EXPECT_NE(lab().xdp_state().find("flowgate_xdp"), std::string::npos)
        << "the killed child left nothing attached";
    auto program = XdpProgram::attach(lab().gateway(), mode());
    EXPECT_TRUE(program->attached());
  }
  EXPECT_EQ(lab().xdp_state(), "");  // the destructor detached

  attach_in_child_and_kill_it(lab().gateway(), mode(), false);
  EXPECT_TRUE(XdpProgram::detach_stale(lab().gateway()));
  EXPECT_EQ(lab().xdp_state(), "");
  EXPECT_FALSE(XdpProgram::detach_stale(lab().gateway()));
}

TEST_P(XdpPortTest, SomeoneElsesProgramIsNeverReplaced) {
  // A two-instruction program of "someone else": r0 = XDP_PASS; exit.
  const bpf_insn pass[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, XDP_PASS},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  const int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "not_flowgate", "GPL", pass, 2, nullptr);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  const int ifindex = static_cast<int>(::if_nametoindex(lab().gateway().c_str()));
  const uint32_t flag = mode() == XdpAttachMode::native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
  ASSERT_EQ(bpf_xdp_attach(ifindex, fd, flag, nullptr), 0);

  try {
    auto program = XdpProgram::attach(lab().gateway(), mode());
    ADD_FAILURE() << "attached over someone else's program";
  } catch (const XdpError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(lab().gateway()), std::string::npos) << what;
    EXPECT_NE(what.find("not_flowgate"), std::string::npos) << what;
    std::printf("[ info     ] %s\n", what.c_str());
    EXPECT_NE(what.find(to_string(mode())), std::string::npos) << what;
  }
  EXPECT_FALSE(XdpProgram::detach_stale(lab().gateway()));
  EXPECT_NE(lab().xdp_state().find("not_flowgate"), std::string::npos) << lab().xdp_state();
  EXPECT_EQ(bpf_xdp_detach(ifindex, flag, nullptr), 0);
  ::close(fd);
}

INSTANTIATE_TEST_SUITE_P(Modes, XdpPortTest,
                         ::testing::Values(XdpAttachMode::native, XdpAttachMode::skb),
                         [](const auto& mode_info) {
                           return std::string(to_string(mode_info.param));
                         });

// ---------------------------------------------------------------------------------------

TEST(AfPacketPortTest, ArpRequestArrivesInTheUmemAndTheReplyLeavesFromIt) {
  remove_stale_labs();
  Lab lab;
  SharedUmem shm(lab.name());
  AfPacketPortConfig config;
  config.interface = lab.gateway();
  AfPacketPort port(shm.area(), config);
  Responder responder(port, shm.area(), lab.gateway_mac());

  Background command(arping(lab));
  responder.run_while(command, 10s);
  EXPECT_EQ(command.exit_status(), 0) << command.output();
  EXPECT_TRUE(saw_arp_request_for(responder.seen(), kOurs));
  EXPECT_GE(responder.replies_sent(), 1u);
  // Received frames start at the AF_XDP headroom within their slot.
  EXPECT_EQ(responder.first_request_offset() % kFrameSize, AfPacketPort::kRxHeadroom);
  const AfPacketStats& stats = port.stats();
  EXPECT_GE(stats.rx_frames, 2u);
  EXPECT_EQ(stats.tx_frames, responder.replies_sent());
  EXPECT_EQ(stats.tx_errors, 0u);
  EXPECT_EQ(stats.rx_checksum_partial, 0u);
  EXPECT_EQ(port.frames_held(), kFrameCount / 2);
}

}  // namespace
}  // namespace flowgate

int main(int argc, char** argv) {
  if (::geteuid() != 0) {
    std::printf("xdp_port_test: needs root (veth pairs, namespaces, XDP); skipped\n");
    return 77;
  }
  // The child of attach_in_child_and_kill_it: attach, then die without detaching.
  if (argc == 4 && std::string(argv[1]) == "--attach-and-die") {
    const auto mode = std::string(argv[3]) == "skb" ? flowgate::XdpAttachMode::skb
                                                    : flowgate::XdpAttachMode::native;
    try {
      auto program = flowgate::XdpProgram::attach(argv[2], mode);
      ::raise(SIGKILL);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
    }
    return 1;
  }
  std::error_code ec;
  flowgate::self_path = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
