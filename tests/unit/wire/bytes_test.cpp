#include "wire/bytes.hpp"

#include <gtest/gtest.h>

#include <array>

namespace flowgate::wire {
namespace {

TEST(Bytes, BigEndianRoundTrip) {
  std::array<std::byte, 8> buf;
  buf.fill(std::byte{0xa5});
  store_be16(buf, 1, 0x1234);
  store_be32(buf, 3, 0xdeadbeef);
  EXPECT_EQ(buf[0], std::byte{0xa5});
  EXPECT_EQ(buf[1], std::byte{0x12});
  EXPECT_EQ(buf[2], std::byte{0x34});
  EXPECT_EQ(buf[3], std::byte{0xde});
  EXPECT_EQ(buf[6], std::byte{0xef});
  EXPECT_EQ(buf[7], std::byte{0xa5});
  EXPECT_EQ(load_be16(buf, 1), 0x1234);
  EXPECT_EQ(load_be32(buf, 3), 0xdeadbeefu);
}

}  // namespace
}  // namespace flowgate::wire
