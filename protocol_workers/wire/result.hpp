// Parse results. Every checked constructor returns a WireError naming what was wrong, so the
// stack can count each drop under a named reason (STYLE.md point 14).
#pragma once

#include <cassert>
#include <cstdint>
#include <string_view>
#include <utility>

namespace flowgate::wire {

enum class WireError : uint8_t {
  ok,
  truncated,          // buffer shorter than the fixed header, or (IPv4) than its total length
  bad_version,        // IPv4 version field is not 4
  bad_header_length,  // IHL < 5, TCP data offset < 5, or header longer than the packet
  bad_total_length,   // IPv4 total length below its header; UDP length outside [8, IP payload]
  bad_checksum,       // checksum verification failed
  bad_option,         // malformed option (length 0/1, runs past the header, wrong fixed size)
  unsupported,        // well-formed but not something we handle (ARP for non-IPv4, ...)
};

constexpr std::string_view to_string(WireError e) {
  switch (e) {
    case WireError::ok:
      return "ok";
    case WireError::truncated:
      return "truncated";
    case WireError::bad_version:
      return "bad_version";
    case WireError::bad_header_length:
      return "bad_header_length";
    case WireError::bad_total_length:
      return "bad_total_length";
    case WireError::bad_checksum:
      return "bad_checksum";
    case WireError::bad_option:
      return "bad_option";
    case WireError::unsupported:
      return "unsupported";
  }
  return "?";
}

// A value or a WireError; the minimal part of C++23's std::expected we need.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)), error_(WireError::ok) {}  // NOLINT implicit
  Result(WireError error) : value_(), error_(error) { assert(error != WireError::ok); }  // NOLINT
  bool ok() const { return error_ == WireError::ok; }
  explicit operator bool() const { return ok(); }
  WireError error() const { return error_; }
  const T& value() const& {
    assert(ok());
    return value_;
  }
  T& value() & {
    assert(ok());
    return value_;
  }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }

 private:
  T value_;
  WireError error_;
};

}  // namespace flowgate::wire
