// HardwareSpec: the shipped hw_configs load and read back in SI units; every validation error
// carries "file:line:col: key.path:" pointing at the offending line of a small YAML text.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "headroom/core/error.hpp"
#include "headroom/hw/hardware_spec.hpp"

namespace headroom {
namespace {

namespace fs = std::filesystem;

const std::string kHwDir = std::string(HEADROOM_SOURCE_DIR) + "/hw_configs";

HardwareSpec load(const std::string& stem) { return HardwareSpec::from_yaml_file(kHwDir + "/" + stem + ".yaml"); }

double rate(const HardwareSpec& h, DType d) {
  auto r = h.peak_rate(d);
  EXPECT_TRUE(r.has_value()) << h.key << " has no " << to_string(d) << " rate";
  return r ? r->value() : 0.0;
}

// ---------------------------------------------------------------------------------------------
// Shipped files

TEST(HardwareFiles, EveryShippedFileLoadsAndIsConsistent) {
  std::set<std::string> stems;
  for (const auto& entry : fs::directory_iterator(kHwDir)) {
    if (entry.path().extension() != ".yaml") continue;
    const std::string path = entry.path().string();
    SCOPED_TRACE(path);
    HardwareSpec h;
    ASSERT_NO_THROW(h = HardwareSpec::from_yaml_file(path));
    stems.insert(h.key);
    EXPECT_EQ(h.key, entry.path().stem().string());
    EXPECT_EQ(h.file, path);
    EXPECT_FALSE(h.name.empty());
    EXPECT_FALSE(h.source.empty());
    EXPECT_TRUE(h.vendor == "nvidia" || h.vendor == "amd") << h.vendor;
    EXPECT_GT(h.compute.sm_count, 0);
    EXPECT_LE(h.compute.clocks.base, h.compute.clocks.boost);
    // A matrix unit is always faster than the vector unit, and 8-bit at least as fast as 16-bit.
    EXPECT_GT(rate(h, DType::BF16), h.compute.vector_fp32.value());
    if (auto fp8 = h.peak_rate(DType::FP8)) {
      EXPECT_GE(fp8->value(), rate(h, DType::BF16));
    }
    if (auto fp4 = h.peak_rate(DType::FP4)) {
      EXPECT_GE(fp4->value(), rate(h, DType::FP8));
    }
    EXPECT_LT(h.l2.capacity, h.hbm.capacity);
    // Sanity ranges in SI units, to catch a prefix slip (GB vs MB, TB/s vs GB/s).
    EXPECT_GT(h.hbm.capacity.value(), 16e9);
    EXPECT_LT(h.hbm.capacity.value(), 1e12);
    EXPECT_GT(h.hbm.bandwidth.value(), 500e9);
    EXPECT_LT(h.hbm.bandwidth.value(), 20e12);
    EXPECT_GT(h.compute.clocks.boost.value(), 1e9);
    EXPECT_LT(h.compute.clocks.boost.value(), 3e9);
    EXPECT_GT(h.power.tdp.value(), 100.0);
    EXPECT_LE(h.power.cap_max, h.power.tdp * 1.5);
    EXPECT_GE(h.pcie.generation, 4);
  }
  for (const char* want : {"h200-sxm", "h100-sxm", "a100-sxm-80gb", "b200", "gh200", "l40s", "mi300x"}) {
    EXPECT_TRUE(stems.count(want)) << "hw_configs/" << want << ".yaml is missing";
  }
}

TEST(HardwareFiles, H200ValuesInSI) {
  const HardwareSpec h = load("h200-sxm");
  EXPECT_EQ(h.name, "NVIDIA H200 SXM");
  EXPECT_EQ(h.vendor, "nvidia");
  EXPECT_EQ(h.key, "h200-sxm");
  EXPECT_EQ(h.compute.sm_count, 132);
  EXPECT_DOUBLE_EQ(h.compute.clocks.base.value(), 1590e6);
  EXPECT_DOUBLE_EQ(h.compute.clocks.boost.value(), 1980e6);
  EXPECT_DOUBLE_EQ(h.hbm.bandwidth.value(), 4.8e12);
  EXPECT_DOUBLE_EQ(h.hbm.capacity.value(), 141e9);
  ASSERT_TRUE(h.hbm.clock.has_value());
  EXPECT_DOUBLE_EQ(h.hbm.clock->value(), 3201e6);
  EXPECT_DOUBLE_EQ(h.l2.capacity.value(), 60.0 * (1 << 20));
  EXPECT_FALSE(h.l2.bandwidth.has_value());
  EXPECT_DOUBLE_EQ(h.compute.matrix_dense.at(DType::BF16).value(), 989.5e12);
  EXPECT_DOUBLE_EQ(h.compute.matrix_dense.at(DType::FP8).value(), 1979e12);
  EXPECT_DOUBLE_EQ(h.compute.matrix_dense.at(DType::INT8).value(), 1979e12);
  EXPECT_DOUBLE_EQ(h.compute.vector_fp32.value(), 66.9e12);
  EXPECT_DOUBLE_EQ(h.compute.shared_memory_per_sm.value(), 228.0 * 1024);
  EXPECT_EQ(h.compute.max_ctas_per_sm, 32);
  EXPECT_EQ(h.compute.registers_per_sm, 65536);
  ASSERT_TRUE(h.scale_up.has_value());
  EXPECT_EQ(h.scale_up->kind, "nvlink");
  EXPECT_EQ(h.scale_up->version, "4");
  EXPECT_EQ(h.scale_up->links, 18);
  EXPECT_DOUBLE_EQ(h.scale_up->bandwidth_per_link.value(), 25e9);
  EXPECT_DOUBLE_EQ(h.scale_up->total_per_direction().value(), 450e9);
  EXPECT_EQ(h.pcie.generation, 5);
  EXPECT_DOUBLE_EQ(h.pcie.bandwidth.value(), 64e9);
  EXPECT_DOUBLE_EQ(h.power.tdp.value(), 700.0);
  EXPECT_DOUBLE_EQ(h.power.idle.value(), 75.0);
  EXPECT_DOUBLE_EQ(h.power.cap_min.value(), 200.0);
  EXPECT_DOUBLE_EQ(h.power.cap_max.value(), 700.0);
  EXPECT_FALSE(h.host_memory.has_value());
  EXPECT_FALSE(h.pim.has_value());
}

TEST(HardwareFiles, PeakRateFallbacks) {
  const HardwareSpec h200 = load("h200-sxm");
  // No fp32 matrix entry: the vector unit's rate.
  ASSERT_TRUE(h200.peak_rate(DType::FP32).has_value());
  EXPECT_DOUBLE_EQ(h200.peak_rate(DType::FP32)->value(), h200.compute.vector_fp32.value());
  EXPECT_DOUBLE_EQ(rate(h200, DType::TF32), 494.7e12);
  EXPECT_FALSE(h200.peak_rate(DType::FP4).has_value());
  EXPECT_FALSE(h200.peak_rate(DType::INT4).has_value());

  const HardwareSpec a100 = load("a100-sxm-80gb");
  EXPECT_FALSE(a100.peak_rate(DType::FP8).has_value());
  EXPECT_FALSE(a100.peak_rate(DType::FP4).has_value());
  EXPECT_DOUBLE_EQ(rate(a100, DType::BF16), 312e12);
  EXPECT_DOUBLE_EQ(rate(a100, DType::FP32), 19.5e12);

  const HardwareSpec b200 = load("b200");
  EXPECT_DOUBLE_EQ(rate(b200, DType::FP4), 9e15);
  EXPECT_DOUBLE_EQ(rate(b200, DType::FP8), 4.5e15);
  EXPECT_DOUBLE_EQ(rate(b200, DType::BF16), 2.25e15);

  // An explicit fp32 matrix rate (MI300X has one) wins over the vector rate.
  const HardwareSpec mi = load("mi300x");
  ASSERT_TRUE(mi.compute.matrix_dense.count(DType::FP32));
  EXPECT_DOUBLE_EQ(rate(mi, DType::FP32), mi.compute.matrix_dense.at(DType::FP32).value());
}

TEST(HardwareFiles, PartSpecificTiers) {
  // Only B200 has fp4.
  for (const char* stem : {"h100-sxm", "a100-sxm-80gb", "gh200", "l40s", "mi300x"}) {
    EXPECT_FALSE(load(stem).peak_rate(DType::FP4).has_value()) << stem;
  }
  const HardwareSpec gh = load("gh200");
  ASSERT_TRUE(gh.host_memory.has_value());
  EXPECT_EQ(gh.host_memory->link, "nvlink-c2c");
  EXPECT_DOUBLE_EQ(gh.host_memory->bandwidth.value(), 450e9);
  EXPECT_GT(gh.host_memory->capacity, gh.hbm.capacity);

  const HardwareSpec l40s = load("l40s");
  EXPECT_FALSE(l40s.scale_up.has_value());
  EXPECT_DOUBLE_EQ(l40s.hbm.bandwidth.value(), 864e9);
  EXPECT_DOUBLE_EQ(l40s.hbm.capacity.value(), 48e9);

  const HardwareSpec mi = load("mi300x");
  EXPECT_EQ(mi.vendor, "amd");
  EXPECT_EQ(mi.compute.sm_count, 304);
  ASSERT_TRUE(mi.scale_up.has_value());
  EXPECT_EQ(mi.scale_up->kind, "infinity_fabric");
  EXPECT_DOUBLE_EQ(mi.hbm.capacity.value(), 192e9);
  EXPECT_DOUBLE_EQ(mi.hbm.bandwidth.value(), 5.3e12);

  const HardwareSpec h100 = load("h100-sxm");
  EXPECT_DOUBLE_EQ(h100.hbm.bandwidth.value(), 3.35e12);
  EXPECT_DOUBLE_EQ(h100.hbm.capacity.value(), 80e9);
  EXPECT_EQ(h100.compute.sm_count, 132);
}

TEST(HardwareFiles, ResolveByName) {
  EXPECT_EQ(resolve_hw_path("h200-sxm", kHwDir), kHwDir + "/h200-sxm.yaml");
  EXPECT_EQ(resolve_hw_path(kHwDir + "/b200.yaml"), kHwDir + "/b200.yaml");
  EXPECT_THROW(resolve_hw_path("no-such-gpu", kHwDir), InputError);
}

TEST(HardwareFiles, MissingFile) {
  try {
    (void)HardwareSpec::from_yaml_file(kHwDir + "/no-such-gpu.yaml");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-gpu.yaml: cannot open file"), std::string::npos) << e.what();
  }
}

TEST(HardwareFiles, WhatIfOverridesAreValidatedLikeTheFile) {
  const std::string f = kHwDir + "/h200-sxm.yaml";
  const HardwareSpec base = HardwareSpec::from_yaml_file(f);
  const HardwareSpec h = HardwareSpec::from_yaml_file(
      f, {"memory.hbm.bandwidth=6 TB/s", "kernel_model.host_issue_torch=20 us", "compute.sm_count=100"});
  EXPECT_DOUBLE_EQ(h.hbm.bandwidth.value(), 6e12);
  ASSERT_TRUE(h.kernel_model.has_value());
  EXPECT_DOUBLE_EQ(h.kernel_model->host_issue_torch, 20e-6);
  EXPECT_EQ(h.compute.sm_count, 100);
  // Everything not named is the file's.
  EXPECT_DOUBLE_EQ(h.hbm.capacity.value(), base.hbm.capacity.value());
  EXPECT_DOUBLE_EQ(h.kernel_model->kernel_overhead, base.kernel_model->kernel_overhead);
  // No override: the file as it is.
  EXPECT_DOUBLE_EQ(HardwareSpec::from_yaml_file(f, {}).hbm.bandwidth.value(), base.hbm.bandwidth.value());

  auto message = [&](const std::vector<std::string>& o) {
    try {
      (void)HardwareSpec::from_yaml_file(f, o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  auto has = [](const std::string& m, const std::string& part) { return m.find(part) != std::string::npos; };
  // A typo is an unknown key, named with the override that made it.
  std::string m = message({"memory.hbm.bandwith=6 TB/s"});
  EXPECT_TRUE(has(m, "memory.hbm.bandwith: unknown key") && has(m, "--set memory.hbm.bandwith=6 TB/s")) << m;
  // A value without its unit, or out of range, fails as in a file.
  m = message({"memory.hbm.bandwidth=6"});
  EXPECT_TRUE(has(m, "memory.hbm.bandwidth") && has(m, "unit is missing")) << m;
  m = message({"memory.hbm.bandwidth=-1 TB/s"});
  EXPECT_TRUE(has(m, "must be positive")) << m;
  // A section is not replaced by a value, nor a value used as a section.
  m = message({"memory.hbm=3"});
  EXPECT_TRUE(has(m, "memory.hbm is a section")) << m;
  m = message({"memory.hbm.bandwidth.x=3"});
  EXPECT_TRUE(has(m, "memory.hbm.bandwidth is a value")) << m;
  // Malformed overrides are usage errors.
  for (const char* bad : {"memory.hbm.bandwidth", "=6 TB/s", "memory..bandwidth=6 TB/s", "memory.hbm.bandwidth="})
    EXPECT_THROW((void)HardwareSpec::from_yaml_file(f, {bad}), UsageError) << bad;
}

// ---------------------------------------------------------------------------------------------
// Validation errors, on a small valid file edited one line at a time. Line numbers are 1-based.

const char* const kValid[] = {
    "name: Test GPU",                         // 1
    "vendor: nvidia",                         // 2
    "source: unit test",                      // 3
    "compute:",                               // 4
    "  sm_count: 132",                        // 5
    "  clocks:",                              // 6
    "    base: \"1590 MHz\"",                 // 7
    "    boost: \"1980 MHz\"",                // 8
    "  matrix_dense:",                        // 9
    "    bf16: \"989.5 TFLOP/s\"",            // 10
    "    fp8: \"1979 TFLOP/s\"",              // 11
    "  vector_fp32: \"66.9 TFLOP/s\"",        // 12
    "  shared_memory_per_sm: \"228 KiB\"",    // 13
    "memory:",                                // 14
    "  hbm:",                                 // 15
    "    capacity: \"141 GB\"",               // 16
    "    bandwidth: \"4.8 TB/s\"",            // 17
    "  l2:",                                  // 18
    "    capacity: \"60 MiB\"",               // 19
    "interconnect:",                          // 20
    "  scale_up:",                            // 21
    "    kind: nvlink",                       // 22
    "    version: \"4\"",                     // 23
    "    links: 18",                          // 24
    "    bandwidth_per_link: \"25 GB/s\"",    // 25
    "  pcie:",                                // 26
    "    generation: 5",                      // 27
    "    bandwidth: \"64 GB/s\"",             // 28
    "power:",                                 // 29
    "  tdp: \"700 W\"",                       // 30
    "  idle: \"75 W\"",                       // 31
    "  cap_min: \"200 W\"",                   // 32
    "  cap_max: \"700 W\"",                   // 33
};

struct Edit {
  enum Kind { Replace, InsertAfter, Erase } kind;
  int line;
  std::string text;
};

std::string build(const std::vector<Edit>& edits = {}) {
  std::vector<std::string> lines(std::begin(kValid), std::end(kValid));
  std::vector<std::string> out;
  for (int i = 1; i <= static_cast<int>(lines.size()); ++i) {
    bool erased = false;
    for (const Edit& e : edits) {
      if (e.line != i) continue;
      if (e.kind == Edit::Replace) lines[i - 1] = e.text;
      if (e.kind == Edit::Erase) erased = true;
    }
    if (!erased) out.push_back(lines[i - 1]);
    for (const Edit& e : edits)
      if (e.line == i && e.kind == Edit::InsertAfter) out.push_back(e.text);
  }
  std::ostringstream s;
  for (const auto& l : out) s << l << "\n";
  return s.str();
}

Edit replace(int line, std::string text) { return {Edit::Replace, line, std::move(text)}; }
Edit insert_after(int line, std::string text) { return {Edit::InsertAfter, line, std::move(text)}; }
Edit erase(int line) { return {Edit::Erase, line, ""}; }

// The full message of the InputError that loading `text` throws.
std::string error_of(const std::string& text) {
  try {
    (void)HardwareSpec::from_yaml_string(text, "x.yaml");
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "loaded without error:\n" << text;
  return "";
}

// The message must begin with `prefix` (file:line:col: key.path: ...).
#define EXPECT_ERROR_STARTS(text, prefix)                                           \
  do {                                                                              \
    const std::string m_ = error_of(text);                                          \
    EXPECT_EQ(m_.substr(0, std::string(prefix).size()), std::string(prefix)) << m_; \
  } while (0)

TEST(HardwareValidation, TheBaseTextIsValid) {
  const HardwareSpec h = HardwareSpec::from_yaml_string(build(), "x.yaml");
  EXPECT_EQ(h.name, "Test GPU");
  EXPECT_EQ(h.file, "");
  EXPECT_EQ(h.key, "");
  EXPECT_DOUBLE_EQ(h.hbm.bandwidth.value(), 4.8e12);
  EXPECT_FALSE(h.compute.max_ctas_per_sm.has_value());
  EXPECT_FALSE(h.hbm.clock.has_value());
}

TEST(HardwareValidation, UnknownKeyAtItsOwnLine) {
  EXPECT_ERROR_STARTS(build({insert_after(17, "    colour: red")}), "x.yaml:18:5: memory.hbm.colour: unknown key");
  EXPECT_ERROR_STARTS(build({insert_after(13, "  tensor_cores: 528")}),
                      "x.yaml:14:3: compute.tensor_cores: unknown key");
  EXPECT_ERROR_STARTS(build({insert_after(33, "extra: 1")}), "x.yaml:34:1: extra: unknown key");
  EXPECT_ERROR_STARTS(build({insert_after(8, "    memory: \"1593 MHz\"")}),
                      "x.yaml:9:5: compute.clocks.memory: unknown key");
  EXPECT_ERROR_STARTS(build({insert_after(33, "  peak: \"900 W\"")}), "x.yaml:34:3: power.peak: unknown key");
  // A misspelt required key reports the missing key first (it is read before unknowns are checked).
  EXPECT_ERROR_STARTS(build({replace(17, "    bandwith: \"4.8 TB/s\"")}),
                      "x.yaml:16:5: memory.hbm.bandwidth: required key is missing");
}

TEST(HardwareValidation, DuplicateKey) {
  // yaml-cpp would keep the first and drop the second silently.
  EXPECT_ERROR_STARTS(build({insert_after(17, "    bandwidth: \"5 TB/s\"")}),
                      "x.yaml:18:5: memory.hbm.bandwidth: duplicate key");
  EXPECT_ERROR_STARTS(build({insert_after(11, "    bf16: \"1 TFLOP/s\"")}),
                      "x.yaml:12:5: compute.matrix_dense.bf16: duplicate key");
}

TEST(HardwareValidation, MissingRequiredKey) {
  // The position is that of the map the key belongs in.
  EXPECT_ERROR_STARTS(build({erase(17)}), "x.yaml:16:5: memory.hbm.bandwidth: required key is missing");
  EXPECT_ERROR_STARTS(build({erase(1)}), "x.yaml:1:1: name: required key is missing");
  EXPECT_ERROR_STARTS(build({erase(5)}), "x.yaml:5:3: compute.sm_count: required key is missing");
  EXPECT_ERROR_STARTS(build({erase(29), erase(30), erase(31), erase(32), erase(33)}),
                      "x.yaml:1:1: power: required key is missing");
  EXPECT_ERROR_STARTS(build({erase(26), erase(27), erase(28)}),
                      "x.yaml:21:3: interconnect.pcie: required key is missing");
  EXPECT_ERROR_STARTS(build({replace(17, "    bandwidth:")}), "x.yaml:17:5: memory.hbm.bandwidth: has no value");
}

TEST(HardwareValidation, BareNumberWithoutUnit) {
  const std::string m = error_of(build({replace(17, "    bandwidth: 4.8")}));
  EXPECT_EQ(m.rfind("x.yaml:17:16: memory.hbm.bandwidth: expected a bandwidth like \"4.8 TB/s\", got \"4.8\"", 0), 0u)
      << m;
  EXPECT_ERROR_STARTS(build({replace(30, "  tdp: 700")}), "x.yaml:30:8: power.tdp: expected a power like \"700 W\", got \"700\"");
  EXPECT_ERROR_STARTS(build({replace(8, "    boost: 1980")}),
                      "x.yaml:8:12: compute.clocks.boost: expected a frequency like \"1980 MHz\", got \"1980\"");
}

TEST(HardwareValidation, WrongUnitDimension) {
  const std::string m = error_of(build({replace(17, "    bandwidth: \"700 W\"")}));
  EXPECT_EQ(m.rfind("x.yaml:17:16: memory.hbm.bandwidth: expected a bandwidth like \"4.8 TB/s\", got \"700 W\"", 0), 0u)
      << m;
  EXPECT_NE(m.find("is a power, not a bandwidth"), std::string::npos) << m;
  const std::string m2 = error_of(build({replace(16, "    capacity: \"4.8 TB/s\"")}));
  EXPECT_EQ(m2.rfind("x.yaml:16:15: memory.hbm.capacity: ", 0), 0u) << m2;
  EXPECT_NE(m2.find("is a bandwidth, not a size"), std::string::npos) << m2;
  EXPECT_ERROR_STARTS(build({replace(10, "    bf16: \"989.5 TB/s\"")}),
                      "x.yaml:10:11: compute.matrix_dense.bf16: expected a compute rate");
  EXPECT_ERROR_STARTS(build({replace(7, "    base: \"5 GiHz\"")}),
                      "x.yaml:7:11: compute.clocks.base: expected a frequency like");
}

TEST(HardwareValidation, ZeroOrNegative) {
  EXPECT_ERROR_STARTS(build({replace(16, "    capacity: \"0 GB\"")}),
                      "x.yaml:16:15: memory.hbm.capacity: must be positive, got \"0 GB\"");
  EXPECT_ERROR_STARTS(build({replace(30, "  tdp: \"-700 W\"")}), "x.yaml:30:8: power.tdp: must be positive, got \"-700 W\"");
  EXPECT_ERROR_STARTS(build({replace(5, "  sm_count: 0")}),
                      "x.yaml:5:13: compute.sm_count: must be a positive integer, got 0");
  EXPECT_ERROR_STARTS(build({replace(5, "  sm_count: -4")}),
                      "x.yaml:5:13: compute.sm_count: must be a positive integer, got -4");
  EXPECT_ERROR_STARTS(build({replace(24, "    links: 0")}),
                      "x.yaml:24:12: interconnect.scale_up.links: must be a positive integer, got 0");
  EXPECT_ERROR_STARTS(build({replace(11, "    fp8: \"0 TFLOP/s\"")}),
                      "x.yaml:11:10: compute.matrix_dense.fp8: must be positive");
  EXPECT_ERROR_STARTS(build({replace(5, "  sm_count: 132.5")}),
                      "x.yaml:5:13: compute.sm_count: expected an integer, got \"132.5\"");
}

TEST(HardwareValidation, BaseClockAboveBoost) {
  EXPECT_ERROR_STARTS(build({replace(7, "    base: \"2100 MHz\"")}),
                      "x.yaml:8:12: compute.clocks.boost: must not be lower than clocks.base");
  // Equal is allowed (parts that publish a single clock).
  EXPECT_NO_THROW(HardwareSpec::from_yaml_string(build({replace(7, "    base: \"1.98 GHz\"")}), "x.yaml"));
}

TEST(HardwareValidation, IdleAboveTdp) {
  EXPECT_ERROR_STARTS(build({replace(31, "  idle: \"800 W\"")}), "x.yaml:31:9: power.idle: must be below power.tdp");
  EXPECT_ERROR_STARTS(build({replace(31, "  idle: \"700 W\"")}), "x.yaml:31:9: power.idle: must be below power.tdp");
}

TEST(HardwareValidation, CapMinAboveCapMax) {
  EXPECT_ERROR_STARTS(build({replace(32, "  cap_min: \"800 W\"")}),
                      "x.yaml:32:12: power.cap_min: must not exceed power.cap_max");
}

TEST(HardwareValidation, YamlSyntaxError) {
  const std::string m = error_of(build({replace(17, "    bandwidth: [4.8 TB/s")}));
  EXPECT_EQ(m.rfind("x.yaml:", 0), 0u) << m;
  EXPECT_NE(m.find("YAML syntax error"), std::string::npos) << m;
  // yaml-cpp reports the unclosed flow sequence where it notices it: the next key, line 18.
  EXPECT_TRUE(m.rfind("x.yaml:17:", 0) == 0 || m.rfind("x.yaml:18:", 0) == 0) << m;

  const std::string m2 = error_of(build({replace(22, "    kind: nvlink: 4")}));
  EXPECT_EQ(m2.rfind("x.yaml:22:", 0), 0u) << m2;
  EXPECT_NE(m2.find("YAML syntax error"), std::string::npos) << m2;

  EXPECT_ERROR_STARTS("- just\n- a list\n", "x.yaml:1:1: expected a mapping at the top level");
  EXPECT_ERROR_STARTS("", "x.yaml:1:1: expected a mapping at the top level");
}

TEST(HardwareValidation, UnknownDtype) {
  EXPECT_ERROR_STARTS(build({insert_after(11, "    fp6: \"10 TFLOP/s\"")}),
                      "x.yaml:12:10: compute.matrix_dense.fp6: unknown dtype");
  EXPECT_ERROR_STARTS(build({erase(10), replace(11, "    int8: \"1979 TOP/s\"")}),
                      "x.yaml:10:5: compute.matrix_dense: must give at least a bf16 or fp16 rate");
}

TEST(HardwareValidation, BadScaleUpKind) {
  EXPECT_ERROR_STARTS(build({replace(22, "    kind: pcie-switch")}),
                      "x.yaml:22:11: interconnect.scale_up.kind: expected nvlink or infinity_fabric, got \"pcie-switch\"");
  // Without scale_up the part is PCIe-only, which is valid.
  const HardwareSpec h =
      HardwareSpec::from_yaml_string(build({erase(21), erase(22), erase(23), erase(24), erase(25)}), "x.yaml");
  EXPECT_FALSE(h.scale_up.has_value());
}

TEST(HardwareValidation, ScaleOutNetwork) {
  const std::string net =
      "  scale_out:\n    kind: infiniband\n    bandwidth: \"50 GB/s\"\n    efficiency: 0.94\n"
      "    latency: \"9.6 us\"\n    latency_ll: \"2.7 us\"";
  const HardwareSpec h = HardwareSpec::from_yaml_string(build({insert_after(25, "    domain: 8\n" + net)}), "x.yaml");
  ASSERT_TRUE(h.scale_out.has_value());
  EXPECT_EQ(h.scale_up->domain, 8);
  EXPECT_DOUBLE_EQ(h.scale_out->bandwidth.value(), 50e9);
  EXPECT_DOUBLE_EQ(h.scale_out->efficiency, 0.94);
  EXPECT_DOUBLE_EQ(h.scale_out->latency.value(), 9.6e-6);
  EXPECT_DOUBLE_EQ(h.scale_out->latency_ll.value(), 2.7e-6);
  // The network needs the domain it starts from; a bare number is not a bandwidth; an efficiency
  // lies in (0, 1].
  EXPECT_ERROR_STARTS(build({insert_after(25, net)}),
                      "x.yaml:27:5: interconnect.scale_out: needs interconnect.scale_up.domain");
  EXPECT_ERROR_STARTS(build({insert_after(25, "    domain: 8\n  scale_out:\n    kind: infiniband\n    bandwidth: 50\n"
                                              "    latency: \"9.6 us\"")}),
                      "x.yaml:29:16: interconnect.scale_out.bandwidth: expected a bandwidth");
  EXPECT_ERROR_STARTS(build({insert_after(25, "    domain: 8\n  scale_out:\n    kind: infiniband\n    bandwidth: \"50 GB/s\"\n"
                                              "    efficiency: 1.5\n    latency: \"9.6 us\"")}),
                      "x.yaml:30:17: interconnect.scale_out.efficiency: must lie in (0, 1], got 1.5");
  EXPECT_ERROR_STARTS(build({insert_after(25, "    domain: 8\n  scale_out:\n    kind: myrinet\n    bandwidth: \"50 GB/s\"\n"
                                              "    latency: \"9.6 us\"")}),
                      "x.yaml:28:11: interconnect.scale_out.kind: expected infiniband or ethernet, got \"myrinet\"");
}

TEST(HardwareValidation, CrossFieldChecks) {
  EXPECT_ERROR_STARTS(build({replace(19, "    capacity: \"200 GB\"")}),
                      "x.yaml:19:5: memory.l2: L2 capacity must be smaller than HBM capacity");
}

TEST(HardwareValidation, OptionalTiers) {
  const HardwareSpec h = HardwareSpec::from_yaml_string(
      build({insert_after(19, "    bandwidth: \"10 TB/s\""),
             insert_after(19, "  host:\n    capacity: \"480 GB\"\n    bandwidth: \"450 GB/s\"\n    link: nvlink-c2c"),
             insert_after(17, "    clock: \"3201 MHz\""),
             insert_after(13, "  max_ctas_per_sm: 32\n  registers_per_sm: 65536"),
             insert_after(33, "pim:\n  internal_bandwidth: \"40 TB/s\"\n  compute_rate: \"20 TFLOP/s\"\n"
                              "  capacity: \"141 GB\"")}),
      "x.yaml");
  ASSERT_TRUE(h.host_memory.has_value());
  EXPECT_DOUBLE_EQ(h.host_memory->capacity.value(), 480e9);
  EXPECT_DOUBLE_EQ(h.host_memory->bandwidth.value(), 450e9);
  EXPECT_EQ(h.host_memory->link, "nvlink-c2c");
  ASSERT_TRUE(h.l2.bandwidth.has_value());
  EXPECT_DOUBLE_EQ(h.l2.bandwidth->value(), 10e12);
  ASSERT_TRUE(h.hbm.clock.has_value());
  EXPECT_DOUBLE_EQ(h.hbm.clock->value(), 3201e6);
  EXPECT_EQ(h.compute.max_ctas_per_sm, 32);
  EXPECT_EQ(h.compute.registers_per_sm, 65536);
  ASSERT_TRUE(h.pim.has_value());
  EXPECT_DOUBLE_EQ(h.pim->internal_bandwidth.value(), 40e12);
  EXPECT_DOUBLE_EQ(h.pim->compute_rate.value(), 20e12);
  EXPECT_DOUBLE_EQ(h.pim->capacity.value(), 141e9);
}

}  // namespace
}  // namespace headroom
