#include "apps/http/request_path.hpp"

#include "apps/http/text.hpp"

namespace flowgate::http {

RelativePath relative_path(std::string_view encoded) {
  std::string decoded;
  decoded.reserve(encoded.size());
  for (size_t i = 0; i < encoded.size(); ++i) {
    const char c = encoded[i];
    if (c != '%') {
      // The parser lets no NUL into a target; refusing one here too keeps this function's
      // promise whatever it is given.
      if (c == '\0') return {{}, PathProblem::nul_byte};
      decoded.push_back(c);
      continue;
    }
    if (i + 2 >= encoded.size() || !is_hex_digit(encoded[i + 1]) || !is_hex_digit(encoded[i + 2])) {
      return {{}, PathProblem::bad_percent_encoding};
    }
    const auto byte = static_cast<char>(hex_value(encoded[i + 1]) * 16 + hex_value(encoded[i + 2]));
    if (byte == '\0') return {{}, PathProblem::nul_byte};
    decoded.push_back(byte);
    i += 2;
  }

  RelativePath out;
  out.path.reserve(decoded.size());
  std::string_view rest(decoded);
  while (!rest.empty()) {
    const size_t slash = rest.find('/');
    const std::string_view segment = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      if (out.path.empty()) return {{}, PathProblem::above_root};
      const size_t last = out.path.rfind('/');
      out.path.resize(last == std::string::npos ? 0 : last);
      continue;
    }
    if (!out.path.empty()) out.path.push_back('/');
    out.path.append(segment);
  }
  return out;
}

std::string extension_of(std::string_view path) {
  const size_t slash = path.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  const size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return {};
  std::string extension(name.substr(dot + 1));
  for (char& c : extension) c = to_lower(c);
  return extension;
}

}  // namespace flowgate::http
