#include "wire/tcp.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace flowgate::wire {
namespace {

// Golden segments, 198.18.0.1 <-> 198.18.0.2. Built by hand from the RFC 9293 layout and
// cross-checked byte for byte (checksums included) against scapy.

// Linux-style SYN, 198.18.0.1:54321 -> 198.18.0.2:80: MSS 1460, SACKP TS, NOP WS 7.
constexpr uint8_t kSyn[] = {
    0xd4, 0x31, 0x00, 0x50, 0x6a, 0x2f, 0x8c, 0x01, 0x00, 0x00, 0x00, 0x00,  //
    0xa0, 0x02, 0xfa, 0xf0, 0x59, 0xe8, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,  //
    0x04, 0x02, 0x08, 0x0a, 0x00, 0x0b, 0x9c, 0x41, 0x00, 0x00, 0x00, 0x00,  //
    0x01, 0x03, 0x03, 0x07,
};

// PSH|ACK with NOP NOP TS and "hello\n", 198.18.0.2:80 -> 198.18.0.1:54321.
constexpr uint8_t kData[] = {
    0x00, 0x50, 0xd4, 0x31, 0x1a, 0x2b, 0x3c, 0x4d, 0x6a, 0x2f, 0x8c, 0x02,  //
    0x80, 0x18, 0x01, 0xfd, 0xd5, 0x01, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a,  //
    0x00, 0x00, 0x12, 0x34, 0x00, 0x0b, 0x9c, 0x41, 0x68, 0x65, 0x6c, 0x6c,  //
    0x6f, 0x0a,
};

// Bare ACK, no options, odd-length payload "abc", 198.18.0.1 -> 198.18.0.2.
constexpr uint8_t kPlain[] = {
    0xd4, 0x31, 0x00, 0x50, 0x6a, 0x2f, 0x8c, 0x02, 0x1a, 0x2b, 0x3c, 0x53,  //
    0x50, 0x10, 0x20, 0x00, 0x1e, 0x15, 0x00, 0x00, 0x61, 0x62, 0x63,
};

// ACK with NOP NOP TS and NOP NOP SACK of three blocks: a full 60-byte header.
constexpr uint8_t kSack[] = {
    0xd4, 0x31, 0x00, 0x50, 0x6a, 0x2f, 0x8c, 0x05, 0x1a, 0x2b, 0x3c, 0x53,  //
    0xf0, 0x10, 0x01, 0xf5, 0x71, 0xe4, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a,  //
    0x00, 0x0b, 0x9d, 0x00, 0x00, 0x00, 0x12, 0x40, 0x01, 0x01, 0x05, 0x1a,  //
    0x1a, 0x2b, 0x40, 0x00, 0x1a, 0x2b, 0x44, 0x00, 0x1a, 0x2b, 0x3e, 0x00,  //
    0x1a, 0x2b, 0x3f, 0x00, 0x1a, 0x2b, 0x48, 0x00, 0x1a, 0x2b, 0x4a, 0x00,
};

constexpr Ipv4Address kClient = Ipv4Address::from_octets(198, 18, 0, 1);
constexpr Ipv4Address kServer = Ipv4Address::from_octets(198, 18, 0, 2);
constexpr std::byte kFill{0xa5};

std::vector<std::byte> bytes(std::span<const uint8_t> raw) {
  std::vector<std::byte> out;
  for (uint8_t b : raw) out.push_back(std::byte{b});
  return out;
}

std::vector<std::byte> bytes(std::initializer_list<uint8_t> raw) {
  return bytes(std::span<const uint8_t>(raw.begin(), raw.size()));
}

std::string text(Bytes b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// Emits into a buffer of exactly buffer_len() bytes pre-filled with 0xa5.
std::vector<std::byte> emit(const TcpRepr& repr, Ipv4Address src, Ipv4Address dst) {
  std::vector<std::byte> out(repr.buffer_len(), kFill);
  EXPECT_EQ(repr.emit(out, src, dst), out.size());
  return out;
}

std::vector<std::byte> emit(const TcpOptions& options) {
  std::vector<std::byte> out(options.buffer_len(), kFill);
  EXPECT_EQ(options.emit(out), out.size());
  return out;
}

// Recomputes the checksum after a test edits a golden segment.
void fix_checksum(std::vector<std::byte>& seg, Ipv4Address src, Ipv4Address dst) {
  store_be16(seg, TcpReader::kChecksumOffset, 0);
  ChecksumAccumulator acc;
  add_pseudo_header(acc, src, dst, static_cast<uint8_t>(IpProtocol::tcp),
                    static_cast<uint16_t>(seg.size()));
  acc.add(seg);
  store_be16(seg, TcpReader::kChecksumOffset, acc.finish());
}

TcpRepr parse_ok(const std::vector<std::byte>& seg, Ipv4Address src, Ipv4Address dst) {
  auto view = TcpReader::check(seg);
  EXPECT_TRUE(view.ok()) << to_string(view.error());
  if (!view) return {};
  auto repr = TcpRepr::parse(*view, src, dst);
  EXPECT_TRUE(repr.ok()) << to_string(repr.error());
  return repr ? *repr : TcpRepr{};
}

// ---------------------------------------------------------------------------------------
// Golden round trips

TEST(TcpRepr, SynGoldenParse) {
  const auto seg = bytes(kSyn);
  auto view = TcpReader::check(seg);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->src_port(), 54321);
  EXPECT_EQ(view->dst_port(), 80);
  EXPECT_EQ(view->seq_number(), 0x6a2f8c01u);
  EXPECT_EQ(view->ack_number(), 0u);
  EXPECT_EQ(view->data_offset(), 10);
  EXPECT_EQ(view->header_len(), 40u);
  EXPECT_EQ(view->flags(), TcpFlags(TcpFlag::syn));
  EXPECT_EQ(view->window(), 64240);
  EXPECT_EQ(view->checksum(), 0x59e8);
  EXPECT_EQ(view->urgent_pointer(), 0);
  EXPECT_EQ(view->options().data(), seg.data() + 20);
  EXPECT_EQ(view->options().size(), 20u);
  EXPECT_TRUE(view->payload().empty());
  EXPECT_TRUE(view->checksum_valid(kClient, kServer));

  auto repr = TcpRepr::parse(*view, kClient, kServer);
  ASSERT_TRUE(repr.ok()) << to_string(repr.error());
  EXPECT_EQ(repr->src_port, 54321);
  EXPECT_EQ(repr->dst_port, 80);
  EXPECT_EQ(repr->seq, 0x6a2f8c01u);
  EXPECT_EQ(repr->ack, 0u);
  EXPECT_EQ(repr->flags, TcpFlags(TcpFlag::syn));
  EXPECT_EQ(repr->window, 64240);
  EXPECT_EQ(repr->urgent_pointer, 0);
  EXPECT_EQ(repr->options.mss, 1460);
  EXPECT_TRUE(repr->options.sack_permitted);
  EXPECT_EQ(repr->options.timestamps, (TcpTimestamps{0x000b9c41, 0}));
  EXPECT_EQ(repr->options.window_scale, 7);
  EXPECT_TRUE(repr->options.sack().empty());
  EXPECT_TRUE(repr->payload.empty());
  EXPECT_EQ(repr->header_len(), 40u);
  EXPECT_EQ(repr->buffer_len(), 40u);
}

TEST(TcpRepr, SynGoldenEmit) {
  TcpRepr repr;
  repr.src_port = 54321;
  repr.dst_port = 80;
  repr.seq = 0x6a2f8c01;
  repr.flags = TcpFlag::syn;
  repr.window = 64240;
  repr.options.mss = 1460;
  repr.options.sack_permitted = true;
  repr.options.timestamps = TcpTimestamps{0x000b9c41, 0};
  repr.options.window_scale = 7;
  EXPECT_EQ(emit(repr, kClient, kServer), bytes(kSyn));

  // Nothing is written past buffer_len().
  std::vector<std::byte> big(64, kFill);
  EXPECT_EQ(repr.emit(big, kClient, kServer), 40u);
  EXPECT_EQ(std::vector<std::byte>(big.begin(), big.begin() + 40), bytes(kSyn));
  for (size_t i = 40; i < big.size(); ++i) EXPECT_EQ(big[i], kFill) << i;
}

TEST(TcpRepr, DataGoldenRoundTrip) {
  const auto seg = bytes(kData);
  auto view = TcpReader::check(seg);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->header_len(), 32u);
  EXPECT_EQ(view->payload().data(), seg.data() + 32);
  EXPECT_EQ(text(view->payload()), "hello\n");

