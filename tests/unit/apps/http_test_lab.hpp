// A lab for HTTP server tests: the HttpService on one stack, a client on another, back to
// back on one manual clock (tests/support/harness.hpp), the client speaking through the
// fg_* API; and a small parser of the responses the client receives.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apps/http/http_service.hpp"
#include "apps/http/text.hpp"
#include "stack/socket_api.hpp"
#include "support/harness.hpp"

namespace flowgate::http::test {

using flowgate::test::BackToBack;
using flowgate::test::kOurIp;
using flowgate::test::kPeerIp;
using flowgate::test::kPeerMac;
using flowgate::test::lab_config;

// Every Date the server writes is this one (RFC 9110's example).
constexpr std::string_view kFixedDate = "Sun, 06 Nov 1994 08:49:37 GMT";

inline StackConfig server_stack_config() {
  StackConfig c = lab_config();
  c.secret_key = std::array<uint8_t, 16>{1, 2, 3};
  return c;
}

inline StackConfig client_stack_config() {
  StackConfig c = lab_config();
  c.mac = kPeerMac;
  c.address = {kPeerIp, 24};
  c.first_ip_id = 30000;
  c.secret_key = std::array<uint8_t, 16>{4, 5, 6};
  return c;
}

// A response as the client saw it.
struct ClientResponse {
  int status = 0;
  std::string status_line;
  std::vector<std::pair<std::string, std::string>> fields;
  std::string body;

  std::optional<std::string> field(std::string_view name) const {
    for (const auto& [n, v] : fields) {
      if (equals_ignoring_case(n, name)) return v;
    }
    return std::nullopt;
  }
};

// Takes one response off the front of `stream` if it is all there. `head_only`: it answers
// a HEAD (no content whatever Content-Length says).
inline std::optional<ClientResponse> take_response(std::string& stream, bool head_only = false) {
  const size_t end = stream.find("\r\n\r\n");
  if (end == std::string::npos) return std::nullopt;
  ClientResponse r;
  std::string_view head(stream.data(), end);
  const size_t line_end = head.find("\r\n");
  r.status_line = std::string(head.substr(0, line_end));
  if (r.status_line.size() < 12 || r.status_line.rfind("HTTP/1.1 ", 0) != 0) {
    ADD_FAILURE() << "not a status line: " << r.status_line;
    return std::nullopt;
  }
  r.status = std::stoi(r.status_line.substr(9, 3));
  std::string_view rest = line_end == std::string_view::npos ? "" : head.substr(line_end + 2);
  while (!rest.empty()) {
    const size_t e = rest.find("\r\n");
    const std::string_view line = rest.substr(0, e);
    const size_t colon = line.find(':');
    r.fields.emplace_back(std::string(line.substr(0, colon)),
                          std::string(trim_whitespace(line.substr(colon + 1))));
    rest = e == std::string_view::npos ? "" : rest.substr(e + 2);
  }
  size_t length = 0;
  if (const auto cl = r.field("Content-Length"); cl && !head_only) length = std::stoul(*cl);
  if (stream.size() < end + 4 + length) return std::nullopt;
  r.body = stream.substr(end + 4, length);
  stream.erase(0, end + 4 + length);
  return r;
}

class HttpLab {
 public:
  explicit HttpLab(HttpOptions options) {
    net.run();  // gratuitous ARPs
    options.wall_clock = [] {
      return std::chrono::system_clock::time_point(std::chrono::seconds(784111777));
    };
    server = std::make_unique<HttpService>(net.a, std::move(options), metrics);
  }

  Stack& client_stack() { return net.b; }
  Instant now() const { return net.clock.now(); }

  // Delivers frames both ways and runs the server until nothing moves.
  void pump() {
    for (int guard = 0; guard < 100000; ++guard) {
      const size_t moved = net.run();
      const auto due = server->next_deadline();
      const bool server_due = due && *due <= now();
      server->run();
      if (moved == 0 && !server_due && net.a_link.frames.empty() && net.b_link.frames.empty()) {
        return;
      }
    }
    ADD_FAILURE() << "the lab does not settle";
  }

