// The pieces of the HTTP server that need no sockets: request paths made relative to the
// document root (percent-decoding, dot segments, refusals), Content-Type by extension, the
// Date in IMF-fixdate, and reason phrases.
#include <gtest/gtest.h>

#include <chrono>

#include "apps/http/content_type.hpp"
#include "apps/http/http_date.hpp"
#include "apps/http/request_path.hpp"
#include "apps/http/response.hpp"

namespace flowgate::http {
namespace {

std::string relative(std::string_view encoded) {
  const RelativePath r = relative_path(encoded);
  EXPECT_EQ(r.problem, PathProblem::none) << encoded;
  return r.path;
}

PathProblem problem(std::string_view encoded) {
  return relative_path(encoded).problem;
}

TEST(HttpRequestPath, NormalPathsBecomeRelative) {
  EXPECT_EQ(relative("/"), "");
  EXPECT_EQ(relative("/index.html"), "index.html");
  EXPECT_EQ(relative("/a/b/c.txt"), "a/b/c.txt");
  EXPECT_EQ(relative("/a/"), "a");
  EXPECT_EQ(relative("//a///b//"), "a/b") << "empty segments vanish (and '//x' is not absolute)";
  EXPECT_EQ(relative("/./a/./b/."), "a/b");
  EXPECT_EQ(relative("/a/b/../c"), "a/c") << "'..' inside the root is fine";
  EXPECT_EQ(relative("/a/.."), "");
  EXPECT_EQ(relative("/..."), "...") << "three dots are a name";
  EXPECT_EQ(relative("/..a/b..c"), "..a/b..c");
}

TEST(HttpRequestPath, PercentDecodingHappensOnceBeforeSegmenting) {
  EXPECT_EQ(relative("/hello%20world.txt"), "hello world.txt");
  EXPECT_EQ(relative("/%41%62%63"), "Abc");
  EXPECT_EQ(relative("/a%2Fb"), "a/b") << "a decoded slash separates segments";
  EXPECT_EQ(relative("/%252e%252e/x"), "%2e%2e/x") << "decoded once only";
  EXPECT_EQ(relative("/a%2e%2e"), "a..");
  EXPECT_EQ(relative("/caf%C3%A9"), "caf\xc3\xa9");
}

TEST(HttpRequestPath, EscapesAndBadEncodingsAreRefused) {
  EXPECT_EQ(problem("/.."), PathProblem::above_root);
  EXPECT_EQ(problem("/../etc/passwd"), PathProblem::above_root);
  EXPECT_EQ(problem("/a/../../etc/passwd"), PathProblem::above_root);
  EXPECT_EQ(problem("/%2e%2e/etc/passwd"), PathProblem::above_root);
  EXPECT_EQ(problem("/%2e%2e%2fetc%2fpasswd"), PathProblem::above_root);
  EXPECT_EQ(problem("/%2E%2E%2F%2E%2E%2Fetc"), PathProblem::above_root);
  EXPECT_EQ(problem("/a/%2e%2e/%2e%2e/b"), PathProblem::above_root);
  EXPECT_EQ(problem("/.%2e/x"), PathProblem::above_root);
  EXPECT_EQ(problem("/a%00.txt"), PathProblem::nul_byte);
  EXPECT_EQ(problem(std::string_view("/a\0b", 4)), PathProblem::nul_byte) << "found by the fuzzer";
  EXPECT_EQ(problem("/a%"), PathProblem::bad_percent_encoding);
  EXPECT_EQ(problem("/a%4"), PathProblem::bad_percent_encoding);
  EXPECT_EQ(problem("/a%zz"), PathProblem::bad_percent_encoding);
  EXPECT_EQ(problem("/a%%41"), PathProblem::bad_percent_encoding);
}

TEST(HttpRequestPath, ExtensionsAndContentTypes) {
  EXPECT_EQ(extension_of("a/b/page.HTML"), "html");
  EXPECT_EQ(extension_of("archive.tar.gz"), "gz");
  EXPECT_EQ(extension_of("README"), "");
  EXPECT_EQ(extension_of("dir.d/README"), "");
  EXPECT_EQ(extension_of(".profile"), "");
  EXPECT_EQ(content_type_for_extension("html"), "text/html; charset=utf-8");
  EXPECT_EQ(content_type_for_extension("css"), "text/css; charset=utf-8");
  EXPECT_EQ(content_type_for_extension("js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(content_type_for_extension("png"), "image/png");
  EXPECT_EQ(content_type_for_extension("json"), "application/json");
  EXPECT_EQ(content_type_for_extension(""), "application/octet-stream");
  EXPECT_EQ(content_type_for_extension("exe"), "application/octet-stream");
}

TEST(HttpDate, ImfFixdate) {
  char text[kImfFixdateLength + 1];
  // RFC 9110 5.6.7's own example.
  format_imf_fixdate(784111777, text);
  EXPECT_STREQ(text, "Sun, 06 Nov 1994 08:49:37 GMT");
  format_imf_fixdate(0, text);
  EXPECT_STREQ(text, "Thu, 01 Jan 1970 00:00:00 GMT");
  format_imf_fixdate(951782400, text);  // a leap day in a century year divisible by 400
  EXPECT_STREQ(text, "Tue, 29 Feb 2000 00:00:00 GMT");
  format_imf_fixdate(4102444799, text);
  EXPECT_STREQ(text, "Thu, 31 Dec 2099 23:59:59 GMT");
}

TEST(HttpDate, FormattedOncePerSecond) {
  using std::chrono::system_clock;
  system_clock::time_point now(std::chrono::seconds(784111777));
  int reads = 0;
  DateCache cache([&] {
    ++reads;
    return now;
  });
  EXPECT_EQ(cache.now(), "Sun, 06 Nov 1994 08:49:37 GMT");
  now += std::chrono::milliseconds(999);
  EXPECT_EQ(cache.now(), "Sun, 06 Nov 1994 08:49:37 GMT");
  now += std::chrono::milliseconds(1);
  EXPECT_EQ(cache.now(), "Sun, 06 Nov 1994 08:49:38 GMT");
  EXPECT_EQ(reads, 3) << "the clock is read each time, the text made only when it changes";
}

TEST(HttpResponse, HeadsAndReasonPhrases) {
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(413), "Content Too Large");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(299), "");
  std::string out;
  ResponseHead head;
  head.status = 404;
  head.date = "Sun, 06 Nov 1994 08:49:37 GMT";
  head.content_type = "text/plain";
  head.content_length = 10;
  head.persistence = Persistence::close;
  append_response_head(out, head);
  EXPECT_EQ(out,
            "HTTP/1.1 404 Not Found\r\nServer: flowgate\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Content-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\n");
  out.clear();
  head.status = 299;
  head.content_type = {};
  head.content_length.reset();
  head.persistence = Persistence::keep_alive_1_0;
  head.extra_fields = "Allow: GET\r\n";
  append_response_head(out, head);
  EXPECT_EQ(out,
            "HTTP/1.1 299 \r\nServer: flowgate\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Connection: keep-alive\r\nAllow: GET\r\n\r\n");
}

}  // namespace
}  // namespace flowgate::http