  const TcpRepr repr = parse_ok(seg, kServer, kClient);
  EXPECT_EQ(repr.src_port, 80);
  EXPECT_EQ(repr.dst_port, 54321);
  EXPECT_EQ(repr.seq, 0x1a2b3c4du);
  EXPECT_EQ(repr.ack, 0x6a2f8c02u);
  EXPECT_EQ(repr.flags, TcpFlag::psh | TcpFlag::ack);
  EXPECT_EQ(repr.window, 509);
  EXPECT_EQ(repr.urgent_pointer, 0);
  EXPECT_FALSE(repr.options.mss);
  EXPECT_FALSE(repr.options.window_scale);
  EXPECT_FALSE(repr.options.sack_permitted);
  EXPECT_EQ(repr.options.timestamps, (TcpTimestamps{0x1234, 0x000b9c41}));
  EXPECT_EQ(repr.payload.data(), seg.data() + 32);
  EXPECT_EQ(text(repr.payload), "hello\n");
  EXPECT_EQ(repr.buffer_len(), seg.size());
  EXPECT_EQ(emit(repr, kServer, kClient), seg);
}

TEST(TcpRepr, NoOptionsGoldenRoundTrip) {
  const auto seg = bytes(kPlain);
  auto view = TcpReader::check(seg);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->header_len(), 20u);
  EXPECT_TRUE(view->options().empty());
  EXPECT_EQ(text(view->payload()), "abc");

  const TcpRepr repr = parse_ok(seg, kClient, kServer);
  EXPECT_EQ(repr.seq, 0x6a2f8c02u);
  EXPECT_EQ(repr.ack, 0x1a2b3c53u);
  EXPECT_EQ(repr.flags, TcpFlags(TcpFlag::ack));
  EXPECT_EQ(repr.window, 0x2000);
  EXPECT_EQ(repr.options, TcpOptions{});
  EXPECT_EQ(repr.options.buffer_len(), 0u);
  EXPECT_EQ(text(repr.payload), "abc");
  EXPECT_EQ(emit(repr, kClient, kServer), seg);
}

