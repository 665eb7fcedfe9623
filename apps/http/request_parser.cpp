#include "apps/http/request_parser.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "apps/http/text.hpp"

namespace flowgate::http {

namespace {

// RFC 9112 2.2: "a server that is expecting to receive and parse a request-line SHOULD
// ignore at least one empty line (CRLF) received prior to the request-line." A few, not an
// unbounded stream of them.
constexpr size_t kMaxLeadingEmptyLines = 16;
// chunk-size and chunk-ext (RFC 9112 7.1.1); the extensions are ignored, so a long line is
// only a way to make us buffer.
constexpr size_t kMaxChunkSizeLine = 1024;
// The line end we count for every field line, whether it came as CRLF or a bare LF.
constexpr size_t kLineEnd = 2;

struct MethodName {
  std::string_view name;
  Method method;
};
constexpr MethodName kMethods[] = {
    {"GET", Method::get},         {"HEAD", Method::head},      {"POST", Method::post},
    {"PUT", Method::put},         {"DELETE", Method::delete_}, {"CONNECT", Method::connect},
    {"OPTIONS", Method::options}, {"TRACE", Method::trace},    {"PATCH", Method::patch},
};

// uri-host [ ":" port ] (RFC 9112 3.2, RFC 3986 3.2.2): reg-name, IPv4 or IP-literal
// characters, percent-encodings and the port. The exact grammar matters little to an origin
// server with one site; what matters is refusing what cannot be a host at all.
bool is_host_char(char c) {
  if (is_alpha(c) || is_digit(c)) return true;
  return std::string_view("-._~!$&'()*+,;=%:[]").find(c) != std::string_view::npos;
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         equals_ignoring_case(text.substr(0, prefix.size()), prefix);
}

}  // namespace

Method method_from_name(std::string_view name) {
  for (const MethodName& m : kMethods) {
    if (m.name == name) return m.method;
  }
  return Method::other;
}

// ---------------------------------------------------------------------------------------------
// Request

std::optional<std::string_view> Request::host() const {
  if (!host_) return std::nullopt;
  return view(*host_);
}

std::optional<std::string_view> Request::find(std::string_view name) const {
  for (const FieldSpans& f : fields_) {
    if (equals_ignoring_case(view(f.name), name)) return view(f.value);
  }
  return std::nullopt;
}

Request::Span Request::store(std::string_view text) {
  const Span s{static_cast<uint32_t>(storage_.size()), static_cast<uint32_t>(text.size())};
  storage_.append(text);
  return s;
}

void Request::clear() {
  // Keep a small allocation for the next request; give back what a large one needed.
  constexpr size_t kKeptStorage = 1024;
  constexpr size_t kKeptFields = 16;
  if (storage_.capacity() > kKeptStorage) {
    std::string().swap(storage_);
  } else {
    storage_.clear();
  }
  if (fields_.capacity() > kKeptFields) {
    std::vector<FieldSpans>().swap(fields_);
  } else {
    fields_.clear();
  }
  method_ = Method::other;
  method_span_ = target_span_ = path_span_ = query_span_ = Span{};
  version_minor_ = 1;
  keep_alive_ = false;
  host_.reset();
  body_length_ = 0;
}

// ---------------------------------------------------------------------------------------------
// RequestParser

void RequestParser::reset() {
  constexpr size_t kKeptLine = 256;
  state_ = State::request_line;
  status_ = ParseStatus::incomplete;
  error_status_ = 0;
  error_reason_ = {};
  started_ = false;
  if (line_.capacity() > kKeptLine) {
    std::string().swap(line_);
  } else {
    line_.clear();
  }
  empty_lines_ = 0;
  header_bytes_ = 0;
  field_lines_ = 0;
  remaining_ = 0;
  request_.clear();
  host_count_ = 0;
  content_length_.reset();
  transfer_codings_ = 0;
  chunked_codings_ = 0;
  last_coding_chunked_ = false;
  connection_close_ = false;
  connection_keep_alive_ = false;
}

size_t RequestParser::consume(std::span<const std::byte> input) {
  if (status_ != ParseStatus::incomplete) return 0;
  const char* data = reinterpret_cast<const char*>(input.data());
  const size_t size = input.size();
  size_t pos = 0;
  while (pos < size && status_ == ParseStatus::incomplete) {
    if (!in_line_state()) {
      // Content is read and thrown away: nothing of it is kept.
      const uint64_t take = std::min<uint64_t>(remaining_, size - pos);
      pos += static_cast<size_t>(take);
      remaining_ -= take;
      if (remaining_ == 0) {
        if (state_ == State::body) {
          complete();
        } else {
          state_ = State::chunk_data_end;
        }
      }
      continue;
    }
    const void* found = std::memchr(data + pos, '\n', size - pos);
    const size_t end =
        found ? static_cast<size_t>(static_cast<const char*>(found) - data) + 1 : size;
    // Refuse before buffering: a line longer than its limit plus a CRLF is too long whatever
    // comes next, and is never held in memory.
    if (line_.size() + (end - pos) > line_limit() + kLineEnd) {
      line_.append(data + pos, std::min(end - pos, line_limit() + kLineEnd - line_.size()));
      line_overflow();
      return end;
    }
    line_.append(data + pos, end - pos);
    pos = end;
    if (!started_ && line_.find_first_not_of("\r\n") != std::string::npos) started_ = true;
    if (found == nullptr) continue;
    // RFC 9112 2.2: "Although the line terminator for the start-line and fields is the
    // sequence CRLF, a recipient MAY recognize a single LF as a line terminator and ignore
    // any preceding CR." We do: hand-typed requests (nc, telnet) end lines with LF alone.
    std::string_view line(line_);
    line.remove_suffix(1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > line_limit()) {
      line_overflow();
      return pos;
    }
    process_line(line);
    line_.clear();
  }
  return pos;
}

size_t RequestParser::line_limit() const {
  switch (state_) {
    case State::request_line:
      return limits_.max_request_line;
    case State::field_line:
    case State::trailer_line: {
      // The header budget counts each field line with its line end; what is left of it is
      // the longest next line. An empty line (the end of the section) always fits.
      const size_t used = header_bytes_ + kLineEnd;
      return limits_.max_header_bytes > used ? limits_.max_header_bytes - used : 0;
    }
    case State::chunk_size:
      return kMaxChunkSizeLine;
    case State::chunk_data_end:
      return 0;  // nothing but the line end after chunk-data
    case State::body:
    case State::chunk_data:
    case State::done:
      break;
  }
  return 0;
}

void RequestParser::line_overflow() {
  switch (state_) {
    case State::request_line: {
      // Where the line became too long says what was too long.
      const size_t method_end = line_.find(' ');
      if (method_end == std::string::npos) {
        // RFC 9110 9.1: a method the server does not implement is 501; no method we know is
        // anywhere near this long.
        const bool token = std::all_of(line_.begin(), line_.end(), [](char c) {
          return is_tchar(c) || c == '\r' || c == '\n';
        });
        return token ? fail(501, "method not implemented") : fail(400, "malformed request line");
      }
      if (line_.find(' ', method_end + 1) == std::string::npos) {
        // RFC 9110 15.5.15: 414 "the target URI is longer than the server is willing to
        // interpret".
        return fail(414, "request target too long");
      }
      return fail(400, "request line too long");
    }
    case State::field_line:
    case State::trailer_line:
      // RFC 6585 5: 431 "the server is unwilling to process the request because its header
      // fields are too large".
      return fail(431, "header fields too large");
    case State::chunk_size:
      return fail(400, "chunk size line too long");
    case State::chunk_data_end:
      return fail(400, "chunk data longer than its chunk size");
    case State::body:
    case State::chunk_data:
    case State::done:
      break;
  }
}

void RequestParser::process_line(std::string_view line) {
  switch (state_) {
    case State::request_line:
      return process_request_line(line);
    case State::field_line:
      return process_field_line(line, false);
    case State::trailer_line:
      return process_field_line(line, true);
    case State::chunk_size:
      return process_chunk_size(line);
    case State::chunk_data_end:
      state_ = State::chunk_size;  // the line is empty: line_limit() is 0
      return;
    case State::body:
    case State::chunk_data:
    case State::done:
      break;
  }
}

void RequestParser::process_request_line(std::string_view line) {
  if (line.empty()) {
    if (++empty_lines_ > kMaxLeadingEmptyLines)
      fail(400, "too many empty lines before the request");
    return;
  }
  // RFC 9112 2.2: "A recipient of such a bare CR MUST consider that element to be invalid".
  if (line.find('\r') != std::string_view::npos) return fail(400, "bare CR in the request line");

  // request-line = method SP request-target SP HTTP-version (RFC 9112 3). 3 also allows
  // parsing "on whitespace-delimited word boundaries"; we keep the single SP: a request
  // that two parsers could split differently is how smuggling starts.
  const size_t method_end = line.find(' ');
  if (method_end == std::string_view::npos) return fail(400, "malformed request line");
  const std::string_view method = line.substr(0, method_end);
  if (method.empty() || !is_token(method)) return fail(400, "method is not a token");
  const std::string_view rest = line.substr(method_end + 1);
  const size_t target_end = rest.find(' ');
  if (target_end == std::string_view::npos) {
    return fail(400, "no HTTP version (HTTP/0.9 is not served)");
  }
  const std::string_view target = rest.substr(0, target_end);
  const std::string_view version = rest.substr(target_end + 1);

  // HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 2.3).
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !is_digit(version[5]) ||
      version[6] != '.' || !is_digit(version[7])) {
    return fail(400, "malformed HTTP version");
  }
  // RFC 9110 15.6.6: 505 "the server does not support, or refuses to support, the major
  // version of HTTP that was used in the request message".
  if (version[5] != '1') return fail(505, "HTTP version not supported");
  request_.version_minor_ = version[7] == '0' ? 0 : 1;

