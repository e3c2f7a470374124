// kiln_access_report: runs chosen op-table rows (tests/parity/op_table.h, the test sizes) on the
// emulator with access counting on (a -DKILN_EMU_ACCESS=ON build, kernels/emu/access_count.h) and
// prints, per row and kernel version, every kernel's global sectors and shared-memory wavefronts
// per request by source line, and the global bytes moved beside the op's minimum (OpCase::bytes).
// tools/kernel_report --access runs it and prints the figures beside registers and occupancy.
//
//   kiln_access_report [--filter REGEX] [--json FILE] [--list]
// REGEX (ECMAScript, searched) picks rows by "op__shape__version" (tests/parity/harness.h
// case_name); --list prints the names it would run.
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/stream.h"
#include "kernels/emu/access_count.h"
#include "tests/parity/harness.h"

namespace {

using namespace kiln;
using namespace kiln::optable;

struct Options {
  std::string filter = ".";
  std::string json;
  bool list = false;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--filter" || a == "--json") && i + 1 < argc) {
      (a == "--filter" ? o.filter : o.json) = argv[++i];
    } else if (a == "--list") {
      o.list = true;
    } else {
      throw Error(fmt::format("kiln_access_report: unknown argument '{}' (use --filter REGEX, --json "
                              "FILE, --list)", a));
    }
  }
  return o;
}

int run(const Options& o) {
  const std::regex pick(o.filter);
  const std::vector<OpCase> cases = all_cases(Sizes::Test);
  const Device dev = Device::cuda(0);
  const Stream stream = Stream::default_for(dev);
  std::string json = "[";
  int rows = 0;
  for (const OpCase& c : cases) {
    HostBuffers initial;
    bool filled = false;
    for (const Version& v : c.gpu) {
      const std::string name = case_name(c, v.name);
      if (!std::regex_search(name, pick)) continue;
      if (o.list) {
        fmt::print("{}\n", name);
        continue;
      }
      if (!filled) {
        initial = make_initial(c, 1);
        filled = true;
      }
      DeviceBuffers buffers(c, initial);
      stream.synchronize();
      emu::access::start();
      v.run(buffers.args, stream);
      stream.synchronize();
      const std::vector<emu::access::Kernel> kernels = emu::access::stop();
      uint64_t moved = 0;
      for (const auto& k : kernels) moved += 32 * (k.load_sectors + k.store_sectors);
      fmt::print("== {} ({} {}): global bytes moved {} vs the op's minimum {} ({:.2f}x)\n", name,
                 c.op, c.shape, moved, c.bytes, c.bytes ? double(moved) / double(c.bytes) : 0.0);
      fmt::print("{}\n", emu::access::format_table(kernels));
      json += fmt::format("{}\n{{\"name\": \"{}\", \"op\": \"{}\", \"shape\": \"{}\", \"version\": \"{}\", "
                          "\"min_bytes\": {}, \"kernels\": {}}}",
                          rows ? "," : "", name, c.op, c.shape, v.name, c.bytes,
                          emu::access::to_json(kernels));
      ++rows;
    }
  }
  json += "\n]\n";
  if (!o.json.empty()) std::ofstream(o.json) << json;
  if (!o.list && rows == 0) {
    fmt::print(stderr, "kiln_access_report: no op-table row matches '{}' (see --list)\n", o.filter);
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