TEST(TcpRepr, SackGoldenRoundTrip) {
  const auto seg = bytes(kSack);
  const TcpRepr repr = parse_ok(seg, kClient, kServer);
  EXPECT_EQ(repr.options.timestamps, (TcpTimestamps{0x000b9d00, 0x1240}));
  ASSERT_EQ(repr.options.sack().size(), 3u);
  EXPECT_EQ(repr.options.sack()[0], (TcpSackBlock{0x1a2b4000, 0x1a2b4400}));
  EXPECT_EQ(repr.options.sack()[1], (TcpSackBlock{0x1a2b3e00, 0x1a2b3f00}));
  EXPECT_EQ(repr.options.sack()[2], (TcpSackBlock{0x1a2b4800, 0x1a2b4a00}));
  EXPECT_TRUE(repr.payload.empty());
  EXPECT_EQ(repr.header_len(), 60u);
  EXPECT_EQ(emit(repr, kClient, kServer), seg);
}

// NS lives in byte 12, the other eight flags in byte 13; all nine survive a round trip.
TEST(TcpRepr, NsAndEcnFlagsRoundTrip) {
  auto seg = bytes(kPlain);
  seg[12] = std::byte{0x51};
  seg[13] = std::byte{0xc2};  // CWR ECE SYN
  fix_checksum(seg, kClient, kServer);
  const TcpRepr repr = parse_ok(seg, kClient, kServer);
  EXPECT_EQ(repr.flags, TcpFlags(TcpFlag::ns) | TcpFlag::cwr | TcpFlag::ece | TcpFlag::syn);
  EXPECT_EQ(emit(repr, kClient, kServer), seg);
}

// Reserved bits are ignored on parse and written as zero.
TEST(TcpRepr, ReservedBitsIgnored) {
  auto seg = bytes(kPlain);
  seg[12] = std::byte{0x5e};
  fix_checksum(seg, kClient, kServer);
  const TcpRepr repr = parse_ok(seg, kClient, kServer);
  EXPECT_EQ(repr.flags, TcpFlags(TcpFlag::ack));
  EXPECT_EQ(emit(repr, kClient, kServer), bytes(kPlain));
}

