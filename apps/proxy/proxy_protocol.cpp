#include "apps/proxy/proxy_protocol.hpp"

#include <string>

namespace flowgate::proxy {

namespace {

void put_be16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  put_be16(out, static_cast<uint16_t>(v >> 16));
  put_be16(out, static_cast<uint16_t>(v));
}

}  // namespace

std::vector<uint8_t> proxy_header_v1(const ProxiedConnection& c) {
  const std::string line = "PROXY TCP4 " + c.source.to_string() + " " + c.destination.to_string() +
                           " " + std::to_string(c.source_port) + " " +
                           std::to_string(c.destination_port) + "\r\n";
  return std::vector<uint8_t>(line.begin(), line.end());
}

std::vector<uint8_t> proxy_header_v2(const ProxiedConnection& c) {
  static constexpr uint8_t kSignature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                             0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
  constexpr uint8_t kVersion2Proxy = 0x21;  // version 2 (high nibble), command PROXY (low)
  constexpr uint8_t kTcpOverIpv4 = 0x11;    // AF_INET (high nibble), STREAM (low)
  constexpr uint16_t kIpv4AddressBlock = 12;
  std::vector<uint8_t> out(std::begin(kSignature), std::end(kSignature));
  out.push_back(kVersion2Proxy);
  out.push_back(kTcpOverIpv4);
  put_be16(out, kIpv4AddressBlock);
  put_be32(out, c.source.value);
  put_be32(out, c.destination.value);
  put_be16(out, c.source_port);
  put_be16(out, c.destination_port);
  return out;
}

}  // namespace flowgate::proxy
