#include "tcp/rto.hpp"

#include <algorithm>

namespace flowgate::tcp {

RtoEstimator::RtoEstimator(RtoConfig config) : config_(config), rto_(clamp(config.initial)) {}

Duration RtoEstimator::clamp(Duration d) const {
  // max wins over min if a configuration gets them crossed.
  return std::min(std::max(d, config_.min), config_.max);
}

void RtoEstimator::on_rtt_sample(Duration r) {
  if (r < Duration::zero()) return;
  if (!srtt_) {
    // RFC 6298 2.2: "When the first RTT measurement R is made, the host MUST set
    //   SRTT <- R
    //   RTTVAR <- R/2
    //   RTO <- SRTT + max (G, K*RTTVAR) where K = 4."
    srtt_ = r;
    rttvar_ = r / 2;
  } else {
    // RFC 6298 2.3, alpha = 1/8 and beta = 1/4:
    //   RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|
    //   SRTT <- (1 - alpha) * SRTT + alpha * R'
    // "The value of SRTT used in the update to RTTVAR is its value before updating SRTT
    // itself using the second assignment."
    const Duration deviation = *srtt_ > r ? *srtt_ - r : r - *srtt_;
    rttvar_ = (3 * rttvar_ + deviation) / 4;
    srtt_ = (7 * *srtt_ + r) / 8;
  }
  // "After the computation, a host MUST update RTO <- SRTT + max (G, K*RTTVAR)", then 2.4
  // (minimum) and 2.5 (maximum). A valid sample also ends any backoff (see the header).
  rto_ = clamp(*srtt_ + std::max(config_.granularity, 4 * rttvar_));
  backoff_count_ = 0;
}

void RtoEstimator::on_timeout() {
  ++backoff_count_;
  // RFC 6298 5.5, with 2.5's maximum. rto_ <= max, so doubling cannot overflow unless max is
  // beyond half the Duration range; compare instead of multiplying in that case.
  rto_ = rto_ > config_.max / 2 ? config_.max : std::min(rto_ * 2, config_.max);
}

void RtoEstimator::on_established_after_syn_timeout() {
  backoff_count_ = 0;
  // "using an RTO less than 3 seconds": the RTO before the handshake's backoff, i.e. the one
  // data would otherwise start with.
  const Duration base =
      srtt_ ? clamp(*srtt_ + std::max(config_.granularity, 4 * rttvar_)) : clamp(config_.initial);
  rto_ = base < kSynTimeoutRto ? std::min(kSynTimeoutRto, config_.max) : base;
}

}  // namespace flowgate::tcp