// ---------------------------------------------------------------------------------------
// Checksum

TEST(TcpView, ChecksumValidAndInvalid) {
  for (auto golden : {std::span<const uint8_t>(kSyn), std::span<const uint8_t>(kData),
                      std::span<const uint8_t>(kPlain), std::span<const uint8_t>(kSack)}) {
    const auto seg = bytes(golden);
    const Ipv4Address src = golden.data() == kData ? kServer : kClient;
    const Ipv4Address dst = golden.data() == kData ? kClient : kServer;
    auto view = TcpReader::check(seg);
    ASSERT_TRUE(view.ok());
    EXPECT_TRUE(view->checksum_valid(src, dst));
    // The pseudo-header counts: a different address fails.
    EXPECT_FALSE(view->checksum_valid(src, Ipv4Address::from_octets(198, 18, 0, 3)));
    EXPECT_FALSE(view->checksum_valid(Ipv4Address::from_octets(198, 18, 0, 3), dst));
  }

  // One flipped bit anywhere (header, options, payload) fails.
  const auto golden = bytes(kData);
  for (size_t i = 0; i < golden.size(); ++i) {
    auto seg = golden;
    seg[i] ^= std::byte{0x01};
    auto view = TcpReader::check(seg);
    ASSERT_TRUE(view.ok()) << i;
    EXPECT_FALSE(view->checksum_valid(kServer, kClient)) << i;
    auto repr = TcpRepr::parse(*view, kServer, kClient);
    EXPECT_EQ(repr.error(), WireError::bad_checksum) << i;
  }

  // The TCP length is in the pseudo-header: a trailing zero byte leaves the sum of the data
  // unchanged but still fails.
  auto longer = golden;
  longer.push_back(std::byte{0});
  auto view = TcpReader::check(longer);
  ASSERT_TRUE(view.ok());
  EXPECT_FALSE(view->checksum_valid(kServer, kClient));
}

// ---------------------------------------------------------------------------------------
// Length checks

TEST(TcpView, CheckTruncated) {
  const auto seg = bytes(kPlain);
  EXPECT_EQ(TcpReader::check(Bytes(seg).first(0)).error(), WireError::truncated);
  EXPECT_EQ(TcpReader::check(Bytes(seg).first(19)).error(), WireError::truncated);
  EXPECT_TRUE(TcpReader::check(Bytes(seg).first(20)).ok());
}

TEST(TcpView, CheckDataOffsetBelowFive) {
  for (uint8_t doff = 0; doff < 5; ++doff) {
    auto seg = bytes(kPlain);
    seg[12] = std::byte{static_cast<uint8_t>(doff << 4)};
    EXPECT_EQ(TcpReader::check(seg).error(), WireError::bad_header_length) << int{doff};
  }
}

TEST(TcpView, CheckDataOffsetPastBuffer) {
  // kSyn has a 40-byte header and no payload: data offset 10 fits exactly, 11 does not.
  auto seg = bytes(kSyn);
  EXPECT_TRUE(TcpReader::check(seg).ok());
  seg[12] = std::byte{0xb0};
  EXPECT_EQ(TcpReader::check(seg).error(), WireError::bad_header_length);
  // The header needs the whole 40 bytes, so cutting the last option off is caught too.
  auto cut = bytes(kSyn);
  EXPECT_EQ(TcpReader::check(Bytes(cut).first(39)).error(), WireError::bad_header_length);
  // 15 words = 60 bytes fits a 60-byte buffer.
  EXPECT_TRUE(TcpReader::check(bytes(kSack)).ok());
}

TEST(TcpView, PayloadSpan) {
  const auto seg = bytes(kSack);
  std::vector<std::byte> with_payload = seg;
  for (uint8_t c : {'x', 'y'}) with_payload.push_back(std::byte{c});
  auto view = TcpReader::check(with_payload);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->options().size(), 40u);
  EXPECT_EQ(view->payload().data(), with_payload.data() + 60);
  EXPECT_EQ(text(view->payload()), "xy");
}

// ---------------------------------------------------------------------------------------
// Options parsing

TEST(TcpOptions, EmptyArea) {
  auto opts = TcpOptions::parse({});
  ASSERT_TRUE(opts.ok());
  EXPECT_EQ(*opts, TcpOptions{});
}

