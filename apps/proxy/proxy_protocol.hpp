// The PROXY protocol header (HAProxy's "The PROXY protocol", versions 1 and 2), which tells a
// backend the client's address that it cannot see behind the gateway. Sent once, before any
// of the client's bytes, on each connection to a backend.
#pragma once

#include <cstdint>
#include <vector>

#include "wire/addresses.hpp"

namespace flowgate::proxy {

struct ProxiedConnection {
  wire::Ipv4Address source;  // the client
  uint16_t source_port = 0;
  wire::Ipv4Address destination;  // the address and port the client connected to (ours)
  uint16_t destination_port = 0;
};

// Version 1 (section 2.1), text: "PROXY TCP4 <src> <dst> <sport> <dport>\r\n", at most 107
// bytes (here at most 56 for IPv4).
std::vector<uint8_t> proxy_header_v1(const ProxiedConnection& c);

// Version 2 (section 2.2), binary: the 12-byte signature, version 2 with command PROXY
// (0x21), AF_INET over STREAM (0x11), the 12-byte address block length in network order,
// then source address, destination address, source port, destination port (network order):
// 28 bytes.
std::vector<uint8_t> proxy_header_v2(const ProxiedConnection& c);

}  // namespace flowgate::proxy