  if (target.empty()) return fail(400, "empty request target");
  for (const char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7e)
      return fail(400, "request target holds a character that is not visible ASCII");
  }
  // RFC 9112 3.2: the request-target forms have no fragment; clients strip it.
  if (target.find('#') != std::string_view::npos)
    return fail(400, "fragment in the request target");

  request_.method_ = method_from_name(method);
  request_.method_span_ = request_.store(method);
  request_.target_span_ = request_.store(target);
  const uint32_t base = request_.target_span_.offset;
  auto span_of = [&](size_t from, size_t length) {
    return Request::Span{base + static_cast<uint32_t>(from), static_cast<uint32_t>(length)};
  };
  // Where the path starts within the target; npos for the forms without one.
  size_t path_start = std::string_view::npos;
  if (target[0] == '/') {
    path_start = 0;  // origin-form = absolute-path [ "?" query ] (RFC 9112 3.2.1)
  } else if (starts_with_ignoring_case(target, "http://") ||
             starts_with_ignoring_case(target, "https://")) {
    // absolute-form (3.2.2): "a server MUST accept the absolute-form in requests"; the
    // authority it names replaces Host, and as we serve one site only the path matters.
    const size_t authority = target.find("//") + 2;
    const size_t authority_end = target.find_first_of("/?", authority);
    const size_t authority_length =
        (authority_end == std::string_view::npos ? target.size() : authority_end) - authority;
    // RFC 9110 4.2.1: "A recipient that processes such a URI reference [an http URI with an
    // empty host] MUST reject it as invalid."
    if (authority_length == 0) return fail(400, "absolute-form target without a host");
    if (authority_end == std::string_view::npos || target[authority_end] == '?') {
      // No path: RFC 9110 4.2.3 normalises it to "/".
      request_.path_span_ = request_.store("/");
      if (authority_end != std::string_view::npos) {
        request_.query_span_ = span_of(authority_end + 1, target.size() - authority_end - 1);
      }
    } else {
      path_start = authority_end;
    }
  } else if (request_.method_ == Method::options && target == "*") {
    // asterisk-form (3.2.4): no path.
  } else if (request_.method_ == Method::connect) {
    // authority-form (3.2.3): CONNECT's own; the server refuses CONNECT in any case.
  } else {
    return fail(400, "request target is neither origin-form nor absolute-form");
  }
  if (path_start != std::string_view::npos) {
    const size_t query = target.find('?', path_start);
    if (query == std::string_view::npos) {
      request_.path_span_ = span_of(path_start, target.size() - path_start);
    } else {
      request_.path_span_ = span_of(path_start, query - path_start);
      request_.query_span_ = span_of(query + 1, target.size() - query - 1);
    }
  }
  state_ = State::field_line;
}

