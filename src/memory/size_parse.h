// Byte sizes as users type them (--mem-budget 1.5G) and as logs print them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "nexus/result.h"

namespace nexus {

// "1073741824", "512M", "1.5G", "2GiB", "64k": a number (decimals allowed with a suffix) and
// an optional binary suffix K, M, G or T (powers of 1024; "KB", "KiB" etc. mean the same).
// Errors name the text; zero, negatives and sizes past 2^60 are refused.
Result<uint64_t> parse_size(std::string_view text);

// "1.50 GiB", "12.0 MiB", "512 B".
std::string format_size(uint64_t bytes);

}  // namespace nexus
