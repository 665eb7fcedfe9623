// The framing of HTTP/1.1 responses as the bench counts them (RFC 9112): a status line,
// header fields up to the empty line, then a body of Content-Length bytes (section 6.3,
// rule 6), or, without one, everything until the connection closes (rule 8). The reader
// is fed the byte stream in whatever pieces TCP delivers and keeps only a few counters of
// state (no buffering): a million idle connections each hold one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace flowgate::bench {

enum class ResponseError : uint8_t {
  none,
  bad_status_line,     // not "HTTP/1.x NNN ..."
  bad_content_length,  // not digits, twice with different values, or absurdly large
  chunked,             // Transfer-Encoding: the bench's servers answer with Content-Length
  header_too_long,     // the head beyond kMaxHeadBytes
};
const char* to_string(ResponseError e);

class HttpResponseReader {
 public:
  static constexpr uint32_t kMaxHeadBytes = 16 * 1024;

  struct Result {
    size_t consumed = 0;    // bytes of `data` used; the rest belongs to the next response
    bool complete = false;  // a whole response ended at data[consumed - 1]
    ResponseError error = ResponseError::none;
  };

  // Feeds bytes; stops at the end of one response (so the caller can time it) or at an error
  // (the reader then stays in error until reset()).
  Result feed(std::span<const std::byte> data);
  // The connection closed: true if that ends a response framed by the close (no
  // Content-Length), which then counts as complete.
  bool finish_at_close();
  // Ready for the next response on the connection (feed() does it itself after a whole
  // response).
  void reset() { *this = HttpResponseReader{}; }

  bool in_progress() const { return phase_ != Phase::status || head_bytes_ > 0; }
  // The status code of the response being read (0 before its status line).
  uint16_t status() const { return status_; }
  // The status code of the last whole response.
  uint16_t last_status() const { return last_status_; }

 private:
  enum class Phase : uint8_t { status, header, body, until_close, error };

  void end_of_line();
  void completed() {
    const uint16_t status = status_;
    reset();
    last_status_ = status;
  }

  Phase phase_ = Phase::status;
  ResponseError error_ = ResponseError::none;
  uint16_t status_ = 0;
  uint16_t last_status_ = 0;
  uint16_t line_pos_ = 0;  // bytes of the current line so far (saturating)
  // The header name being matched: matched_ characters so far of the names still possible
  // (candidates_: bit 0 content-length, bit 1 transfer-encoding); in_value_ names the field
  // whose value follows the colon.
  uint8_t matched_ = 0;
  uint8_t candidates_ = 0;
  uint8_t in_value_ = 0;
  bool have_length_ = false;
  bool value_digits_ = false;
  bool value_done_ = false;  // whitespace after the digits: only more whitespace may follow
  bool value_bad_ = false;
  uint32_t head_bytes_ = 0;
  uint64_t value_ = 0;      // the Content-Length value being read
  uint64_t remaining_ = 0;  // body bytes still to come
};

}  // namespace flowgate::bench
