#pragma once
// The analytical kernel model: per-kernel times from the hardware's datasheet rates, shaped by
// how real kernels use the machine (GEMM tiles in waves over SMs, split-K, achievable HBM and L2
// bandwidth, flash-attention work items, fixed per-kernel costs) and scaled by parameters fitted
// to measured runs (hw file `kernel_model:`, see docs/kernel-model.md). Every time is a function
// of the SM clock and the memory clock, so a power model can lower the clock and ask again.
#include "headroom/cost/cost_model.hpp"
#include "headroom/hw/kernel_params.hpp"

namespace headroom {

class AnalyticalCostModel final : public CostModel {
 public:
  // Uses hw.kernel_model when present, else neutral parameters (a roofline with tiling).
  explicit AnalyticalCostModel(const HardwareSpec& hw, OperatingPoint at = {});
  AnalyticalCostModel(const HardwareSpec& hw, const KernelParams& params, OperatingPoint at = {});
  [[nodiscard]] std::string_view name() const override { return "analytical"; }
  [[nodiscard]] const HardwareSpec& hardware() const override { return hw_; }
  [[nodiscard]] OpCost cost(const Op& op) const override { return cost(op, IssueMode::Cuda); }
  [[nodiscard]] OpCost cost(const Op& op, IssueMode mode) const override;
  [[nodiscard]] Seconds sync_time() const override { return Seconds(p_.launch_latency); }
  [[nodiscard]] Seconds host_issue_time(bool cuda_graph) const override;
  [[nodiscard]] Seconds host_issue_time(IssueMode mode) const override;
  [[nodiscard]] Seconds host_time(const Op& op, IssueMode mode) const override;
  [[nodiscard]] const KernelParams& params() const { return p_; }

  // Parts, exposed for tests and the cycle-approximate model.
  // weight_bytes: stored weight bytes when quantized (0 = dense in d); dequant_elements: weights
  // expanded on the CUDA cores per row of tiles.
  [[nodiscard]] OpCost gemm(int64_t m, int64_t n, int64_t k, int64_t batch, DType d, double overhead,
                            double weight_bytes = 0, double dequant_elements = 0) const;
  [[nodiscard]] Seconds stream(double bytes_read, double bytes_written, bool warm_l2, double efficiency = 1.0) const;

 private:
  [[nodiscard]] OpCost attention(const Op& op, double overhead) const;
  [[nodiscard]] OpCost moe(const Op& op, double overhead) const;
  [[nodiscard]] OpCost collective(const Op& op, double overhead) const;
  [[nodiscard]] OpCost elementwise(const Op& op, double overhead) const;

  const HardwareSpec& hw_;
  KernelParams p_;
  double sm_scale_ = 1.0;   // SM clock / boost clock
  double mem_scale_ = 1.0;  // memory clock / nominal
  double bw_read_ = 0, bw_write_ = 0, bw_l2_ = 0;  // bytes/s
  double l2_bytes_ = 0;
  int sms_ = 1;
};

}  // namespace headroom
