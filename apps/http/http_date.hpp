// The Date header field (RFC 9110 6.6.1) in the preferred format, IMF-fixdate (5.6.7):
// "Sun, 06 Nov 1994 08:49:37 GMT", always 29 characters, always UTC.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

namespace flowgate::http {

// Reads the wall clock. Date is the one thing the server takes from it (timeouts use the
// stack's monotonic clock); tests give a fixed one.
using WallClock = std::function<std::chrono::system_clock::time_point()>;

constexpr size_t kImfFixdateLength = 29;

// Writes the IMF-fixdate of `seconds_since_epoch` (UTC) into `out`.
void format_imf_fixdate(int64_t seconds_since_epoch, char (&out)[kImfFixdateLength + 1]);

// The current date, formatted once per second: a busy server answers many requests within
// one second, and they all carry the same Date.
class DateCache {
 public:
  explicit DateCache(WallClock wall_clock);
  // The date now; valid until the next call.
  std::string_view now();

 private:
  WallClock wall_clock_;
  int64_t formatted_second_ = INT64_MIN;
  char text_[kImfFixdateLength + 1] = {};
};

}  // namespace flowgate::http
