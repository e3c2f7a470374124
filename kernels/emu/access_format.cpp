// Access counting's figures as a table for people and as JSON for tools/kernel_report.
#include <fmt/format.h>

#include "kernels/emu/access_count.h"

namespace kiln::emu::access {
namespace {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
      continue;
    }
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string format_table(const std::vector<Kernel>& kernels) {
  std::string out;
  for (const Kernel& k : kernels) {
    out += fmt::format("{}: {} launch(es), global sectors {} load + {} store ({} bytes), {} distinct bytes\n",
                       k.name, k.launches, k.load_sectors, k.store_sectors,
                       32 * (k.load_sectors + k.store_sectors), k.unique_bytes);
    out += fmt::format("  {:<40} {:<6} {:<5} {:>5} {:>9} {:>6} {:>16}\n", "site", "space", "kind",
                       "bytes", "requests", "lanes", "per request");
    for (const Site& s : k.sites) {
      out += fmt::format("  {:<40} {:<6} {:<5} {:>5} {:>9} {:>6.1f} {:>7.2f} {:<10}\n", s.location,
                         s.shared ? "shared" : "global", s.store ? "store" : "load", s.bytes,
                         s.requests, s.requests ? double(s.lanes) / double(s.requests) : 0.0,
                         s.per_request(),
                         fmt::format("{} (ideal {:.2f})", s.shared ? "wavefr." : "sectors",
                                     s.ideal_per_request()));
    }
  }
  return out;
}

std::string to_json(const std::vector<Kernel>& kernels) {
  std::string out = "[";
  for (size_t i = 0; i < kernels.size(); ++i) {
    const Kernel& k = kernels[i];
    out += fmt::format("{}\n {{\"kernel\": {}, \"launches\": {}, \"load_sectors\": {}, "
                       "\"store_sectors\": {}, \"unique_bytes\": {}, \"sites\": [",
                       i ? "," : "", json_string(k.name), k.launches, k.load_sectors,
                       k.store_sectors, k.unique_bytes);
    for (size_t j = 0; j < k.sites.size(); ++j) {
      const Site& s = k.sites[j];
      out += fmt::format("{}\n  {{\"site\": {}, \"space\": \"{}\", \"kind\": \"{}\", \"bytes\": {}, "
                         "\"requests\": {}, \"lanes\": {}, \"units\": {}, \"ideal_units\": {}}}",
                         j ? "," : "", json_string(s.location), s.shared ? "shared" : "global",
                         s.store ? "store" : "load", s.bytes, s.requests, s.lanes, s.units,
                         s.ideal_units);
    }
    out += "]}";
  }
  return out + "\n]\n";
}

}  // namespace kiln::emu::access
