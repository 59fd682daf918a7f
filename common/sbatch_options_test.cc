// Tests for the sbatch parser and JobSpec's JSON form; expected behaviour is
// taken from sbatch(1) for Slurm 22.05 and sbatch's own messages.
#include "common/sbatch_options.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace gm {
namespace {

using Env = std::map<std::string, std::string>;
using Files = std::map<std::string, std::string>;

SbatchInput Input(std::vector<std::string> argv, Files files = {}, Env env = {}) {
  SbatchInput in;
  in.argv = std::move(argv);
  in.env = std::move(env);
  in.cwd = "/home/alice/work";
  in.read_file = [files](const std::string& path) -> Result<std::string> {
    auto it = files.find(path);
    if (it == files.end()) return Status::NotFound(path + ": No such file or directory");
    return it->second;
  };
  return in;
}

// A script with the given lines between the shebang and a first command.
std::string Script(const std::string& directives) {
  return "#!/bin/bash\n" + directives + "srun hostname\n";
}

JobSpec Spec(const SbatchInput& in) {
  auto r = ParseSbatch(in);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r->spec : JobSpec{};
}

JobSpec SpecFromScript(const std::string& directives, std::vector<std::string> extra_argv = {}, Env env = {}) {
  extra_argv.push_back("job.sh");
  return Spec(Input(extra_argv, {{"job.sh", Script(directives)}}, std::move(env)));
}

std::string Error(const SbatchInput& in) {
  auto r = ParseSbatch(in);
  EXPECT_FALSE(r.ok());
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  return r.status().message();
}

std::string CliError(std::vector<std::string> argv) {
  argv.push_back("job.sh");
  return Error(Input(argv, {{"job.sh", Script("")}}));
}

std::string ScriptError(const std::string& directives) {
  return Error(Input({"job.sh"}, {{"job.sh", Script(directives)}}));
}

bool HasNote(const JobSpec& s, const std::string& note) {
  return std::find(s.notes.begin(), s.notes.end(), note) != s.notes.end();
}

// --- #SBATCH directives -----------------------------------------------------

TEST(SbatchDirectives, ReadFromTheTopOfTheScript) {
  JobSpec s = SpecFromScript("#SBATCH -N 2\n#SBATCH --ntasks=8\n#SBATCH -t 1:00:00\n#SBATCH -p gpu\n");
  EXPECT_EQ(s.nodes_min, 2);
  EXPECT_EQ(s.nodes_max, 2);
  EXPECT_EQ(s.ntasks, 8);
  EXPECT_EQ(s.time_limit_s, 3600);
  EXPECT_EQ(s.partition, "gpu");
  EXPECT_EQ(s.job_name, "job.sh");
  EXPECT_EQ(s.script_name, "job.sh");
  EXPECT_EQ(s.script, Script("#SBATCH -N 2\n#SBATCH --ntasks=8\n#SBATCH -t 1:00:00\n#SBATCH -p gpu\n"));
}

TEST(SbatchDirectives, StopAtTheFirstCommand) {
  JobSpec s = Spec(Input({"job.sh"}, {{"job.sh", "#!/bin/sh\n#SBATCH -J first\necho hi\n#SBATCH -J late\n"}}));
  EXPECT_EQ(s.job_name, "first");
}

TEST(SbatchDirectives, BlankLinesAndCommentsDoNotStopThem) {
  JobSpec s = SpecFromScript("\n   \n# a comment\n#SBATCH -J after-blanks\n");
  EXPECT_EQ(s.job_name, "after-blanks");
}

TEST(SbatchDirectives, TrailingCommentIsStripped) {
  JobSpec s = SpecFromScript("#SBATCH --time=10  # ten minutes\n#SBATCH -J name#suffix\n");
  EXPECT_EQ(s.time_limit_s, 600);
  EXPECT_EQ(s.job_name, "name");
}

TEST(SbatchDirectives, SeveralOptionsOnOneLine) {
  JobSpec s = SpecFromScript("#SBATCH -N 2 -n 4 --job-name multi\n");
  EXPECT_EQ(s.nodes_min, 2);
  EXPECT_EQ(s.ntasks, 4);
  EXPECT_EQ(s.job_name, "multi");
}

TEST(SbatchDirectives, QuotesGroupWords) {
  JobSpec s = SpecFromScript("#SBATCH -J \"my job\"\n#SBATCH --comment='a # b'\n");
  EXPECT_EQ(s.job_name, "my job");
}

TEST(SbatchDirectives, IndentedDirectivesAreComments) {
  JobSpec s = SpecFromScript("  #SBATCH -J indented\n\t#SBATCH -N 3\n");
  EXPECT_EQ(s.job_name, "job.sh");
  EXPECT_EQ(s.nodes_min, 1);
}

// Measured on Slurm 22.05.8: the magic word is a plain prefix.
TEST(SbatchDirectives, AnythingAfterTheMagicWordIsRead) {
  EXPECT_EQ(SpecFromScript("#SBATCH-J glued\n").job_name, "glued");
  EXPECT_EQ(ScriptError("#SBATCHX -J glued\n"), "job.sh:2: invalid directive 'X'");
}

// Measured on Slurm 22.05.8 ("#SBATCH -J a\\ b" fails with "Invalid directive
// found in batch script: b").
TEST(SbatchDirectives, BackslashEscapesAllButWhitespace) {
  EXPECT_EQ(SpecFromScript("#SBATCH -J a\\#b\\\"c\n").job_name, "a#b\"c");
  EXPECT_EQ(ScriptError("#SBATCH -J a\\ b\n"), "job.sh:2: invalid directive 'b'");
  EXPECT_EQ(SpecFromScript("#SBATCH -J \"a\\ b\"\n").job_name, "a b");
}

// Measured on Slurm 22.05.8: `-J "" -N2` then `-A acct` gives "Invalid
// directive found in batch script: acct" (-J took "-A").
TEST(SbatchDirectives, AnEmptyWordEndsTheLine) {
  JobSpec s = SpecFromScript("#SBATCH -N 2 '' -n 3\n");
  EXPECT_EQ(s.nodes_min, 2);
  EXPECT_FALSE(s.ntasks.has_value());
  EXPECT_EQ(ScriptError("#SBATCH -J \"\" -N2\n#SBATCH -A acct\n"), "job.sh:3: invalid directive 'acct'");
}

TEST(SbatchDirectives, AWordMayNotStartWithAColon) {
  EXPECT_EQ(ScriptError("#SBATCH -N 2 :foo\n"), "job.sh:2: Unexpected `:` in [ -N 2 :foo]");
}

TEST(SbatchDirectives, OldSlurmPrefixIsHonouredWithANote) {
  JobSpec s = SpecFromScript("#SLURM -J legacy\n");
  EXPECT_EQ(s.job_name, "legacy");
  EXPECT_TRUE(HasNote(s, "Change from #SLURM to #SBATCH in your script and verify the options are valid in sbatch"));
}

TEST(SbatchDirectives, MalformedValueNamesFileLineAndOption) {
  EXPECT_EQ(ScriptError("#SBATCH -p gpu\n#SBATCH --nodes=abc\n"), "job.sh:3: invalid --nodes value 'abc'");
  EXPECT_EQ(ScriptError("#SBATCH -t 1x\n"), "job.sh:2: invalid --time value '1x'");
}

TEST(SbatchDirectives, UnknownOptionNamesFileAndLine) {
  EXPECT_EQ(ScriptError("#SBATCH --bogus=1\n"), "job.sh:2: unrecognized option '--bogus=1'");
}

TEST(SbatchDirectives, StrayWordsAndUnmatchedQuotesAreErrors) {
  EXPECT_EQ(ScriptError("#SBATCH -N 2 extra\n"), "job.sh:2: invalid directive 'extra'");
  EXPECT_EQ(ScriptError("#SBATCH -J \"open\n"), "job.sh:2: unmatched `\"`");
}

// --- Precedence --------------------------------------------------------------

TEST(SbatchPrecedence, CommandLineOverEnvironmentOverScript) {
  Env env{{"SBATCH_PARTITION", "from-env"}};
  EXPECT_EQ(SpecFromScript("#SBATCH -p from-script\n", {}, {}).partition, "from-script");
  EXPECT_EQ(SpecFromScript("#SBATCH -p from-script\n", {}, env).partition, "from-env");
  EXPECT_EQ(SpecFromScript("#SBATCH -p from-script\n", {"-p", "from-cli"}, env).partition, "from-cli");
}

TEST(SbatchPrecedence, EnvironmentTimeLimitOverridesScript) {
  JobSpec s = SpecFromScript("#SBATCH -t 10\n", {}, {{"SBATCH_TIMELIMIT", "2:00:00"}});
  EXPECT_EQ(s.time_limit_s, 7200);
}

TEST(SbatchPrecedence, BadEnvironmentValueNamesTheVariable) {
  EXPECT_EQ(Error(Input({"job.sh"}, {{"job.sh", Script("")}}, {{"SBATCH_TIMELIMIT", "abc"}})),
            "SBATCH_TIMELIMIT: invalid --time value 'abc'");
}

// Measured on Slurm 22.05.8: an empty variable is an empty value.
TEST(SbatchPrecedence, EmptyVariablesAreEmptyValues) {
  EXPECT_EQ(Error(Input({"job.sh"}, {{"job.sh", Script("#SBATCH -p script\n")}}, {{"SBATCH_PARTITION", ""}})),
            "SBATCH_PARTITION: invalid partition specified: (null)");
  EXPECT_EQ(Error(Input({"job.sh"}, {{"job.sh", Script("")}}, {{"SBATCH_TIMELIMIT", ""}})),
            "SBATCH_TIMELIMIT: invalid --time value ''");
  EXPECT_EQ(SpecFromScript("#SBATCH -A script\n", {}, {{"SBATCH_ACCOUNT", ""}}).account, "");
  JobSpec s = SpecFromScript("#SBATCH -o x.out\n", {}, {{"SBATCH_ARRAY_INX", ""}, {"SBATCH_OUTPUT", ""}});
  EXPECT_TRUE(s.array_tasks.empty());
  EXPECT_EQ(s.output, "x.out");
}

TEST(SbatchEnvironment, VariablesMapToTheirOptions) {
  Env env{{"SBATCH_ACCOUNT", "proj"},        {"SBATCH_QOS", "high"},
          {"SBATCH_CONSTRAINT", "a100"},     {"SBATCH_JOB_NAME", "envname"},
          {"SBATCH_ARRAY_INX", "1-3"},       {"SBATCH_GPUS_PER_NODE", "4"},
          {"SBATCH_EXCLUSIVE", ""},          {"SBATCH_NO_REQUEUE", "1"},
          {"SBATCH_MEM_PER_NODE", "8G"},     {"SBATCH_WAIT", "1"}};
  auto r = ParseSbatch(Input({"job.sh"}, {{"job.sh", Script("")}}, env));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const JobSpec& s = r->spec;
  EXPECT_EQ(s.account, "proj");
  EXPECT_EQ(s.qos, "high");
  EXPECT_EQ(s.constraint, "a100");
  EXPECT_EQ(s.job_name, "envname");
  EXPECT_EQ(s.array_tasks, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(s.gpus_per_node, 4);
  EXPECT_TRUE(s.exclusive);
  EXPECT_EQ(s.requeue, false);
  EXPECT_EQ(s.mem_per_node_mb, 8192);
  EXPECT_TRUE(r->flags.wait);
}

// --- Command line ------------------------------------------------------------

TEST(SbatchCommandLine, LongAndShortOptionForms) {
  EXPECT_EQ(SpecFromScript("", {"--nodes=3"}).nodes_min, 3);
  EXPECT_EQ(SpecFromScript("", {"--nodes", "3"}).nodes_min, 3);
  EXPECT_EQ(SpecFromScript("", {"-n4"}).ntasks, 4);
  EXPECT_EQ(SpecFromScript("", {"-n", "4"}).ntasks, 4);
  EXPECT_EQ(SpecFromScript("", {"-t10"}).time_limit_s, 600);
  EXPECT_EQ(SpecFromScript("", {"-J", "-dash-name"}).job_name, "-dash-name");
}

TEST(SbatchCommandLine, BundledFlags) {
  auto r = ParseSbatch(Input({"-HQ", "job.sh"}, {{"job.sh", Script("")}}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->spec.hold);
  EXPECT_TRUE(r->flags.quiet);
}

TEST(SbatchCommandLine, UnambiguousPrefixesAreAccepted) {
  EXPECT_EQ(SpecFromScript("", {"--part=gpu"}).partition, "gpu");
  EXPECT_EQ(CliError({"--mem-per=1"}),
            "option '--mem-per' is ambiguous; possibilities: '--mem-per-cpu' '--mem-per-gpu'");
}

TEST(SbatchCommandLine, UnknownOptionsInGetoptWording) {
  EXPECT_EQ(CliError({"--foo"}), "unrecognized option '--foo'");
  EXPECT_EQ(CliError({"-z"}), "invalid option -- 'z'");
}

TEST(SbatchCommandLine, MissingAndUnwantedArguments) {
  EXPECT_EQ(Error(Input({"--nodes"})), "option '--nodes' requires an argument");
  EXPECT_EQ(Error(Input({"-N"})), "option requires an argument -- 'N'");
  EXPECT_EQ(CliError({"--hold=yes"}), "option '--hold' doesn't allow an argument");
}

TEST(SbatchCommandLine, OptionsEndAtTheScript) {
  JobSpec s = Spec(Input({"-N", "2", "job.sh", "-N", "5", "--x"}, {{"job.sh", Script("")}}));
  EXPECT_EQ(s.nodes_min, 2);
  EXPECT_EQ(s.script_args, (std::vector<std::string>{"-N", "5", "--x"}));
}

TEST(SbatchCommandLine, DoubleDashEndsOptions) {
  JobSpec s = Spec(Input({"-p", "a", "--", "-weird.sh", "arg"}, {{"-weird.sh", Script("")}}));
  EXPECT_EQ(s.script_name, "-weird.sh");
  EXPECT_EQ(s.script_args, (std::vector<std::string>{"arg"}));
}

TEST(SbatchCommandLine, NiceTakesItsValueOnlyAfterEquals) {
  EXPECT_EQ(SpecFromScript("", {"--nice=5"}).nice, 5);
  EXPECT_EQ(SpecFromScript("", {"--nice=-5"}).nice, -5);
  JobSpec s = Spec(Input({"--nice", "job.sh"}, {{"job.sh", Script("")}}));
  EXPECT_EQ(s.nice, 100);
  EXPECT_EQ(s.script_name, "job.sh");
}

// --- The script ---------------------------------------------------------------

TEST(SbatchScript, ReadFromStdinWhenNoPathIsGiven) {
  SbatchInput in = Input({"-p", "x"});
  in.stdin_script = Script("#SBATCH -n 3\n");
  JobSpec s = Spec(in);
  EXPECT_EQ(s.job_name, "sbatch");
  EXPECT_EQ(s.script_name, "");
  EXPECT_EQ(s.ntasks, 3);
}

TEST(SbatchScript, JobNameIsTheBaseName) {
  EXPECT_EQ(Spec(Input({"jobs/train.sbatch"}, {{"jobs/train.sbatch", Script("")}})).job_name, "train.sbatch");
}

TEST(SbatchScript, WrapGeneratesAShScript) {
  JobSpec s = Spec(Input({"-N", "1", "--wrap=python train.py --epochs 3"}));
  EXPECT_EQ(s.script, "#!/bin/sh\n# This script was created by sbatch --wrap.\n\npython train.py --epochs 3\n");
  EXPECT_EQ(s.job_name, "wrap");
  EXPECT_EQ(s.script_name, "");
  EXPECT_EQ(Error(Input({"--wrap", "hostname", "extra"})), "Script arguments not permitted with --wrap option");
}

TEST(SbatchScript, WrapInAScriptIsNotHonoured) {
  JobSpec s = SpecFromScript("#SBATCH --wrap=hostname\n");
  EXPECT_EQ(s.script, Script("#SBATCH --wrap=hostname\n"));
  EXPECT_TRUE(HasNote(s, "--wrap is only honoured on the command line"));
}

TEST(SbatchScript, MustStartWithAnInterpreterLine) {
  EXPECT_EQ(Error(Input({"job.sh"}, {{"job.sh", "srun hostname\n"}})),
            "This does not look like a batch script.  The first line must start with #! followed by the path "
            "to an interpreter.");
}

TEST(SbatchScript, EmptyAndDosScriptsAreRefused) {
  EXPECT_EQ(Error(Input({"job.sh"}, {{"job.sh", ""}})), "Batch script is empty!");
  EXPECT_EQ(Error(Input({"job.sh"}, {{"job.sh", "#!/bin/sh\r\nhostname\r\n"}})),
            "Batch script contains DOS line breaks (\\r\\n) instead of expected UNIX line breaks (\\n).");
}

TEST(SbatchScript, UnreadableFileKeepsTheReadersCode) {
  auto r = ParseSbatch(Input({"missing.sh"}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(r.status().message(), "Unable to open file missing.sh: missing.sh: No such file or directory");
}

// --- Option values -------------------------------------------------------------

TEST(SbatchValues, NodeRanges) {
  JobSpec s = SpecFromScript("", {"-N", "2-4"});
  EXPECT_EQ(s.nodes_min, 2);
  EXPECT_EQ(s.nodes_max, 4);
  EXPECT_EQ(CliError({"-N", "4-2"}),
            "invalid --nodes value '4-2': maximum node count 2 is less than minimum node count 4");
  EXPECT_EQ(CliError({"-N", "0"}), "invalid --nodes value '0': must be positive");
}

TEST(SbatchValues, CountsMustBePositiveNumbers) {
  EXPECT_EQ(CliError({"-n", "0"}), "invalid --ntasks value '0': must be positive");
  EXPECT_EQ(CliError({"-n", "-1"}), "invalid --ntasks value '-1'");
  EXPECT_EQ(CliError({"-c", "two"}), "invalid --cpus-per-task value 'two'");
  EXPECT_EQ(CliError({"--ntasks-per-node=0"}), "invalid --ntasks-per-node value '0': must be positive");
}

TEST(SbatchValues, FewerTasksThanNodesLowersTheNodeCount) {
  JobSpec s = SpecFromScript("", {"-N", "4", "-n", "2"});
  EXPECT_EQ(s.nodes_min, 2);
  EXPECT_EQ(s.nodes_max, 2);
  EXPECT_TRUE(HasNote(s, "can't run 2 processes on 4 nodes, setting nnodes to 2"));
  // Measured on Slurm 22.05.8: -N1-4 -n2 is NumNodes=1-2.
  s = SpecFromScript("", {"-N", "1-4", "-n", "2"});
  EXPECT_EQ(s.nodes_min, 1);
  EXPECT_EQ(s.nodes_max, 2);
  // Without -N, nothing is capped: -n alone leaves the node count to the scheduler.
  s = SpecFromScript("", {"-n", "2"});
  EXPECT_EQ(s.nodes_min, 1);
}

TEST(SbatchValues, GresGpuForms) {
  JobSpec a = SpecFromScript("#SBATCH --gres=gpu:a100:2\n");
  EXPECT_EQ(a.gpus_per_node, 2);
  EXPECT_EQ(a.gpu_type, "a100");
  EXPECT_EQ(SpecFromScript("#SBATCH --gres=gpu\n").gpus_per_node, 1);
  EXPECT_EQ(SpecFromScript("#SBATCH --gres=gpu:4\n").gpus_per_node, 4);
  JobSpec typed = SpecFromScript("#SBATCH --gres=gpu:v100\n");
  EXPECT_EQ(typed.gpus_per_node, 1);
  EXPECT_EQ(typed.gpu_type, "v100");
  EXPECT_EQ(ScriptError("#SBATCH --gres=gpu:a:1:2\n"), "job.sh:2: invalid --gres value 'gpu:a:1:2'");
}

TEST(SbatchValues, OtherGresIsNoted) {
  JobSpec s = SpecFromScript("#SBATCH --gres=gpu:2,mps:100\n");
  EXPECT_EQ(s.gpus_per_node, 2);
  EXPECT_TRUE(HasNote(s, "--gres=mps is accepted and ignored: GridMint schedules only GPUs"));
}

TEST(SbatchValues, GpuOptions) {
  JobSpec s = SpecFromScript("", {"-G", "a100:8", "--gpus-per-task=a100:1"});
  EXPECT_EQ(s.gpus_total, 8);
  EXPECT_EQ(s.gpu_type, "a100");
  EXPECT_EQ(s.gpus_per_task, 1);
  EXPECT_EQ(SpecFromScript("", {"--gpus-per-node=h100:4"}).gpus_per_node, 4);
  // Measured on Slurm 22.05.8: --gpus=x is TresPerJob=gres:gpu:x, one GPU of type x.
  JobSpec typed = SpecFromScript("", {"--gpus=x"});
  EXPECT_EQ(typed.gpus_total, 1);
  EXPECT_EQ(typed.gpu_type, "x");
  EXPECT_EQ(CliError({"--gpus=2x"}), "invalid --gpus value '2x'");
  EXPECT_EQ(CliError({"--gpus=a100:"}), "invalid --gpus value 'a100:'");
}

// Measured on Slurm 22.05.8 (sbatch --hold, then scontrol show job).
TEST(SbatchValues, GpuOptionsAcrossEachOther) {
  EXPECT_EQ(CliError({"--gpus=a100:2", "--gpus-per-task=1"}),
            "Invalid GRES specification (with and without type identification)");
  EXPECT_EQ(CliError({"--gres=gpu:a100:1,gpu:2"}), "invalid --gres value 'gpu:a100:1,gpu:2': GridMint takes one GPU type per job");
  // --gpus=4 --gpus-per-node=2 is NumNodes=2-2, with or without -N1-3.
  JobSpec s = SpecFromScript("", {"--gpus=4", "--gpus-per-node=2"});
  EXPECT_EQ(s.nodes_min, 2);
  EXPECT_EQ(s.nodes_max, 2);
  s = SpecFromScript("", {"--gpus=4", "--gpus-per-node=2", "-N1-3"});
  EXPECT_EQ(s.nodes_min, 2);
  EXPECT_EQ(s.nodes_max, 2);
  EXPECT_EQ(CliError({"--gpus=3", "--gpus-per-node=2", "-N2"}),
            "Failed to validate job spec, --gpus is not multiple of --gres=gpu/--gpus-per-node");
  EXPECT_EQ(CliError({"--gpus=2", "--gpus-per-node=1", "-N1"}),
            "Failed to validate job spec. Based on --gpu and --gres=gpu/--gpus-per-node required nodes (2) "
            "doesn't fall between min_nodes (1) and max_nodes (1) boundaries.");
  // --gpus=2 --gpus-per-task=1 is NumTasks=2.
  EXPECT_EQ(SpecFromScript("", {"--gpus=2", "--gpus-per-task=1"}).ntasks, 2);
  // --gpus=0 derives nothing (NumNodes=1, NumTasks=1): no node count of zero.
  s = SpecFromScript("", {"--gpus=0", "--gpus-per-node=2", "--gpus-per-task=1"});
  EXPECT_EQ(s.nodes_min, 1);
  EXPECT_FALSE(s.ntasks.has_value());
}

TEST(SbatchValues, MemorySizes) {
  EXPECT_EQ(SpecFromScript("", {"--mem=16G"}).mem_per_node_mb, 16384);
  EXPECT_EQ(SpecFromScript("", {"--mem-per-cpu=2000"}).mem_per_cpu_mb, 2000);
  EXPECT_EQ(CliError({"--mem=lots"}), "invalid --mem value 'lots'");
}

TEST(SbatchValues, MemoryOptionsAreMutuallyExclusive) {
  const std::string kMsg = "--mem, --mem-per-cpu, and --mem-per-gpu are mutually exclusive.";
  EXPECT_EQ(CliError({"--mem=1G", "--mem-per-cpu=1G"}), kMsg);
  EXPECT_EQ(Error(Input({"--mem-per-cpu=1G", "job.sh"}, {{"job.sh", Script("#SBATCH --mem=4G\n")}})), kMsg);
}

TEST(SbatchValues, DirectMemoryOptionOverridesAnotherFromTheEnvironment) {
  JobSpec s = SpecFromScript("", {"--mem-per-cpu=1G"}, {{"SBATCH_MEM_PER_NODE", "8G"}});
  EXPECT_EQ(s.mem_per_cpu_mb, 1024);
  EXPECT_FALSE(s.mem_per_node_mb.has_value());
  Env both{{"SBATCH_MEM_PER_NODE", "8G"}, {"SBATCH_MEM_PER_CPU", "1G"}};
  EXPECT_EQ(Error(Input({"job.sh"}, {{"job.sh", Script("")}}, both)),
            "SBATCH_MEM_PER_CPU, SBATCH_MEM_PER_GPU, and SBATCH_MEM_PER_NODE are mutually exclusive.");
}

TEST(SbatchValues, TimeLimits) {
  JobSpec unlimited = SpecFromScript("#SBATCH --time=UNLIMITED\n");
  EXPECT_TRUE(unlimited.time_unlimited);
  EXPECT_FALSE(unlimited.time_limit_s.has_value());
  EXPECT_TRUE(SpecFromScript("#SBATCH -t 0\n").time_unlimited);
  JobSpec limited = SpecFromScript("#SBATCH -t 1-00:00:30\n");
  EXPECT_FALSE(limited.time_unlimited);
  EXPECT_EQ(limited.time_limit_s, 86400 + 60);
}

TEST(SbatchValues, ArrayRangesStepsListsAndLimit) {
  EXPECT_EQ(SpecFromScript("#SBATCH --array=0-15\n").array_tasks.size(), 16u);
  EXPECT_EQ(SpecFromScript("#SBATCH -a 1-7:2\n").array_tasks, (std::vector<int>{1, 3, 5, 7}));
  JobSpec s = SpecFromScript("#SBATCH --array=5,1,3,3%2\n");
  EXPECT_EQ(s.array, "5,1,3,3%2");
  EXPECT_EQ(s.array_tasks, (std::vector<int>{1, 3, 5}));
  EXPECT_EQ(s.array_max_running, 2);
}

TEST(SbatchValues, ArrayIdsMustBeBelowMaxArraySize) {
  EXPECT_EQ(SpecFromScript("#SBATCH --array=0-1000\n").array_tasks.size(), 1001u);
  EXPECT_EQ(CliError({"--array=0-1001"}),
            "invalid --array value '0-1001': task ids must be below MaxArraySize (1001)");
  EXPECT_EQ(CliError({"--array=5-3"}), "invalid --array value '5-3': range 5-3 is reversed");
  EXPECT_EQ(CliError({"--array=1-7:0"}), "invalid --array value '1-7:0': must be positive");
  EXPECT_EQ(CliError({"--array=1-3%0"}), "invalid --array value '1-3%0': must be positive");
}

TEST(SbatchValues, DependencySyntax) {
  for (const char* ok : {"afterok:123", "afterok:1:2,afterany:3", "afternotok:5?afterany:6", "singleton",
                         "after:10+5:11", "afterok:123_4", "aftercorr:77", "afterany:9_*"})
    EXPECT_EQ(SpecFromScript("", {std::string("--dependency=") + ok}).dependency, ok);
  EXPECT_EQ(CliError({"-d", "afterfoo:1"}), "invalid --dependency value 'afterfoo:1'");
  EXPECT_EQ(CliError({"-d", "afterok:abc"}), "invalid --dependency value 'afterok:abc'");
  EXPECT_EQ(CliError({"-d", "afterok:1,afterany:2?afterok:3"}),
            "invalid --dependency value 'afterok:1,afterany:2?afterok:3': use either ',' or '?' as separator, "
            "not both");
}

TEST(SbatchValues, SignalSyntax) {
  EXPECT_EQ(SpecFromScript("", {"--signal=B:USR1@60"}).signal, "B:USR1@60");
  EXPECT_EQ(SpecFromScript("", {"--signal=SIGTERM"}).signal, "SIGTERM");
  EXPECT_EQ(SpecFromScript("", {"--signal=R:10@120"}).signal, "R:10@120");
  EXPECT_EQ(CliError({"--signal=FOO"}), "invalid --signal value 'FOO'");
  EXPECT_EQ(CliError({"--signal=USR1@70000"}), "invalid --signal value 'USR1@70000'");
}

TEST(SbatchValues, ExclusiveModes) {
  EXPECT_TRUE(SpecFromScript("", {"--exclusive"}).exclusive);
  JobSpec user = SpecFromScript("", {"--exclusive=user"});
  EXPECT_TRUE(user.exclusive);
  EXPECT_TRUE(HasNote(user, "--exclusive=user is treated as --exclusive: GridMint does not share nodes"));
  EXPECT_EQ(CliError({"--exclusive=sometimes"}), "invalid --exclusive value 'sometimes'");
}

TEST(SbatchValues, RequeueLastOneWins) {
  EXPECT_EQ(SpecFromScript("#SBATCH --requeue\n").requeue, true);
  EXPECT_EQ(SpecFromScript("#SBATCH --requeue\n", {"--no-requeue"}).requeue, false);
  EXPECT_FALSE(SpecFromScript("").requeue.has_value());
}

TEST(SbatchValues, FilesQueueAndHold) {
  JobSpec s = SpecFromScript("#SBATCH -o out-%j.txt\n#SBATCH -e err-%j.txt\n#SBATCH -A proj\n#SBATCH -q low\n"
                             "#SBATCH -C a100\n#SBATCH -H\n#SBATCH --begin=now+1hour\n");
  EXPECT_EQ(s.output, "out-%j.txt");
  EXPECT_EQ(s.error, "err-%j.txt");
  EXPECT_EQ(s.account, "proj");
  EXPECT_EQ(s.qos, "low");
  EXPECT_EQ(s.constraint, "a100");
  EXPECT_TRUE(s.hold);
  EXPECT_EQ(s.begin, "now+1hour");
  EXPECT_EQ(SpecFromScript("").output, "");
}

TEST(SbatchValues, ChdirIsMadeAbsolute) {
  EXPECT_EQ(SpecFromScript("", {"-D", "runs/1"}).chdir, "/home/alice/work/runs/1");
  EXPECT_EQ(SpecFromScript("", {"--chdir=/scratch"}).chdir, "/scratch");
  EXPECT_EQ(SpecFromScript("").chdir, "");
}

// --- Environment and submission facts -------------------------------------------

TEST(SbatchExport, AllIsTheDefault) {
  Env env{{"PATH", "/bin"}, {"USER", "alice"}};
  JobSpec s = Spec(Input({"job.sh"}, {{"job.sh", Script("")}}, env));
  EXPECT_EQ(s.export_env, "ALL");
  EXPECT_EQ(s.environment, env);
}

TEST(SbatchExport, NoneAndNamedVariables) {
  Env env{{"PATH", "/bin"}, {"A", "1"}, {"USER", "alice"}};
  auto with = [&](const std::string& e) {
    return Spec(Input({"--export=" + e, "job.sh"}, {{"job.sh", Script("")}}, env));
  };
  EXPECT_TRUE(with("NONE").environment.empty());
  EXPECT_EQ(with("A,B=two,MISSING").environment, (Env{{"A", "1"}, {"B", "two"}}));
  Env all_plus = env;
  all_plus["B"] = "x";
  EXPECT_EQ(with("ALL,B=x").environment, all_plus);
  EXPECT_EQ(CliError({"--export=1A"}), "invalid --export value '1A'");
}

TEST(SbatchSubmit, DirectoryUserAndHost) {
  JobSpec s = Spec(Input({"job.sh"}, {{"job.sh", Script("")}}, {{"USER", "alice"}, {"HOSTNAME", "login1"}}));
  EXPECT_EQ(s.submit_dir, "/home/alice/work");
  EXPECT_EQ(s.submit_user, "alice");
  EXPECT_EQ(s.submit_host, "login1");
  EXPECT_EQ(SpecFromScript("").submit_user, "root");
  EXPECT_FALSE(SpecFromScript("").submit_host.empty());
}

TEST(SbatchNotes, IgnoredOptionsLeaveOneNoteEach) {
  JobSpec s = SpecFromScript("#SBATCH --mail-type=ALL\n#SBATCH --mail-type=END\n#SBATCH -w node[1-2]\n");
  EXPECT_TRUE(HasNote(s, "--mail-type is accepted and ignored: GridMint sends no mail"));
  EXPECT_TRUE(HasNote(s, "--nodelist is accepted and ignored: the market chooses nodes, not the job"));
  EXPECT_EQ(std::count_if(s.notes.begin(), s.notes.end(),
                          [](const std::string& n) { return n.rfind("--mail-type", 0) == 0; }),
            1);
}

// --- GridMint's options and sbatch's flags ------------------------------------------

TEST(SbatchGridMint, MaxPriceIsExactMicros) {
  EXPECT_EQ(SpecFromScript("", {"--gm-max-price=1.5"}).gm_max_price, 1'500'000);
  EXPECT_EQ(SpecFromScript("", {"--gm-max-price=0.000001"}).gm_max_price, 1);
  EXPECT_EQ(SpecFromScript("", {"--gm-max-price=2"}).gm_max_price, 2'000'000);
  EXPECT_EQ(SpecFromScript("", {"--gm-max-price=0.1"}).gm_max_price, 100'000);
  EXPECT_EQ(CliError({"--gm-max-price=1.1234567"}), "invalid --gm-max-price value '1.1234567': at most 6 decimals");
  EXPECT_EQ(CliError({"--gm-max-price=-1"}),
            "invalid --gm-max-price value '-1': expected a decimal number of tokens");
  EXPECT_EQ(CliError({"--gm-max-price=1."}),
            "invalid --gm-max-price value '1.': expected a decimal number of tokens");
}

TEST(SbatchGridMint, TrustRegionVerifyAndStaging) {
  auto r = ParseSbatch(Input({"--gm-min-trust=4", "--gm-region=eu-west", "--gm-verify", "--gm-stage-in=data/a",
                              "--gm-stage-in=data/b", "--gm-stage-out=results", "job.sh"},
                             {{"job.sh", Script("")}}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->spec.gm_min_trust, 4);
  EXPECT_EQ(r->spec.gm_region, "eu-west");
  EXPECT_TRUE(r->spec.gm_verify);
  EXPECT_EQ(r->stage_in, (std::vector<std::string>{"data/a", "data/b"}));
  EXPECT_EQ(r->stage_out, (std::vector<std::string>{"results"}));
  EXPECT_EQ(CliError({"--gm-min-trust=5"}), "invalid --gm-min-trust value '5': trust levels are 1 to 4");
  EXPECT_EQ(CliError({"--gm-min-trust=0"}), "invalid --gm-min-trust value '0': must be positive");
}

TEST(SbatchFlagsTest, OutputFlags) {
  auto r = ParseSbatch(
      Input({"--parsable", "-W", "--test-only", "--json", "-Q", "job.sh"}, {{"job.sh", Script("")}}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->flags.parsable);
  EXPECT_TRUE(r->flags.wait);
  EXPECT_TRUE(r->flags.test_only);
  EXPECT_TRUE(r->flags.json);
  EXPECT_TRUE(r->flags.quiet);
  EXPECT_EQ(CliError({"--json"}), "--json is only valid with --test-only");
}

TEST(SbatchFlagsTest, HelpUsageAndVersionNeedNoScript) {
  auto help = ParseSbatch(Input({"-N", "2", "--help", "--no-such-option"}));
  ASSERT_TRUE(help.ok()) << help.status().ToString();
  EXPECT_TRUE(help->flags.help);
  EXPECT_TRUE(ParseSbatch(Input({"--usage"}))->flags.usage);
  EXPECT_TRUE(ParseSbatch(Input({"-V"}))->flags.version);
}

TEST(SbatchUsageText, ListsEveryOptionOnItsOwnLine) {
  std::string usage = SbatchUsage();
  for (const char* line : {"  -N, --nodes=N[-M]", "      --gm-max-price=TOKENS", "  -t, --time=TIME",
                           "      --mail-type=TYPES"})
    EXPECT_NE(usage.find(line), std::string::npos) << line;
  EXPECT_NE(usage.find("accepted and ignored: GridMint sends no mail"), std::string::npos);
}

// --- JobSpec -------------------------------------------------------------------------

TEST(JobSpecDerived, EffectiveNtasks) {
  JobSpec s;
  s.nodes_min = 3;
  EXPECT_EQ(s.EffectiveNtasks(), 3);
  s.ntasks_per_node = 4;
  EXPECT_EQ(s.EffectiveNtasks(), 12);
  s.ntasks = 5;
  EXPECT_EQ(s.EffectiveNtasks(), 5);
}

TEST(JobSpecDerived, GpusPerNode) {
  JobSpec s;
  s.nodes_min = 3;
  EXPECT_EQ(s.GpusPerNode(), 0);
  s.gpus_total = 8;
  EXPECT_EQ(s.GpusPerNode(), 3);  // ceil(8 / 3)
  s.gpus_per_node = 2;
  EXPECT_EQ(s.GpusPerNode(), 2);
}

TEST(JobSpecJson, RoundTripsEveryField) {
  JobSpec s = SpecFromScript("#SBATCH -N 2-3 -n 8 --gres=gpu:a100:2 --mem=4G -t 30 --array=1-3%1 --requeue\n",
                             {"--gm-max-price=0.25", "--nice=7"}, {{"USER", "bob"}});
  nlohmann::json j = s;
  JobSpec back = j.get<JobSpec>();
  EXPECT_EQ(nlohmann::json(back), j);
  EXPECT_EQ(j["nodes_max"], 3);
  EXPECT_EQ(j["gpu_type"], "a100");
  EXPECT_EQ(j["gm_max_price"], 250'000);
  EXPECT_EQ(j["array_tasks"], nlohmann::json::array({1, 2, 3}));
  EXPECT_EQ(j["environment"]["USER"], "bob");
}

TEST(JobSpecJson, UnsetOptionalsAreNull) {
  nlohmann::json j = JobSpec{};
  EXPECT_TRUE(j["ntasks"].is_null());
  EXPECT_TRUE(j["requeue"].is_null());
  EXPECT_TRUE(j["gm_max_price"].is_null());
  EXPECT_EQ(j["export_env"], "ALL");
}

TEST(JobSpecJson, MissingKeysKeepDefaults) {
  JobSpec s = nlohmann::json{{"job_name", "x"}, {"ntasks", 4}}.get<JobSpec>();
  EXPECT_EQ(s.job_name, "x");
  EXPECT_EQ(s.ntasks, 4);
  EXPECT_EQ(s.nodes_min, 1);
  EXPECT_EQ(s.cpus_per_task, 1);
  EXPECT_EQ(s.export_env, "ALL");
}

TEST(JobSpecJson, WrongTypesThrowNlohmannExceptions) {
  using nlohmann::json;
  EXPECT_THROW(json({{"nodes_min", "2"}}).get<JobSpec>(), json::type_error);
  EXPECT_THROW(json({{"nodes_min", 2.5}}).get<JobSpec>(), json::type_error);
  EXPECT_THROW(json({{"hold", 1}}).get<JobSpec>(), json::type_error);
  EXPECT_THROW(json({{"ntasks", true}}).get<JobSpec>(), json::type_error);
  EXPECT_THROW(json({{"array_tasks", {1, "2"}}}).get<JobSpec>(), json::type_error);
  EXPECT_THROW(json({{"environment", {{"A", 1}}}}).get<JobSpec>(), json::type_error);
  EXPECT_THROW(json::array().get<JobSpec>(), json::type_error);
  EXPECT_THROW(json({{"nodes_min", 1LL << 40}}).get<JobSpec>(), json::out_of_range);
}

}  // namespace
}  // namespace gm
