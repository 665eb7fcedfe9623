#include "wire/addresses.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string_view>

namespace flowgate::wire {
namespace {

constexpr MacAddress kMacA{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};

TEST(MacAddress, ParseGood) {
  auto m = MacAddress::parse("02:00:00:00:00:01");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(*m, kMacA);

  auto upper = MacAddress::parse("AA:bb:CC:dd:EE:0f");
  ASSERT_TRUE(upper.has_value());
  EXPECT_EQ(*upper, (MacAddress{{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x0f}}));
  EXPECT_EQ(upper->to_string(), "aa:bb:cc:dd:ee:0f");
}

TEST(MacAddress, ParseBad) {
  for (std::string_view text : {
           "",
           "02:00:00:00:00",        // five octets
           "02:00:00:00:00:01:02",  // seven octets
           "02:00:00:00:00:1",      // short last octet
           "2:00:00:00:00:01",      // short first octet
           "02-00-00-00-00-01",     // wrong separator
           "02:00:00:00:00-01",     // one wrong separator
           "02:00:00:0g:00:01",     // not hex
           "0x:00:00:00:00:01",     // prefix, not hex
           "+2:00:00:00:00:01",     // sign
           "-2:00:00:00:00:01",     // sign
           " 2:00:00:00:00:01",     // leading space
           " 02:00:00:00:00:01",    // leading junk
           "02:00:00:00:00:01 ",    // trailing junk
           "02:00:00:00:00:01:",    // trailing separator
           "002:0:00:00:00:01",     // right length, wrong grouping
           "020:00:00:00:00:01",    // three digits
           "02:00:00:00:00:0 ",     // space inside an octet
           "02::00:00:00:00:01",    // empty group
       }) {
    EXPECT_FALSE(MacAddress::parse(text).has_value()) << '"' << text << '"';
  }
}

TEST(MacAddress, ToStringRoundTrip) {
  for (std::string_view text : {"00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff", "02:00:00:00:00:01",
                                "01:00:5e:00:00:fb", "33:33:00:00:00:01", "de:ad:be:ef:00:7f"}) {
    auto m = MacAddress::parse(text);
    ASSERT_TRUE(m.has_value()) << text;
    EXPECT_EQ(m->to_string(), text);
  }
}

TEST(MacAddress, Classification) {
  const MacAddress broadcast = MacAddress::broadcast();
  EXPECT_TRUE(broadcast.is_broadcast());
  EXPECT_TRUE(broadcast.is_multicast());  // the I/G bit is set on broadcast too
  EXPECT_FALSE(broadcast.is_unicast());
  EXPECT_FALSE(broadcast.is_zero());

  const MacAddress mdns{{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}};
  EXPECT_TRUE(mdns.is_multicast());
  EXPECT_FALSE(mdns.is_broadcast());
  EXPECT_FALSE(mdns.is_unicast());

  EXPECT_TRUE(kMacA.is_unicast());
  EXPECT_FALSE(kMacA.is_multicast());
  EXPECT_FALSE(kMacA.is_broadcast());

  // The locally administered bit (0x02) is not the group bit.
  const MacAddress local{{0x03, 0x00, 0x00, 0x00, 0x00, 0x00}};
  EXPECT_TRUE(local.is_multicast());

  const MacAddress zero = MacAddress::zero();
  EXPECT_TRUE(zero.is_zero());
  EXPECT_FALSE(zero.is_unicast());
  EXPECT_FALSE(zero.is_multicast());
  EXPECT_FALSE(zero.is_broadcast());

  // ff:ff:ff:ff:ff:fe is multicast but not broadcast.
  const MacAddress almost{{0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}};
  EXPECT_FALSE(almost.is_broadcast());
  EXPECT_TRUE(almost.is_multicast());
}

TEST(MacAddress, LoadStoreAtOffset) {
  std::array<std::byte, 9> buf;
  buf.fill(std::byte{0xa5});
  const MacAddress m{{0x01, 0x23, 0x45, 0x67, 0x89, 0xab}};
  m.store(buf, 2);
  EXPECT_EQ(buf[0], std::byte{0xa5});
  EXPECT_EQ(buf[1], std::byte{0xa5});
  EXPECT_EQ(buf[2], std::byte{0x01});
  EXPECT_EQ(buf[7], std::byte{0xab});
  EXPECT_EQ(buf[8], std::byte{0xa5});
  EXPECT_EQ(MacAddress::load(buf, 2), m);
}

TEST(Ipv4Address, ParseGood) {
  auto a = Ipv4Address::parse("198.18.0.1");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->value, 0xc6120001u);
  EXPECT_EQ(*a, Ipv4Address::from_octets(198, 18, 0, 1));

