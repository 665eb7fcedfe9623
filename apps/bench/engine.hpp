// The load itself, written only against the fg_* socket API: the bench's connections on its
// stacks (one per source address), the modes of `flowgate bench`, and what they count. It
// never touches a frame or a ring: bench_command.cpp feeds the stacks and tells the engine
// which of them received something, and the engine asks only those stacks' epoll sets for
// events (O(events) per round, not O(connections), once fg_epoll_wait itself keeps a ready
// list).
//
// Memory per connection: one Conn (about 64 bytes) and the stack's own record; no buffer of
// ours (responses are framed on the fly by HttpResponseReader, read through one scratch
// buffer shared by all).
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "apps/bench/http_response.hpp"
#include "apps/bench/latency.hpp"
#include "apps/bench/options.hpp"
#include "apps/bench/schedule.hpp"
#include "stack/clock.hpp"
#include "stack/token_bucket.hpp"

namespace flowgate {
class Stack;
}

namespace flowgate::bench {

// Why a request or a connection failed; each counted under its name.
#define FLOWGATE_BENCH_ERRORS(X)                                               \
  X(connect_refused, "the target answered the SYN with a reset")               \
  X(connect_timeout, "no SYN-ACK after TCP's SYN retries")                     \
  X(connect_other, "connect failed otherwise (no port, no route)")             \
  X(reset, "the connection was reset")                                         \
  X(closed_early, "the server closed before the whole response")               \
  X(closed_while_idle, "an idle connection was closed or reset by the server") \
  X(bad_response, "the response could not be framed (status line, length)")    \
  X(unexpected_data, "bytes after a response that nobody asked for")           \
  X(send_failed, "fg_send refused or took only part of a request")             \
  X(unanswered, "a request still unanswered when the run ended")               \
  X(udp_lost, "a datagram not echoed within 1 s")                              \
  X(udp_send_failed, "fg_sendto refused a datagram")                           \
  X(http_status, "a response with a 4xx or 5xx status (counted as a response too)")

enum class ErrorKind : uint8_t {
#define FLOWGATE_ENUM(name, help) name,
  FLOWGATE_BENCH_ERRORS(FLOWGATE_ENUM)
#undef FLOWGATE_ENUM
      count
};
const char* to_string(ErrorKind kind);

struct BenchResult {
  Mode mode = Mode::http_keepalive;
  uint64_t connections_requested = 0;
  uint64_t connections_established = 0;  // handshakes completed, over the whole run
  uint64_t connect_failures = 0;
  uint64_t requests = 0;  // measured requests sent (datagrams in udp-echo)
  uint64_t responses = 0;
  std::array<uint64_t, static_cast<size_t>(ErrorKind::count)> errors{};
  double duration_s = 0;
  uint64_t bytes_in = 0;  // response bytes (udp-echo: echoed payload bytes)
  LatencyHistogram latency;
  double cpu_user_s = 0;
  double cpu_sys_s = 0;
  double target_rate = 0;  // --rate, 0 without

  uint64_t error_total() const;
  double requests_per_s() const {
    return duration_s > 0 ? static_cast<double>(responses) / duration_s : 0;
  }
};

// The report: text for people, or one JSON object.
std::string format_text(const BenchResult& r);
std::string format_json(const BenchResult& r);

class Engine {
 public:
  // `stacks[i]` has source address options.sources[i]; they outlive the engine.
  Engine(const BenchOptions& options, std::vector<Stack*> stacks, const Clock& clock);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Stack `i` received frames or ran its timers: its sockets may have events.
  void touched(uint32_t i) {
    if (!touched_[i]) {
      touched_[i] = true;
      touched_list_.push_back(i);
    }
  }
  // One round: events of the touched stacks, then opening, requests and the phase clock.
  // Returns true when it did something (the caller then goes round again without sleeping).
  bool step();
  bool finished() const { return phase_ == Phase::done; }
  // When step() has something to do without any input (the next paced open or scheduled
  // request, a phase's end); nullopt: only input.
  std::optional<Instant> next_wakeup() const;
  // Stops the run now (SIGINT): what is in flight counts as unanswered.
  void interrupt();

