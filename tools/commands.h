// The subcommands of `kiln`, each registered on the CLI11 app by its own file.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace kiln::cli {

// A subcommand's body: runs after parsing, returns the process exit code.
using Action = std::function<int()>;

// Adds `kiln info` to `app`; *action is set when the user picks it.
void add_info_command(CLI::App& app, Action* action);
// `kiln train` and `kiln eval` (tools/cli_train.cpp).
void add_train_command(CLI::App& app, Action* action);
void add_eval_command(CLI::App& app, Action* action);
// `kiln sample` (tools/cli_sample.cpp): text from a character-level language model.
void add_sample_command(CLI::App& app, Action* action);
// `kiln bench train` (tools/cli_bench.cpp).
void add_bench_command(CLI::App& app, Action* action);

}  // namespace kiln::cli
