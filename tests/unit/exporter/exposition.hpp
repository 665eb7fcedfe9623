// Test helpers for the exporter: a segment of its own, and a reader of the Prometheus text
// format strict enough to catch what a scraper would refuse (a sample before its TYPE, a
// family named twice, a series twice), so the tests check the text /metrics serves and not
// only the objects prometheus-cpp serializes.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "monitoring/metrics_catalog.hpp"
#include "shm/segment.hpp"

namespace flowgate::exporter::testing {

struct TestSegment {
  std::string name;
  std::unique_ptr<shm::Segment> segment;

  explicit TestSegment(const std::string& what, uint32_t workers = 2) {
    name = "test-exporter-" + what + "-" + std::to_string(::getpid());
    shm::Segment::remove(name);
    shm::SegmentParams p;
    p.worker_count = workers;
    p.frame_count = 1024;
    p.frame_size = 2048;
    p.ring_size = 64;
    p.config_capacity = 4096;
    segment = shm::Segment::create(name, p, "", 0, metrics_signature());
  }
  ~TestSegment() { shm::Segment::remove(name); }
};

struct Family {
  std::string help;
  std::string type;
  // Each series: its labels as `name="value"` joined by commas in the order written, and
  // its value; for histograms under the _bucket/_sum/_count names.
  std::map<std::string, std::map<std::string, double>> series;
};

struct Exposition {
  std::map<std::string, Family> families;
  std::vector<std::string> problems;  // what a scraper would object to

  // The value of `name{labels}`, or NaN (and a test failure) when it is not there.
  double value(const std::string& name, const std::string& labels = "") const {
    for (const auto& [family, f] : families) {
      const auto s = f.series.find(name);
      if (s == f.series.end()) continue;
      const auto v = s->second.find(labels);
      if (v != s->second.end()) return v->second;
    }
    ADD_FAILURE() << "no series " << name << "{" << labels << "}";
    return std::nan("");
  }
  bool has(const std::string& name) const {
    for (const auto& [family, f] : families) {
      if (f.series.count(name) != 0) return true;
    }
    return false;
  }
};

inline Exposition parse_exposition(const std::string& text) {
  Exposition e;
  static const std::regex kSample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$)");
  static const std::regex kLabel(R"(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)\")");
  std::istringstream in(text);
  std::string current;  // the family of the last TYPE line
  std::set<std::string> typed;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    if (line.rfind("# HELP ", 0) == 0) {
      const size_t space = line.find(' ', 7);
      const std::string name = line.substr(7, space - 7);
      e.families[name].help = space == std::string::npos ? "" : line.substr(space + 1);
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      const size_t space = line.find(' ', 7);
      current = line.substr(7, space - 7);
      if (!typed.insert(current).second) e.problems.push_back("TYPE twice: " + current);
      e.families[current].type = line.substr(space + 1);
      continue;
    }
    if (line[0] == '#') continue;
    std::smatch m;
    if (!std::regex_match(line, m, kSample)) {
      e.problems.push_back("unreadable line: " + line);
      continue;
    }
    const std::string name = m[1];
    const std::string& type = e.families[current].type;
    const bool belongs =
        name == current || ((type == "histogram" || type == "summary") &&
                            (name == current + "_sum" || name == current + "_count" ||
                             (type == "histogram" && name == current + "_bucket")));
    if (!belongs) e.problems.push_back("sample outside its family: " + line);
    const std::string labels = m[3];
    // Every label is name="value", comma separated, nothing else.
    const std::string rest = std::regex_replace(labels, kLabel, "");
    if (rest.find_first_not_of(',') != std::string::npos) {
      e.problems.push_back("unreadable labels: " + line);
    }
    double v = 0;
    const std::string text_value = m[4];
    if (text_value == "+Inf") {
      v = std::numeric_limits<double>::infinity();
    } else if (text_value == "Nan" || text_value == "NaN") {
      v = std::nan("");
    } else {
      v = std::stod(text_value);
    }
    auto& values = e.families[current].series[name];
    if (!values.emplace(labels, v).second) {
      e.problems.push_back("series twice: " + line);
    }
  }
  return e;
}

}  // namespace flowgate::exporter::testing
