#include "apps/bench/http_response.hpp"

#include <algorithm>

namespace flowgate::bench {

const char* to_string(ResponseError e) {
  switch (e) {
    case ResponseError::none:
      return "none";
    case ResponseError::bad_status_line:
      return "bad_status_line";
    case ResponseError::bad_content_length:
      return "bad_content_length";
    case ResponseError::chunked:
      return "chunked";
    case ResponseError::header_too_long:
      return "header_too_long";
  }
  return "?";
}

namespace {

constexpr char kContentLength[] = "content-length:";
constexpr char kTransferEncoding[] = "transfer-encoding:";
constexpr uint8_t kIsContentLength = 1;
constexpr uint8_t kIsTransferEncoding = 2;
// Far beyond any response the bench asks for; refusing more keeps the sum from overflowing.
constexpr uint64_t kMaxContentLength = uint64_t{1} << 40;

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool digit(char c) {
  return c >= '0' && c <= '9';
}

}  // namespace

void HttpResponseReader::end_of_line() {
  if (phase_ == Phase::status) {
    // "HTTP/1.x NNN" at least (RFC 9112 section 4; the reason phrase may be empty).
    if (line_pos_ < 12) {
      phase_ = Phase::error;
      error_ = ResponseError::bad_status_line;
      return;
    }
    phase_ = Phase::header;
  } else if (line_pos_ == 0) {
    // The empty line ends the head. 1xx are interim: the real response follows (RFC 9110
    // 15.2). 204 and 304 have no body whatever the fields say (RFC 9112 6.3, rule 1).
    if (status_ >= 100 && status_ < 200) {
      const uint16_t last = last_status_;
      reset();
      last_status_ = last;
      return;
    }
    if (status_ == 204 || status_ == 304) {
      remaining_ = 0;
      phase_ = Phase::body;
    } else {
      phase_ = have_length_ ? Phase::body : Phase::until_close;
    }
  } else if (in_value_ == kIsContentLength) {
    // RFC 9112 6.3 rule 5: a list of differing values, or an invalid one, is unrecoverable.
    if (!value_digits_ || value_bad_ || (have_length_ && value_ != remaining_)) {
      phase_ = Phase::error;
      error_ = ResponseError::bad_content_length;
      return;
    }
    have_length_ = true;
    remaining_ = value_;
  } else if (in_value_ == kIsTransferEncoding) {
    phase_ = Phase::error;
    error_ = ResponseError::chunked;
    return;
  }
  line_pos_ = 0;
  matched_ = 0;
  candidates_ = kIsContentLength | kIsTransferEncoding;
  in_value_ = 0;
  value_ = 0;
  value_digits_ = false;
  value_done_ = false;
  value_bad_ = false;
}

HttpResponseReader::Result HttpResponseReader::feed(std::span<const std::byte> data) {
  Result r;
  const auto* bytes = reinterpret_cast<const char*>(data.data());
  size_t i = 0;
  while (i < data.size()) {
    switch (phase_) {
      case Phase::error:
        r.consumed = i;
        r.error = error_;
        return r;
      case Phase::until_close:
        r.consumed = data.size();
        return r;
      case Phase::body: {
        const uint64_t take = std::min<uint64_t>(remaining_, data.size() - i);
        remaining_ -= take;
        i += static_cast<size_t>(take);
        if (remaining_ == 0) {
          r.consumed = i;
          r.complete = true;
          completed();
          return r;
        }
        continue;
      }
      case Phase::status:
      case Phase::header:
        break;
    }
    const char c = bytes[i++];
    if (++head_bytes_ > kMaxHeadBytes) {
      phase_ = Phase::error;
      error_ = ResponseError::header_too_long;
      continue;
    }
    if (c == '\r') continue;  // CRLF or a bare LF both end a line (RFC 9112 2.2)
    if (c == '\n') {
      if (head_bytes_ == 1 && phase_ == Phase::status) {
        head_bytes_ = 0;  // a stray line break before the status line: ignored (2.2)
        continue;
      }
      end_of_line();
      if (phase_ == Phase::body && remaining_ == 0) {
        r.consumed = i;
        r.complete = true;
        completed();
        return r;
      }
      continue;
    }
    if (phase_ == Phase::status) {
      constexpr char kPrefix[] = "HTTP/1.";
      const uint16_t p = line_pos_;
      const bool ok = p < 7     ? c == kPrefix[p]
                      : p == 7  ? digit(c)
                      : p == 8  ? c == ' '
                      : p < 12  ? digit(c)
                      : p == 12 ? c == ' '
                                : true;
      if (!ok) {
        phase_ = Phase::error;
        error_ = ResponseError::bad_status_line;
        continue;
      }
      if (p >= 9 && p < 12) status_ = static_cast<uint16_t>(status_ * 10 + (c - '0'));
      if (line_pos_ < 0xffff) ++line_pos_;
      continue;
    }
    // A header line.
    if (line_pos_ == 0) candidates_ = kIsContentLength | kIsTransferEncoding;
    if (line_pos_ < 0xffff) ++line_pos_;
    if (in_value_ == kIsContentLength) {
      if (c == ' ' || c == '\t') {
        if (value_digits_) value_done_ = true;
      } else if (digit(c) && !value_done_) {
        value_digits_ = true;
        value_ = value_ * 10 + static_cast<uint64_t>(c - '0');
        if (value_ > kMaxContentLength) value_bad_ = true;
      } else {
        value_bad_ = true;
      }
      continue;
    }
    if (in_value_ != 0 || candidates_ == 0) continue;
    const char l = lower(c);
    if ((candidates_ & kIsContentLength) != 0 &&
        (matched_ >= sizeof kContentLength - 1 || kContentLength[matched_] != l)) {
      candidates_ &= static_cast<uint8_t>(~kIsContentLength);
    }
    if ((candidates_ & kIsTransferEncoding) != 0 &&
        (matched_ >= sizeof kTransferEncoding - 1 || kTransferEncoding[matched_] != l)) {
      candidates_ &= static_cast<uint8_t>(~kIsTransferEncoding);
    }
    ++matched_;
    if (c == ':' && candidates_ != 0) in_value_ = candidates_;
  }
  r.consumed = i;
  if (phase_ == Phase::error) r.error = error_;
  return r;
}

bool HttpResponseReader::finish_at_close() {
  if (phase_ != Phase::until_close) return false;
  completed();
  return true;
}

}  // namespace flowgate::bench
