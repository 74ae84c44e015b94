#pragma once
// The CLI is a thin shell over the library: one file per subcommand, each a function taking its
// arguments and returning an exit code. Errors are exceptions; only main() maps them to codes:
// 0 ok, 1 bad input (InputError), 2 usage (UsageError).
#include <boost/program_options.hpp>

#include <iosfwd>
#include <string>
#include <vector>

namespace headroom::cli {

namespace po = boost::program_options;

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args);
};

const std::vector<Command>& commands();

// Parses args against `opts` (and positional names); prints help and returns false on --help.
// Throws UsageError on unknown or malformed options.
bool parse(const std::vector<std::string>& args, const po::options_description& opts, po::variables_map& vm,
           const std::string& usage, const po::positional_options_description* pos = nullptr);

// --set SECTION.KEY=VALUE (repeatable): what-if edits of the --hw file before it is validated
// (HardwareSpec::from_yaml_file with overrides). add_hw_set adds the option; hw_set reads it.
void add_hw_set(po::options_description& opts);
std::vector<std::string> hw_set(const po::variables_map& vm);
// predict and validate: --set goes with --hw (it edits that file); a bad edit fails once, here.
std::vector<std::string> checked_hw_set(const po::variables_map& vm, const std::string& hw);

int cmd_roofline(const std::vector<std::string>& args);
int cmd_predict(const std::vector<std::string>& args);
int cmd_import_hf(const std::vector<std::string>& args);
int cmd_describe(const std::vector<std::string>& args);
int cmd_validate(const std::vector<std::string>& args);
int cmd_step(const std::vector<std::string>& args);
int cmd_calibrate(const std::vector<std::string>& args);
int cmd_memory(const std::vector<std::string>& args);
int cmd_merge(const std::vector<std::string>& args);

}  // namespace headroom::cli