void RequestParser::process_field_line(std::string_view line, bool trailer) {
  if (line.empty()) {
    if (trailer) return complete();
    return finish_head();
  }
  if (line.find('\r') != std::string_view::npos) return fail(400, "bare CR in a field line");
  // RFC 9112 5.2: "A server that receives an obs-fold in a request message ... MUST either
  // reject the message by sending a 400 (Bad Request) ... or replace each received obs-fold
  // with one or more SP octets". We reject. The same test refuses whitespace between the
  // request line and the first field, which 2.2 says to reject or ignore.
  if (line[0] == ' ' || line[0] == '\t') return fail(400, "obsolete line folding");
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return fail(400, "field line without a colon");
  const std::string_view name = line.substr(0, colon);
  if (name.empty()) return fail(400, "empty field name");
  // RFC 9112 5.1: "A server MUST reject, with a response status code of 400 (Bad Request),
  // any received request message that contains whitespace between a header field name and
  // colon."
  if (name.back() == ' ' || name.back() == '\t') {
    return fail(400, "whitespace between a field name and its colon");
  }
  if (!is_token(name)) return fail(400, "field name is not a token");
  const std::string_view value = trim_whitespace(line.substr(colon + 1));
  // RFC 9110 5.5: field-value is visible characters, SP, HTAB and obs-text. "Field values
  // containing CR, LF, or NUL characters are invalid and dangerous"; other controls "MAY"
  // be kept: we refuse them all.
  if (!std::all_of(value.begin(), value.end(), is_field_value_char)) {
    return fail(400, "control character in a field value");
  }
  if (++field_lines_ > limits_.max_headers) return fail(431, "too many header fields");
  header_bytes_ += line.size() + kLineEnd;
  // RFC 9110 6.5.1: trailer fields cannot change the framing or the request; they are
  // counted against the limits and dropped.
  if (trailer) return;
  const Request::Span name_span = request_.store(name);
  const Request::Span value_span = request_.store(value);
  request_.fields_.push_back({name_span, value_span});
  interpret_field(name, value);
  if (status_ == ParseStatus::incomplete && equals_ignoring_case(name, "host")) {
    request_.host_ = value_span;
  }
}

