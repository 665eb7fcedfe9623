// What /healthz and /readyz answer, decided from the segment's control words alone (no
// system state the supervisor would have to share with the exporter's threads):
//
//   /healthz  alive: the supervisor answers (it serves this) and the I/O process runs. A
//             failing liveness means the gateway moves no frame at all; restarting it is the
//             cure.
//   /readyz   ready: alive, not draining, and every worker runs. A worker restarting (its
//             flows are not served meanwhile) or a drain makes it 503, so a load balancer in
//             front of several gateways sends elsewhere until it is back.
//
// The reason is one line, for a human reading `curl` output or a probe's log.
#pragma once

#include <string>

#include "shm/segment.hpp"

namespace flowgate::exporter {

struct HealthVerdict {
  bool ok = false;
  std::string reason;  // one line, no line feed
};

HealthVerdict liveness(const shm::Segment& segment);
// `draining`: the supervisor has begun stopping (SIGTERM).
HealthVerdict readiness(const shm::Segment& segment, bool draining);

}  // namespace flowgate::exporter