  // Moves time on by `d`, stopping at every timer of both stacks and of the server.
  void advance(Duration d) {
    const Instant target = now() + d;
    for (int guard = 0; guard < 100000; ++guard) {
      std::optional<Instant> next;
      for (const auto& t :
           {net.a.next_deadline(), net.b.next_deadline(), server->next_deadline()}) {
        if (t && (!next || *t < *next)) next = t;
      }
      if (!next || *next > target) break;
      net.clock.set(std::max(*next, now()));
      net.a.poll();
      net.b.poll();
      pump();
    }
    net.clock.set(target);
    net.a.poll();
    net.b.poll();
    pump();
  }

  // A client connection to the server, established (and accepted by the server).
  int connect(uint16_t port = 80) {
    const int fd = fg_socket(net.b, AF_INET, SOCK_STREAM, 0);
    sockaddr_in remote{};
    remote.sin_family = AF_INET;
    remote.sin_addr.s_addr = htonl(kOurIp.value);
    remote.sin_port = htons(port);
    EXPECT_EQ(fg_connect(net.b, fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote), -1);
    EXPECT_EQ(errno, EINPROGRESS);
    pump();
    return fd;
  }

  void send(int fd, std::string_view text) {
    size_t sent = 0;
    for (int guard = 0; guard < 100000 && sent < text.size(); ++guard) {
      const ssize_t n = fg_send(net.b, fd, text.data() + sent, text.size() - sent, 0);
      if (n > 0) sent += static_cast<size_t>(n);
      pump();
      if (sent < text.size()) advance(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(sent, text.size());
  }

  // Reads what has arrived (up to `limit` bytes); `eof` is set once the server's FIN came.
  std::string read(int fd, bool* eof = nullptr, size_t limit = SIZE_MAX) {
    std::string got;
    char buf[16384];
    while (got.size() < limit) {
      const ssize_t n = fg_recv(net.b, fd, buf, std::min(sizeof buf, limit - got.size()), 0);
      if (n > 0) {
        got.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0 && eof != nullptr) *eof = true;
      if (n < 0 && errno != EAGAIN && eof != nullptr) *eof = true;  // a reset ends it too
      break;
    }
    pump();  // what was read opens the window: let the server send more
    return got;
  }

  // Sends a request and collects `count` responses (pumping, moving time on a little while
  // they arrive).
  std::vector<ClientResponse> exchange(int fd, std::string_view requests, size_t count = 1,
                                       const std::vector<bool>& head_only = {}) {
    send(fd, requests);
    std::vector<ClientResponse> responses;
    std::string stream;
    for (int guard = 0; guard < 2000 && responses.size() < count; ++guard) {
      stream += read(fd);
      while (responses.size() < count) {
        const bool head = responses.size() < head_only.size() && head_only[responses.size()];
        auto r = take_response(stream, head);
        if (!r) break;
        responses.push_back(std::move(*r));
      }
      if (responses.size() < count) advance(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(responses.size(), count) << "left over: " << stream;
    leftover = stream;
    return responses;
  }

  ClientResponse get(int fd, std::string_view target, std::string_view extra = {}) {
    const std::string request =
        "GET " + std::string(target) + " HTTP/1.1\r\nHost: lab\r\n" + std::string(extra) + "\r\n";
    auto responses = exchange(fd, request);
    return responses.empty() ? ClientResponse{} : responses.front();
  }

  // True once the server has closed the connection (FIN read, nothing else pending).
  bool closed_by_server(int fd) {
    bool eof = false;
    const std::string rest = read(fd, &eof);
    EXPECT_EQ(rest, "") << "unexpected bytes before the close";
    return eof;
  }

  BackToBack net{server_stack_config(), client_stack_config()};
  // The worker's app metrics table, on the heap here.
  std::unique_ptr<metrics::AppMetricsArea> metrics_area =
      std::make_unique<metrics::AppMetricsArea>();
  metrics::AppMetricsWriter metrics{*metrics_area};
  std::unique_ptr<HttpService> server;
  std::string leftover;  // bytes after the responses exchange() returned
};

// A temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "flowgate-http-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }
  void write(const std::string& relative, std::string_view content) const {
    const auto p = path_ / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace flowgate::http::test
