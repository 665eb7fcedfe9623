// Response heads (RFC 9112 4 and 6, RFC 9110 6.6) and the standard reason phrases.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace flowgate::http {

// RFC 9110 section 15's phrase for `status`; empty for a code it does not define (the
// status-line still needs the space before it: RFC 9112 4).
std::string_view reason_phrase(int status);

// What the Connection field of a response says (RFC 9112 9.3, 9.6).
enum class Persistence : uint8_t {
  keep_alive,      // HTTP/1.1 persists by default: no field
  keep_alive_1_0,  // "Connection: keep-alive": an HTTP/1.0 client persists only when told
  close,           // "Connection: close": this is the last response on the connection
};

struct ResponseHead {
  int status = 200;
  std::string_view date;          // IMF-fixdate
  std::string_view content_type;  // empty: no Content-Type
  // RFC 9110 8.6: "A server MUST NOT send a Content-Length header field in any response
  // with a status code of 1xx (Informational) or 204 (No Content)". nullopt for those.
  std::optional<uint64_t> content_length;
  Persistence persistence = Persistence::keep_alive;
  std::string_view extra_fields;  // whole field lines, each ending in CRLF (e.g. Allow)
};

// Appends the status line, the fields and the empty line that ends the head. The version is
// always HTTP/1.1, ours (RFC 9110 6.2: a server sends the highest minor version it conforms
// to, whatever the request's).
void append_response_head(std::string& out, const ResponseHead& head);

}  // namespace flowgate::http