  EXPECT_EQ(Ipv4Address::parse("0.0.0.0"), Ipv4Address::any());
  EXPECT_EQ(Ipv4Address::parse("255.255.255.255"), Ipv4Address::limited_broadcast());
  EXPECT_EQ(Ipv4Address::parse("1.2.3.4")->value, 0x01020304u);
}

TEST(Ipv4Address, ParseBad) {
  for (std::string_view text : {
           "",
           "1",
           "1.2.3",              // missing octet
           "1.2.3.",             // empty last octet
           "1..3.4",             // empty octet
           ".1.2.3.4",           // leading dot
           "1.2.3.4.",           // trailing dot
           "1.2.3.4.5",          // five octets
           "256.0.0.0",          // out of range, first
           "1.2.3.256",          // out of range, last
           "1.2.300.4",          // out of range, middle
           "1.2.3.1000",         // four digits
           "1.2.3.0255",         // four digits even though the value fits
           "4294967296",         // a single big number
           "99999999999.1.1.1",  // from_chars overflow
           "a1.2.3.4",           // leading junk
           " 1.2.3.4",           // leading space
           "+1.2.3.4",           // sign
           "1.2.3.-4",           // sign
           "1.2.3.4a",           // trailing junk
           "1.2.3.4 ",           // trailing space
           "1.2.3.4/24",         // a CIDR is not an address
           "0x1.2.3.4",          // hex
           "1,2,3,4",            // wrong separator
       }) {
    EXPECT_FALSE(Ipv4Address::parse(text).has_value()) << '"' << text << '"';
  }
}

TEST(Ipv4Address, ParseDoesNotReadPastTheView) {
  // The view ends before the trailing digits; parse must stop at its end.
  constexpr std::string_view backing = "10.0.0.12345";
  EXPECT_EQ(Ipv4Address::parse(backing.substr(0, 8)), Ipv4Address::from_octets(10, 0, 0, 1));
  EXPECT_FALSE(Ipv4Address::parse(backing.substr(0, 6)).has_value());  // "10.0.0"
}

TEST(Ipv4Address, ToStringRoundTrip) {
  for (std::string_view text :
       {"0.0.0.0", "255.255.255.255", "198.18.0.1", "10.0.0.255", "127.0.0.1", "224.0.0.251"}) {
    auto a = Ipv4Address::parse(text);
    ASSERT_TRUE(a.has_value()) << text;
    EXPECT_EQ(a->to_string(), text);
  }
  EXPECT_EQ(Ipv4Address{0xc0a800c7u}.to_string(), "192.168.0.199");
}

TEST(Ipv4Address, Classification) {
  EXPECT_TRUE(Ipv4Address::any().is_unspecified());
  EXPECT_FALSE(Ipv4Address::from_octets(0, 0, 0, 1).is_unspecified());
  EXPECT_TRUE(Ipv4Address::limited_broadcast().is_limited_broadcast());
  EXPECT_FALSE(Ipv4Address::from_octets(198, 18, 0, 255).is_limited_broadcast());

  EXPECT_TRUE(Ipv4Address::from_octets(224, 0, 0, 0).is_multicast());
  EXPECT_TRUE(Ipv4Address::from_octets(224, 0, 0, 251).is_multicast());
  EXPECT_TRUE(Ipv4Address::from_octets(239, 255, 255, 255).is_multicast());
  EXPECT_FALSE(Ipv4Address::from_octets(223, 255, 255, 255).is_multicast());
  EXPECT_FALSE(Ipv4Address::from_octets(240, 0, 0, 0).is_multicast());
  EXPECT_FALSE(Ipv4Address::limited_broadcast().is_multicast());

  EXPECT_TRUE(Ipv4Address::from_octets(127, 0, 0, 1).is_loopback());
  EXPECT_TRUE(Ipv4Address::from_octets(127, 255, 255, 254).is_loopback());
  EXPECT_FALSE(Ipv4Address::from_octets(126, 255, 255, 255).is_loopback());
  EXPECT_FALSE(Ipv4Address::from_octets(128, 0, 0, 0).is_loopback());
}

TEST(Ipv4Address, LoadStoreIsBigEndian) {
  std::array<std::byte, 6> buf;
  buf.fill(std::byte{0xa5});
  Ipv4Address::from_octets(198, 18, 0, 1).store(buf, 1);
  EXPECT_EQ(buf[0], std::byte{0xa5});
  EXPECT_EQ(buf[1], std::byte{198});
  EXPECT_EQ(buf[2], std::byte{18});
  EXPECT_EQ(buf[3], std::byte{0});
  EXPECT_EQ(buf[4], std::byte{1});
  EXPECT_EQ(buf[5], std::byte{0xa5});
  EXPECT_EQ(Ipv4Address::load(buf, 1), Ipv4Address::from_octets(198, 18, 0, 1));
}

TEST(Ipv4Address, OrderingFollowsNumericValue) {
  EXPECT_LT(Ipv4Address::from_octets(9, 255, 255, 255), Ipv4Address::from_octets(10, 0, 0, 0));
  EXPECT_LT(Ipv4Address::from_octets(10, 0, 0, 1), Ipv4Address::from_octets(10, 0, 1, 0));
}

TEST(Ipv4Cidr, ParseGood) {
  auto c = Ipv4Cidr::parse("198.18.0.1/24");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->address, Ipv4Address::from_octets(198, 18, 0, 1));
  EXPECT_EQ(c->prefix_len, 24);

