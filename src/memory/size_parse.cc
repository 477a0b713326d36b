#include "memory/size_parse.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <string>

namespace nexus {

Result<uint64_t> parse_size(std::string_view text) {
  const std::string shown(text);
  auto bad = [&] {
    return make_error(format("invalid size '%s': expected a number with an optional K, M, G or T suffix "
                             "(e.g. 1.5G)", shown.c_str()));
  };
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  if (i == 0) return bad();
  double number = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + i, number);
  if (ec != std::errc() || end != text.data() + i) return bad();
  std::string_view suffix = text.substr(i);
  double scale = 1;
  if (!suffix.empty()) {
    switch (std::toupper(static_cast<unsigned char>(suffix[0]))) {
      case 'K': scale = 1024.0; break;
      case 'M': scale = 1024.0 * 1024; break;
      case 'G': scale = 1024.0 * 1024 * 1024; break;
      case 'T': scale = 1024.0 * 1024 * 1024 * 1024; break;
      case 'B': scale = 1; suffix = suffix.substr(0, 0); break;  // plain "B": bytes
      default: return bad();
    }
    if (!suffix.empty()) suffix.remove_prefix(1);
    if (suffix == "i" || suffix == "I") suffix = {};
    else if (suffix.size() == 2 && (suffix[0] == 'i' || suffix[0] == 'I') && (suffix[1] == 'B' || suffix[1] == 'b')) suffix = {};
    else if (suffix == "B" || suffix == "b") suffix = {};
    if (!suffix.empty()) return bad();
  } else if (text.find('.') != std::string_view::npos) {
    return bad();  // a fraction of a byte
  }
  const double bytes = std::floor(number * scale);
  if (!(bytes >= 1)) return make_error(format("invalid size '%s': must be at least one byte", shown.c_str()));
  if (bytes > std::ldexp(1.0, 60)) return make_error(format("invalid size '%s': too large", shown.c_str()));
  return static_cast<uint64_t>(bytes);
}

std::string format_size(uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024 * 1024) return format("%.2f GiB", b / (1024.0 * 1024 * 1024));
  if (b >= 1024.0 * 1024) return format("%.1f MiB", b / (1024.0 * 1024));
  if (b >= 1024.0) return format("%.1f KiB", b / 1024.0);
  return format("%llu B", static_cast<unsigned long long>(bytes));
}

}  // namespace nexus