void RequestParser::interpret_field(std::string_view name, std::string_view value) {
  if (equals_ignoring_case(name, "host")) {
    // RFC 9112 3.2: 400 for "any request message that contains more than one Host header
    // field line or a Host header field with an invalid field value".
    if (++host_count_ > 1) return fail(400, "more than one Host field");
    if (!std::all_of(value.begin(), value.end(), is_host_char)) return fail(400, "invalid Host");
    return;
  }
  if (equals_ignoring_case(name, "content-length")) {
    // Content-Length = 1*DIGIT. RFC 9110 8.6 lets a recipient accept a list of identical
    // values ("42, 42", or the field repeated); anything else is RFC 9112 6.3's "invalid
    // Content-Length ... the server MUST respond with a 400 (Bad Request)".
    bool valid = true;
    for_each_list_element(value, /*keep_empty=*/true, [&](std::string_view element) {
      if (!valid) return;
      if (element.empty() || !std::all_of(element.begin(), element.end(), is_digit)) {
        valid = false;
        return;
      }
      uint64_t n = 0;
      for (const char c : element) {
        const auto digit = static_cast<uint64_t>(c - '0');
        constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
        n = n > (kMax - digit) / 10 ? kMax : n * 10 + digit;  // saturates: only "too large"
      }
      if (content_length_ && *content_length_ != n) valid = false;
      content_length_ = n;
    });
    if (!valid) fail(400, "invalid Content-Length");
    return;
  }
  if (equals_ignoring_case(name, "transfer-encoding")) {
    bool valid = true;
    for_each_list_element(value, /*keep_empty=*/false, [&](std::string_view element) {
      // transfer-coding = token *( OWS ";" OWS transfer-parameter ); parameters ignored.
      const std::string_view coding = trim_whitespace(element.substr(0, element.find(';')));
      if (coding.empty() || !is_token(coding)) valid = false;
      const bool chunked = equals_ignoring_case(coding, "chunked");
      ++transfer_codings_;
      if (chunked) ++chunked_codings_;
      last_coding_chunked_ = chunked;
    });
    if (!valid) fail(400, "invalid Transfer-Encoding");
    return;
  }
  if (equals_ignoring_case(name, "connection")) {
    for_each_list_element(value, /*keep_empty=*/false, [&](std::string_view option) {
      if (equals_ignoring_case(option, "close")) connection_close_ = true;
      if (equals_ignoring_case(option, "keep-alive")) connection_keep_alive_ = true;
    });
  }
}

