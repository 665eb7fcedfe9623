// Application handlers. They are written only against the POSIX-like socket API
// (stack/socket_api.hpp): that they work is how we know the API keeps its promises.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "stack/clock.hpp"

namespace flowgate {

class Stack;

class Service {
 public:
  virtual ~Service() = default;
  // Serves what its sockets have queued, without blocking (every fg_* call is non-blocking).
  // The event loop calls it after every batch of received frames.
  virtual void run() = 0;
  // Draining (SIGTERM): stop taking new work (close listening sockets), keep serving what
  // is already open. Services without connections have nothing to do.
  virtual void stop_accepting() {}
  // True when nothing that was accepted is still being served.
  virtual bool idle() const { return true; }
  // When run() must be called again even if no frame arrives (a request timeout, a health
  // check); nullopt when nothing is timed. Times come from the stack's clock
  // (stack.clock()), so tests drive them with a manual clock.
  virtual std::optional<Instant> next_deadline() const { return std::nullopt; }
  // Services count what they do in the worker's app metrics table (monitoring/app_metrics.hpp),
  // through handles they register when they are built.
};

// A UDP socket bound to 0.0.0.0:port. Throws std::system_error naming `what` and the port
// if the socket cannot be opened or bound (EADDRINUSE, ...).
int open_udp_server(Stack& stack, uint16_t port, std::string_view what);

// A TCP socket listening on 0.0.0.0:port. Throws std::system_error like open_udp_server.
int open_tcp_listener(Stack& stack, uint16_t port, std::string_view what);

}  // namespace flowgate
