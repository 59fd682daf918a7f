// A getopt_long-alike over an option table.
#include "cli/options.h"

namespace gm::cli {

namespace {

Result<const OptSpec*> FindLong(const std::string& name, const std::vector<OptSpec>& specs,
                                const std::string& token) {
  std::vector<const OptSpec*> matches;
  for (const auto& s : specs) {
    if (!s.long_name) continue;
    std::string l = s.long_name;
    if (l == name) return &s;
    if (l.rfind(name, 0) == 0) matches.push_back(&s);
  }
  if (matches.size() == 1) return matches[0];
  if (matches.empty()) return Status::InvalidArgument("unrecognized option '" + token + "'");
  std::string m = "option '--" + name + "' is ambiguous; possibilities:";
  for (const auto* s : matches) m += std::string(" '--") + s->long_name + "'";
  return Status::InvalidArgument(m);
}

}  // namespace

Result<ParsedOpts> ParseOptions(const std::vector<std::string>& args, const std::vector<OptSpec>& specs) {
  ParsedOpts out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      out.operands.insert(out.operands.end(), args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
      break;
    }
    if (a.size() > 2 && a[0] == '-' && a[1] == '-') {
      size_t eq = a.find('=');
      std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      GM_ASSIGN_OR_RETURN(const OptSpec* s, FindLong(name, specs, a));
      if (!s->takes_value) {
        if (eq != std::string::npos)
          return Status::InvalidArgument(std::string("option '--") + s->long_name + "' doesn't allow an argument");
        out.options.emplace_back(s, "");
      } else if (eq != std::string::npos) {
        out.options.emplace_back(s, a.substr(eq + 1));
      } else if (i + 1 < args.size()) {
        out.options.emplace_back(s, args[++i]);
      } else {
        return Status::InvalidArgument(std::string("option '--") + s->long_name + "' requires an argument");
      }
      continue;
    }
    if (a.size() > 1 && a[0] == '-') {
      for (size_t k = 1; k < a.size(); ++k) {
        const OptSpec* s = nullptr;
        for (const auto& spec : specs)
          if (spec.short_name && spec.short_name == a[k]) s = &spec;
        if (!s) return Status::InvalidArgument(std::string("invalid option -- '") + a[k] + "'");
        if (!s->takes_value) {
          out.options.emplace_back(s, "");
          continue;
        }
        if (k + 1 < a.size()) {
          out.options.emplace_back(s, a.substr(k + 1));
        } else if (i + 1 < args.size()) {
          out.options.emplace_back(s, args[++i]);
        } else {
          return Status::InvalidArgument(std::string("option requires an argument -- '") + a[k] + "'");
        }
        break;
      }
      continue;
    }
    out.operands.push_back(a);
  }
  return out;
}

std::string OptionHelp(const std::string& usage, const std::string& description,
                       const std::vector<OptSpec>& specs) {
  std::string out = "Usage: " + usage + "\n\n" + description + "\n";
  if (!specs.empty()) out += "\nOptions:\n";
  for (const auto& s : specs) {
    std::string left = s.short_name ? std::string("  -") + s.short_name + (s.long_name ? ", " : "") : "      ";
    if (s.long_name) left += std::string("--") + s.long_name;
    if (s.takes_value) left += std::string(s.long_name ? "=" : " ") + s.meta;
    if (left.size() < 30) left.append(30 - left.size(), ' ');
    else left += "\n" + std::string(30, ' ');
    out += left + " " + s.help + "\n";
  }
  return out;
}

}  // namespace gm::cli
