// qsr: the command-line program. Thin: the global options, then each command (tools/cmd_*.cpp,
// tools/cli.h) registers its subcommand and runs it.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <exception>
#include <string>
#include <vector>

#include "engine/cpu.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "tools/cli.h"

#ifndef QSR_VERSION
#define QSR_VERSION "0.0.0"
#endif

using namespace qsr;

int main(int argc, char** argv) {
  CLI::App app{"qsr: train, quantise and run ESPCN super-resolution networks at any word length"};
  app.set_version_flag("--version", [] { return std::string("qsr ") + QSR_VERSION + "\n" + cpu_report(); });
  int threads = 0;
  app.add_option("--threads,-t", threads, "threads to use (default: all cores)")->check(CLI::PositiveNumber);
  app.require_subcommand(1);
  app.fallthrough();  // --threads may also follow the subcommand
  const std::vector<cli::Command> commands = {cli::add_info(app),    cli::add_demo(app),     cli::add_train(app),
                                              cli::add_eval(app),    cli::add_upscale(app),  cli::add_bench(app),
                                              cli::add_verify(app),  cli::add_quantize(app), cli::add_export(app),
                                              cli::add_study(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (threads > 0) set_num_threads(threads);
    active_isa();  // resolve QSR_ISA now so a bad value is reported up front
    cli::Env env;
    env.conv = conv_algo_from_env();  // likewise QSR_CONV, read once here and passed to the command
    for (int i = 0; i < argc; ++i) env.command_line += (i ? " " : "") + std::string(argv[i]);
    for (const cli::Command& c : commands)
      if (*c.sub) return c.run(env);
  } catch (const std::exception& e) {
    fmt::print(stderr, "qsr: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
