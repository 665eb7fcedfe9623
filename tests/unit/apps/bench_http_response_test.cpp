// The HTTP/1.1 response framing flowgate bench counts (RFC 9112 section 6.3), fed in every
// split a TCP stream could deliver.
#include <gtest/gtest.h>

#include <string>

#include "apps/bench/http_response.hpp"

namespace flowgate::bench {
namespace {

std::span<const std::byte> bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

const std::string kOk =
    "HTTP/1.1 200 OK\r\nServer: flowgate\r\nContent-Type: text/plain\r\n"
    "Content-Length: 12\r\n\r\nhello bench\n";

TEST(BenchHttpResponse, WholeResponseInOnePiece) {
  HttpResponseReader r;
  const auto res = r.feed(bytes(kOk));
  EXPECT_TRUE(res.complete);
  EXPECT_EQ(res.consumed, kOk.size());
  EXPECT_EQ(res.error, ResponseError::none);
  EXPECT_EQ(r.last_status(), 200);
  EXPECT_FALSE(r.in_progress());
}

TEST(BenchHttpResponse, EverySplitPoint) {
  for (size_t cut = 0; cut <= kOk.size(); ++cut) {
    HttpResponseReader r;
    const auto a = r.feed(bytes(kOk.substr(0, cut)));
    EXPECT_EQ(a.consumed, cut);
    if (cut < kOk.size()) {
      EXPECT_FALSE(a.complete) << cut;
      const auto b = r.feed(bytes(kOk.substr(cut)));
      EXPECT_TRUE(b.complete) << cut;
      EXPECT_EQ(b.consumed, kOk.size() - cut);
    } else {
      EXPECT_TRUE(a.complete);
    }
    EXPECT_EQ(r.last_status(), 200) << cut;
  }
}

TEST(BenchHttpResponse, ByteByByte) {
  HttpResponseReader r;
  for (size_t i = 0; i < kOk.size(); ++i) {
    const auto res = r.feed(bytes(kOk.substr(i, 1)));
    EXPECT_EQ(res.complete, i + 1 == kOk.size()) << i;
  }
}

TEST(BenchHttpResponse, StopsAtTheEndOfOneResponse) {
  HttpResponseReader r;
  const std::string two = kOk + kOk;
  const auto a = r.feed(bytes(two));
  ASSERT_TRUE(a.complete);
  EXPECT_EQ(a.consumed, kOk.size());
  const auto b = r.feed(bytes(two.substr(a.consumed)));
  EXPECT_TRUE(b.complete);
  EXPECT_EQ(b.consumed, kOk.size());
}

TEST(BenchHttpResponse, FieldNamesAnyCaseValueWhitespaceBareLf) {
  HttpResponseReader r;
  const auto res = r.feed(bytes("HTTP/1.0 404 Not Found\nCONTENT-length:   3 \n\nabc"));
  EXPECT_TRUE(res.complete);
  EXPECT_EQ(r.last_status(), 404);
}

TEST(BenchHttpResponse, ZeroLengthAndNoBodyStatuses) {
  HttpResponseReader r;
  EXPECT_TRUE(r.feed(bytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")).complete);
  // 204 and 304 never have a body (rule 1), whatever Content-Length says.
  EXPECT_TRUE(r.feed(bytes("HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n")).complete);
  EXPECT_TRUE(r.feed(bytes("HTTP/1.1 204 No Content\r\n\r\n")).complete);
}

TEST(BenchHttpResponse, InterimResponsesAreSkipped) {
  HttpResponseReader r;
  const auto res = r.feed(bytes("HTTP/1.1 100 Continue\r\n\r\n" + kOk));
  EXPECT_TRUE(res.complete);
  EXPECT_EQ(r.last_status(), 200);
}

TEST(BenchHttpResponse, WithoutLengthTheCloseEndsIt) {
  HttpResponseReader r;
  const auto res = r.feed(bytes("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nsome body"));
  EXPECT_FALSE(res.complete);
  EXPECT_EQ(res.error, ResponseError::none);
  EXPECT_TRUE(r.feed(bytes("more")).consumed == 4);
  EXPECT_TRUE(r.finish_at_close());
  EXPECT_EQ(r.last_status(), 200);
  // A close in the middle of a framed body is no response.
  HttpResponseReader s;
  s.feed(bytes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"));
  EXPECT_FALSE(s.finish_at_close());
}

TEST(BenchHttpResponse, Errors) {
  HttpResponseReader a;
  EXPECT_EQ(a.feed(bytes("HTTP/2 200 OK\r\n\r\n")).error, ResponseError::bad_status_line);
  HttpResponseReader b;
  EXPECT_EQ(b.feed(bytes("HTTP/1.1 20\r\n\r\n")).error, ResponseError::bad_status_line);
  HttpResponseReader c;
  EXPECT_EQ(c.feed(bytes("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n")).error,
            ResponseError::bad_content_length);
  // RFC 9112 6.3 rule 5: differing lengths are unrecoverable; a repeated equal one is fine.
  HttpResponseReader d;
  EXPECT_EQ(
      d.feed(bytes("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")).error,
      ResponseError::bad_content_length);
  HttpResponseReader e;
  EXPECT_TRUE(
      e.feed(bytes("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx")).complete);
  HttpResponseReader f;
  EXPECT_EQ(f.feed(bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")).error,
            ResponseError::chunked);
  HttpResponseReader g;
  EXPECT_EQ(g.feed(bytes("HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n")).error,
            ResponseError::bad_content_length);
  HttpResponseReader h;
  const std::string huge =
      "HTTP/1.1 200 OK\r\nX: " + std::string(HttpResponseReader::kMaxHeadBytes, 'a');
  EXPECT_EQ(h.feed(bytes(huge)).error, ResponseError::header_too_long);
  // An error stays until reset.
  EXPECT_EQ(h.feed(bytes(kOk)).error, ResponseError::header_too_long);
  h.reset();
  EXPECT_TRUE(h.feed(bytes(kOk)).complete);
}

TEST(BenchHttpResponse, LookalikeFieldNamesAreNotTheLength) {
  HttpResponseReader r;
  const auto res =
      r.feed(bytes("HTTP/1.1 200 OK\r\nX-Content-Length: 5\r\nContent-Lengthy: "
                   "7\r\nContent-Length: 2\r\n\r\nok"));
  EXPECT_TRUE(res.complete);
  EXPECT_EQ(res.error, ResponseError::none);
}

}  // namespace
}  // namespace flowgate::bench
