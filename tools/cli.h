// What the qsr commands share. Each tools/cmd_NAME.cpp registers its subcommand, with its
// options, through add_NAME (main calls them in the order `qsr --help` lists them) and runs it
// through the Command it returns; main runs the one given.
#pragma once
#include <chrono>
#include <functional>
#include <string>

#include "engine/stats.h"
#include "engine/ops.h"

namespace CLI {
class App;
}

namespace qsr::cli {

// What main reads once, before any command runs, and hands to the one that runs.
struct Env {
  ConvAlgo conv = ConvAlgo::automatic;  // QSR_CONV: every command passes it to what it runs
  std::string command_line;             // the arguments, space-separated (recorded by train)
};

struct Command {
  CLI::App* sub = nullptr;              // the subcommand; true after parsing when it was given
  std::function<int(const Env&)> run;   // its exit status
};

Command add_info(CLI::App& app);
Command add_demo(CLI::App& app);
Command add_train(CLI::App& app);
Command add_eval(CLI::App& app);
Command add_upscale(CLI::App& app);
Command add_bench(CLI::App& app);
Command add_verify(CLI::App& app);
Command add_quantize(CLI::App& app);
Command add_export(CLI::App& app);
Command add_study(CLI::App& app);

// Help of the options several commands take.
extern const char* const kModelHelp;     // eval and upscale --model
extern const char* const kSimulateHelp;  // eval, upscale and bench --simulate

// The model file to run: `given`, else $QSR_MODEL, else the shipped x3 model (its path is
// reported on stderr); qsr::Error when scale is neither 0 (any) nor 3, or nothing is found.
std::string resolve_model(const std::string& given, int scale);

using Clock = std::chrono::steady_clock;
using qsr::seconds_since;  // engine/stats.h

}  // namespace qsr::cli
