// An incremental HTTP/1.1 request parser: RFC 9112 message syntax, and the RFC 9110 fields
// that decide framing and persistence (Host, Content-Length, Transfer-Encoding, Connection).
//
// Pure: bytes in, a parsed request or an error status out. No I/O, no clock; its storage is
// bounded by ParserLimits. Bytes may arrive in pieces of any size (one at a time included);
// the result is the same as when the request arrives whole. It stops at the end of one
// request, so a buffer holding several pipelined requests is parsed request after request:
// consume(), take the request, reset(), consume() the rest.
//
// Decisions (each quoted where it is made in request_parser.cpp):
//   - Lines end with CRLF; a bare LF is accepted too (RFC 9112 2.2 allows it), a bare CR is
//     an error (400). Empty lines before the request line are skipped (2.2), up to 16.
//   - The request line is strict: single spaces, a token method, a request target of visible
//     ASCII, HTTP/DIGIT.DIGIT. Major version other than 1: 505. HTTP/1.2..1.9 are read as 1.1.
//   - Origin-form and absolute-form targets (3.2.1, 3.2.2); `*` only with OPTIONS and any
//     target with CONNECT, which the server answers with 405 anyway. No fragment (400).
//   - Obsolete line folding and whitespace before a field's colon are refused (400).
//   - HTTP/1.1 without exactly one valid Host: 400 (3.2).
//   - A body is framed (a GET may have one, RFC 9110 9.3.1) so that the next request on the
//     connection is found: up to max_body bytes are read and discarded, more is 413.
//     Transfer-Encoding chunked is decoded and discarded the same way; with Content-Length
//     as well, on an HTTP/1.0 request, or not ending in chunked: 400; other codings: 501.
//   - Limits: request line > max_request_line: 414 while in the target (400 or 501 before);
//     field lines (trailers included) > max_header_bytes or > max_headers: 431.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace flowgate::http {

// RFC 9110 section 9 methods, plus PATCH (RFC 5789). Method names are case-sensitive.
enum class Method : uint8_t {
  get,
  head,
  post,
  put,
  delete_,
  connect,
  options,
  trace,
  patch,
  other
};

// The method a name stands for; `other` for any token RFC 9110 does not define.
Method method_from_name(std::string_view name);

struct ParserLimits {
  size_t max_request_line = 8192;  // bytes of the request line, its line end excluded
  size_t max_header_bytes = 8192;  // bytes of all field lines with their line ends
  size_t max_headers = 100;        // field lines (trailer fields count too)
  uint64_t max_body = 64 * 1024;   // content bytes a request may carry (read and discarded)
};

struct HeaderField {
  std::string_view name;   // as received
  std::string_view value;  // without leading and trailing whitespace
};

enum class ParseStatus : uint8_t { incomplete, complete, error };

class RequestParser;

// A request whose head and body have been read. Its views point into the parser and are
// valid until the parser's next reset().
class Request {
 public:
  Method method() const { return method_; }
  std::string_view method_name() const { return view(method_span_); }
  // The request-target as received.
  std::string_view target() const { return view(target_span_); }
  // The path of an origin-form or absolute-form target, still percent-encoded, starting
  // with '/'; empty for `*` (OPTIONS) and authority-form (CONNECT) targets.
  std::string_view path() const { return view(path_span_); }
  // What follows '?', without it; empty when there is none.
  std::string_view query() const { return view(query_span_); }
  // 0 or 1: HTTP/1.2 to HTTP/1.9 are read as HTTP/1.1 (RFC 9110 2.5: a recipient "can
  // safely assume" a higher minor version of a major it implements is compatible).
  uint8_t version_minor() const { return version_minor_; }
  // RFC 9112 9.3: whether the connection may persist after the response.
  bool keep_alive() const { return keep_alive_; }
  std::optional<std::string_view> host() const;
  // Content bytes read and discarded (Content-Length or the sum of the chunks).
  uint64_t body_length() const { return body_length_; }

