#include "monitoring/management_server.hpp"

#include <CivetServer.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <prometheus/exposer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

#include "monitoring/exporter.hpp"
#include "monitoring/health.hpp"

namespace flowgate::exporter {
namespace {

// The one server of this process, for the callbacks (see the header: civetweb gives them no
// pointer of ours). Set before civetweb starts its threads, cleared after they are joined.
std::atomic<const ManagementServer*> g_server{nullptr};

// While a server starts, civetweb's messages about it (why it cannot bind) go here instead
// of stderr, to become the error's text. Per thread: only the starting thread's messages.
thread_local std::string* t_start_messages = nullptr;

// civetweb's worker threads: a request served past a hiccup is not worth a log line, but a
// message civetweb wants to log goes to the supervisor's stderr, prefixed.
int log_civetweb_message(const mg_connection*, const char* message) {
  if (t_start_messages != nullptr) {
    if (!t_start_messages->empty()) *t_start_messages += "; ";
    *t_start_messages += message;
  } else {
    std::fprintf(stderr, "flowgate: management endpoint: %s\n", message);
  }
  return 1;  // handled: civetweb logs nothing itself
}

void send_text(mg_connection* conn, int status, const char* status_text, std::string_view body,
               bool head_only, const char* extra_header = "") {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: %zu\r\n"
            "Cache-Control: no-store\r\n"
            "%s"
            "Connection: close\r\n\r\n",
            status, status_text, body.size(), extra_header);
  if (!head_only) mg_write(conn, body.data(), body.size());
}

// civetweb's begin_request: /healthz and /readyz here; 0 hands everything else back to
// civetweb (the Exposer's /metrics, or 404).
int answer_probe(mg_connection* conn) {
  const mg_request_info* request = mg_get_request_info(conn);
  const std::string_view path = request->local_uri != nullptr ? request->local_uri : "";
  const bool live = path == "/healthz";
  if (!live && path != "/readyz") return 0;
  const ManagementServer* server = g_server.load(std::memory_order_acquire);
  if (server == nullptr) return 0;
  const std::string_view method = request->request_method != nullptr ? request->request_method : "";
  const bool head = method == "HEAD";
  if (method != "GET" && !head) {
    send_text(conn, 405, "Method Not Allowed", "GET or HEAD\n", false, "Allow: GET, HEAD\r\n");
    return 405;
  }
  const HealthVerdict verdict =
      live ? liveness(server->segment()) : readiness(server->segment(), server->draining());
  const int status = verdict.ok ? 200 : 503;
  send_text(conn, status, verdict.ok ? "OK" : "Service Unavailable", verdict.reason + "\n", head);
  return status;
}

// Why host:port cannot be bound, in words, or nullopt when it can. civetweb only says
// "cannot bind"; a probe socket gets the errno, and the hint an operator needs.
std::optional<std::string> bind_problem(const std::string& host, uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    return "'" + host + "' is not an IPv4 address";
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  const int one = 1;
  // As civetweb does, so a port left in TIME_WAIT by the previous run is no obstacle.
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  std::optional<std::string> problem;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(fd, 1) != 0) {
    const int error = errno;
    problem = std::strerror(error);
    if (error == EADDRINUSE) {
      *problem +=
          " (another process listens there: stop it, or give management.address "
          "another port, or set `management: off`)";
    } else if (error == EADDRNOTAVAIL) {
      *problem += " (no interface of this host has that address)";
    } else if (error == EACCES) {
      *problem += " (ports below 1024 need CAP_NET_BIND_SERVICE)";
    }
  }
  ::close(fd);
  return problem;
}

}  // namespace

ManagementServer::ManagementServer(const shm::Segment& segment, const std::string& host,
                                   uint16_t port)
    : segment_(segment) {
  const ManagementServer* none = nullptr;
  if (!g_server.compare_exchange_strong(none, this, std::memory_order_acq_rel)) {
    throw std::logic_error("a process serves at most one management endpoint");
  }
  const std::string where = host + ":" + std::to_string(port);
  try {
    if (port != 0) {
      if (const auto problem = bind_problem(host, port)) {
        throw ManagementError("cannot listen on " + where + ": " + *problem);
      }
    }
    CivetCallbacks callbacks;  // zeroed; civetweb copies what it needs at start
    callbacks.begin_request = answer_probe;
    callbacks.log_message = log_civetweb_message;
    // Two threads answer; a client that opens a connection and sends nothing holds one for
    // at most request_timeout_ms, so a scrape is never locked out for long. No keep-alive
    // (civetweb's default): Prometheus opens one short connection per scrape anyway.
    const std::vector<std::string> options = {"listening_ports",    where, "num_threads", "2",
                                              "request_timeout_ms", "5000"};
    std::string start_messages;
    t_start_messages = &start_messages;
    try {
      exposer_ = std::make_unique<prometheus::Exposer>(options, &callbacks);
    } catch (const std::exception& e) {
      t_start_messages = nullptr;
      throw ManagementError("cannot listen on " + where + ": " +
                            (start_messages.empty() ? std::string(e.what()) : start_messages));
    }
    t_start_messages = nullptr;
    collector_ = std::make_shared<SegmentCollector>(segment_);
    exposer_->RegisterCollectable(collector_);
    const std::vector<int> ports = exposer_->GetListeningPorts();
    port_ = ports.empty() ? port : static_cast<uint16_t>(ports.front());
  } catch (...) {
    exposer_.reset();
    g_server.store(nullptr, std::memory_order_release);
    throw;
  }
}

ManagementServer::~ManagementServer() {
  // Stops civetweb and joins its threads: no request is in progress after this line, so the
  // segment and this object may go.
  exposer_.reset();
  g_server.store(nullptr, std::memory_order_release);
}

}  // namespace flowgate::exporter
