#include "engine/stats.h"

#include <unistd.h>

#include "base/fs.h"
#include "base/strings.h"

namespace berth::engine {

namespace {

std::vector<std::string> fields(std::string_view line) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) out.emplace_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace

HostCpu parse_proc_stat(std::string_view text, long clock_ticks_per_second) {
  HostCpu out;
  if (clock_ticks_per_second <= 0) clock_ticks_per_second = 100;
  for (const auto& line : split(text, '\n')) {
    auto f = fields(line);
    if (f.empty() || f[0].rfind("cpu", 0) != 0) continue;
    if (f[0] == "cpu") {
      // user nice system idle iowait irq softirq: what dockerd sums.
      unsigned long long ticks = 0;
      for (size_t i = 1; i < f.size() && i <= 7; ++i) {
        unsigned long long v = 0;
        if (parse_uint64(f[i], &v)) ticks += v;
      }
      out.system_ns = ticks * (1000000000ULL / static_cast<unsigned long long>(clock_ticks_per_second));
    } else if (f[0].size() > 3 && isdigit(static_cast<unsigned char>(f[0][3]))) {
      ++out.online;
    }
  }
  return out;
}

uint64_t parse_mem_total(std::string_view meminfo) {
  for (const auto& line : split(meminfo, '\n')) {
    auto f = fields(line);
    unsigned long long kb = 0;
    if (f.size() >= 2 && f[0] == "MemTotal:" && parse_uint64(f[1], &kb)) return kb * 1024;
  }
  return 0;
}

nlohmann::json parse_net_dev(std::string_view text) {
  // Two header lines, then "  eth0: rx_bytes rx_packets rx_errs rx_drop fifo frame compressed multicast
  // tx_bytes tx_packets tx_errs tx_drop ...".
  static constexpr std::pair<int, const char*> kColumns[] = {
      {0, "rx_bytes"}, {1, "rx_packets"}, {2, "rx_errors"}, {3, "rx_dropped"},
      {8, "tx_bytes"}, {9, "tx_packets"}, {10, "tx_errors"}, {11, "tx_dropped"}};
  nlohmann::json out = nullptr;
  for (const auto& line : split(text, '\n')) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name(trim(line.substr(0, colon)));
    if (name.empty() || name == "lo") continue;
    auto f = fields(std::string_view(line).substr(colon + 1));
    if (f.size() < 16) continue;
    nlohmann::json iface = nlohmann::json::object();
    for (const auto& [col, key] : kColumns) {
      unsigned long long v = 0;
      parse_uint64(f[col], &v);
      iface[key] = v;
    }
    out[name] = std::move(iface);
  }
  return out;
}

HostCpu read_host_cpu() {
  std::string text;
  if (!read_file_if_exists("/proc/stat", &text)) return {};
  return parse_proc_stat(text, ::sysconf(_SC_CLK_TCK));
}

uint64_t read_host_memory() {
  std::string text;
  return read_file_if_exists("/proc/meminfo", &text) ? parse_mem_total(text) : 0;
}

}  // namespace berth::engine
