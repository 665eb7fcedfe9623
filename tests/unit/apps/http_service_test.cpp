// The HTTP server over two back-to-back stacks: a client on one speaks HTTP through the fg_*
// API to the HttpService on the other, on a manual clock (no sleeps). Fixed responses and
// files from a temporary root, escapes refused, every error status, timeouts, persistence,
// pipelining, the staged close, draining, and a large file streamed with bounded memory.
#include "apps/http/http_service.hpp"

#include <sys/stat.h>

#include <numeric>

#include "apps/http/listener_options.hpp"
#include "http_test_lab.hpp"

namespace flowgate::http::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

HttpOptions fixed_options(std::string body = "hello, flowgate\n") {
  HttpOptions o;
  o.fixed = FixedResponse{200, std::move(body), "text/plain; charset=utf-8"};
  return o;
}

HttpOptions root_options(const std::filesystem::path& root) {
  HttpOptions o;
  o.root = root.string();
  return o;
}

std::string pattern(size_t size) {
  std::string s(size, '\0');
  uint32_t x = 12345;
  for (char& c : s) {
    x = x * 1103515245 + 12345;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

TEST(HttpService, FixedResponseGetThenHeadOnOneConnection) {
  HttpLab lab(fixed_options());
  const int fd = lab.connect();
  const ClientResponse r = lab.get(fd, "/anything?x=1");
  EXPECT_EQ(r.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(r.body, "hello, flowgate\n");
  EXPECT_EQ(r.field("Content-Length"), "16");
  EXPECT_EQ(r.field("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(r.field("Date"), kFixedDate);
  EXPECT_EQ(r.field("Server"), "flowgate");
  EXPECT_FALSE(r.field("Connection")) << "HTTP/1.1 persists without saying so";

  const auto head = lab.exchange(fd, "HEAD / HTTP/1.1\r\nHost: lab\r\n\r\n", 1, {true});
  ASSERT_EQ(head.size(), 1u);
  EXPECT_EQ(head[0].status, 200);
  EXPECT_EQ(head[0].field("Content-Length"), "16") << "HEAD has GET's fields";
  EXPECT_EQ(head[0].field("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(lab.leftover, "") << "and no content";

  const HttpMetrics& k = lab.server->counters();
  EXPECT_EQ(k.connections_accepted.value(), 1u);
  EXPECT_EQ(k.connections_active.value(), 1);
  EXPECT_EQ(k.responses(200), 2u);
  EXPECT_EQ(lab.server->connection_count(), 1u);
  EXPECT_FALSE(lab.server->idle());
}

TEST(HttpService, StaticFilesFromARootDirectory) {
  TempDir d;
  d.write("index.html", "<h1>home</h1>");
  d.write("a.txt", "text a");
  d.write("sub/index.html", "sub home");
  d.write("sub/style.css", "body{}");
  d.write("empty.bin", "");
  std::filesystem::create_directories(d.path() / "noindex");
  HttpLab lab(root_options(d.path()));
  const int fd = lab.connect();

  ClientResponse r = lab.get(fd, "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "<h1>home</h1>");
  EXPECT_EQ(r.field("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(r.field("Content-Length"), "13");
  r = lab.get(fd, "/a.txt?cache=no");
  EXPECT_EQ(r.body, "text a");
  EXPECT_EQ(r.field("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(lab.get(fd, "/sub").body, "sub home");
  EXPECT_EQ(lab.get(fd, "/sub/").body, "sub home");
  r = lab.get(fd, "/sub/style.css");
  EXPECT_EQ(r.body, "body{}");
  EXPECT_EQ(r.field("Content-Type"), "text/css; charset=utf-8");
  r = lab.get(fd, "/empty.bin");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.field("Content-Length"), "0");
  EXPECT_EQ(r.field("Content-Type"), "application/octet-stream");
  EXPECT_EQ(lab.get(fd, "/%61.txt").body, "text a") << "percent-decoded";
  r = lab.get(fd, "/missing.html");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "404 Not Found\n");
  EXPECT_FALSE(r.field("Connection")) << "a 404 keeps the connection";
  EXPECT_EQ(lab.get(fd, "/noindex/").status, 404) << "a directory without an index";
  EXPECT_EQ(lab.get(fd, "/a.txt/x").status, 404);

  const auto head = lab.exchange(fd, "HEAD /a.txt HTTP/1.1\r\nHost: lab\r\n\r\n", 1, {true});
  EXPECT_EQ(head[0].field("Content-Length"), "6");
  EXPECT_EQ(lab.leftover, "");
  EXPECT_EQ(lab.server->counters().responses(404), 3u);
  EXPECT_EQ(lab.server->counters().connections_accepted.value(), 1u) << "all on one connection";
}

TEST(HttpService, NoPathEscapesTheRoot) {
  TempDir outer;
  outer.write("secret.txt", "SECRET");
  outer.write("root/inside.txt", "inside");
  const auto root = outer.path() / "root";
  std::filesystem::create_directories(root / "sub");
  std::filesystem::create_symlink("../secret.txt", root / "relative-link");
  std::filesystem::create_symlink(outer.path() / "secret.txt", root / "absolute-link");
  std::filesystem::create_symlink("/etc/passwd", root / "passwd-link");
  std::filesystem::create_directory_symlink("..", root / "parent-link");
  std::filesystem::create_symlink("inside.txt", root / "inside-link");
  std::filesystem::create_symlink("../inside.txt", root / "sub" / "up-link");
  ASSERT_EQ(::mkfifo((root / "fifo").c_str(), 0644), 0);
  HttpLab lab(root_options(root));
  const int fd = lab.connect();

  struct Case {
    std::string target;
    int status;
  };
  const std::vector<Case> cases = {
      // ".." above the root, however it is spelt: refused before the file system is asked.
      {"/../secret.txt", 400},
      {"/%2e%2e/secret.txt", 400},
      {"/%2e%2e%2fsecret.txt", 400},
      {"/%2E%2E%2Fsecret.txt", 400},
      {"/..%2fsecret.txt", 400},
      {"/sub/../../secret.txt", 400},
      {"/.%2e/secret.txt", 400},
      {"http://lab/../secret.txt", 400},
      // Links leaving the root: the kernel refuses them (openat2 RESOLVE_BENEATH).
      {"/relative-link", 404},
      {"/absolute-link", 404},
      {"/passwd-link", 404},
      {"/parent-link/secret.txt", 404},
      // An absolute path is only a path beneath the root.
      {"//etc/passwd", 404},
      {"http://lab//etc/passwd", 404},
      {"/fifo", 404},  // not a regular file (and opening it does not block)
      {"/a%00b", 400},
      {"/%zz", 400},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.target);
    const ClientResponse r = lab.get(fd, c.target);
    EXPECT_EQ(r.status, c.status);
    EXPECT_EQ(r.body.find("SECRET"), std::string::npos);
    EXPECT_EQ(r.body.find("root:"), std::string::npos);
  }
  // Links that stay inside are followed.
  EXPECT_EQ(lab.get(fd, "/inside-link").body, "inside");
  EXPECT_EQ(lab.get(fd, "/sub/up-link").body, "inside");
}

TEST(HttpService, RequestTimeoutAnswers408AndCloses) {
  HttpOptions o = fixed_options();
  o.request_timeout = seconds(5);
  HttpLab lab(std::move(o));
  const int fd = lab.connect();
  lab.send(fd, "GET / HTTP/1.1\r\nHo");
  lab.advance(milliseconds(4999));
  EXPECT_EQ(lab.read(fd), "") << "still within the timeout";
  lab.advance(milliseconds(2));
  std::string stream = lab.read(fd);
  const auto r = take_response(stream);
  ASSERT_TRUE(r) << stream;
  EXPECT_EQ(r->status, 408);
  EXPECT_EQ(r->field("Connection"), "close");
  EXPECT_TRUE(lab.closed_by_server(fd)) << "our FIN follows the 408";
  EXPECT_EQ(lab.server->counters().request_timeouts.value(), 1u);
  EXPECT_EQ(lab.server->counters().responses(408), 1u);
  // The client closes too; the server's staged close ends.
  fg_close(lab.client_stack(), fd);
  lab.pump();
  EXPECT_EQ(lab.server->connection_count(), 0u);
  EXPECT_EQ(lab.server->counters().linger_timeouts.value(), 0u);
}

TEST(HttpService, ARequestTimedFromItsFirstByteNotFromTheLastResponse) {
  HttpOptions o = fixed_options();
  o.request_timeout = seconds(5);
  o.keepalive_timeout = seconds(30);
  HttpLab lab(std::move(o));
  const int fd = lab.connect();
  EXPECT_EQ(lab.get(fd, "/").status, 200);
  lab.advance(seconds(20));  // idle, within keepalive_timeout
  lab.send(fd, "GET / HTTP/1.1\r\n");
  lab.advance(milliseconds(4990));
  EXPECT_EQ(lab.read(fd), "");
  lab.advance(milliseconds(20));
  std::string stream = lab.read(fd);
  const auto r = take_response(stream);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
}

TEST(HttpService, AConnectionThatSendsNothingIsClosedWithoutAResponse) {
  HttpOptions o = fixed_options();
  o.request_timeout = seconds(3);
  HttpLab lab(std::move(o));
  const int fd = lab.connect();
  lab.advance(milliseconds(2999));
  bool eof = false;
  EXPECT_EQ(lab.read(fd, &eof), "");
  EXPECT_FALSE(eof);
  lab.advance(milliseconds(2));
  EXPECT_TRUE(lab.closed_by_server(fd));
  EXPECT_EQ(lab.server->counters().idle_timeouts.value(), 1u);
  EXPECT_EQ(lab.server->counters().request_timeouts.value(), 0u);
  EXPECT_EQ(lab.server->connection_count(), 0u);
}

TEST(HttpService, AnIdlePersistentConnectionIsClosedAfterKeepaliveTimeout) {
  HttpOptions o = fixed_options();
  o.keepalive_timeout = seconds(3);
  HttpLab lab(std::move(o));
  const int fd = lab.connect();
  EXPECT_EQ(lab.get(fd, "/").status, 200);
  lab.advance(milliseconds(2999));
  bool eof = false;
  EXPECT_EQ(lab.read(fd, &eof), "");
  EXPECT_FALSE(eof);
  EXPECT_EQ(lab.get(fd, "/").status, 200) << "a request restarts the idle time";
  lab.advance(milliseconds(2999));
  EXPECT_FALSE(lab.closed_by_server(fd));
  lab.advance(milliseconds(2));
  EXPECT_TRUE(lab.closed_by_server(fd));
  EXPECT_EQ(lab.server->counters().idle_timeouts.value(), 1u);
  EXPECT_EQ(lab.server->connection_count(), 0u);
}

TEST(HttpService, ErrorsGetTheirStatusAndFramingErrorsClose) {
  HttpLab lab(fixed_options());
  std::string many_fields = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 100; ++i) many_fields += "X-" + std::to_string(i) + ": v\r\n";
  many_fields += "\r\n";
  struct Case {
    const char* what;
    std::string request;
    int status;
    bool closes;
  };
  const std::vector<Case> cases = {
      {"POST with content", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc", 405,
       false},
      {"DELETE", "DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n", 405, false},
      {"an unknown method", "BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n", 501, false},
      {"a bad request", "GET / HTTP/1.1\r\n\r\n", 400, true},
      {"HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505, true},
      {"a long target", "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", 414,
       true},
      {"large fields", "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(9000, 'x') + "\r\n\r\n",
       431, true},
      {"101 fields", many_fields, 431, true},
      {"too much content", "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n", 413,
       true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const int fd = lab.connect();
    const auto responses = lab.exchange(fd, c.request);
    ASSERT_EQ(responses.size(), 1u);
    const ClientResponse& r = responses[0];
    EXPECT_EQ(r.status, c.status);
    EXPECT_EQ(r.field("Content-Type"), "text/plain; charset=utf-8");
    EXPECT_EQ(r.body.rfind(std::to_string(c.status) + " ", 0), 0u) << r.body;
    if (c.status == 405) {
      EXPECT_EQ(r.field("Allow"), "GET, HEAD");
    }
    if (c.closes) {
      EXPECT_EQ(r.field("Connection"), "close");
      EXPECT_TRUE(lab.closed_by_server(fd));
    } else {
      EXPECT_FALSE(r.field("Connection"));
      EXPECT_EQ(lab.get(fd, "/").status, 200) << "the connection goes on";
    }
    fg_close(lab.client_stack(), fd);
    lab.pump();
  }
  const HttpMetrics& k = lab.server->counters();
  for (const int status : {400, 413, 414, 501, 505}) EXPECT_EQ(k.responses(status), 1u) << status;
  EXPECT_EQ(k.responses(405), 2u);
  EXPECT_EQ(k.responses(431), 2u);
  EXPECT_EQ(lab.server->connection_count(), 0u);
}

TEST(HttpService, PipelinedRequestsAreAnsweredInOrder) {
  TempDir d;
  d.write("a.txt", "first");
  d.write("b.txt", "second");
  HttpLab lab(root_options(d.path()));
  const int fd = lab.connect();
  const std::string requests =
      "GET /a.txt HTTP/1.1\r\nHost: h\r\n\r\n"
      "HEAD /b.txt HTTP/1.1\r\nHost: h\r\n\r\n"
      "GET /missing HTTP/1.1\r\nHost: h\r\n\r\n"
      "POST /b.txt HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
      "GET /b.txt HTTP/1.1\r\nHost: h\r\n\r\n";
  const auto r = lab.exchange(fd, requests, 5, {false, true, false, false, false});
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[0].body, "first");
  EXPECT_EQ(r[1].status, 200);
  EXPECT_EQ(r[1].field("Content-Length"), "6");
  EXPECT_EQ(r[2].status, 404);
  EXPECT_EQ(r[3].status, 405);
  EXPECT_EQ(r[4].body, "second");
  EXPECT_EQ(lab.leftover, "");
}

TEST(HttpService, ManyPipelinedRequestsAreAllAnswered) {
  // More than one turn's worth (the server yields to other connections and comes back).
  HttpLab lab(fixed_options("x"));
  const int fd = lab.connect();
  std::string requests;
  for (int i = 0; i < 300; ++i)
    requests += "GET /" + std::to_string(i) + " HTTP/1.1\r\nHost: h\r\n\r\n";
  const auto r = lab.exchange(fd, requests, 300);
  ASSERT_EQ(r.size(), 300u);
  EXPECT_TRUE(
      std::all_of(r.begin(), r.end(), [](const ClientResponse& x) { return x.body == "x"; }));
  EXPECT_EQ(lab.server->counters().responses(200), 300u);
}

TEST(HttpService, ARequestArrivingByteByByte) {
  HttpLab lab(fixed_options());
  const int fd = lab.connect();
  // Without Nagle, each byte is a segment of its own.
  const int one = 1;
  fg_setsockopt(lab.client_stack(), fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const std::string request = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  std::string stream;
  for (size_t i = 0; i < request.size(); ++i) {
    lab.send(fd, std::string_view(&request[i], 1));
    stream += lab.read(fd);
    if (i + 1 < request.size()) {
      EXPECT_EQ(stream, "") << "answered before the request ended";
    }
  }
  const auto r = take_response(stream);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(HttpService, Http10ClosesUnlessAskedToKeepAlive) {
  HttpLab lab(fixed_options());
  int fd = lab.connect();
  auto r = lab.exchange(fd, "GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(r[0].status_line, "HTTP/1.1 200 OK") << "we answer with our own version";
  EXPECT_EQ(r[0].field("Connection"), "close");
  EXPECT_TRUE(lab.closed_by_server(fd));

  fd = lab.connect();
  r = lab.exchange(fd, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(r[0].field("Connection"), "keep-alive");
  EXPECT_FALSE(lab.closed_by_server(fd));
  r = lab.exchange(fd, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(r[0].status, 200);

  r = lab.exchange(fd, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r[0].field("Connection"), "close");
  EXPECT_TRUE(lab.closed_by_server(fd));
}

TEST(HttpService, MaxRequestsPerConnection) {
  HttpOptions o = fixed_options();
  o.max_requests_per_connection = 2;
  HttpLab lab(std::move(o));
  const int fd = lab.connect();
  EXPECT_FALSE(lab.get(fd, "/").field("Connection"));
  EXPECT_EQ(lab.get(fd, "/").field("Connection"), "close");
  EXPECT_TRUE(lab.closed_by_server(fd));
}

TEST(HttpService, AClientHalfCloseStillGetsItsResponses) {
  // nc -N: the request, then the client's FIN.
  HttpLab lab(fixed_options());
  const int fd = lab.connect();
  const std::string two = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
  ASSERT_EQ(fg_send(lab.client_stack(), fd, two.data(), two.size(), 0),
            static_cast<ssize_t>(two.size()));
  ASSERT_EQ(fg_shutdown(lab.client_stack(), fd, SHUT_WR), 0);
  lab.pump();
  bool eof = false;
  std::string stream = lab.read(fd, &eof);
  EXPECT_TRUE(take_response(stream));
  EXPECT_TRUE(take_response(stream));
  EXPECT_EQ(stream, "");
  EXPECT_TRUE(eof || lab.closed_by_server(fd));
  EXPECT_EQ(lab.server->connection_count(), 0u);
}

TEST(HttpService, AfterAFramingErrorTheResponseSurvivesWhatTheClientKeepsSending) {
  // The staged close (RFC 9112 9.6): had the server closed at once, the bytes behind the bad
  // request would have reset the connection and could destroy the 400 before it was read.
  HttpLab lab(fixed_options());
  const int fd = lab.connect();
  std::string request = "GET / HTTP/1.1\r\n\r\n";  // no Host
  for (int i = 0; i < 2000; ++i) request += "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  lab.send(fd, request);
  std::string stream;
  bool eof = false;
  for (int i = 0; i < 100 && !eof; ++i) {
    stream += lab.read(fd, &eof);
    lab.advance(milliseconds(1));
  }
  const auto r = take_response(stream);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(stream, "") << "nothing is answered after it";
  EXPECT_TRUE(eof);
  fg_close(lab.client_stack(), fd);
  lab.pump();
  EXPECT_EQ(lab.server->connection_count(), 0u);
}

TEST(HttpService, TheStagedCloseEndsAfterTwoSecondsIfTheClientDoesNotClose) {
  HttpLab lab(fixed_options());
  const int fd = lab.connect();
  const auto r = lab.exchange(fd, "GET / HTTP/2.0\r\nHost: h\r\n\r\n");
  EXPECT_EQ(r[0].status, 505);
  EXPECT_TRUE(lab.closed_by_server(fd));
  EXPECT_EQ(lab.server->connection_count(), 1u) << "waiting for the client's FIN";
  lab.advance(milliseconds(1999));
  EXPECT_EQ(lab.server->connection_count(), 1u);
  lab.advance(milliseconds(2));
  EXPECT_EQ(lab.server->connection_count(), 0u);
  EXPECT_EQ(lab.server->counters().linger_timeouts.value(), 1u);
}

TEST(HttpService, AClientThatKeepsSendingAfterTheLastResponseIsCutOffAfterTwoSeconds) {
  HttpLab lab(fixed_options());
  const int fd = lab.connect();
  const auto r = lab.exchange(fd, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r[0].field("Connection"), "close");
  const std::string junk(16 * 1024, 'j');
  const Instant start = lab.now();
  while (lab.server->connection_count() > 0 && lab.now() - start < seconds(5)) {
    fg_send(lab.client_stack(), fd, junk.data(), junk.size(), 0);
    lab.advance(milliseconds(5));
  }
  EXPECT_EQ(lab.server->connection_count(), 0u);
  EXPECT_LE(lab.now() - start, milliseconds(2100));
  EXPECT_EQ(lab.server->counters().linger_timeouts.value(), 1u);
  EXPECT_GT(lab.server->counters().bytes_received.value(), 100u * 1024) << "it read and discarded";
}

TEST(HttpService, ALargeFileIsStreamedWithBoundedMemory) {
  TempDir d;
  const std::string content = pattern(4 * 1024 * 1024 + 123);
  d.write("big.bin", content);
  HttpLab lab(root_options(d.path()));
  const int fd = lab.connect();
  lab.send(fd, "GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n");
  // A slow reader: 8 KiB per millisecond.
  std::string stream;
  size_t largest = 0;
  std::optional<ClientResponse> r;
  for (int step = 0; step < 5000 && !r; ++step) {
    stream += lab.read(fd, nullptr, 8192);
    largest = std::max(largest, lab.server->largest_connection_buffers());
    r = take_response(stream);
    lab.advance(milliseconds(1));
  }
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->field("Content-Length"), std::to_string(content.size()));
  EXPECT_TRUE(r->body == content) << "the body differs";
  EXPECT_LE(largest, 160u * 1024) << "the server kept more than a chunk of the file";
  EXPECT_GE(largest, 64u * 1024) << "a whole chunk at a time";
  EXPECT_EQ(lab.server->counters().file_errors.value(), 0u);
  // The connection persists, and the file was closed: another request works at once.
  EXPECT_EQ(lab.get(fd, "/big.bin", "Range: ignored\r\n").body.size(), content.size());
}

TEST(HttpService, AFileThatShrinksWhileSentEndsTheConnection) {
  TempDir d;
  d.write("big.bin", pattern(2 * 1024 * 1024));
  HttpLab lab(root_options(d.path()));
  const int fd = lab.connect();
  lab.send(fd, "GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n");
  std::filesystem::resize_file(d.path() / "big.bin", 100);
  // Content-Length promised 2 MiB; only closing can tell the client it will not come.
  std::string got;
  bool eof = false;
  for (int step = 0; step < 5000 && !eof; ++step) {
    got += lab.read(fd, &eof);
    lab.advance(milliseconds(1));
  }
  EXPECT_TRUE(eof);
  EXPECT_LT(got.size(), 2u * 1024 * 1024);
  EXPECT_NE(got.find("Content-Length: 2097152"), std::string::npos);
  EXPECT_EQ(lab.server->counters().file_errors.value(), 1u);
  EXPECT_EQ(lab.server->connection_count(), 0u);
}

TEST(HttpService, AClientThatStopsReadingIsDisconnectedAfterAMinute) {
  TempDir d;
  d.write("big.bin", pattern(4 * 1024 * 1024));
  HttpLab lab(root_options(d.path()));
  const int fd = lab.connect();
  lab.send(fd, "GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n");
  lab.advance(seconds(30));
  EXPECT_EQ(lab.server->connection_count(), 1u);
  EXPECT_LE(lab.server->largest_connection_buffers(), 160u * 1024);
  lab.advance(seconds(31));
  EXPECT_EQ(lab.server->connection_count(), 0u);
  EXPECT_EQ(lab.server->counters().send_timeouts.value(), 1u);
}

TEST(HttpService, ALargeFixedBodyIsStreamedToo) {
  HttpLab lab(fixed_options(filler_body(1024 * 1024)));
  const int fd = lab.connect();
  std::string stream;
  lab.send(fd, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  std::optional<ClientResponse> r;
  for (int step = 0; step < 5000 && !r; ++step) {
    stream += lab.read(fd);
    r = take_response(stream);
    if (!r) lab.advance(milliseconds(1));
  }
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, filler_body(1024 * 1024));
  EXPECT_EQ(r->body.substr(0, 9), "flowgate ");
  const auto head = lab.exchange(fd, "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", 1, {true});
  EXPECT_EQ(head[0].field("Content-Length"), "1048576");
  EXPECT_EQ(lab.leftover, "");
}

TEST(HttpService, A204HasNeitherContentNorContentLength) {
  HttpOptions o;
  o.fixed = FixedResponse{204, "", "text/plain"};
  HttpLab lab(std::move(o));
  const int fd = lab.connect();
  const auto r = lab.exchange(fd, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(r[0].status_line, "HTTP/1.1 204 No Content");
  EXPECT_FALSE(r[0].field("Content-Length"));
  EXPECT_FALSE(r[0].field("Content-Type"));
  EXPECT_EQ(lab.leftover, "");
}

TEST(HttpService, DrainingClosesIdleConnectionsAndEndsBusyOnesWithClose) {
  HttpLab lab(fixed_options());
  const int idle_fd = lab.connect();
  EXPECT_EQ(lab.get(idle_fd, "/").status, 200);
  const int busy_fd = lab.connect();
  lab.send(busy_fd, "GET / HTTP/1.1\r\n");
  lab.server->stop_accepting();
  lab.pump();
  EXPECT_TRUE(lab.closed_by_server(idle_fd));
  const auto r = lab.exchange(busy_fd, "Host: h\r\n\r\n");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status, 200);
  EXPECT_EQ(r[0].field("Connection"), "close");
  EXPECT_TRUE(lab.closed_by_server(busy_fd));
  fg_close(lab.client_stack(), idle_fd);
  fg_close(lab.client_stack(), busy_fd);
  lab.pump();
  EXPECT_TRUE(lab.server->idle());
  // The listener is gone: a new connection is refused.
  const int late = lab.connect();
  int error = 0;
  socklen_t len = sizeof error;
  ASSERT_EQ(fg_getsockopt(lab.client_stack(), late, SOL_SOCKET, SO_ERROR, &error, &len), 0);
  EXPECT_EQ(error, ECONNREFUSED);
}

// Every series of a listener, as the exporter reads it from the table: "family{labels}".
std::map<std::string, int64_t> app_series(const metrics::AppMetricsArea& area) {
  std::map<std::string, int64_t> out;
  metrics::read_app_metrics(area, [&](const metrics::AppMetricView& v) {
    std::string key(v.info->name);
    for (size_t i = 0; i < v.label_count; ++i) {
      key += (i == 0 ? "{" : ",") + std::string(v.info->label_names[i]) + "=" +
             std::string(v.labels[i]);
    }
    key += v.label_count > 0 ? "}" : "";
    out[key] = v.info->type == metrics::MetricType::gauge
                   ? v.gauge
                   : static_cast<int64_t>(v.info->type == metrics::MetricType::counter
                                              ? v.counter
                                              : v.histogram.count);
  });
  return out;
}

TEST(HttpService, MetricsAreLabelledWithTheListenerAndTheStatusCode) {
  HttpOptions o = fixed_options();
  o.listener = "site";
  o.port = 8080;
  o.fixed->status = 203;  // a status the server never chooses itself: its own series too
  HttpLab lab(std::move(o));
  const int fd = lab.connect(8080);
  lab.get(fd, "/");
  lab.get(fd, "/again");
  const auto bad = lab.exchange(fd, "BREW / HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].status, 501);
  const auto series = app_series(*lab.metrics_area);
  EXPECT_EQ(series.at("flowgate_http_requests_total{listener=site,code=203}"), 2);
  EXPECT_EQ(series.at("flowgate_http_requests_total{listener=site,code=501}"), 1);
  EXPECT_EQ(series.at("flowgate_http_requests_total{listener=site,code=404}"), 0);
  EXPECT_EQ(series.at("flowgate_http_request_duration_seconds{listener=site}"), 3);
  EXPECT_EQ(series.at("flowgate_listener_connections_accepted_total{listener=site}"), 1);
  EXPECT_EQ(series.at("flowgate_listener_connections_active{listener=site}"), 1);
  EXPECT_GT(series.at("flowgate_listener_sent_bytes_total{listener=site}"), 100);
  EXPECT_GT(series.at("flowgate_listener_received_bytes_total{listener=site}"), 20);
  for (const char* kind : {"request", "idle", "linger", "send"}) {
    EXPECT_EQ(
        series.at(std::string("flowgate_http_timeouts_total{listener=site,kind=") + kind + "}"), 0)
        << kind;
  }
  EXPECT_EQ(series.count("flowgate_listener_errors_total{listener=site}"), 1u);
  EXPECT_EQ(series.count("flowgate_http_file_errors_total{listener=site}"), 1u);
  EXPECT_EQ(lab.metrics.refused(), 0u);
}

// The bucket a value landed in, from a snapshot's cumulative counts.
uint64_t in_bucket(const LatencyHistogramSnapshot& h, size_t bucket) {
  return h.cumulative[bucket] - (bucket == 0 ? 0 : h.cumulative[bucket - 1]);
}

TEST(HttpService, RequestDurationRunsFromTheFirstByteToTheWholeResponse) {
  using namespace std::chrono_literals;
  HttpLab lab(fixed_options());
  const int fd = lab.connect();
  lab.send(fd, "GET / HTTP/1.1\r\nHo");  // the first bytes start the clock...
  lab.advance(30ms);
  const auto r = lab.exchange(fd, "st: lab\r\n\r\n");  // ...the rest 30 ms later
  ASSERT_EQ(r.size(), 1u);
  const LatencyHistogramSnapshot h = lab.server->counters().request_duration.snapshot();
  EXPECT_EQ(h.count, 1u);
  EXPECT_EQ(h.sum_ns, 30'000'000u);
  EXPECT_EQ(in_bucket(h, LatencyHistogram::bucket_of(30ms)), 1u);  // (25, 50] ms

  // Pipelined requests that arrive together, answered at once: two durations of zero.
  const auto both =
      lab.exchange(fd, "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n", 2);
  ASSERT_EQ(both.size(), 2u);
  const LatencyHistogramSnapshot h2 = lab.server->counters().request_duration.snapshot();
  EXPECT_EQ(h2.count, 3u);
  EXPECT_EQ(h2.sum_ns, 30'000'000u);
  EXPECT_EQ(h2.cumulative[0], 2u);
}

TEST(HttpService, ADurationEndsWhenTheLastByteOfTheResponseIsTaken) {
  using namespace std::chrono_literals;
  // 2 MiB: more than the send buffer and the client's window together, so the response can
  // only be finished once the client reads.
  HttpLab lab(fixed_options(std::string(2 << 20, 'z')));
  const int fd = lab.connect();
  lab.send(fd, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  lab.advance(2s);  // the client reads nothing meanwhile
  EXPECT_EQ(lab.server->counters().request_duration.snapshot().count, 0u) << "not finished";
  size_t got = 0;
  for (int guard = 0; guard < 10000 && got < (2u << 20); ++guard) {
    got += lab.read(fd).size();
    lab.advance(1ms);
  }
  ASSERT_GE(got, 2u << 20);
  const LatencyHistogramSnapshot h = lab.server->counters().request_duration.snapshot();
  EXPECT_EQ(h.count, 1u);
  EXPECT_GE(h.sum_ns, 2'000'000'000u);
  EXPECT_EQ(in_bucket(h, LatencyHistogram::bucket_of(2s)), 1u);  // (1, 2.5] s
}

TEST(HttpService, RefusalsAndTimeoutsAreCountedByCodeAndKind) {
  using namespace std::chrono_literals;
  HttpOptions o = fixed_options();
  o.request_timeout = 1s;
  HttpLab lab(std::move(o));
  const int fd = lab.connect();
  lab.send(fd, "GET / HTTP/1.1\r\n");  // never finished: 408 after the request timeout
  lab.advance(1100ms);
  const HttpMetrics& k = lab.server->counters();
  EXPECT_EQ(k.responses(408), 1u);
  EXPECT_EQ(k.request_timeouts.value(), 1u);
  EXPECT_EQ(k.request_duration.snapshot().count, 1u);  // the 408 is a response too
  const int fd2 = lab.connect();
  const auto r = lab.exchange(fd2, "GET / HTTP/1.1\r\n\r\n");  // no Host: 400
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(k.responses(r[0].status), 1u);
  EXPECT_EQ(r[0].status, 400);
  lab.advance(5s);  // both connections end (staged close and linger)
  EXPECT_EQ(k.connections_active.value(), 0);
  EXPECT_EQ(k.connections_accepted.value(), 2u);
}

TEST(HttpService, ARootThatCannotBeOpenedIsRefusedAtConstruction) {
  test::BackToBack net(server_stack_config(), client_stack_config());
  HttpOptions o;
  o.root = "/nonexistent/flowgate/root";
  const auto area = std::make_unique<metrics::AppMetricsArea>();
  metrics::AppMetricsWriter writer(*area);
  EXPECT_THROW(HttpService(net.a, o, writer), std::system_error);
}

TEST(HttpService, RootsAreCheckedBeforeTheWorkersStart) {
  TempDir d;
  d.write("file.txt", "x");
  const std::string text =
      "interface: eth1\naddress: 198.18.0.1/24\nlisteners:\n"
      "  - {name: a, port: 80, app: http, http: {root: " +
      d.path().string() +
      "}}\n"
      "  - {name: b, port: 81, app: http, http: {root: /nonexistent/www}}\n"
      "  - {name: c, port: 82, app: http, http: {root: " +
      (d.path() / "file.txt").string() +
      "}}\n"
      "  - {name: d, port: 83, app: http, http: {response: {body: x}}}\n";
  const ConfigResult parsed = parse_config(text, "test.yaml");
  ASSERT_TRUE(std::holds_alternative<GatewayConfig>(parsed));
  const auto errors = check_http_roots(std::get<GatewayConfig>(parsed));
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].to_string(),
            "test.yaml:5: listeners[1].http.root: cannot open /nonexistent/www: No such file or "
            "directory");
  EXPECT_EQ(errors[1].line, 6);
  EXPECT_NE(errors[1].reason.find("Not a directory"), std::string::npos);
}

TEST(HttpService, OptionsComeFromTheListenerConfiguration) {
  const ConfigResult parsed = parse_config(
      "interface: eth1\naddress: 198.18.0.1/24\nlisteners:\n"
      "  - name: bench\n    port: 8080\n    app: http\n    backlog: 512\n"
      "    http:\n      response: {status: 203, body_bytes: 100, content_type: text/x-bench}\n"
      "      request_timeout: 2s\n      keepalive_timeout: 0s\n      max_header_bytes: 2KiB\n"
      "      max_headers: 10\n      max_requests_per_connection: 7\n",
      "test.yaml");
  ASSERT_TRUE(std::holds_alternative<GatewayConfig>(parsed));
  const HttpOptions o = options_for_listener(std::get<GatewayConfig>(parsed).listeners[0]);
  EXPECT_EQ(o.port, 8080);
  EXPECT_EQ(o.backlog, 512);
  ASSERT_TRUE(o.fixed);
  EXPECT_EQ(o.fixed->status, 203);
  EXPECT_EQ(o.fixed->body, filler_body(100));
  EXPECT_EQ(o.fixed->content_type, "text/x-bench");
  EXPECT_EQ(o.request_timeout, seconds(2));
  EXPECT_EQ(o.keepalive_timeout, Duration::zero());
  EXPECT_EQ(o.max_header_bytes, 2048u);
  EXPECT_EQ(o.max_headers, 10u);
  EXPECT_EQ(o.max_requests_per_connection, 7u);
  EXPECT_EQ(filler_body(130).size(), 130u);
  EXPECT_EQ(filler_body(64).back(), '\n');

  // keepalive_timeout 0: every response closes.
  HttpLab lab(o);
  const int fd = lab.connect(8080);
  const auto r = lab.exchange(fd, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(r[0].status_line, "HTTP/1.1 203 Non-Authoritative Information");
  EXPECT_EQ(r[0].field("Connection"), "close");
}

}  // namespace
}  // namespace flowgate::http::test
