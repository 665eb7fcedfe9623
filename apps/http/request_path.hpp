// From a request's path to a file beneath the document root, lexically: no file system
// access here (that is DocumentRoot's, with openat2 guarding what this cannot see, like
// symbolic links).
#pragma once

#include <string>
#include <string_view>

namespace flowgate::http {

enum class PathProblem : uint8_t {
  none,
  bad_percent_encoding,  // '%' not followed by two hex digits
  nul_byte,              // %00 (or a raw NUL): no file name holds one, and C APIs would
                         // cut the name there
  above_root,            // a ".." segment would climb out of the root
};

struct RelativePath {
  // Segments joined by '/', none empty, "." or ".."; no leading or trailing '/'. Empty for
  // the root itself.
  std::string path;
  PathProblem problem = PathProblem::none;
};

// Percent-decodes `encoded` once (RFC 3986 2.1) and then removes its dot segments (RFC 3986
// 5.2.4): "." and empty segments vanish, ".." removes the segment before it. Decoding comes
// first, so "%2e%2e%2f" is a ".." segment like "../" and is treated the same way; a ".."
// with nothing left to remove is refused (above_root) rather than clamped at the root, so an
// attempt to escape gets an error instead of some other file. Decoding happens once only:
// "%252e" is the three characters "%2e".
RelativePath relative_path(std::string_view encoded);

// The final segment's extension, lower-cased, without the dot ("HTML" for "a/B.HTML" gives
// "html"); empty when there is none. ".profile" has none (a leading dot names, it does not
// extend).
std::string extension_of(std::string_view path);

}  // namespace flowgate::http
