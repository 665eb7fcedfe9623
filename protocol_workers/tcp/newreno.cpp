#include "tcp/newreno.hpp"

#include <algorithm>

namespace flowgate::tcp {

void NewReno::congestion_avoidance(Instant /*now*/, uint32_t bytes_acked,
                                   std::optional<Duration> /*srtt*/) {
  // RFC 5681 3.1: "the RECOMMENDED way to increase cwnd during congestion avoidance is to
  // count the number of bytes that have been acknowledged by ACKs for new data. ... When the
  // number of bytes acknowledged reaches cwnd, then cwnd can be incremented by up to SMSS
  // bytes." We count (RFC 3465 2.1) rather than use eq. 3, cwnd += SMSS*SMSS/cwnd, which
  // grows less than one segment per RTT with delayed ACKs. Carrying at most one window over
  // keeps a stretch ACK from buying more than one SMSS at a time.
  bytes_acked_ = static_cast<uint32_t>(
      std::min<uint64_t>(uint64_t{bytes_acked_} + bytes_acked, uint64_t{cwnd_} * 2));
  if (bytes_acked_ >= cwnd_) {
    bytes_acked_ -= cwnd_;
    cwnd_ = static_cast<uint32_t>(std::min<uint64_t>(uint64_t{cwnd_} + smss_, kMaxCwnd));
  }
}

uint32_t NewReno::reduce(Reduction /*why*/, uint32_t flight_size) {
  // RFC 5681 eq. 4: ssthresh = max (FlightSize / 2, 2*SMSS); the caller applies the floor.
  // "An easy mistake to make is to simply use cwnd, rather than FlightSize".
  return flight_size / 2;
}

}  // namespace flowgate::tcp
