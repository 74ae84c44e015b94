#include "headroom/hw/hardware_spec.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <filesystem>

#include "headroom/core/error.hpp"
#include "headroom/core/yaml_reader.hpp"

#ifndef HEADROOM_DATA_DIR
#define HEADROOM_DATA_DIR "."
#endif

namespace headroom {
namespace {

ComputeSpec read_compute(const YamlReader& c) {
  ComputeSpec s;
  s.sm_count = static_cast<int>(c.positive_int("sm_count"));
  YamlReader clocks = c.at("clocks");
  s.clocks.base = clocks.positive<Hertz>("base");
  s.clocks.boost = clocks.positive<Hertz>("boost");
  if (s.clocks.boost < s.clocks.base) clocks.at("boost").fail("must not be lower than clocks.base");
  clocks.finish();
  YamlReader m = c.at("matrix_dense");
  for (const std::string& k : m.keys()) {
    auto d = parse_dtype(k);
    if (!d) m.at(k).fail("unknown dtype (expected bf16, fp16, fp8, int8, tf32, fp32, fp4, int4)");
    s.matrix_dense[*d] = m.positive<FlopRate>(k);
  }
  if (!s.matrix_dense.count(DType::BF16) && !s.matrix_dense.count(DType::FP16))
    m.fail("must give at least a bf16 or fp16 rate");
  m.finish();
  s.vector_fp32 = c.positive<FlopRate>("vector_fp32");
  s.shared_memory_per_sm = c.positive<Bytes>("shared_memory_per_sm");
  if (c.has("max_ctas_per_sm")) s.max_ctas_per_sm = static_cast<int>(c.positive_int("max_ctas_per_sm"));
  if (c.has("registers_per_sm")) s.registers_per_sm = static_cast<int>(c.positive_int("registers_per_sm"));
  c.finish();
  return s;
}

MemoryTier read_tier(const YamlReader& r) {
  MemoryTier t;
  t.capacity = r.positive<Bytes>("capacity");
  t.bandwidth = r.positive<Bandwidth>("bandwidth");
  t.clock = r.maybe_positive<Hertz>("clock");
  t.visible = r.maybe_positive<Bytes>("visible");
  r.finish();
  return t;
}

}  // namespace

std::optional<FlopRate> HardwareSpec::peak_rate(DType d) const {
  auto it = compute.matrix_dense.find(d);
  if (it != compute.matrix_dense.end()) return it->second;
  if (d == DType::FP32) return compute.vector_fp32;
  return std::nullopt;
}

HardwareSpec HardwareSpec::from_reader(const YamlReader& root, const std::string& file) {
  HardwareSpec h;
  h.file = file;
  h.key = file.empty() ? "" : std::filesystem::path(file).stem().string();
  h.name = root.string("name");
  h.vendor = root.string("vendor");
  h.source = root.string("source");
  h.compute = read_compute(root.at("compute"));

  YamlReader mem = root.at("memory");
  h.hbm = read_tier(mem.at("hbm"));
  YamlReader l2 = mem.at("l2");
  h.l2.capacity = l2.positive<Bytes>("capacity");
  h.l2.bandwidth = l2.maybe_positive<Bandwidth>("bandwidth");
  l2.finish();
  if (auto host = mem.maybe("host")) {
    HostMemorySpec hm;
    hm.capacity = host->positive<Bytes>("capacity");
    hm.bandwidth = host->positive<Bandwidth>("bandwidth");
    hm.link = host->string("link");
    host->finish();
    h.host_memory = hm;
  }
  mem.finish();
  if (h.l2.capacity >= h.hbm.capacity) mem.at("l2").fail("L2 capacity must be smaller than HBM capacity");

  YamlReader ic = root.at("interconnect");
  if (auto su = ic.maybe("scale_up")) {
    ScaleUpLink l;
    l.kind = su->string("kind");
    if (l.kind != "nvlink" && l.kind != "infinity_fabric")
      su->at("kind").fail(fmt::format("expected nvlink or infinity_fabric, got \"{}\"", l.kind));
    l.version = su->string("version");
    l.links = static_cast<int>(su->positive_int("links"));
    l.bandwidth_per_link = su->positive<Bandwidth>("bandwidth_per_link");
    if (su->has("domain")) l.domain = su->positive_int("domain");
    su->finish();
    h.scale_up = l;
  }
  if (auto so = ic.maybe("scale_out")) {
    ScaleOutLink l;
    l.kind = so->string("kind");
    if (l.kind != "infiniband" && l.kind != "ethernet")
      so->at("kind").fail(fmt::format("expected infiniband or ethernet, got \"{}\"", l.kind));
    l.bandwidth = so->positive<Bandwidth>("bandwidth");
    if (so->has("efficiency")) {
      l.efficiency = so->positive_number("efficiency");
      if (l.efficiency > 1.0) so->at("efficiency").fail(fmt::format("must lie in (0, 1], got {}", l.efficiency));
    }
    l.latency = so->positive<Seconds>("latency");
    l.latency_ll = so->maybe_positive<Seconds>("latency_ll").value_or(l.latency);
    so->finish();
    if (!h.scale_up || h.scale_up->domain == 0)
      so->fail("needs interconnect.scale_up.domain (the GPUs one node's fabric connects) to know where the network starts");
    h.scale_out = l;
  }
  YamlReader pcie = ic.at("pcie");
  h.pcie.generation = static_cast<int>(pcie.positive_int("generation"));
  h.pcie.bandwidth = pcie.positive<Bandwidth>("bandwidth");
  pcie.finish();
  ic.finish();

  YamlReader pw = root.at("power");
  h.power.tdp = pw.positive<Watts>("tdp");
  h.power.idle = pw.positive<Watts>("idle");
  h.power.cap_min = pw.positive<Watts>("cap_min");
  h.power.cap_max = pw.positive<Watts>("cap_max");
  if (h.power.cap_min > h.power.cap_max) pw.at("cap_min").fail("must not exceed power.cap_max");
  if (h.power.idle >= h.power.tdp) pw.at("idle").fail("must be below power.tdp");
  pw.finish();

  if (auto pim = root.maybe("pim")) {
    PimSpec p;
    p.internal_bandwidth = pim->positive<Bandwidth>("internal_bandwidth");
    p.compute_rate = pim->positive<FlopRate>("compute_rate");
    p.capacity = pim->positive<Bytes>("capacity");
    pim->finish();
    h.pim = p;
  }
  if (auto km = root.maybe("kernel_model")) h.kernel_model = read_kernel_params(*km);
  root.finish();
  return h;
}

HardwareSpec HardwareSpec::from_yaml_file(const std::string& path) {
  return from_reader(YamlReader::load_file(path), path);
}

HardwareSpec HardwareSpec::from_yaml_file(const std::string& path, const std::vector<std::string>& overrides) {
  if (overrides.empty()) return from_yaml_file(path);
  YamlReader r = YamlReader::load_file(path);
  YAML::Node root = r.node();  // shares the reader's tree: the edits below are what it reads
  for (const auto& o : overrides) {
    const auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == o.size())
      throw UsageError(fmt::format("--set \"{}\": expected section.key=value (e.g. kernel_model.host_issue_torch=\"20 us\")", o));
    const std::string key = o.substr(0, eq), value = o.substr(eq + 1);
    std::vector<std::string> parts;
    for (size_t b = 0;;) {
      const size_t d = key.find('.', b);
      parts.push_back(key.substr(b, d == std::string::npos ? std::string::npos : d - b));
      if (parts.back().empty()) throw UsageError(fmt::format("--set \"{}\": empty name in the key \"{}\"", o, key));
      if (d == std::string::npos) break;
      b = d + 1;
    }
    YAML::Node cur = root;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      YAML::Node next = cur[parts[i]];
      if (!next.IsDefined()) {
        cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
        next.reset(cur[parts[i]]);
      } else if (!next.IsMap()) {
        throw InputError(fmt::format("{}: --set {}: {} is a value, not a section", path, o,
                                     fmt::join(parts.begin(), parts.begin() + static_cast<long>(i) + 1, ".")));
      }
      cur.reset(next);
    }
    const YAML::Node leaf = cur[parts.back()];
    if (leaf.IsDefined() && !leaf.IsScalar())
      throw InputError(fmt::format("{}: --set {}: {} is a section or a list, not a value", path, o, key));
    cur[parts.back()] = value;
  }
  try {
    return from_reader(r, path);
  } catch (const InputError& e) {
    throw InputError(fmt::format("{} (with --set {})", e.what(), fmt::join(overrides, " --set ")));
  }
}

HardwareSpec HardwareSpec::from_yaml_string(const std::string& text, const std::string& origin) {
  return from_reader(YamlReader::load_string(text, origin), "");
}

std::string data_dir() {
  if (const char* env = std::getenv("HEADROOM_DATA"); env && *env) return env;
  return HEADROOM_DATA_DIR;
}

std::string resolve_hw_path(const std::string& name, const std::string& dir) {
  namespace fs = std::filesystem;
  if (fs::exists(name)) return name;
  const std::string base = dir.empty() ? data_dir() + "/hw_configs" : dir;
  fs::path p = fs::path(base) / (name + ".yaml");
  if (fs::exists(p)) return p.string();
  throw InputError(fmt::format("hardware \"{}\" not found (looked for {} and {})", name, name, p.string()));
}

}  // namespace headroom
