#pragma once
// HardwareSpec: one accelerator as described by a hw_configs/*.yaml file. Parsed and validated
// once (HardwareSpec::from_yaml*), immutable afterwards; every consumer (roofline, kernel model,
// simulators, power) reads the same object. Quantities are SI base units in strong types.
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "headroom/core/dtype.hpp"
#include "headroom/hw/kernel_params.hpp"
#include "headroom/units/units.hpp"

namespace headroom {

class YamlReader;

struct ClockSpec {
  Hertz base;
  Hertz boost;  // the clock at which the datasheet's rates are quoted
};

struct ComputeSpec {
  int sm_count = 0;  // streaming multiprocessors (NVIDIA) or compute units (AMD)
  ClockSpec clocks;
  std::map<DType, FlopRate> matrix_dense;  // dense matrix-unit rates at the boost clock
  FlopRate vector_fp32;                    // non-matrix fp32 rate at the boost clock
  Bytes shared_memory_per_sm;
  std::optional<int> max_ctas_per_sm;
  std::optional<int> registers_per_sm;
};

struct MemoryTier {
  Bytes capacity;
  Bandwidth bandwidth;
  std::optional<Hertz> clock;
  // What the CUDA runtime reports as total (cudaMemGetInfo), when measured: differs from the
  // datasheet capacity (H200: 150.1 GB visible vs "141 GB").
  std::optional<Bytes> visible;
};

struct CacheSpec {
  Bytes capacity;
  std::optional<Bandwidth> bandwidth;  // datasheets rarely give it; measured values go here
};

// A host memory tier reachable from the device (e.g. GH200's LPDDR5X over NVLink-C2C).
struct HostMemorySpec {
  Bytes capacity;
  Bandwidth bandwidth;  // device <-> host, per direction
  std::string link;     // "nvlink-c2c", "pcie"
};

struct ScaleUpLink {
  std::string kind;     // "nvlink", "infinity_fabric"
  std::string version;  // "4", "5", ...
  int links = 0;
  Bandwidth bandwidth_per_link;  // per direction
  int64_t domain = 0;   // GPUs the fabric connects (one HGX board: 8); 0 = not given (any group)
  [[nodiscard]] Bandwidth total_per_direction() const { return bandwidth_per_link * links; }
};

// The network between scale-up domains (nodes): InfiniBand or Ethernet, per GPU (one NIC each on
// rail-optimized servers). Its numbers are published ones, not measured here (no multi-node
// machine): docs/hardware-format.md gives the sources.
struct ScaleOutLink {
  std::string kind;       // "infiniband" or "ethernet"
  Bandwidth bandwidth;    // per GPU, per direction (line rate)
  double efficiency = 1;  // fraction of the line rate a collective's bus bandwidth reaches
  Seconds latency;        // per inter-node ring step, NCCL's simple protocol
  Seconds latency_ll;     // per inter-node ring step, NCCL's LL protocol
};

struct PcieSpec {
  int generation = 0;
  Bandwidth bandwidth;  // per direction, x16
};

struct PowerSpec {
  Watts tdp;
  Watts idle;
  Watts cap_min;
  Watts cap_max;
};

// Processing-in-memory: compute inside the memory stack (filled by a later issue's models).
struct PimSpec {
  Bandwidth internal_bandwidth;  // aggregate bank-level bandwidth
  FlopRate compute_rate;         // aggregate GEMV rate of the in-memory units
  Bytes capacity;                // memory that the PIM units can address
};

struct HardwareSpec {
  std::string name;
  std::string vendor;
  std::string source;  // where the numbers come from (datasheet, measurement)
  std::string file;    // the file it was loaded from ("" for a dict)
  std::string key;     // the file's stem: "h200-sxm"

  ComputeSpec compute;
  MemoryTier hbm;
  CacheSpec l2;
  std::optional<HostMemorySpec> host_memory;
  std::optional<ScaleUpLink> scale_up;
  std::optional<ScaleOutLink> scale_out;
  PcieSpec pcie;
  PowerSpec power;
  std::optional<PimSpec> pim;
  // Calibrated parameters of the analytical kernel model; absent = uncalibrated (neutral defaults).
  std::optional<KernelParams> kernel_model;

  // The datasheet's dense matrix rate for dtype; FP32 without a matrix entry uses vector_fp32.
  // nullopt when the part has no unit for it (fp8 on A100, fp4 on H200).
  [[nodiscard]] std::optional<FlopRate> peak_rate(DType d) const;

  static HardwareSpec from_yaml_file(const std::string& path);
  // The file with what-if overrides applied before it is validated: each "section.key=value"
  // (e.g. "kernel_model.host_issue_torch=20 us", "memory.hbm.bandwidth=5.5 TB/s") replaces or adds that
  // key; the result must pass the same checks as a file (an unknown key, a missing unit, a bad
  // value is an InputError naming the key and the override).
  static HardwareSpec from_yaml_file(const std::string& path, const std::vector<std::string>& overrides);
  static HardwareSpec from_yaml_string(const std::string& text, const std::string& origin);
  static HardwareSpec from_reader(const YamlReader& root, const std::string& file);
};

// Resolves "h200-sxm" or "hw_configs/h200-sxm.yaml" to a path: an existing path is used as
// is; a bare name is looked up in `dir` (default: the project's hw_configs).
std::string resolve_hw_path(const std::string& name_or_path, const std::string& dir = "");
// The project's data directory (models/, hw_configs/): $HEADROOM_DATA or the source tree.
std::string data_dir();

}  // namespace headroom
