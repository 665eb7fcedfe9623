#include "apps/http/http_date.hpp"

#include <ctime>

namespace flowgate::http {

void format_imf_fixdate(int64_t seconds_since_epoch, char (&out)[kImfFixdateLength + 1]) {
  // Names from RFC 9110 5.6.7 (day-name, month): fixed English, never the locale's, which is
  // why this is not strftime("%a, %d %b ...").
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto t = static_cast<std::time_t>(seconds_since_epoch);
  std::tm utc{};
  // year = 4DIGIT: outside years 0-9999 (or if gmtime_r cannot say) the epoch stands in.
  if (::gmtime_r(&t, &utc) == nullptr || utc.tm_year < -1900 || utc.tm_year > 9999 - 1900) {
    const std::time_t epoch = 0;
    ::gmtime_r(&epoch, &utc);
  }
  // "Sun, 06 Nov 1994 08:49:37 GMT": every field has a fixed width.
  char* p = out;
  auto text = [&](const char* s) {
    while (*s != '\0') *p++ = *s++;
  };
  auto digits = [&](int value, int width) {
    for (int i = width - 1; i >= 0; --i) {
      p[i] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
    p += width;
  };
  text(kDays[utc.tm_wday]);
  text(", ");
  digits(utc.tm_mday, 2);
  text(" ");
  text(kMonths[utc.tm_mon]);
  text(" ");
  digits(utc.tm_year + 1900, 4);
  text(" ");
  digits(utc.tm_hour, 2);
  text(":");
  digits(utc.tm_min, 2);
  text(":");
  digits(utc.tm_sec, 2);
  text(" GMT");
  *p = '\0';
}

DateCache::DateCache(WallClock wall_clock)
    : wall_clock_(wall_clock ? std::move(wall_clock) : WallClock(std::chrono::system_clock::now)) {}

std::string_view DateCache::now() {
  const auto since_epoch = wall_clock_().time_since_epoch();
  const int64_t second = std::chrono::floor<std::chrono::seconds>(since_epoch).count();
  if (second != formatted_second_) {
    format_imf_fixdate(second, text_);
    formatted_second_ = second;
  }
  return std::string_view(text_, kImfFixdateLength);
}

}  // namespace flowgate::http