TEST(TcpOptions, NopsOnly) {
  const auto area = bytes({0x01, 0x01, 0x01, 0x01});
  auto opts = TcpOptions::parse(area);
  ASSERT_TRUE(opts.ok());
  EXPECT_EQ(*opts, TcpOptions{});
}

TEST(TcpOptions, EolStopsParsing) {
  // MSS, then EOL; what follows would be a window scale, then a malformed option: ignored.
  const auto area = bytes({0x02, 0x04, 0x05, 0xb4, 0x00, 0x03, 0x03, 0x07, 0x02, 0x00});
  auto opts = TcpOptions::parse(area);
  ASSERT_TRUE(opts.ok()) << to_string(opts.error());
  EXPECT_EQ(opts->mss, 1460);
  EXPECT_FALSE(opts->window_scale);
}

TEST(TcpOptions, UnknownKindsSkipped) {
  // Experimental kind 254 (len 6), MPTCP kind 30 (len 4), then MSS, then an unknown option
  // that ends exactly at the end of the area.
  const auto area = bytes({0xfe, 0x06, 0xf9, 0x89, 0x12, 0x34, 0x1e, 0x04, 0x00, 0x81, 0x02, 0x04,
                           0x23, 0x28, 0x13, 0x02});
  auto opts = TcpOptions::parse(area);
  ASSERT_TRUE(opts.ok()) << to_string(opts.error());
  EXPECT_EQ(opts->mss, 9000);
  EXPECT_FALSE(opts->window_scale);
  EXPECT_FALSE(opts->sack_permitted);
  EXPECT_FALSE(opts->timestamps);
  EXPECT_TRUE(opts->sack().empty());
}

TEST(TcpOptions, WindowScaleKeptRaw) {
  // RFC 7323 caps the shift at 14, but that is the TCP layer's job.
  const auto area = bytes({0x01, 0x03, 0x03, 0x0f});
  auto opts = TcpOptions::parse(area);
  ASSERT_TRUE(opts.ok());
  EXPECT_EQ(opts->window_scale, 15);
}

TEST(TcpOptions, RepeatedOptionLastWins) {
  const auto area = bytes({0x02, 0x04, 0x05, 0xb4, 0x02, 0x04, 0x02, 0x18});
  auto opts = TcpOptions::parse(area);
  ASSERT_TRUE(opts.ok());
  EXPECT_EQ(opts->mss, 536);
}

TEST(TcpOptions, SackOneToFourBlocks) {
  for (uint8_t n = 1; n <= 4; ++n) {
    std::vector<std::byte> area = bytes({0x01, 0x01, 0x05, static_cast<uint8_t>(2 + 8 * n)});
    TcpOptions expected;
    for (uint32_t i = 0; i < n; ++i) {
      const TcpSackBlock block{0x10000000u + i * 0x1000, 0x10000800u + i * 0x1000};
      ASSERT_TRUE(expected.add_sack_block(block));
      area.resize(area.size() + 8);
      store_be32(area, area.size() - 8, block.left);
      store_be32(area, area.size() - 4, block.right);
    }
    auto opts = TcpOptions::parse(area);
    ASSERT_TRUE(opts.ok()) << int{n};
    ASSERT_EQ(opts->sack().size(), n);
    EXPECT_EQ(*opts, expected) << int{n};
    // NOP NOP SACK is also the emitted layout.
    EXPECT_EQ(emit(expected), area) << int{n};
  }
}

struct MalformedCase {
  const char* name;
  std::vector<std::byte> area;
};