  size_t field_count() const { return fields_.size(); }
  HeaderField field(size_t i) const { return {view(fields_[i].name), view(fields_[i].value)}; }
  // The value of the first field named `name` (case-insensitive), if any.
  std::optional<std::string_view> find(std::string_view name) const;

 private:
  friend class RequestParser;
  struct Span {
    uint32_t offset = 0;
    uint32_t length = 0;
  };
  struct FieldSpans {
    Span name;
    Span value;
  };
  std::string_view view(Span s) const {
    return std::string_view(storage_).substr(s.offset, s.length);
  }
  Span store(std::string_view text);
  void clear();

  std::string storage_;  // method, target and field lines, back to back
  std::vector<FieldSpans> fields_;
  Method method_ = Method::other;
  Span method_span_, target_span_, path_span_, query_span_;
  uint8_t version_minor_ = 1;
  bool keep_alive_ = false;
  std::optional<Span> host_;
  uint64_t body_length_ = 0;
};

class RequestParser {
 public:
  explicit RequestParser(ParserLimits limits = {}) : limits_(limits) {}

  // Reads `input` up to the end of one request and returns how many bytes it took: all of
  // them while the request is incomplete; when it completes, the bytes up to its end (the
  // rest belongs to the next request); nothing once complete or failed. After an error the
  // connection cannot be resynchronised: answer error_status() and close.
  size_t consume(std::span<const std::byte> input);
  size_t consume(std::string_view input) {
    return consume(std::as_bytes(std::span(input.data(), input.size())));
  }

  ParseStatus status() const { return status_; }
  // Valid when status() is complete.
  const Request& request() const { return request_; }
  // When status() is error: 400, 413, 414, 431, 501 or 505; and why, in a few words.
  int error_status() const { return error_status_; }
  std::string_view error_reason() const { return error_reason_; }
  // Some byte of a request has arrived (empty lines before a request do not count): a
  // timeout now interrupts a request rather than an idle connection.
  bool started() const { return started_; }

  // Ready for the next request on the same connection. Keeps no memory beyond a small
  // amount, so an idle keep-alive connection costs little.
  void reset();

 private:
  enum class State : uint8_t {
    request_line,
    field_line,
    body,            // Content-Length bytes to discard
    chunk_size,      // chunk-size [chunk-ext] CRLF
    chunk_data,      // chunk-data to discard
    chunk_data_end,  // the CRLF after chunk-data
    trailer_line,    // trailer section after the last chunk
    done,
  };

  bool in_line_state() const {
    return state_ != State::body && state_ != State::chunk_data && state_ != State::done;
  }
  // The longest line (its line end excluded) the current state accepts, and the error for
  // a longer one.
  size_t line_limit() const;
  void line_overflow();
  void process_line(std::string_view line);
  void process_request_line(std::string_view line);
  void process_field_line(std::string_view line, bool trailer);
  void interpret_field(std::string_view name, std::string_view value);
  void finish_head();
  void process_chunk_size(std::string_view line);
  void complete();
  void fail(int status, std::string_view reason);

  ParserLimits limits_;
  State state_ = State::request_line;
  ParseStatus status_ = ParseStatus::incomplete;
  int error_status_ = 0;
  std::string_view error_reason_;
  bool started_ = false;
  std::string line_;  // the line being received, line end included
  size_t empty_lines_ = 0;
  size_t header_bytes_ = 0;  // field lines completed so far (trailers too)
  size_t field_lines_ = 0;
  uint64_t remaining_ = 0;  // body or chunk bytes still to discard
  Request request_;

  // What the fields said, decided on at the end of the head.
  size_t host_count_ = 0;
  std::optional<uint64_t> content_length_;
  size_t transfer_codings_ = 0;
  size_t chunked_codings_ = 0;
  bool last_coding_chunked_ = false;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
};

}  // namespace flowgate::http
