#include "stack/stack.hpp"

#include "wire/ethernet.hpp"

namespace flowgate {

using wire::EtherType;

Stack::Stack(StackConfig config, const Clock& clock, Link& link, StackCounters* counters)
    : config_(std::move(config)),
      clock_(clock),
      link_(link),
      counters_(counters != nullptr ? counters : &own_counters_),
      arp_(config_, *counters_, *this),
      ipv4_(config_, *counters_, arp_),
      icmp_(config_, *counters_, ipv4_),
      udp_(config_, *counters_, ipv4_, icmp_),
      tcp_(config_, config_.tcp, *counters_, ipv4_,
           config_.secret_key ? *config_.secret_key : tcp::random_key(), clock.now()) {
  // Counters placed in shared memory may come from a worker that died: they continue, but
  // its gauges described tables that died with it.
  counters_->reset_gauges();
  ipv4_.set_icmp(&icmp_);
  ipv4_.register_transport(static_cast<uint8_t>(wire::IpProtocol::icmp), &icmp_);
  ipv4_.register_transport(static_cast<uint8_t>(wire::IpProtocol::udp), &udp_);
  ipv4_.register_transport(static_cast<uint8_t>(wire::IpProtocol::tcp), &tcp_);
  tcp_.set_readiness_observer(this);
}

void Stack::start() {
  arp_.start(clock_.now());
}

void Stack::receive(wire::Bytes frame) {
  const Instant now = clock_.now();
  counters_->count(Event::frames_received);
  counters_->count(Event::bytes_received, frame.size());
  auto eth = wire::EthernetReader::check(frame);
  if (!eth) {
    counters_->drop(DropReason::eth_truncated);
    return;
  }
  const wire::MacAddress dst = eth->dst();
  // We join no multicast groups: only our MAC and broadcast are ours.
  if (dst != config_.mac && !dst.is_broadcast()) {
    counters_->drop(DropReason::eth_not_for_us);
    return;
  }
  const auto tci = eth->vlan_tci();
  const std::optional<uint16_t> vid =
      tci ? std::optional<uint16_t>(static_cast<uint16_t>(*tci & 0x0fff)) : std::nullopt;
  if (vid != config_.vlan_id) {
    counters_->drop(DropReason::eth_vlan_mismatch);
    return;
  }
  switch (static_cast<EtherType>(eth->ethertype())) {
    case EtherType::arp:
      arp_.on_packet(eth->payload(), now);
      return;
    case EtherType::ipv4:
      ipv4_.on_packet(eth->payload(), dst.is_broadcast(), now);
      return;
    default:
      counters_->drop(DropReason::eth_unknown_ethertype);
      return;
  }
}

void Stack::transmit(wire::MacAddress dst, EtherType type, PacketBuffer& packet) {
  wire::EthernetRepr eth{dst, config_.mac, std::nullopt, static_cast<uint16_t>(type)};
  if (config_.vlan_id) eth.vlan_tci = *config_.vlan_id;
  eth.emit(packet.prepend(eth.buffer_len()));
  if (!link_.transmit(packet.data())) {
    counters_->drop(DropReason::link_transmit_full);
    return;
  }
  counters_->count(Event::frames_sent);
  counters_->count(Event::bytes_sent, packet.size());
}

void Stack::poll() {
  const Instant now = clock_.now();
  arp_.poll(now);
  ipv4_.poll(now);
  tcp_.poll(now);
}

std::optional<Instant> Stack::next_deadline() const {
  std::optional<Instant> next;
  for (auto d : {arp_.next_deadline(), ipv4_.next_deadline(), tcp_.next_deadline()}) {
    if (d && (!next || *d < *next)) next = d;
  }
  return next;
}

int Stack::allocate_fd(SocketKind kind, int id) {
  int fd;
  if (!free_fds_.empty()) {
    fd = free_fds_.top();
    free_fds_.pop();
    fds_[static_cast<size_t>(fd)] = {kind, 0, id};
  } else {
    fds_.push_back({kind, 0, id});
    fd = static_cast<int>(fds_.size() - 1);
  }
  if (kind == SocketKind::tcp) tcp_.set_tag(id, fd);
  return fd;
}

void Stack::readiness_may_have_changed(int fd) {
  SocketSlot* s = slot(fd);
  if (s == nullptr || s->watchers == 0) return;
  for (auto& [id, set] : epoll_sets_) set.queue(fd);
}

SocketSlot* Stack::slot(int fd) {
  if (fd < 0 || static_cast<size_t>(fd) >= fds_.size()) return nullptr;
  SocketSlot* s = &fds_[static_cast<size_t>(fd)];
  return s->kind == SocketKind::none ? nullptr : s;
}

void Stack::release_fd(int fd) {
  if (SocketSlot* s = slot(fd)) {
    *s = {};
    free_fds_.push(fd);
  }
}

}  // namespace flowgate
