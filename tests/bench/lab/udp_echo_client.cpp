// udp_echo_client: a UDP echo load generator on the kernel stack, for the lab benchmark's
// UDP echo row (tests/bench/lab_bench.sh) when the client is not flowgate bench. It keeps
// --outstanding datagrams of --payload bytes in flight to the target, sends one more for each
// echo that comes back, and counts the echoes over --duration seconds. A window in which no
// echo came back for 20 ms is taken as lost and sent again, so losses slow it down but never
// stall it. Batches with sendmmsg/recvmmsg: the client's per-packet cost bounds the rate.
//
//   udp_echo_client --target IP:PORT [--source IP] [--outstanding N] [--payload BYTES]
//                   [--duration SECONDS]
//
// Prints one line: sent, received, duration_s, echoes_per_s, cpu_user_s, cpu_sys_s.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr unsigned kBatch = 64;

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "udp_echo_client: %s\nusage: udp_echo_client --target IP:PORT [--source IP] "
               "[--outstanding N] [--payload BYTES] [--duration SECONDS]\n",
               why.c_str());
  std::exit(2);
}

sockaddr_in parse_address(const std::string& text, bool with_port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  std::string host = text;
  if (with_port) {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos) usage("expected IP:PORT, got " + text);
    host = text.substr(0, colon);
    const unsigned long port = std::stoul(text.substr(colon + 1));
    if (port == 0 || port > 65535) usage("port out of range in " + text);
    a.sin_port = htons(static_cast<uint16_t>(port));
  }
  if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) usage("not an IPv4 address: " + host);
  return a;
}

double cpu_seconds(const timeval& t) {
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  sockaddr_in target{}, source{};
  bool have_target = false, have_source = false;
  unsigned outstanding = 64;
  size_t payload = 64;
  double duration = 10;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (i + 1 >= argc) usage("missing value after " + key);
    const std::string value = argv[++i];
    try {
      if (key == "--target") {
        target = parse_address(value, true);
        have_target = true;
      } else if (key == "--source") {
        source = parse_address(value, false);
        have_source = true;
      } else if (key == "--outstanding") {
        outstanding = static_cast<unsigned>(std::stoul(value));
        if (outstanding == 0 || outstanding > 4096) usage("--outstanding must be 1-4096");
      } else if (key == "--payload") {
        payload = std::stoul(value);
        if (payload == 0 || payload > 1472) usage("--payload must be 1-1472 bytes");
      } else if (key == "--duration") {
        duration = std::stod(value);
        if (!(duration > 0 && duration <= 3600)) usage("--duration must be 0-3600 s");
      } else {
        usage("unknown option " + key);
      }
    } catch (const std::logic_error&) {
      usage("bad value for " + key + ": " + value);
    }
  }
  if (!have_target) usage("--target is required");

  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    std::perror("udp_echo_client: socket");
    return 1;
  }
  const int buffer = 4 << 20;
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
  if (have_source && ::bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof source) != 0) {
    std::perror("udp_echo_client: bind");
    return 1;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&target), sizeof target) != 0) {
    std::perror("udp_echo_client: connect");
    return 1;
  }

  std::vector<char> out(payload, 'u');
  std::vector<std::vector<char>> in(kBatch, std::vector<char>(2048));
  std::vector<iovec> out_iov(kBatch, iovec{out.data(), out.size()});
  std::vector<iovec> in_iov(kBatch);
  std::vector<mmsghdr> out_msgs(kBatch), in_msgs(kBatch);
  for (unsigned i = 0; i < kBatch; ++i) {
    out_msgs[i].msg_hdr.msg_iov = &out_iov[i];
    out_msgs[i].msg_hdr.msg_iovlen = 1;
    in_iov[i] = iovec{in[i].data(), in[i].size()};
    in_msgs[i].msg_hdr.msg_iov = &in_iov[i];
    in_msgs[i].msg_hdr.msg_iovlen = 1;
  }

  uint64_t sent = 0, received = 0, send_errors = 0;
  unsigned in_flight = 0;
  auto send_up_to_window = [&] {
    while (in_flight < outstanding) {
      const unsigned want = std::min(kBatch, outstanding - in_flight);
      const int n = ::sendmmsg(fd, out_msgs.data(), want, 0);
      if (n <= 0) {
        ++send_errors;  // ECONNREFUSED from an ICMP error, or a full buffer: retry later
        return;
      }
      sent += static_cast<unsigned>(n);
      in_flight += static_cast<unsigned>(n);
    }
  };

  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(duration));
  auto now = start;
  send_up_to_window();
  while (now < end) {
    const int n = ::recvmmsg(fd, in_msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n > 0) {
      received += static_cast<unsigned>(n);
      in_flight -= std::min(in_flight, static_cast<unsigned>(n));
      send_up_to_window();
    } else {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) == 0) {
        in_flight = 0;  // 20 ms without an echo: what is in flight is lost
        send_up_to_window();
      } else if (p.revents & POLLERR) {
        int err = 0;
        socklen_t len = sizeof err;
        (void)::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);  // clears it
      }
    }
    now = std::chrono::steady_clock::now();
  }
  const double secs = std::chrono::duration<double>(now - start).count();
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  std::printf(
      "sent %llu received %llu send_errors %llu duration_s %.3f echoes_per_s %.0f cpu_user_s %.3f "
      "cpu_sys_s %.3f\n",
      static_cast<unsigned long long>(sent), static_cast<unsigned long long>(received),
      static_cast<unsigned long long>(send_errors), secs, static_cast<double>(received) / secs,
      cpu_seconds(u.ru_utime), cpu_seconds(u.ru_stime));
  ::close(fd);
  return 0;
}
