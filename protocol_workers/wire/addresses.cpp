#include "wire/addresses.hpp"

#include <charconv>
#include <cstdio>

namespace flowgate::wire {

MacAddress MacAddress::load(Bytes b, size_t off) {
  MacAddress m;
  for (size_t i = 0; i < 6; ++i) m.octets[i] = load_u8(b, off + i);
  return m;
}

void MacAddress::store(MutableBytes b, size_t off) const {
  for (size_t i = 0; i < 6; ++i) store_u8(b, off + i, octets[i]);
}

std::optional<MacAddress> MacAddress::parse(std::string_view text) {
  if (text.size() != 17) return std::nullopt;
  MacAddress m;
  for (size_t i = 0; i < 6; ++i) {
    if (i > 0 && text[i * 3 - 1] != ':') return std::nullopt;
    unsigned v = 0;
    auto part = text.substr(i * 3, 2);
    auto [end, ec] = std::from_chars(part.data(), part.data() + 2, v, 16);
    if (ec != std::errc() || end != part.data() + 2) return std::nullopt;
    m.octets[i] = static_cast<uint8_t>(v);
  }
  return m;
}

std::string MacAddress::to_string() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", octets[0], octets[1], octets[2],
                octets[3], octets[4], octets[5]);
  return buf;
}

std::optional<Ipv4Address> Ipv4Address::parse(std::string_view text) {
  uint32_t value = 0;
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (int i = 0; i < 4; ++i) {
    if (i > 0) {
      if (p == end || *p != '.') return std::nullopt;
      ++p;
    }
    if (p == end || *p < '0' || *p > '9') return std::nullopt;
    // "010" would be octal to inet_aton (8) and decimal to a naive parser (10): refuse it.
    if (*p == '0' && p + 1 != end && p[1] >= '0' && p[1] <= '9') return std::nullopt;
    unsigned octet = 0;
    auto [next, ec] = std::from_chars(p, end, octet, 10);
    if (ec != std::errc() || octet > 255 || next - p > 3) return std::nullopt;
    value = (value << 8) | octet;
    p = next;
  }
  if (p != end) return std::nullopt;
  return Ipv4Address{value};
}

std::string Ipv4Address::to_string() const {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", value >> 24, (value >> 16) & 0xff,
                (value >> 8) & 0xff, value & 0xff);
  return buf;
}

std::optional<Ipv4Cidr> Ipv4Cidr::parse(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto addr = Ipv4Address::parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  auto len_text = text.substr(slash + 1);
  unsigned len = 0;
  auto [next, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len, 10);
  if (ec != std::errc() || next != len_text.data() + len_text.size() || len > 32 ||
      len_text.empty())
    return std::nullopt;
  return Ipv4Cidr{*addr, static_cast<uint8_t>(len)};
}

std::string Ipv4Cidr::to_string() const {
  return address.to_string() + "/" + std::to_string(prefix_len);
}

}  // namespace flowgate::wire
