// The HTTP/1.1 request parser: golden requests as real clients send them (curl, wrk, ab, a
// browser), byte-at-a-time arrival, pipelining, bodies read and discarded, persistence
// rules, and every error with its status code.
#include "apps/http/request_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace flowgate::http {
namespace {

// What curl 7.88 sends for `curl http://198.18.0.1/index.html`.
constexpr std::string_view kCurl =
    "GET /index.html HTTP/1.1\r\n"
    "Host: 198.18.0.1\r\n"
    "User-Agent: curl/7.88.1\r\n"
    "Accept: */*\r\n"
    "\r\n";
// wrk 4.1.
constexpr std::string_view kWrk = "GET / HTTP/1.1\r\nHost: 198.18.0.1:8080\r\n\r\n";
// ab -k (ApacheBench 2.3): HTTP/1.0 with the keep-alive option.
constexpr std::string_view kAb =
    "GET / HTTP/1.0\r\n"
    "Connection: Keep-Alive\r\n"
    "Host: 198.18.0.1:8080\r\n"
    "User-Agent: ApacheBench/2.3\r\n"
    "Accept: */*\r\n"
    "\r\n";
// What a browser sends, more or less.
constexpr std::string_view kBrowser =
    "GET /docs/page.html?lang=en&x=%20y HTTP/1.1\r\n"
    "Host: gateway.example:80\r\n"
    "Connection: keep-alive\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Encoding: gzip, deflate\r\n"
    "Accept-Language: en-US,en;q=0.9,fr;q=0.8\r\n"
    "Cookie: session=abc123; theme=dark\r\n"
    "\r\n";

struct Parsed {
  ParseStatus status = ParseStatus::incomplete;
  int error = 0;
  size_t consumed = 0;
};

Parsed parse(RequestParser& p, std::string_view text) {
  Parsed r;
  r.consumed = p.consume(text);
  r.status = p.status();
  r.error = p.error_status();
  return r;
}

// Parses `text` whole; fails the test unless one request completes using all of it.
RequestParser parse_whole(std::string_view text, ParserLimits limits = {}) {
  RequestParser p(limits);
  const Parsed r = parse(p, text);
  EXPECT_EQ(r.status, ParseStatus::complete) << p.error_status() << " " << p.error_reason();
  EXPECT_EQ(r.consumed, text.size());
  return p;
}

// The error status `text` gets (0 if it parses or is incomplete).
int error_of(std::string_view text, ParserLimits limits = {}) {
  RequestParser p(limits);
  p.consume(text);
  if (p.status() != ParseStatus::error) return 0;
  EXPECT_FALSE(p.error_reason().empty());
  return p.error_status();
}

TEST(HttpRequestParser, CurlRequest) {
  RequestParser p = parse_whole(kCurl);
  const Request& r = p.request();
  EXPECT_EQ(r.method(), Method::get);
  EXPECT_EQ(r.method_name(), "GET");
  EXPECT_EQ(r.target(), "/index.html");
  EXPECT_EQ(r.path(), "/index.html");
  EXPECT_EQ(r.query(), "");
  EXPECT_EQ(r.version_minor(), 1);
  EXPECT_TRUE(r.keep_alive());
  ASSERT_TRUE(r.host());
  EXPECT_EQ(*r.host(), "198.18.0.1");
  EXPECT_EQ(r.body_length(), 0u);
  ASSERT_EQ(r.field_count(), 3u);
  EXPECT_EQ(r.field(1).name, "User-Agent");
  EXPECT_EQ(r.field(1).value, "curl/7.88.1");
  EXPECT_EQ(r.find("accept"), "*/*");
  EXPECT_FALSE(r.find("Cookie"));
}

TEST(HttpRequestParser, WrkRequest) {
  RequestParser p = parse_whole(kWrk);
  EXPECT_EQ(p.request().path(), "/");
  EXPECT_EQ(*p.request().host(), "198.18.0.1:8080");
  EXPECT_TRUE(p.request().keep_alive());
}

TEST(HttpRequestParser, AbKeepAliveRequestIsHttp10WithTheOption) {
  RequestParser p = parse_whole(kAb);
  EXPECT_EQ(p.request().version_minor(), 0);
  EXPECT_TRUE(p.request().keep_alive()) << "HTTP/1.0 persists with Connection: Keep-Alive";
}

TEST(HttpRequestParser, BrowserRequest) {
  RequestParser p = parse_whole(kBrowser);
  const Request& r = p.request();
  EXPECT_EQ(r.path(), "/docs/page.html");
  EXPECT_EQ(r.query(), "lang=en&x=%20y");
  EXPECT_EQ(r.field_count(), 8u);
  EXPECT_EQ(r.find("ACCEPT-LANGUAGE"), "en-US,en;q=0.9,fr;q=0.8");
}

TEST(HttpRequestParser, ByteAtATimeGivesTheSameRequest) {
  for (const std::string_view text : {kCurl, kWrk, kAb, kBrowser}) {
    RequestParser p;
    for (size_t i = 0; i < text.size(); ++i) {
      ASSERT_EQ(p.status(), ParseStatus::incomplete) << "at byte " << i;
      ASSERT_EQ(p.consume(text.substr(i, 1)), 1u);
    }
    ASSERT_EQ(p.status(), ParseStatus::complete);
    RequestParser whole = parse_whole(text);
    EXPECT_EQ(p.request().target(), whole.request().target());
    ASSERT_EQ(p.request().field_count(), whole.request().field_count());
    for (size_t i = 0; i < whole.request().field_count(); ++i) {
      EXPECT_EQ(p.request().field(i).name, whole.request().field(i).name);
      EXPECT_EQ(p.request().field(i).value, whole.request().field(i).value);
    }
  }
}

TEST(HttpRequestParser, PipelinedRequestsAreParsedOneAfterAnother) {
  const std::string stream = std::string(kWrk) + std::string(kCurl) +
                             "HEAD /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n" +
                             "GET /par";
  RequestParser p;
  std::string_view rest(stream);
  std::vector<std::string> targets;
  std::vector<bool> keep_alive;
  while (!rest.empty()) {
    const size_t used = p.consume(rest);
    rest.remove_prefix(used);
    if (p.status() != ParseStatus::complete) break;
    targets.emplace_back(p.request().target());
    keep_alive.push_back(p.request().keep_alive());
    p.reset();
  }
  EXPECT_EQ(targets, (std::vector<std::string>{"/", "/index.html", "/x"}));
  EXPECT_EQ(keep_alive, (std::vector<bool>{true, true, false}));
  EXPECT_TRUE(rest.empty());
  EXPECT_EQ(p.status(), ParseStatus::incomplete) << "the fourth request is still arriving";
  EXPECT_TRUE(p.started());
  EXPECT_EQ(p.consume(std::string_view("tial HTTP/1.1\r\nHost: h\r\n\r\n")), 26u);
  ASSERT_EQ(p.status(), ParseStatus::complete);
  EXPECT_EQ(p.request().target(), "/partial");
}

TEST(HttpRequestParser, NothingIsConsumedOnceComplete) {
  RequestParser p = parse_whole(kWrk);
  EXPECT_EQ(p.consume(kWrk), 0u);
  p.reset();
  EXPECT_EQ(p.status(), ParseStatus::incomplete);
  EXPECT_FALSE(p.started());
  EXPECT_EQ(p.consume(kWrk), kWrk.size());
  EXPECT_EQ(p.status(), ParseStatus::complete);
}

TEST(HttpRequestParser, BareLfIsALineEndAndLeadingEmptyLinesAreSkipped) {
  RequestParser p = parse_whole("\r\n\nGET /nc HTTP/1.1\nHost: h\n\n");
  EXPECT_EQ(p.request().target(), "/nc");
  EXPECT_EQ(*p.request().host(), "h");
  RequestParser q;
  q.consume(std::string_view("\r\n\r\n"));
  EXPECT_FALSE(q.started()) << "empty lines before a request do not start one";
  std::string many;
  for (int i = 0; i < 17; ++i) many += "\r\n";
  EXPECT_EQ(error_of(many + std::string(kWrk)), 400);
}

TEST(HttpRequestParser, PersistenceFollowsRfc9112Section9_3) {
  auto keep = [](std::string_view version, std::string_view connection) {
    std::string text = "GET / " + std::string(version) + "\r\nHost: h\r\n";
    if (!connection.empty()) text += "Connection: " + std::string(connection) + "\r\n";
    text += "\r\n";
    RequestParser p = parse_whole(text);
    return p.request().keep_alive();
  };
  EXPECT_TRUE(keep("HTTP/1.1", ""));
  EXPECT_FALSE(keep("HTTP/1.1", "close"));
  EXPECT_FALSE(keep("HTTP/1.1", "Upgrade, CLOSE"));
  EXPECT_FALSE(keep("HTTP/1.0", ""));
  EXPECT_TRUE(keep("HTTP/1.0", "keep-alive"));
  EXPECT_FALSE(keep("HTTP/1.0", "keep-alive, close"));
  EXPECT_TRUE(keep("HTTP/1.9", "")) << "a higher 1.x minor is read as 1.1";
}

TEST(HttpRequestParser, Http10NeedsNoHost) {
  RequestParser p = parse_whole("GET / HTTP/1.0\r\n\r\n");
  EXPECT_FALSE(p.request().host());
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\n\r\n"), 400);
}

TEST(HttpRequestParser, MethodsAreCaseSensitiveTokens) {
  EXPECT_EQ(method_from_name("GET"), Method::get);
  EXPECT_EQ(method_from_name("HEAD"), Method::head);
  EXPECT_EQ(method_from_name("POST"), Method::post);
  EXPECT_EQ(method_from_name("DELETE"), Method::delete_);
  EXPECT_EQ(method_from_name("PATCH"), Method::patch);
  EXPECT_EQ(method_from_name("get"), Method::other);
  EXPECT_EQ(method_from_name("BREW"), Method::other);
  RequestParser p = parse_whole("BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(p.request().method(), Method::other) << "unknown methods parse: the server says 501";
  EXPECT_EQ(p.request().method_name(), "BREW");
}

TEST(HttpRequestParser, TargetForms) {
  {
    RequestParser p =
        parse_whole("GET http://example.com:8080/a/b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(p.request().path(), "/a/b");
    EXPECT_EQ(p.request().query(), "x=1");
  }
  {
    RequestParser p = parse_whole("GET HTTPS://EXAMPLE.COM HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(p.request().path(), "/") << "an absolute-form target without a path means /";
  }
  {
    RequestParser p = parse_whole("GET http://example.com?q HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(p.request().path(), "/");
    EXPECT_EQ(p.request().query(), "q");
  }
  {
    RequestParser p = parse_whole("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(p.request().method(), Method::options);
    EXPECT_EQ(p.request().path(), "");
  }
  {
    RequestParser p = parse_whole("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n");
    EXPECT_EQ(p.request().method(), Method::connect);
    EXPECT_EQ(p.request().path(), "");
  }
}

TEST(HttpRequestParser, ContentIsReadAndDiscarded) {
  const std::string text =
      "GET /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
      "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  RequestParser p;
  const size_t first = p.consume(text);
  ASSERT_EQ(p.status(), ParseStatus::complete);
  EXPECT_EQ(first, text.find("GET /b"));
  EXPECT_EQ(p.request().body_length(), 5u);
  p.reset();
  EXPECT_EQ(p.consume(std::string_view(text).substr(first)), text.size() - first);
  EXPECT_EQ(p.request().target(), "/b");

  RequestParser same = parse_whole(
      "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n"
      "Content-Length: 3\r\n\r\nabc");
  EXPECT_EQ(same.request().body_length(), 3u) << "identical values are one length";
}

TEST(HttpRequestParser, ChunkedContentIsDecodedAndDiscarded) {
  const std::string text =
      "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n"
      "A\r\n0123456789\r\n"
      "0\r\nTrailer-Field: x\r\n\r\n"
      "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
  // Whole, and one byte at a time.
  for (const bool bytewise : {false, true}) {
    SCOPED_TRACE(bytewise);
    RequestParser p;
    size_t used = 0;
    if (bytewise) {
      while (p.status() == ParseStatus::incomplete && used < text.size()) {
        used += p.consume(std::string_view(text).substr(used, 1));
      }
    } else {
      used = p.consume(text);
    }
    ASSERT_EQ(p.status(), ParseStatus::complete) << p.error_reason();
    EXPECT_EQ(used, text.find("GET /next"));
    EXPECT_EQ(p.request().body_length(), 15u);
    EXPECT_FALSE(p.request().find("Trailer-Field")) << "trailers are not fields of the request";
  }
}

struct ErrorCase {
  const char* what;
  std::string text;
  int status;
};

// A literal with its NULs.
template <size_t N>
std::string bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

std::string with_field(std::string_view line) {
  return "GET / HTTP/1.1\r\nHost: h\r\n" + std::string(line) + "\r\n\r\n";
}

TEST(HttpRequestParser, EveryErrorHasItsStatus) {
  const std::string long_target = "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n";
  const std::vector<ErrorCase> cases = {
      {"no Host in HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400},
      {"two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"an invalid Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
      {"two spaces after the method", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"an HTTP/0.9 request", "GET /\r\n", 400},
      {"a lower-case version", "GET / http/1.1\r\nHost: h\r\n\r\n", 400},
      {"a two-digit minor version", "GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400},
      {"a space after the version", "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400},
      {"HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
      {"HTTP/0.9 spelt out", "GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505},
      {"the HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
      {"a method that is not a token", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"a bare CR in the request line", "GET /\r HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"a bare CR in a field", with_field("X: a\rb"), 400},
      {"a non-ASCII target", "GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"a NUL in the target", bytes("GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
      {"a fragment", "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"a relative target", "GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"an asterisk with GET", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"an http URI without a host", "GET http:///a HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"obsolete line folding", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400},
      {"whitespace before the first field", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400},
      {"whitespace before a colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},
      {"a field without a colon", with_field("NoColon"), 400},
      {"an empty field name", with_field(": value"), 400},
      {"a field name with a space", with_field("Bad Name: v"), 400},
      {"a NUL in a field value", with_field(bytes("X: a\0b")), 400},
      {"a control character in a field value", with_field("X: a\x01b"), 400},
      {"a Content-Length that is not a number", with_field("Content-Length: abc"), 400},
      {"a negative Content-Length", with_field("Content-Length: -1"), 400},
      {"two different Content-Lengths", with_field("Content-Length: 1\r\nContent-Length: 2"), 400},
      {"a Content-Length list that differs", with_field("Content-Length: 1, 2"), 400},
      {"an empty Content-Length element", with_field("Content-Length: 1,,1"), 400},
      {"a Content-Length over the limit", with_field("Content-Length: 65537"), 413},
      {"a Content-Length past 2^64", with_field("Content-Length: 99999999999999999999999"), 413},
      {"Transfer-Encoding with Content-Length",
       with_field("Transfer-Encoding: chunked\r\nContent-Length: 3"), 400},
      {"Transfer-Encoding in HTTP/1.0",
       "GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"Transfer-Encoding not ending in chunked", with_field("Transfer-Encoding: gzip"), 400},
      {"chunked applied twice", with_field("Transfer-Encoding: chunked, chunked"), 400},
      {"a transfer coding we do not know", with_field("Transfer-Encoding: gzip, chunked"), 501},
      {"a chunk size that is not hex", with_field("Transfer-Encoding: chunked") + "xyz\r\n", 400},
      {"chunk data longer than its size",
       with_field("Transfer-Encoding: chunked") + "2\r\nabc\r\n0\r\n\r\n", 400},
      {"a malformed chunk extension", with_field("Transfer-Encoding: chunked") + "2 x\r\n", 400},
      {"chunked content over the limit", with_field("Transfer-Encoding: chunked") + "10001\r\n",
       413},
      {"a chunk size past 2^64", with_field("Transfer-Encoding: chunked") + "1ffffffffffffffff\r\n",
       413},
      {"a target over the request line limit", long_target, 414},
      {"a method over the request line limit", std::string(9000, 'A'), 501},
      {"garbage over the request line limit", std::string(9000, '\x01'), 400},
      {"a version part over the limit", "GET / " + std::string(9000, 'H'), 400},
      {"header fields over max_header_bytes",
       "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(9000, 'x') + "\r\n\r\n", 431},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.what);
    EXPECT_EQ(error_of(c.text), c.status);
  }
}

TEST(HttpRequestParser, FieldCountAndBytesLimits) {
  ParserLimits limits;
  limits.max_headers = 3;
  limits.max_header_bytes = 64;
  // Host (9 bytes with CRLF) + two more: exactly three fields fit.
  parse_whole("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", limits);
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits), 431);
  // 64 bytes of field lines fit, 65 do not: "Host: h\r\n" is 9, "X: " + value + "\r\n" the rest.
  parse_whole("GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(50, 'v') + "\r\n\r\n", limits);
  EXPECT_EQ(
      error_of("GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(51, 'v') + "\r\n\r\n", limits),
      431);
  // Trailers count against the same limits.
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
                     "T1: 1\r\nT2: 2\r\n\r\n",
                     limits),
            431);
}

TEST(HttpRequestParser, RequestLineLimitIsExact) {
  ParserLimits limits;
  limits.max_request_line = 32;
  // "GET /" + path + " HTTP/1.1" is 14 + path bytes.
  parse_whole("GET /" + std::string(18, 'p') + " HTTP/1.1\r\nHost: h\r\n\r\n", limits);
  EXPECT_EQ(error_of("GET /" + std::string(19, 'p') + " HTTP/1.1\r\nHost: h\r\n\r\n", limits), 400)
      << "the version part overflows: the target ended in time";
  EXPECT_EQ(error_of("GET /" + std::string(40, 'p'), limits), 414);
}

TEST(HttpRequestParser, AnOverlongLineIsNeverBuffered) {
  // A client streaming one endless line: refused once it passes the limit, not at its end.
  RequestParser p;
  const std::string chunk(1024, 'a');
  p.consume(std::string_view("GET /"));
  size_t fed = 0;
  while (p.status() == ParseStatus::incomplete && fed < 64 * 1024) {
    p.consume(chunk);
    fed += chunk.size();
  }
  EXPECT_EQ(p.status(), ParseStatus::error);
  EXPECT_EQ(p.error_status(), 414);
  EXPECT_LE(fed, 9 * 1024u);
}

}  // namespace
}  // namespace flowgate::http
