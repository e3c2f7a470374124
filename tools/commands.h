// The subcommands of `kiln`, each registered on the CLI11 app by its own file.
#pragma once

#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>

namespace kiln::cli {

// A subcommand's body: runs after parsing, returns the process exit code.
using Action = std::function<int()>;

// The largest value of the integer flags that kiln narrows to an int (--batch, --epochs, ...).
inline constexpr int64_t kMaxIntFlag = std::numeric_limits<int32_t>::max();

// A flag that takes an integer in [min, max], checked in 64-bit arithmetic before conversion:
// "--batch: must be an integer from 1 to 2147483647, got 'abc'".
inline CLI::Validator integer_in(int64_t min, int64_t max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        int64_t v = 0;
        const char* end = text.data() + text.size();
        const auto [at, ec] = std::from_chars(text.data(), end, v);
        if (ec != std::errc() || at != end || v < min || v > max) {
          return fmt::format("must be an integer from {} to {}, got '{}'", min, max, text);
        }
        return "";
      },
      fmt::format("INT in [{}, {}]", min, max));
}

// A flag that takes a finite number in [min, max]; NaN and infinities are refused.
inline CLI::Validator number_in(double min, double max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        double v = 0;
        size_t used = 0;
        try {
          v = std::stod(text, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (text.empty() || used != text.size() || !std::isfinite(v) || v < min || v > max) {
          return fmt::format("must be a number from {:g} to {:g}, got '{}'", min, max, text);
        }
        return "";
      },
      fmt::format("NUMBER in [{:g}, {:g}]", min, max));
}

// Adds `kiln info` to `app`; *action is set when the user picks it.
void add_info_command(CLI::App& app, Action* action);
// `kiln train` and `kiln eval` (tools/cli_train.cpp).
void add_train_command(CLI::App& app, Action* action);
void add_eval_command(CLI::App& app, Action* action);
// `kiln sample` (tools/cli_sample.cpp): text from a character-level language model.
void add_sample_command(CLI::App& app, Action* action);
// `kiln translate` (tools/cli_translate.cpp): decoding with a sequence-to-sequence model.
void add_translate_command(CLI::App& app, Action* action);
// `kiln bench train` (tools/cli_bench.cpp).
void add_bench_command(CLI::App& app, Action* action);

}  // namespace kiln::cli
