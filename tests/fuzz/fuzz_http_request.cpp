// libFuzzer target: the HTTP/1.1 request parser (apps/http/request_parser.hpp) and the
// request path resolution that follows it (apps/http/request_path.hpp).
//
// Input: one byte choosing the parser limits (the defaults, or small ones so the limit paths
// are reached), one byte seeding how the rest is cut into pieces, then the bytes a client
// sends on one connection (any number of pipelined requests). Properties:
// - consume() never takes more than it is given, takes everything while a request is
//   incomplete, and nothing once it is complete or failed;
// - the stream parsed whole and parsed in pieces of 1-64 bytes gives the same requests (same
//   method, target, path, query, version, persistence, host, fields, content length) and the
//   same final error or incomplete state;
// - an error is one of the documented statuses, with a reason;
// - a complete request respects the limits, its method is a token, its path is empty or
//   starts with '/', and its views lie inside the target;
// - relative_path() of every path (and of the raw input) never yields a ".." or "." segment,
//   an empty segment, a leading or trailing '/', or a NUL byte.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "apps/http/request_parser.hpp"
#include "apps/http/request_path.hpp"
#include "apps/http/text.hpp"
#include "fuzz_support.hpp"

namespace {

using flowgate::fuzz::require;
using flowgate::http::ParserLimits;
using flowgate::http::ParseStatus;
using flowgate::http::PathProblem;
using flowgate::http::Request;
using flowgate::http::RequestParser;

// What one parsed request (or the end of the stream) looked like, for comparing two runs.
struct Outcome {
  ParseStatus status = ParseStatus::incomplete;
  int error = 0;
  std::string summary;  // every observable of a complete request, flattened
  bool operator==(const Outcome&) const = default;
};

void check_relative_path(std::string_view encoded) {
  const flowgate::http::RelativePath r = flowgate::http::relative_path(encoded);
  if (r.problem != PathProblem::none) {
    require(r.path.empty(), "a refused path has no result");
    return;
  }
  const std::string& p = r.path;
  require(p.find('\0') == std::string::npos, "NUL in a relative path");
  if (p.empty()) return;
  require(p.front() != '/' && p.back() != '/', "relative path starts or ends with '/'");
  size_t start = 0;
  for (;;) {
    const size_t slash = p.find('/', start);
    const std::string_view segment = std::string_view(p).substr(start, slash - start);
    require(!segment.empty(), "empty segment in a relative path");
    require(segment != "." && segment != "..", "dot segment in a relative path");
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
}

std::string summarize(const Request& r, const ParserLimits& limits) {
  require(flowgate::http::is_token(r.method_name()), "method is not a token");
  require(r.version_minor() <= 1, "version minor above 1");
  require(r.body_length() <= limits.max_body, "content beyond max_body");
  require(r.field_count() <= limits.max_headers, "more fields than max_headers");
  const std::string_view target = r.target();
  require(!target.empty() && target.size() <= limits.max_request_line, "target size");
  require(r.path().empty() || r.path().front() == '/', "path does not start with '/'");
  require(r.query().size() < target.size() || target.empty(), "query longer than the target");
  if (r.version_minor() == 1) require(r.host().has_value(), "HTTP/1.1 without Host");
  check_relative_path(r.path());

  std::string s;
  s.append(r.method_name()).append("|").append(target).append("|").append(r.path());
  s.append("|").append(r.query()).append("|").push_back(static_cast<char>('0' + r.version_minor()));
  s.append(r.keep_alive() ? "|k|" : "|c|");
  if (const auto host = r.host()) s.append(*host);
  s.append("|").append(std::to_string(r.body_length()));
  size_t field_bytes = 0;
  for (size_t i = 0; i < r.field_count(); ++i) {
    const auto f = r.field(i);
    require(flowgate::http::is_token(f.name), "field name is not a token");
    require(f.value == flowgate::http::trim_whitespace(f.value), "field value not trimmed");
    field_bytes += f.name.size() + f.value.size();
    s.append("|").append(f.name).append(":").append(f.value);
  }
  require(field_bytes <= limits.max_header_bytes, "fields beyond max_header_bytes");
  return s;
}

// Parses `stream` handing it over in pieces whose sizes come from `seed` (0: all at once).
std::vector<Outcome> parse_stream(std::string_view stream, const ParserLimits& limits,
                                  uint8_t seed) {
  std::vector<Outcome> outcomes;
  RequestParser parser(limits);
  uint32_t state = seed;
  size_t pos = 0;
  while (pos < stream.size()) {
    size_t piece = stream.size() - pos;
    if (seed != 0) {
      state = state * 1664525u + 1013904223u;
      piece = std::min<size_t>(piece, 1 + (state >> 26));  // 1-64 bytes
    }
    const size_t used = parser.consume(stream.substr(pos, piece));
    require(used <= piece, "consumed more than it was given");
    pos += used;
    if (parser.status() == ParseStatus::incomplete) {
      require(used == piece, "an incomplete request left input unconsumed");
      continue;
    }
    require(parser.consume(stream.substr(pos)) == 0, "consumed after the end of a request");
    if (parser.status() == ParseStatus::error) {
      const int e = parser.error_status();
      require(e == 400 || e == 413 || e == 414 || e == 431 || e == 501 || e == 505,
              "undocumented error status");
      require(!parser.error_reason().empty(), "an error without a reason");
      outcomes.push_back({ParseStatus::error, e, {}});
      return outcomes;
    }
    outcomes.push_back({ParseStatus::complete, 0, summarize(parser.request(), limits)});
    parser.reset();
    require(!parser.started(), "started after reset");
  }
  outcomes.push_back({parser.status(), 0, parser.started() ? "started" : "idle"});
  return outcomes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  ParserLimits limits;
  switch (data[0] % 4) {
    case 0:
      break;  // the defaults
    case 1:
      limits = ParserLimits{64, 128, 4, 16};
      break;
    case 2:
      limits = ParserLimits{16, 32, 2, 0};
      break;
    case 3:
      limits = ParserLimits{1024, 512, 8, 100};
      break;
  }
  const uint8_t seed = data[1];
  const std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);

  const std::vector<Outcome> whole = parse_stream(stream, limits, 0);
  const std::vector<Outcome> pieces = parse_stream(stream, limits, static_cast<uint8_t>(seed | 1));
  require(whole == pieces, "parsing in pieces differs from parsing whole");

  check_relative_path(stream);
  return 0;
}