void RequestParser::finish_head() {
  const uint8_t minor = request_.version_minor_;
  // RFC 9112 3.2: "A server MUST respond with a 400 (Bad Request) status code to any
  // HTTP/1.1 request message that lacks a Host header field".
  if (minor >= 1 && host_count_ == 0) return fail(400, "HTTP/1.1 request without Host");
  // RFC 9112 9.3: "close" ends it; else HTTP/1.1 persists; else HTTP/1.0 persists only with
  // the "keep-alive" connection option.
  request_.keep_alive_ = !connection_close_ && (minor >= 1 || connection_keep_alive_);

  if (transfer_codings_ > 0) {
    // RFC 9112 6.1: "A server or client that receives an HTTP/1.0 message containing a
    // Transfer-Encoding header field MUST treat the message as if the framing is faulty".
    if (minor == 0) return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
    // RFC 9112 6.3: both "might indicate an attempt to perform request smuggling ... and
    // ought to be handled as an error".
    if (content_length_) return fail(400, "both Transfer-Encoding and Content-Length");
    // 6.3: "If a Transfer-Encoding header field is present in a request and the chunked
    // transfer coding is not the final encoding, ... the server MUST respond with the 400".
    if (!last_coding_chunked_) return fail(400, "Transfer-Encoding does not end in chunked");
    // 7: "A sender MUST NOT apply the chunked transfer coding more than once".
    if (chunked_codings_ > 1) return fail(400, "chunked applied more than once");
    // 6.1: "A server that receives a request message with a transfer coding it does not
    // understand SHOULD respond with 501 (Not Implemented)."
    if (transfer_codings_ > 1) return fail(501, "transfer coding not implemented");
    state_ = State::chunk_size;
    return;
  }
  if (content_length_) {
    // RFC 9110 15.5.14: 413 "the request content is larger than the server is willing or
    // able to process".
    if (*content_length_ > limits_.max_body) return fail(413, "content too large");
    request_.body_length_ = *content_length_;
    if (*content_length_ == 0) return complete();
    remaining_ = *content_length_;
    state_ = State::body;
    return;
  }
  complete();
}

void RequestParser::process_chunk_size(std::string_view line) {
  // chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF; chunk-size = 1*HEXDIG.
  uint64_t size = 0;
  size_t i = 0;
  for (; i < line.size() && is_hex_digit(line[i]); ++i) {
    if (size > (std::numeric_limits<uint64_t>::max() >> 4)) return fail(413, "content too large");
    size = size * 16 + hex_value(line[i]);
  }
  if (i == 0) return fail(400, "chunk size is not hexadecimal");
  // chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ): ignored, but
  // it must start with ';' and hold no control characters.
  const std::string_view extensions = trim_whitespace(line.substr(i));
  if (!extensions.empty() &&
      (extensions[0] != ';' ||
       !std::all_of(extensions.begin(), extensions.end(), is_field_value_char))) {
    return fail(400, "malformed chunk extension");
  }
  if (size > limits_.max_body - request_.body_length_) return fail(413, "content too large");
  request_.body_length_ += size;
  if (size == 0) {
    state_ = State::trailer_line;  // last-chunk: the trailer section follows
    return;
  }
  remaining_ = size;
  state_ = State::chunk_data;
}

void RequestParser::complete() {
  state_ = State::done;
  status_ = ParseStatus::complete;
}

void RequestParser::fail(int status, std::string_view reason) {
  state_ = State::done;
  status_ = ParseStatus::error;
  error_status_ = status;
  error_reason_ = reason;
}

}  // namespace flowgate::http