  BenchResult result() const;

 private:
  enum class ConnState : uint8_t { free, connecting, idle, waiting, closing };
  enum class Phase : uint8_t {
    warmup,
    measure,
    drain,
    idle_open,
    idle_hold,
    idle_probe,
    closing,
    done
  };
  struct Conn {
    int fd = -1;
    uint16_t stack = 0;
    ConnState state = ConnState::free;
    bool counted = false;  // the request in flight is a measured one
    bool queued = false;   // on open_queue_
    HttpResponseReader reader;
    Instant started{};  // when the request (http-close: the connection) was due or sent
  };
  struct UdpSlot {
    int fd = -1;
    uint16_t stack = 0;
    bool outstanding = false;
    bool counted = false;
    uint32_t generation = 0;
    Instant started{};
  };

  bool http_mode() const { return options_.mode != Mode::udp_echo; }
  bool measuring() const { return phase_ == Phase::measure; }
  bool may_issue() const;
  void count_error(ErrorKind kind, bool counts = true);
  void enter(Phase phase, Instant now);
  bool advance_phase(Instant now);

  bool handle_events(uint32_t stack, Instant now);
  void on_conn_event(uint32_t index, uint32_t events, Instant now);
  void on_established(uint32_t index, Instant now);
  void on_readable(uint32_t index, Instant now);
  void conn_failed(uint32_t index, ErrorKind kind, Instant now);
  void release(uint32_t index, bool reopen);
  bool open(uint32_t index, Instant now);
  bool open_paced(Instant now);
  bool send_request(uint32_t index, Instant due, Instant now);
  bool issue_requests(Instant now);
  void response_done(Conn& c, Instant now);

  void udp_on_readable(uint32_t slot, Instant now);
  bool udp_send(uint32_t slot, Instant due, Instant now);
  bool udp_issue(Instant now);
  void udp_expire(Instant now);

  bool idle_probe(Instant now);
  bool close_paced(Instant now);
  void finish_unanswered();

  BenchOptions options_;
  std::vector<Stack*> stacks_;
  std::vector<int> epfds_;
  const Clock& clock_;
  std::string request_;
  std::vector<std::byte> scratch_;

  std::vector<Conn> conns_;
  std::vector<UdpSlot> udp_;
  std::deque<uint32_t> open_queue_;  // connections to (re)open, paced
  std::vector<uint32_t> ready_;      // rate mode: connections (slots) free for a request
  std::vector<bool> stack_ready_;    // ARP resolved: a first connection got through
  std::vector<uint32_t> probing_;    // per stack: attempts in flight before it is ready
  std::vector<bool> touched_;
  std::vector<uint32_t> touched_list_;
  std::vector<std::vector<uint32_t>> parked_;  // per stack: waiting for it to be ready

  TokenBucket connect_tokens_;
  std::optional<OpenLoopSchedule> schedule_;
  uint64_t scheduled_issued_ = 0;  // rate mode: requests of the schedule handed out

  Phase phase_ = Phase::warmup;
  Instant started_{};
  Instant phase_end_{};
  Instant measure_start_{};
  Instant measure_end_{};
  Instant last_expiry_scan_{};
  Instant last_response_{};
  uint64_t in_flight_ = 0;        // requests sent and not yet answered or failed
  uint64_t issued_total_ = 0;     // measured requests issued (for --requests)
  uint64_t open_conns_ = 0;       // connections with a descriptor
  uint64_t idle_probe_next_ = 0;  // idle mode: next connection to probe
  uint64_t close_next_ = 0;       // closing: next connection to close

  BenchResult r_;
};

}  // namespace flowgate::bench
