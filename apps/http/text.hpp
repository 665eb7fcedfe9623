// Character classes and small text helpers of the HTTP grammar (RFC 9110 5.6, RFC 5234 B.1).
// ASCII only and locale-free: <cctype> depends on the locale and is undefined for negative
// chars, neither of which a parser of untrusted bytes can afford.
#pragma once

#include <cstdint>
#include <string_view>

namespace flowgate::http {

constexpr bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
constexpr bool is_hex_digit(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
constexpr uint8_t hex_value(char c) {
  if (is_digit(c)) return static_cast<uint8_t>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<uint8_t>(c - 'a' + 10);
  return static_cast<uint8_t>(c - 'A' + 10);
}
constexpr char to_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" /
//         "|" / "~" / DIGIT / ALPHA                                      (RFC 9110 5.6.2)
constexpr bool is_tchar(char c) {
  if (is_alpha(c) || is_digit(c)) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

// token = 1*tchar
constexpr bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

// field-vchar / SP / HTAB (RFC 9110 5.5): visible ASCII, obs-text (0x80-0xFF), space, tab.
constexpr bool is_field_value_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

constexpr bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != to_lower(b[i])) return false;
  }
  return true;
}

// Without leading and trailing OWS (SP and HTAB).
constexpr std::string_view trim_whitespace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f(element) for each element of a comma-separated list (RFC 9110 5.6.1), trimmed.
// "A recipient MUST parse and ignore a reasonable number of empty list elements": they are
// skipped unless `keep_empty` (for fields whose grammar is not a list, like Content-Length,
// where an empty element is an error the caller wants to see).
template <typename F>
void for_each_list_element(std::string_view list, bool keep_empty, F&& f) {
  for (;;) {
    const size_t comma = list.find(',');
    const std::string_view element = trim_whitespace(list.substr(0, comma));
    if (!element.empty() || keep_empty) f(element);
    if (comma == std::string_view::npos) return;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace flowgate::http