  auto zero = Ipv4Cidr::parse("0.0.0.0/0");
  ASSERT_TRUE(zero.has_value());
  EXPECT_EQ(zero->prefix_len, 0);

  auto host = Ipv4Cidr::parse("10.1.2.3/32");
  ASSERT_TRUE(host.has_value());
  EXPECT_EQ(host->prefix_len, 32);
}

TEST(Ipv4Cidr, ParseBad) {
  for (std::string_view text : {
           "",
           "/",
           "/24",         // no address
           "1.2.3.4",     // no prefix
           "1.2.3.4/",    // empty prefix
           "1.2.3.4/33",  // prefix too long
           "1.2.3.4/100",
           "1.2.3.4/-1",
           "1.2.3.4/+24",
           "1.2.3.4/ 24",
           "1.2.3.4/24 ",  // trailing junk
           "1.2.3.4/24x",
           "1.2.3.4/24/8",
           "1.2.3.4//24",
           "1.2.3.4/0x18",
           "1.2.3.4/99999999999",  // from_chars overflow
           "1.2.3/24",             // missing octet
           "1.2.3.256/24",         // bad octet
           " 1.2.3.4/24",          // leading junk
       }) {
    EXPECT_FALSE(Ipv4Cidr::parse(text).has_value()) << '"' << text << '"';
  }
}

TEST(Ipv4Cidr, ToStringRoundTrip) {
  for (std::string_view text : {"198.18.0.1/24", "0.0.0.0/0", "10.1.2.3/32", "172.16.0.0/12"}) {
    auto c = Ipv4Cidr::parse(text);
    ASSERT_TRUE(c.has_value()) << text;
    EXPECT_EQ(c->to_string(), text);
  }
}

