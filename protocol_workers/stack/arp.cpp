#include "stack/arp.hpp"

#include <algorithm>

#include "wire/arp.hpp"

namespace flowgate {

using wire::ArpOperation;
using wire::ArpReader;
using wire::ArpRepr;
using wire::Ipv4Address;
using wire::MacAddress;

Arp::Arp(const StackConfig& config, StackCounters& counters, EthernetOutput& out)
    : config_(config),
      counters_(counters),
      out_(out),
      request_limiter_(config.arp.requests_per_second, config.arp.request_burst),
      scratch_(PacketBuffer::kDefaultHeadroom + 65536) {}

void Arp::start(Instant now) {
  for (const auto& s : config_.arp.static_entries) {
    NeighbourEntry e;
    e.state = NeighbourState::permanent;
    e.mac = s.mac;
    table_[s.ip.value] = std::move(e);
  }
  publish_entries();
  if (config_.arp.gratuitous_on_start) {
    // RFC 5227 section 3 announcement: a request with sender and target IP both ours, so
    // neighbours that cached an old MAC for our address update it.
    (void)now;
    transmit_arp(MacAddress::broadcast(), static_cast<uint16_t>(ArpOperation::request),
                 MacAddress::zero(), config_.address.address);
    counters_.count(Event::arp_requests_sent);
  }
}

const NeighbourEntry* Arp::find(Ipv4Address ip) const {
  auto it = table_.find(ip.value);
  return it == table_.end() ? nullptr : &it->second;
}

void Arp::on_packet(wire::Bytes payload, Instant now) {
  auto view = ArpReader::check(payload);
  if (!view) {
    counters_.drop(view.error() == wire::WireError::truncated ? DropReason::arp_truncated
                                                              : DropReason::arp_unsupported);
    return;
  }
  const ArpRepr arp = ArpRepr::parse(*view);
  const Ipv4Address ours = config_.address.address;
  const bool is_request = arp.operation == static_cast<uint16_t>(ArpOperation::request);
  const bool is_reply = arp.operation == static_cast<uint16_t>(ArpOperation::reply);
  if (!is_request && !is_reply) {
    counters_.drop(DropReason::arp_unknown_operation);
    return;
  }
  if (arp.sender_ip == ours) {
    // Someone else uses our address (RFC 5227 calls this a conflict). We keep it and count.
    counters_.drop(DropReason::arp_address_conflict);
    return;
  }
  // RFC 5227 probes carry sender IP 0.0.0.0: answer them (defending our address) but learn
  // nothing. Otherwise the sender must be a unicast host on our subnet.
  const bool probe = is_request && arp.sender_ip.is_unspecified();
  if (!arp.sender_mac.is_unicast() ||
      (!probe && (!config_.address.contains(arp.sender_ip) ||
                  arp.sender_ip == config_.address.directed_broadcast() ||
                  arp.sender_ip == config_.address.network()))) {
    counters_.drop(DropReason::arp_bad_sender);
    return;
  }

  // Gratuitous ARP (sender IP == target IP, RFC 5227 announcements): a neighbour telling
  // everyone its MAC. Accepting it is exactly what an ARP spoofer relies on, so we don't.
  if (arp.sender_ip == arp.target_ip) {
    counters_.drop(DropReason::arp_gratuitous);
    return;
  }

  bool learned = false;
  if (arp.target_ip == ours && !probe) {
    auto it = table_.find(arp.sender_ip.value);
    if (it != table_.end() && (it->second.state == NeighbourState::incomplete ||
                               it->second.state == NeighbourState::refreshing)) {
      learn(arp.sender_ip, it->second, arp.sender_mac, now);
      learned = true;
    }
  }

  if (is_request) {
    if (arp.target_ip != ours) {
      counters_.drop(DropReason::arp_not_for_us);
      return;
    }
    if (!config_.arp.answer_requests) {
      counters_.drop(DropReason::arp_answered_by_worker_0);
      return;
    }
    counters_.count(Event::arp_requests_received);
    // RFC 826: "swap sender and target fields, put the local addresses in the sender
    // fields, set the opcode to reply, send it to the old sender's hardware address".
    send_reply(arp.sender_mac, arp.sender_ip);
    return;
  }
  if (!learned) counters_.drop(DropReason::arp_unsolicited);
}

void Arp::learn(Ipv4Address ip, NeighbourEntry& entry, const MacAddress& mac, Instant now) {
  (void)ip;
  entry.state = NeighbourState::reachable;
  entry.mac = mac;
  entry.expires = now + config_.arp.reachable_time;
  entry.requests_sent = 0;
  counters_.count(Event::arp_replies_received);
  // Drain the resolution queue in arrival order.
  while (!entry.queue.empty()) {
    auto& datagram = entry.queue.front();
    scratch_.reset();
    auto dst = scratch_.append(datagram.size());
    std::copy(datagram.begin(), datagram.end(), dst.begin());
    entry.queued_bytes -= datagram.size();
    queued_bytes_ -= datagram.size();
    entry.queue.pop_front();
    out_.transmit(mac, wire::EtherType::ipv4, scratch_);
  }
}

void Arp::fail(Ipv4Address ip, NeighbourEntry& entry) {
  // One failed resolution, however many packets waited for it (those count as drops). A
  // reachable entry that expires unused is no failure: nothing needed it any more.
  if (entry.state != NeighbourState::reachable) counters_.count(Event::arp_resolutions_failed);
  counters_.drop(DropReason::arp_resolution_timeout, entry.queue.size());
  queued_bytes_ -= entry.queued_bytes;
  table_.erase(ip.value);
  publish_entries();
}

void Arp::publish_entries() {
  counters_.set(StackGauge::arp_entries, table_.size());
}

void Arp::send_ipv4(Ipv4Address next_hop, PacketBuffer& packet, Instant now) {
  auto it = table_.find(next_hop.value);
  NeighbourEntry* entry = it == table_.end() ? nullptr : &it->second;
  if (entry == nullptr) {
    entry = make_room_and_insert(next_hop);
    if (entry == nullptr) {
      counters_.drop(DropReason::arp_table_full);
      return;
    }
    entry->state = NeighbourState::incomplete;
    entry->next_request = now;  // the request goes out below
  }
  switch (entry->state) {
    case NeighbourState::permanent:
      out_.transmit(entry->mac, wire::EtherType::ipv4, packet);
      return;
    case NeighbourState::reachable:
    case NeighbourState::refreshing:
      if (now >= entry->expires) {
        // Expired while idle (poll() had not run yet): resolve from scratch.
        entry->state = NeighbourState::incomplete;
        entry->requests_sent = 0;
        entry->next_request = now;
        break;
      }
      out_.transmit(entry->mac, wire::EtherType::ipv4, packet);
      if (entry->state == NeighbourState::reachable &&
          now + config_.arp.refresh_before_expiry >= entry->expires) {
        entry->state = NeighbourState::refreshing;
        entry->requests_sent = 0;
        entry->next_request = now;
        service(next_hop, *entry, now);
      }
      return;
    case NeighbourState::incomplete:
      break;
  }
  enqueue(*entry, packet);
  service(next_hop, *entry, now);
}

void Arp::enqueue(NeighbourEntry& entry, const PacketBuffer& packet) {
  const size_t size = packet.size();
  if (entry.queue.size() >= config_.arp.max_queued_per_neighbour ||
      queued_bytes_ + size > config_.arp.max_queued_bytes) {
    counters_.drop(DropReason::arp_queue_full);
    return;
  }
  auto bytes = packet.data();
  entry.queue.emplace_back(bytes.begin(), bytes.end());
  entry.queued_bytes += size;
  queued_bytes_ += size;
}

NeighbourEntry* Arp::make_room_and_insert(Ipv4Address ip) {
  if (table_.size() >= config_.arp.max_entries) {
    // Evict the resolved entry closest to expiry; pending resolutions and static entries
    // stay (evicting a pending one would drop its queued packets).
    auto victim = table_.end();
    for (auto it = table_.begin(); it != table_.end(); ++it) {
      const auto st = it->second.state;
      if (st != NeighbourState::reachable && st != NeighbourState::refreshing) continue;
      if (victim == table_.end() || it->second.expires < victim->second.expires) victim = it;
    }
    if (victim == table_.end()) return nullptr;
    table_.erase(victim);
  }
  NeighbourEntry* entry = &table_[ip.value];
  publish_entries();
  return entry;
}

// Advances one entry's timers: sends a due (re)request, reports whether the entry has failed
// (resolution unanswered, or a refresh not confirmed before expiry).
bool Arp::service(Ipv4Address ip, NeighbourEntry& entry, Instant now) {
  switch (entry.state) {
    case NeighbourState::permanent:
      return false;
    case NeighbourState::reachable:
      return now >= entry.expires;
    case NeighbourState::refreshing:
    case NeighbourState::incomplete:
      break;
  }
  const bool refreshing = entry.state == NeighbourState::refreshing;
  if (refreshing && now >= entry.expires) return true;
  if (now < entry.next_request) return false;
  if (entry.requests_sent >= config_.arp.max_requests) {
    // The last request's retransmit interval ran out unanswered. A refreshing entry is
    // still used until it expires.
    return !refreshing;
  }
  if (!request_limiter_.try_take(now)) {
    counters_.count(Event::arp_requests_rate_limited);
    entry.next_request = now + kRateLimitedRetry;
    return false;
  }
  // A refresh goes unicast to the MAC we hold, as Linux's probes do; a resolution is
  // broadcast.
  send_request(ip, refreshing ? std::optional(entry.mac) : std::nullopt);
  ++entry.requests_sent;
  entry.next_request = now + config_.arp.retransmit_interval;
  return false;
}

void Arp::poll(Instant now) {
  std::vector<uint32_t> failed;
  for (auto& [key, entry] : table_) {
    if (service(Ipv4Address{key}, entry, now)) failed.push_back(key);
  }
  for (uint32_t key : failed) fail(Ipv4Address{key}, table_.at(key));
}

std::optional<Instant> Arp::next_deadline() const {
  std::optional<Instant> next;
  auto consider = [&](Instant t) {
    if (!next || t < *next) next = t;
  };
  for (const auto& [key, entry] : table_) {
    switch (entry.state) {
      case NeighbourState::permanent:
        break;
      case NeighbourState::reachable:
        consider(entry.expires);
        break;
      case NeighbourState::refreshing:
        consider(entry.expires);
        if (entry.requests_sent < config_.arp.max_requests) consider(entry.next_request);
        break;
      case NeighbourState::incomplete:
        consider(entry.next_request);
        break;
    }
  }
  return next;
}

void Arp::send_request(Ipv4Address target, std::optional<MacAddress> unicast_to) {
  transmit_arp(unicast_to.value_or(MacAddress::broadcast()),
               static_cast<uint16_t>(ArpOperation::request),
               unicast_to.value_or(MacAddress::zero()), target);
  counters_.count(Event::arp_requests_sent);
}

void Arp::send_reply(const MacAddress& to_mac, Ipv4Address to_ip) {
  transmit_arp(to_mac, static_cast<uint16_t>(ArpOperation::reply), to_mac, to_ip);
  counters_.count(Event::arp_replies_sent);
}

void Arp::transmit_arp(const MacAddress& eth_dst, uint16_t operation, const MacAddress& target_mac,
                       Ipv4Address target_ip) {
  const ArpRepr repr{operation, config_.mac, config_.address.address, target_mac, target_ip};
  scratch_.reset();
  repr.emit(scratch_.append(ArpRepr::buffer_len()));
  out_.transmit(eth_dst, wire::EtherType::arp, scratch_);
}

}  // namespace flowgate