TEST(TcpOptions, MalformedIsBadOption) {
  // SACK with five blocks cannot fit a real 40-byte area (2 + 40 > 40), so it is given a
  // larger area directly to reach the block-count check.
  std::vector<std::byte> sack5 = bytes({0x01, 0x01, 0x05, 42});
  sack5.resize(44, std::byte{0x11});

  const MalformedCase cases[] = {
      {"length byte missing", bytes({0x02})},
      {"length byte missing after NOPs", bytes({0x01, 0x01, 0x01, 0x08})},
      {"unknown kind, length byte missing", bytes({0x01, 0x01, 0x01, 0xfe})},
      {"length 0", bytes({0x02, 0x00, 0x05, 0xb4})},
      {"length 1", bytes({0xfe, 0x01, 0x00, 0x00})},
      {"length past area", bytes({0x02, 0x04, 0x05})},
      {"unknown kind past area", bytes({0x01, 0xfe, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00})},
      {"timestamps past area", bytes({0x01, 0x01, 0x08, 0x0a, 0, 0, 0, 1, 0, 0, 0})},
      {"MSS length 3", bytes({0x02, 0x03, 0x05, 0x00})},
      {"MSS length 5", bytes({0x02, 0x05, 0x05, 0xb4, 0x00, 0x00, 0x00, 0x00})},
      {"window scale length 4", bytes({0x03, 0x04, 0x07, 0x00})},
      {"window scale length 2", bytes({0x01, 0x03, 0x02, 0x00})},
      {"SACK-permitted length 3", bytes({0x04, 0x03, 0x00, 0x00})},
      {"timestamps length 8", bytes({0x08, 0x08, 0, 0, 0, 1, 0, 0})},
      {"timestamps length 12", bytes({0x08, 0x0c, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0})},
      {"SACK with no blocks", bytes({0x01, 0x01, 0x05, 0x02})},
      {"SACK length not 2+8n", bytes({0x05, 0x09, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0})},
      {"SACK length 6", bytes({0x05, 0x06, 0, 0, 0, 1})},
      {"SACK with five blocks", sack5},
  };
  for (const auto& c : cases) {
    auto opts = TcpOptions::parse(c.area);
    EXPECT_EQ(opts.error(), WireError::bad_option) << c.name;
  }
}

// A malformed option in a segment with a good checksum fails TcpRepr::parse with bad_option.
TEST(TcpRepr, MalformedOptionInSegment) {
  auto seg = bytes(kSyn);
  seg[38] = std::byte{0x04};  // window scale length 3 -> 4 (still inside the area)
  fix_checksum(seg, kClient, kServer);
  auto view = TcpReader::check(seg);
  ASSERT_TRUE(view.ok());
  ASSERT_TRUE(view->checksum_valid(kClient, kServer));
  EXPECT_EQ(TcpRepr::parse(*view, kClient, kServer).error(), WireError::bad_option);

  // The checksum is verified first.
  seg[16] ^= std::byte{0xff};
  EXPECT_EQ(TcpRepr::parse(*TcpReader::check(seg), kClient, kServer).error(),
            WireError::bad_checksum);
}

// ---------------------------------------------------------------------------------------
// Options emitting

TEST(TcpOptions, EmitLayouts) {
  TcpOptions mss_only;
  mss_only.mss = 1460;
  EXPECT_EQ(emit(mss_only), bytes({0x02, 0x04, 0x05, 0xb4}));

  TcpOptions sackp_only;
  sackp_only.sack_permitted = true;
  EXPECT_EQ(emit(sackp_only), bytes({0x01, 0x01, 0x04, 0x02}));

  TcpOptions ws_only;
  ws_only.window_scale = 14;
  EXPECT_EQ(emit(ws_only), bytes({0x01, 0x03, 0x03, 0x0e}));

  TcpOptions ts_only;
  ts_only.timestamps = TcpTimestamps{0x01020304, 0x05060708};
  EXPECT_EQ(emit(ts_only),
            bytes({0x01, 0x01, 0x08, 0x0a, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}));

  TcpOptions sackp_ts = ts_only;
  sackp_ts.sack_permitted = true;
  EXPECT_EQ(emit(sackp_ts),
            bytes({0x04, 0x02, 0x08, 0x0a, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}));

  // MSS, SACK-permitted without timestamps, window scale: Linux's SYN with TS disabled.
  TcpOptions no_ts;
  no_ts.mss = 1460;
  no_ts.sack_permitted = true;
  no_ts.window_scale = 7;
  EXPECT_EQ(emit(no_ts),
            bytes({0x02, 0x04, 0x05, 0xb4, 0x01, 0x01, 0x04, 0x02, 0x01, 0x03, 0x03, 0x07}));
}

