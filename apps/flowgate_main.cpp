// The `flowgate` binary. Everything but turning argv into strings lives in cli.cpp.
#include <string>
#include <vector>

#include "apps/cli.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  return flowgate::flowgate_main(args);
}
