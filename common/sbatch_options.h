// The parser behind `gm sbatch`: turns a command line, SBATCH_* variables and
// a script's #SBATCH directives into a JobSpec, as Slurm 22.05's sbatch does.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/job_spec.h"
#include "common/status.h"

namespace gm {

// What sbatch itself should do, as opposed to what the job asks for.
struct SbatchFlags {
  bool parsable = false;   // --parsable: print "jobid[;cluster]" only
  bool wait = false;       // -W/--wait: return when the job ends, with its exit code
  bool test_only = false;  // --test-only: validate and estimate, submit nothing
  bool json = false;       // --json: with --test-only, print the JobSpec as JSON
  bool quiet = false;      // -Q/--quiet: no informational messages
  bool help = false;       // -h/--help: print SbatchUsage() and exit 0
  bool usage = false;      // --usage: print the short usage and exit 0
  bool version = false;    // -V/--version: print the version and exit 0
};

struct SbatchRequest {
  JobSpec spec;
  SbatchFlags flags;
  // --gm-stage-in / --gm-stage-out, in the order given. Being repeatable
  // lists of files, they accumulate over directives and the command line
  // rather than override. They belong in JobSpec; until it has fields for
  // them they travel here.
  std::vector<std::string> stage_in;
  std::vector<std::string> stage_out;
};

struct SbatchInput {
  std::vector<std::string> argv;              // everything after "sbatch"
  std::map<std::string, std::string> env;     // caller's environment (SBATCH_*, USER, HOSTNAME)
  std::string cwd;                            // absolute; becomes spec.submit_dir
  // Reads the script named on the command line, as given (relative names are
  // the caller's to resolve against cwd).
  std::function<Result<std::string>(const std::string& path)> read_file;
  std::string stdin_script;                   // the script when no path is given and no --wrap
};

// Parses an sbatch invocation.
//
// Precedence, as sbatch(1) documents: command line > SBATCH_* variables >
// #SBATCH directives > defaults. Options stop at the first non-option
// argument (the script; the rest are its arguments) or at "--". Long options
// may be abbreviated to any unambiguous prefix, as with getopt_long.
//
// With -h/--help, --usage or -V/--version the request carries only the flags:
// no script is read, as sbatch exits before it would read one.
//
// Errors are InvalidArgument with sbatch's wording where sbatch has one
// ("unrecognized option '--foo'", "option '--nodes' requires an argument");
// an error in a directive is prefixed "<script>:<line>: ", one in a variable
// "<VARIABLE>: ". Failing to read the script keeps read_file's status code.
//
// Options that mean nothing on GridMint (--mail-type, --nodelist, ...) are
// accepted and leave a one-line note in spec.notes.
Result<SbatchRequest> ParseSbatch(const SbatchInput& in);

// The --help text: a usage line, then one line per option.
std::string SbatchUsage();

}  // namespace gm
