// The `flowgate` command line: subcommands, their help and argument checking. Every bad
// argument gives one message naming it, and exit status 2.
#pragma once

#include <string>
#include <vector>

namespace flowgate {

inline constexpr int kExitUsage = 2;

// argv without the program name. Returns the process exit status.
int flowgate_main(const std::vector<std::string>& args);

}  // namespace flowgate