TEST(Ipv4Cidr, PrefixZero) {
  const Ipv4Cidr c{Ipv4Address::from_octets(198, 18, 0, 1), 0};
  EXPECT_EQ(c.netmask(), 0u);
  EXPECT_EQ(c.network(), Ipv4Address::any());
  EXPECT_EQ(c.directed_broadcast(), Ipv4Address::limited_broadcast());
  EXPECT_TRUE(c.contains(Ipv4Address::any()));
  EXPECT_TRUE(c.contains(Ipv4Address::limited_broadcast()));
  EXPECT_TRUE(c.contains(Ipv4Address::from_octets(8, 8, 8, 8)));
}

TEST(Ipv4Cidr, Prefix24) {
  const Ipv4Cidr c{Ipv4Address::from_octets(198, 18, 0, 7), 24};
  EXPECT_EQ(c.netmask(), 0xffffff00u);
  EXPECT_EQ(c.network(), Ipv4Address::from_octets(198, 18, 0, 0));
  EXPECT_EQ(c.directed_broadcast(), Ipv4Address::from_octets(198, 18, 0, 255));
  EXPECT_TRUE(c.contains(Ipv4Address::from_octets(198, 18, 0, 0)));
  EXPECT_TRUE(c.contains(Ipv4Address::from_octets(198, 18, 0, 1)));
  EXPECT_TRUE(c.contains(Ipv4Address::from_octets(198, 18, 0, 255)));
  EXPECT_FALSE(c.contains(Ipv4Address::from_octets(198, 18, 1, 0)));
  EXPECT_FALSE(c.contains(Ipv4Address::from_octets(198, 17, 255, 255)));
  EXPECT_FALSE(c.contains(Ipv4Address::from_octets(70, 18, 0, 7)));
}

TEST(Ipv4Cidr, Prefix32) {
  const Ipv4Cidr c{Ipv4Address::from_octets(10, 1, 2, 3), 32};
  EXPECT_EQ(c.netmask(), 0xffffffffu);
  EXPECT_EQ(c.network(), c.address);
  EXPECT_EQ(c.directed_broadcast(), c.address);
  EXPECT_TRUE(c.contains(c.address));
  EXPECT_FALSE(c.contains(Ipv4Address::from_octets(10, 1, 2, 2)));
  EXPECT_FALSE(c.contains(Ipv4Address::from_octets(10, 1, 2, 4)));
}

TEST(Ipv4Cidr, OtherPrefixes) {
  const Ipv4Cidr one{Ipv4Address::from_octets(200, 1, 2, 3), 1};
  EXPECT_EQ(one.netmask(), 0x80000000u);
  EXPECT_EQ(one.network(), Ipv4Address::from_octets(128, 0, 0, 0));
  EXPECT_TRUE(one.contains(Ipv4Address::from_octets(255, 0, 0, 0)));
  EXPECT_FALSE(one.contains(Ipv4Address::from_octets(127, 255, 255, 255)));

  const Ipv4Cidr p31{Ipv4Address::from_octets(10, 0, 0, 1), 31};
  EXPECT_EQ(p31.network(), Ipv4Address::from_octets(10, 0, 0, 0));
  EXPECT_EQ(p31.directed_broadcast(), Ipv4Address::from_octets(10, 0, 0, 1));

  const Ipv4Cidr p12{Ipv4Address::from_octets(172, 31, 255, 254), 12};
  EXPECT_EQ(p12.netmask(), 0xfff00000u);
  EXPECT_EQ(p12.network(), Ipv4Address::from_octets(172, 16, 0, 0));
  EXPECT_EQ(p12.directed_broadcast(), Ipv4Address::from_octets(172, 31, 255, 255));
}

}  // namespace
}  // namespace flowgate::wire
