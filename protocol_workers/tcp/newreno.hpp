// NewReno's window policy: RFC 5681 slow start and congestion avoidance, and eq. 4 at losses.
// Its fast recovery (RFC 6582 3.2) is in the connection's loss recovery; see congestion.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "stack/clock.hpp"
#include "tcp/congestion.hpp"

namespace flowgate::tcp {

class NewReno final : public CongestionControl {
 public:
  NewReno(uint32_t smss, uint32_t initial_window) : CongestionControl(smss, initial_window) {}

  std::string_view name() const override { return "newreno"; }

 private:
  void congestion_avoidance(Instant now, uint32_t bytes_acked,
                            std::optional<Duration> srtt) override;
  uint32_t reduce(Reduction why, uint32_t flight_size) override;
  void stage_ended() override { bytes_acked_ = 0; }

  // RFC 3465 2.1's bytes_acked: bytes acknowledged in congestion avoidance not yet turned into
  // a cwnd increase.
  uint32_t bytes_acked_ = 0;
};

}  // namespace flowgate::tcp
