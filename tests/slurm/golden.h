// The golden files of tests/slurm (GM_GOLDEN_DIR, set by CMake): JSON the
// controller would answer, and texts the real Slurm printed.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace gm::cli::golden {

using json = nlohmann::json;

inline json Load(const std::string& name) {
  std::ifstream in(std::string(GM_GOLDEN_DIR) + "/" + name);
  return json::parse(in);
}

inline std::string Golden(const std::string& name) {
  std::ifstream in(std::string(GM_GOLDEN_DIR) + "/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace gm::cli::golden
