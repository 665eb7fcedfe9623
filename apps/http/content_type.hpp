// Content-Type (RFC 9110 8.3) of a static file, from its extension: a small table of what a
// web site is made of. Anything else is application/octet-stream, which RFC 9110 8.3 names
// for content of unknown type ("the recipient can ... treat it as application/octet-stream").
#pragma once

#include <string_view>

namespace flowgate::http {

// `extension` is lower-case, without the dot (extension_of() in request_path.hpp).
std::string_view content_type_for_extension(std::string_view extension);

}  // namespace flowgate::http
