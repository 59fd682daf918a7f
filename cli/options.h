// getopt_long as Slurm's commands use it, for gm's own option tables: short
// options with attached or separate values ("-j5", "-j 5"), long options with
// "=" or a separate value, unique prefixes of long names ("--form" for
// "--format"), and getopt's messages. The same table prints --help.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace gm::cli {

struct OptSpec {
  char short_name;        // 0: none
  const char* long_name;  // without "--"; nullptr: short only
  bool takes_value;
  const char* meta;       // the value's name in --help ("" for flags)
  const char* help;
};

struct ParsedOpts {
  // Each option given, in order, with its value ("" for flags).
  std::vector<std::pair<const OptSpec*, std::string>> options;
  std::vector<std::string> operands;  // everything that is not an option
};

// Operands may come before, between and after options (Slurm's commands
// permute); "--" ends options. Errors are getopt's wording:
// "unrecognized option '--x'", "invalid option -- 'z'",
// "option '--format' requires an argument", "option requires an argument -- 'o'",
// "option '--me' doesn't allow an argument",
// "option '--s' is ambiguous; possibilities: '--start' '--states'".
Result<ParsedOpts> ParseOptions(const std::vector<std::string>& args, const std::vector<OptSpec>& specs);

// "Usage: ..." then the description, then one line per option:
// "  -o, --format=FORMAT      help".
std::string OptionHelp(const std::string& usage, const std::string& description,
                       const std::vector<OptSpec>& specs);

}  // namespace gm::cli
