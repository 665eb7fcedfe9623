// PROXY protocol headers, byte for byte (the spec's formats, sections 2.1 and 2.2).
#include "apps/proxy/proxy_protocol.hpp"

#include <gtest/gtest.h>

#include <string>

namespace flowgate::proxy {
namespace {

const ProxiedConnection kConnection{wire::Ipv4Address::from_octets(198, 18, 0, 2), 51234,
                                    wire::Ipv4Address::from_octets(198, 18, 0, 1), 8080};

TEST(ProxyProtocol, Version1IsOneTextLine) {
  const auto h = proxy_header_v1(kConnection);
  EXPECT_EQ(std::string(h.begin(), h.end()), "PROXY TCP4 198.18.0.2 198.18.0.1 51234 8080\r\n");
  // The longest IPv4 line stays far below the spec's 107-byte limit.
  const ProxiedConnection widest{wire::Ipv4Address::from_octets(255, 255, 255, 255), 65535,
                                 wire::Ipv4Address::from_octets(255, 255, 255, 255), 65535};
  EXPECT_EQ(proxy_header_v1(widest).size(), 56u);
}

TEST(ProxyProtocol, Version2IsTheSignatureThenTheIpv4Block) {
  const std::vector<uint8_t> want = {
      0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,  // signature
      0x21,                                                                    // version 2, PROXY
      0x11,                                                                    // TCP over IPv4
      0x00, 0x0C,           // 12 bytes of addresses follow
      198,  18,   0,    2,  // source address
      198,  18,   0,    1,  // destination address
      0xC8, 0x22,           // source port 51234
      0x1F, 0x90,           // destination port 8080
  };
  EXPECT_EQ(proxy_header_v2(kConnection), want);
}

}  // namespace
}  // namespace flowgate::proxy