TEST(TcpOptions, EmitDropsSackBlocksThatDoNotFit) {
  TcpOptions opts;
  for (uint32_t i = 0; i < 4; ++i) ASSERT_TRUE(opts.add_sack_block({i * 100, i * 100 + 50}));
  EXPECT_FALSE(opts.add_sack_block({1, 2}));  // a fifth is refused
  ASSERT_EQ(opts.sack_count, 4);

  // Alone (NOP NOP SACK), all four fit: 4 + 32 = 36.
  EXPECT_EQ(opts.emitted_sack_count(), 4u);
  EXPECT_EQ(opts.buffer_len(), 36u);

  // With timestamps (12 bytes), three fit: 12 + 4 + 24 = 40.
  opts.timestamps = TcpTimestamps{1, 2};
  EXPECT_EQ(opts.emitted_sack_count(), 3u);
  EXPECT_EQ(opts.buffer_len(), 40u);

  // Everything else too (20 bytes), two fit: 20 + 4 + 16 = 40.
  opts.mss = 1460;
  opts.sack_permitted = true;
  opts.window_scale = 7;
  EXPECT_EQ(opts.emitted_sack_count(), 2u);
  EXPECT_EQ(opts.buffer_len(), 40u);

  // The blocks kept are the first ones (RFC 2018: the first block is the most recent).
  const auto area = emit(opts);
  auto parsed = TcpOptions::parse(area);
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->sack().size(), 2u);
  EXPECT_EQ(parsed->sack()[0], (TcpSackBlock{0, 50}));
  EXPECT_EQ(parsed->sack()[1], (TcpSackBlock{100, 150}));

  // The segment built with them carries a full 60-byte header.
  TcpRepr repr;
  repr.flags = TcpFlag::ack;
  repr.options = opts;
  const auto seg = emit(repr, kClient, kServer);
  EXPECT_EQ(seg.size(), 60u);
  EXPECT_EQ(seg[12], std::byte{0xf0});
  EXPECT_EQ(parse_ok(seg, kClient, kServer).options, *parsed);
}

// Every combination emits a multiple of 4 bytes within 40, and parses back to itself (less
// any SACK blocks that had to be dropped).
TEST(TcpOptions, EmitParseRoundTripAllCombinations) {
  for (unsigned mask = 0; mask < 16; ++mask) {
    for (uint8_t blocks = 0; blocks <= 4; ++blocks) {
      TcpOptions opts;
      if (mask & 1) opts.mss = 1200;
      if (mask & 2) opts.sack_permitted = true;
      if (mask & 4) opts.timestamps = TcpTimestamps{0xdeadbeef, 0xcafef00d};
      if (mask & 8) opts.window_scale = 9;
      for (uint32_t i = 0; i < blocks; ++i) opts.add_sack_block({i, i + 1});
      const size_t len = opts.buffer_len();
      EXPECT_EQ(len % 4, 0u);
      EXPECT_LE(len, TcpOptions::kMaxLen);

      const auto area = emit(opts);
      auto parsed = TcpOptions::parse(area);
      ASSERT_TRUE(parsed.ok()) << mask << " " << int{blocks};
      TcpOptions expected = opts;
      expected.sack_count = static_cast<uint8_t>(opts.emitted_sack_count());
      EXPECT_EQ(*parsed, expected) << mask << " " << int{blocks};
    }
  }
}

// ---------------------------------------------------------------------------------------
// Flags

TEST(TcpFlags, SetOperations) {
  const TcpFlags synack = TcpFlag::syn | TcpFlag::ack;
  EXPECT_TRUE(synack.has(TcpFlag::syn));
  EXPECT_TRUE(synack.has(TcpFlag::ack));
  EXPECT_FALSE(synack.has(TcpFlag::fin));
  EXPECT_EQ(synack.bits(), 0x012);
  EXPECT_EQ(synack.without(TcpFlag::syn), TcpFlags(TcpFlag::ack));
  EXPECT_EQ(synack & TcpFlag::syn, TcpFlags(TcpFlag::syn));
  EXPECT_TRUE(TcpFlags().empty());
  TcpFlags f;
  f |= TcpFlag::fin;
  EXPECT_EQ(f.bits(), 0x001);
  EXPECT_EQ(TcpFlags::from_bits(0xf1ff).bits(), 0x1ff);  // data offset bits dropped
  EXPECT_EQ(to_string(synack), "ACK|SYN");
  EXPECT_EQ(to_string(TcpFlags::from_bits(0x1ff)), "NS|CWR|ECE|URG|ACK|PSH|RST|SYN|FIN");
  EXPECT_EQ(to_string(TcpFlags()), "none");
}

}  // namespace
}  // namespace flowgate::wire
