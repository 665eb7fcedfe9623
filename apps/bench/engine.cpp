#include "apps/bench/engine.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "stack/socket_api.hpp"
#include "stack/stack.hpp"

namespace flowgate::bench {

namespace {

constexpr int kEventBatch = 256;
// After the measured part, in-flight requests get this long to be answered.
constexpr Duration kDrainGrace = std::chrono::seconds(2);
// idle: after the last probe request, answers get this long.
constexpr Duration kProbeGrace = std::chrono::seconds(10);
// A udp-echo datagram not echoed within this long is lost.
constexpr Duration kUdpLossTimeout = std::chrono::seconds(1);
constexpr Duration kUdpScanInterval = std::chrono::milliseconds(100);
// After the last close, the FINs get this long to leave.
constexpr Duration kCloseLinger = std::chrono::milliseconds(200);

Duration seconds(double s) {
  return Duration(static_cast<int64_t>(s * 1e9));
}

sockaddr_in target_address(const BenchOptions& o) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(o.target_port);
  a.sin_addr.s_addr = htonl(o.target.value);
  return a;
}

void put32(std::byte* p, uint32_t v) {
  std::memcpy(p, &v, sizeof v);
}
void put64(std::byte* p, uint64_t v) {
  std::memcpy(p, &v, sizeof v);
}
uint32_t get32(const std::byte* p) {
  uint32_t v = 0;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

const char* to_string(ErrorKind kind) {
  switch (kind) {
#define FLOWGATE_CASE(name, help) \
  case ErrorKind::name:           \
    return #name;
    FLOWGATE_BENCH_ERRORS(FLOWGATE_CASE)
#undef FLOWGATE_CASE
    case ErrorKind::count:
      break;
  }
  return "?";
}

uint64_t BenchResult::error_total() const {
  uint64_t n = 0;
  for (uint64_t e : errors) n += e;
  return n;
}

Engine::Engine(const BenchOptions& options, std::vector<Stack*> stacks, const Clock& clock)
    : options_(options),
      stacks_(std::move(stacks)),
      clock_(clock),
      scratch_(64 * 1024),
      stack_ready_(stacks_.size(), options.gateway_mac.has_value()),
      probing_(stacks_.size(), 0),
      touched_(stacks_.size(), false),
      parked_(stacks_.size()),
      connect_tokens_(static_cast<uint32_t>(options.connect_rate),
                      std::max<uint32_t>(16, static_cast<uint32_t>(options.connect_rate / 200))) {
  r_.mode = options.mode;
  r_.connections_requested = options.connections;
  r_.target_rate = options.rate.value_or(0);
  const std::string host =
      options.target.to_string() +
      (options.target_port == 80 ? "" : ":" + std::to_string(options.target_port));
  request_ = "GET " + options.path + " HTTP/1.1\r\nHost: " + host + "\r\n" +
             (options.mode == Mode::http_close ? "Connection: close\r\n" : "") + "\r\n";
  for (Stack* s : stacks_) epfds_.push_back(fg_epoll_create(*s));

  started_ = clock_.now();
  if (options.mode == Mode::udp_echo) {
    udp_.resize(options.connections);
    for (uint32_t i = 0; i < udp_.size(); ++i) {
      UdpSlot& u = udp_[i];
      u.stack = static_cast<uint16_t>(i % stacks_.size());
      Stack& st = *stacks_[u.stack];
      u.fd = fg_socket(st, AF_INET, SOCK_DGRAM, 0);
      sockaddr_in any{};
      any.sin_family = AF_INET;
      fg_bind(st, u.fd, reinterpret_cast<const sockaddr*>(&any), sizeof any);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      fg_epoll_ctl(st, epfds_[u.stack], EPOLL_CTL_ADD, u.fd, &ev);
    }
    for (uint32_t i = static_cast<uint32_t>(udp_.size()); i-- > 0;) ready_.push_back(i);
  } else {
    conns_.resize(options.connections);
    for (uint32_t i = 0; i < conns_.size(); ++i) {
      conns_[i].stack = static_cast<uint16_t>(i % stacks_.size());
      if (options.rate && options.mode == Mode::http_close) {
        ready_.push_back(static_cast<uint32_t>(conns_.size() - 1 - i));
      } else {
        open_queue_.push_back(i);
        conns_[i].queued = true;
      }
    }
  }
  if (options.rate) schedule_.emplace(started_, *options.rate);
  if (options.mode == Mode::idle) {
    enter(Phase::idle_open, started_);
  } else if (options.warmup_s > 0) {
    enter(Phase::warmup, started_);
  } else {
    enter(Phase::measure, started_);
  }
}

Engine::~Engine() {
  for (Conn& c : conns_) {
    if (c.fd >= 0) fg_close(*stacks_[c.stack], c.fd);
  }
  for (UdpSlot& u : udp_) {
    if (u.fd >= 0) fg_close(*stacks_[u.stack], u.fd);
  }
  for (size_t i = 0; i < stacks_.size(); ++i) fg_close(*stacks_[i], epfds_[i]);
}

bool Engine::may_issue() const {
  if (phase_ == Phase::warmup) return true;
  if (phase_ != Phase::measure) return false;
  return !options_.requests || issued_total_ < *options_.requests;
}

void Engine::count_error(ErrorKind kind, bool counts) {
  if (counts) ++r_.errors[static_cast<size_t>(kind)];
}

void Engine::enter(Phase phase, Instant now) {
  phase_ = phase;
  switch (phase) {
    case Phase::warmup:
      phase_end_ = now + seconds(options_.warmup_s);
      break;
    case Phase::measure:
      measure_start_ = now;
      if (options_.duration_s) phase_end_ = now + seconds(*options_.duration_s);
      break;
    case Phase::drain:
      measure_end_ = now;
      phase_end_ = now + kDrainGrace;
      break;
    case Phase::idle_open:
      break;
    case Phase::idle_hold:
      phase_end_ = now + seconds(options_.hold_s);
      break;
    case Phase::idle_probe:
      measure_start_ = now;
      measure_end_ = now;
      idle_probe_next_ = 0;
      phase_end_ = Instant::max();
      break;
    case Phase::closing:
      close_next_ = 0;
      open_queue_.clear();
      phase_end_ = Instant::max();
      break;
    case Phase::done:
      break;
  }
}

void Engine::finish_unanswered() {
  for (Conn& c : conns_) {
    const bool pending = c.state == ConnState::waiting ||
                         (options_.mode == Mode::http_close && c.state == ConnState::connecting);
    if (pending && c.counted) count_error(ErrorKind::unanswered);
    if (pending) c.counted = false;
  }
  for (UdpSlot& u : udp_) {
    if (u.outstanding && u.counted) count_error(ErrorKind::unanswered);
    u.counted = false;
  }
}

bool Engine::advance_phase(Instant now) {
  switch (phase_) {
    case Phase::warmup:
      if (now < phase_end_) return false;
      enter(Phase::measure, now);
      return true;
    case Phase::measure:
      if ((options_.duration_s && now >= phase_end_) ||
          (options_.requests && issued_total_ >= *options_.requests)) {
        enter(Phase::drain, now);
        return true;
      }
      return false;
    case Phase::drain:
      if (in_flight_ > 0 && now < phase_end_) return false;
      finish_unanswered();
      enter(Phase::closing, now);
      return true;
    case Phase::idle_open:
      if (r_.connections_established + r_.connect_failures < conns_.size()) return false;
      enter(Phase::idle_hold, now);
      return true;
    case Phase::idle_hold:
      if (now < phase_end_) return false;
      enter(Phase::idle_probe, now);
      return true;
    case Phase::idle_probe:
      if (idle_probe_next_ < conns_.size()) return false;
      if (in_flight_ > 0 && now < phase_end_) return false;
      finish_unanswered();
      enter(Phase::closing, now);
      return true;
    case Phase::closing:
      if (close_next_ < std::max(conns_.size(), udp_.size()) || now < phase_end_) return false;
      enter(Phase::done, now);
      return true;
    case Phase::done:
      return false;
  }
  return false;
}

void Engine::interrupt() {
  const Instant now = clock_.now();
  if (phase_ == Phase::closing || phase_ == Phase::done) return;
  if (phase_ == Phase::measure || phase_ == Phase::warmup) measure_end_ = now;
  finish_unanswered();
  enter(Phase::closing, now);
}

bool Engine::step() {
  const Instant now = clock_.now();
  bool worked = false;
  for (uint32_t s : touched_list_) {
    touched_[s] = false;
    worked |= handle_events(s, now);
  }
  touched_list_.clear();
  if (phase_ == Phase::closing) {
    worked |= close_paced(now);
  } else if (options_.mode == Mode::udp_echo) {
    worked |= udp_issue(now);
    if (now - last_expiry_scan_ >= kUdpScanInterval) udp_expire(now);
  } else {
    worked |= open_paced(now);
    if (schedule_) worked |= issue_requests(now);
    if (phase_ == Phase::idle_probe) worked |= idle_probe(now);
  }
  while (advance_phase(now)) worked = true;
  return worked;
}

std::optional<Instant> Engine::next_wakeup() const {
  const Instant now = clock_.now();
  std::optional<Instant> t;
  auto at = [&](Instant x) { t = t ? std::min(*t, x) : x; };
  const Duration token = Duration(static_cast<int64_t>(1e9 / options_.connect_rate) + 1);
  switch (phase_) {
    case Phase::warmup:
    case Phase::drain:
    case Phase::idle_hold:
      at(phase_end_);
      break;
    case Phase::measure:
      if (options_.duration_s) at(phase_end_);
      break;
    case Phase::idle_probe:
      if (idle_probe_next_ < conns_.size()) at(now + token);
      if (phase_end_ != Instant::max()) at(phase_end_);
      break;
    case Phase::closing:
      at(close_next_ < std::max(conns_.size(), udp_.size()) ? now + token : phase_end_);
      break;
    case Phase::idle_open:
    case Phase::done:
      break;
  }
  if (!open_queue_.empty()) at(now + token);
  if (schedule_ && may_issue() && !ready_.empty()) at(schedule_->due_time(scheduled_issued_));
  if (options_.mode == Mode::udp_echo && in_flight_ > 0) at(last_expiry_scan_ + kUdpScanInterval);
  return t;
}

// --- TCP connections ----------------------------------------------------------------------

bool Engine::handle_events(uint32_t s, Instant now) {
  Stack& st = *stacks_[s];
  epoll_event events[kEventBatch];
  bool worked = false;
  for (;;) {
    const int n = fg_epoll_wait(st, epfds_[s], events, kEventBatch, 0);
    for (int i = 0; i < n; ++i) {
      const auto index = static_cast<uint32_t>(events[i].data.u64);
      if (options_.mode == Mode::udp_echo) {
        udp_on_readable(index, now);
      } else {
        on_conn_event(index, events[i].events, now);
      }
    }
    if (n > 0) worked = true;
    if (n < kEventBatch) return worked;
  }
}

void Engine::on_conn_event(uint32_t index, uint32_t events, Instant now) {
  Conn& c = conns_[index];
  if (c.fd < 0) return;
  if (c.state == ConnState::connecting) {
    if ((events & (EPOLLERR | EPOLLHUP)) != 0) {
      int err = 0;
      socklen_t len = sizeof err;
      fg_getsockopt(*stacks_[c.stack], c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      conn_failed(index,
                  err == ECONNREFUSED ? ErrorKind::connect_refused
                  : err == ETIMEDOUT  ? ErrorKind::connect_timeout
                                      : ErrorKind::connect_other,
                  now);
      return;
    }
    if ((events & EPOLLOUT) != 0) on_established(index, now);
    return;
  }
  on_readable(index, now);
}

void Engine::conn_failed(uint32_t index, ErrorKind kind, Instant now) {
  Conn& c = conns_[index];
  ++r_.connect_failures;
  const uint32_t s = c.stack;
  if (!stack_ready_[s]) {
    --probing_[s];
    // A reset came back: the target's MAC is known, the stack may open at full pace.
    if (kind == ErrorKind::connect_refused) {
      stack_ready_[s] = true;
      for (uint32_t p : parked_[s]) open_queue_.push_back(p);
      parked_[s].clear();
    }
  }
  const bool was_request = options_.mode == Mode::http_close;
  count_error(kind, was_request ? c.counted : true);
  if (was_request) --in_flight_;
  c.counted = false;
  (void)now;
  release(index, options_.mode != Mode::idle);
}

void Engine::on_established(uint32_t index, Instant now) {
  Conn& c = conns_[index];
  Stack& st = *stacks_[c.stack];
  ++r_.connections_established;
  const uint32_t s = c.stack;
  if (!stack_ready_[s]) {
    stack_ready_[s] = true;
    --probing_[s];
    for (uint32_t p : parked_[s]) open_queue_.push_back(p);
    parked_[s].clear();
  }
  // From now on only input matters (level-triggered EPOLLOUT would report every round).
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.u64 = index;
  fg_epoll_ctl(st, epfds_[s], EPOLL_CTL_MOD, c.fd, &ev);
  c.state = ConnState::idle;
  switch (options_.mode) {
    case Mode::http_keepalive:
      if (schedule_) {
        ready_.push_back(index);
      } else if (may_issue()) {
        send_request(index, now, now);
      }
      break;
    case Mode::http_close:
      // The request was counted when the connection was opened; a run that ended meanwhile
      // has already counted it unanswered.
      if (phase_ == Phase::closing || phase_ == Phase::done) break;
      send_request(index, c.started, now);
      break;
    case Mode::idle:
    case Mode::udp_echo:
      break;
  }
}

bool Engine::send_request(uint32_t index, Instant due, Instant now) {
  Conn& c = conns_[index];
  const ssize_t n = fg_send(*stacks_[c.stack], c.fd, request_.data(), request_.size(), 0);
  if (options_.mode != Mode::http_close) {
    c.counted = measuring() || phase_ == Phase::idle_probe;
    if (c.counted) {
      ++r_.requests;
      ++issued_total_;
    }
    ++in_flight_;
  }
  c.started = due;
  if (n != static_cast<ssize_t>(request_.size())) {
    count_error(ErrorKind::send_failed, c.counted);
    --in_flight_;
    c.counted = false;
    release(index, options_.mode != Mode::idle);
    return false;
  }
  (void)now;
  c.state = ConnState::waiting;
  return true;
}

void Engine::response_done(Conn& c, Instant now) {
  if (c.counted) {
    ++r_.responses;
    r_.latency.record(static_cast<uint64_t>(std::max<int64_t>(0, (now - c.started).count())));
    if (c.reader.last_status() >= 400) count_error(ErrorKind::http_status);
    last_response_ = now;
  }
  c.counted = false;
  --in_flight_;
  c.reader.reset();
  c.state = options_.mode == Mode::http_close ? ConnState::closing : ConnState::idle;
}

void Engine::on_readable(uint32_t index, Instant now) {
  Conn& c = conns_[index];
  Stack& st = *stacks_[c.stack];
  for (;;) {
    const ssize_t n = fg_recv(st, c.fd, scratch_.data(), scratch_.size(), 0);
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) {
      // ECONNRESET (or any other end): what was in progress failed.
      if (c.state == ConnState::waiting) {
        count_error(ErrorKind::reset, c.counted);
        --in_flight_;
      } else if (c.state != ConnState::closing) {
        count_error(ErrorKind::closed_while_idle);
      }
      c.counted = false;
      release(index, options_.mode != Mode::idle);
      return;
    }
    if (n == 0) {
      if (c.state == ConnState::waiting) {
        if (c.reader.finish_at_close()) {
          // Framed by the close (RFC 9112 6.3 rule 8).
          response_done(c, now);
        } else {
          count_error(ErrorKind::closed_early, c.counted);
          --in_flight_;
          c.counted = false;
        }
      } else if (c.state == ConnState::idle) {
        count_error(ErrorKind::closed_while_idle);
      }
      const bool reopen =
          options_.mode == Mode::http_close ? true : options_.mode == Mode::http_keepalive;
      release(index, reopen);
      return;
    }
    if (c.counted || measuring()) r_.bytes_in += static_cast<uint64_t>(n);
    std::span<const std::byte> data(scratch_.data(), static_cast<size_t>(n));
    while (!data.empty()) {
      if (c.state != ConnState::waiting) {
        count_error(ErrorKind::unexpected_data);
        release(index, options_.mode == Mode::http_keepalive || options_.mode == Mode::http_close);
        return;
      }
      const auto fed = c.reader.feed(data);
      data = data.subspan(fed.consumed);
      if (fed.error != ResponseError::none) {
        count_error(ErrorKind::bad_response, c.counted);
        --in_flight_;
        c.counted = false;
        release(index, options_.mode != Mode::idle);
        return;
      }
      if (!fed.complete) break;
      response_done(c, now);
      if (options_.mode == Mode::http_keepalive) {
        if (!data.empty()) continue;  // counted as unexpected above
        if (schedule_) {
          ready_.push_back(index);
        } else if (may_issue()) {
          if (!send_request(index, now, now)) return;
        }
      }
    }
  }
}

void Engine::release(uint32_t index, bool reopen) {
  Conn& c = conns_[index];
  if (c.fd >= 0) {
    fg_close(*stacks_[c.stack], c.fd);
    --open_conns_;
  }
  c.fd = -1;
  c.state = ConnState::free;
  c.counted = false;
  c.reader.reset();
  if (!reopen || c.queued) return;
  if (options_.mode == Mode::http_close && schedule_) {
    ready_.push_back(index);
  } else if (may_issue()) {
    open_queue_.push_back(index);
    c.queued = true;
  }
}

bool Engine::open(uint32_t index, Instant now) {
  Conn& c = conns_[index];
  Stack& st = *stacks_[c.stack];
  c.queued = false;
  if (options_.mode == Mode::http_close) {
    // In http-close a request is a connection: it counts from here.
    if (!schedule_) c.started = now;
    c.counted = measuring();
    if (c.counted) {
      ++r_.requests;
      ++issued_total_;
    }
    ++in_flight_;
  }
  c.fd = fg_socket(st, AF_INET, SOCK_STREAM, 0);
  if (c.fd < 0) {
    count_error(ErrorKind::connect_other);
    if (options_.mode == Mode::http_close) --in_flight_;
    return false;
  }
  ++open_conns_;
  const sockaddr_in to = target_address(options_);
  if (fg_connect(st, c.fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) < 0 &&
      errno != EINPROGRESS) {
    // EADDRNOTAVAIL: every port to this target is taken (TIME-WAIT included).
    ++r_.connect_failures;
    count_error(ErrorKind::connect_other, options_.mode == Mode::http_close ? c.counted : true);
    if (options_.mode == Mode::http_close) --in_flight_;
    release(index, false);
    return false;
  }
  epoll_event ev{};
  ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
  ev.data.u64 = index;
  fg_epoll_ctl(st, epfds_[c.stack], EPOLL_CTL_ADD, c.fd, &ev);
  c.state = ConnState::connecting;
  if (!stack_ready_[c.stack]) ++probing_[c.stack];
  return true;
}

bool Engine::open_paced(Instant now) {
  bool worked = false;
  while (!open_queue_.empty()) {
    const uint32_t index = open_queue_.front();
    const uint32_t s = conns_[index].stack;
    if (!stack_ready_[s] && probing_[s] >= 1) {
      // Until the stack has resolved the target (ARP), one attempt at a time: the others
      // would only wait in ARP's short queue, or be dropped from it.
      open_queue_.pop_front();
      parked_[s].push_back(index);
      continue;
    }
    if (!connect_tokens_.try_take(now)) break;
    open_queue_.pop_front();
    open(index, now);
    worked = true;
  }
  return worked;
}

bool Engine::issue_requests(Instant now) {
  bool worked = false;
  const uint64_t due = schedule_->due_by(now);
  while (scheduled_issued_ < due && may_issue() && !ready_.empty()) {
    const uint32_t index = ready_.back();
    ready_.pop_back();
    Conn& c = conns_[index];
    const Instant when = schedule_->due_time(scheduled_issued_);
    if (options_.mode == Mode::http_keepalive) {
      if (c.state != ConnState::idle) continue;  // closed since it was ready
      ++scheduled_issued_;
      send_request(index, when, now);
    } else {
      if (c.state != ConnState::free) continue;
      ++scheduled_issued_;
      c.started = when;
      open(index, now);
    }
    worked = true;
  }
  return worked;
}

bool Engine::idle_probe(Instant now) {
  bool worked = false;
  while (idle_probe_next_ < conns_.size()) {
    Conn& c = conns_[idle_probe_next_];
    if (c.state != ConnState::idle) {
      ++idle_probe_next_;
      continue;
    }
    if (!connect_tokens_.try_take(now)) break;
    send_request(static_cast<uint32_t>(idle_probe_next_++), now, now);
    worked = true;
  }
  if (idle_probe_next_ >= conns_.size() && phase_end_ == Instant::max()) {
    phase_end_ = now + kProbeGrace;
  }
  return worked;
}

bool Engine::close_paced(Instant now) {
  bool worked = false;
  const size_t total = std::max(conns_.size(), udp_.size());
  while (close_next_ < total) {
    if (!udp_.empty()) {
      UdpSlot& u = udp_[close_next_++];
      if (u.fd >= 0) fg_close(*stacks_[u.stack], u.fd);
      u.fd = -1;
      continue;
    }
    Conn& c = conns_[close_next_];
    if (c.fd < 0) {
      ++close_next_;
      continue;
    }
    if (!connect_tokens_.try_take(now)) break;
    ++close_next_;
    release(static_cast<uint32_t>(close_next_ - 1), false);
    worked = true;
  }
  if (close_next_ >= total && phase_end_ == Instant::max()) phase_end_ = now + kCloseLinger;
  return worked;
}

// --- UDP echo -----------------------------------------------------------------------------

bool Engine::udp_send(uint32_t slot, Instant due, Instant now) {
  UdpSlot& u = udp_[slot];
  Stack& st = *stacks_[u.stack];
  const size_t size = options_.payload;
  std::byte* p = scratch_.data();
  std::memset(p, 'x', size);
  put32(p, slot);
  put32(p + 4, ++u.generation);
  put64(p + 8, static_cast<uint64_t>(due.time_since_epoch().count()));
  const sockaddr_in to = target_address(options_);
  u.counted = measuring();
  if (fg_sendto(st, u.fd, p, size, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) < 0) {
    count_error(ErrorKind::udp_send_failed, u.counted);
    u.counted = false;
    return false;
  }
  if (u.counted) {
    ++r_.requests;
    ++issued_total_;
  }
  ++in_flight_;
  u.outstanding = true;
  u.started = due;
  if (!stack_ready_[u.stack]) ++probing_[u.stack];
  (void)now;
  return true;
}

void Engine::udp_on_readable(uint32_t slot, Instant now) {
  UdpSlot& u = udp_[slot];
  Stack& st = *stacks_[u.stack];
  for (;;) {
    const ssize_t n = fg_recvfrom(st, u.fd, scratch_.data(), scratch_.size(), 0, nullptr, nullptr);
    if (n < 0) return;
    if (static_cast<size_t>(n) < kMinUdpPayload || get32(scratch_.data()) != slot ||
        get32(scratch_.data() + 4) != u.generation || !u.outstanding) {
      continue;  // a late echo of a datagram already counted lost, or not ours
    }
    u.outstanding = false;
    --in_flight_;
    if (u.counted) {
      ++r_.responses;
      r_.bytes_in += static_cast<uint64_t>(n);
      r_.latency.record(static_cast<uint64_t>(std::max<int64_t>(0, (now - u.started).count())));
      last_response_ = now;
    }
    u.counted = false;
    if (!stack_ready_[u.stack]) {
      stack_ready_[u.stack] = true;
      --probing_[u.stack];
      for (uint32_t p : parked_[u.stack]) ready_.push_back(p);
      parked_[u.stack].clear();
    } else if (probing_[u.stack] > 0) {
      --probing_[u.stack];
    }
    ready_.push_back(slot);
  }
}

bool Engine::udp_issue(Instant now) {
  bool worked = false;
  const uint64_t due = schedule_ ? schedule_->due_by(now) : ~uint64_t{0};
  while (!ready_.empty() && may_issue() && scheduled_issued_ < due) {
    const uint32_t slot = ready_.back();
    const uint32_t s = udp_[slot].stack;
    ready_.pop_back();
    if (!stack_ready_[s] && probing_[s] >= 1) {
      parked_[s].push_back(slot);
      continue;
    }
    const Instant when = schedule_ ? schedule_->due_time(scheduled_issued_) : now;
    if (schedule_) ++scheduled_issued_;
    worked = true;
    if (!udp_send(slot, when, now)) {
      ready_.insert(ready_.begin(), slot);  // tried again next round, not in a loop now
      break;
    }
  }
  return worked;
}

void Engine::udp_expire(Instant now) {
  last_expiry_scan_ = now;
  for (uint32_t i = 0; i < udp_.size(); ++i) {
    UdpSlot& u = udp_[i];
    if (!u.outstanding || now - u.started < kUdpLossTimeout) continue;
    u.outstanding = false;
    --in_flight_;
    count_error(ErrorKind::udp_lost, u.counted);
    u.counted = false;
    if (!stack_ready_[u.stack] && probing_[u.stack] > 0) --probing_[u.stack];
    ready_.push_back(i);
  }
}

BenchResult Engine::result() const {
  BenchResult r = r_;
  const Instant end =
      std::max(measure_end_ == Instant{} ? clock_.now() : measure_end_, last_response_);
  if (measure_start_ != Instant{}) {
    r.duration_s = std::chrono::duration<double>(end - measure_start_).count();
  }
  return r;
}

}  // namespace flowgate::bench
