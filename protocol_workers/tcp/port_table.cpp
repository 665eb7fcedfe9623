#include "tcp/port_table.hpp"

namespace flowgate::tcp {

PortTable::PortTable(uint16_t first, uint16_t last, wire::FlowSteering steering,
                     uint32_t worker_index)
    : first_(first == 0 ? uint16_t{1} : first), steering_(steering), worker_index_(worker_index) {
  assert(steering.worker_count >= 1 && worker_index < steering.worker_count);
  // A checked configuration never gets here with these; if a bad one does, it gets a table
  // that works (if it steers wrongly) rather than a division by zero.
  if (steering_.worker_count == 0) steering_.worker_count = 1;
  if (worker_index_ >= steering_.worker_count) worker_index_ = 0;
  classes_.resize(steering_.worker_count);
  size_ = last >= first_ ? uint32_t{last} - first_ + 1 : 0;
  next_.assign(size_, kNil);
  prev_.assign(size_, kNil);
  users_.assign(size_, 0);
  // In port order, so the first allocations of each class go up from the bottom of the range.
  for (uint32_t i = 0; i < size_; ++i) push_back(static_cast<Index>(i));
}

size_t PortTable::free_count() const {
  size_t n = 0;
  for (const FreeList& list : classes_) n += list.count;
  return n;
}

std::optional<uint16_t> PortTable::allocate_any() {
  const uint32_t n = steering_.worker_count;
  for (uint32_t k = 0; k < n; ++k) {
    const uint32_t residue = (next_class_ + k) % n;
    if (classes_[residue].count == 0) continue;
    next_class_ = (residue + 1) % n;
    return take(classes_[residue].head);
  }
  return std::nullopt;
}

void PortTable::acquire(uint16_t port) {
  if (!in_range(port)) return;
  const Index i = index_of(port);
  if (users_[i] == 0) unlink(i);
  ++users_[i];
}

void PortTable::release(uint16_t port) {
  if (!in_range(port)) return;
  const Index i = index_of(port);
  assert(users_[i] > 0 && "released a port nobody held");
  if (users_[i] == 0) return;
  if (--users_[i] == 0) push_back(i);
}

uint16_t PortTable::take(Index i) {
  unlink(i);
  users_[i] = 1;
  return port_of(i);
}

void PortTable::push_back(Index i) {
  FreeList& list = list_of(i);
  prev_[i] = list.tail;
  next_[i] = kNil;
  if (list.tail != kNil) {
    next_[list.tail] = i;
  } else {
    list.head = i;
  }
  list.tail = i;
  ++list.count;
}

void PortTable::unlink(Index i) {
  FreeList& list = list_of(i);
  if (prev_[i] != kNil) {
    next_[prev_[i]] = next_[i];
  } else {
    list.head = next_[i];
  }
  if (next_[i] != kNil) {
    prev_[next_[i]] = prev_[i];
  } else {
    list.tail = prev_[i];
  }
  next_[i] = prev_[i] = kNil;
  --list.count;
}

}  // namespace flowgate::tcp
