// Streaming kernels in the analytical model against hand-derived times: the HBM read/write
// turnaround cost of mixed streams, and F.rms_norm's row kernel (second read of long rows, the
// latency-bound walk of one CTA over its row).
#include <gtest/gtest.h>

#include "headroom/cost/analytical.hpp"
#include "headroom/sim/cycle_model.hpp"

using namespace headroom;

namespace {
const HardwareSpec& h200() {
  static HardwareSpec hw = HardwareSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/hw_configs/h200-sxm.yaml");
  return hw;
}
constexpr double kBw = 4.8e12;  // H200 datasheet HBM bandwidth (hw_configs/h200-sxm.yaml)

// Ideal streams (the datasheet rate both ways, no fixed costs), so that only the term under test
// moves the time.
KernelParams ideal() {
  KernelParams p;
  p.hbm_read_efficiency = 1.0;
  p.hbm_write_efficiency = 1.0;
  p.kernel_overhead = 0.0;
  p.l2_bandwidth_ratio = 2.0;
  return p;
}
}  // namespace

TEST(Stream, MixedReadWritePaysTheTurnaroundPenaltyPureStreamsDoNot) {
  KernelParams p = ideal();
  p.hbm_turnaround_penalty = 0.1;
  AnalyticalCostModel m(h200(), p);
  const double n = 1e9;
  // A copy reads and writes n bytes: equal shares, the full penalty.
  EXPECT_NEAR(m.cost(make_stream("c", OpKind::Copy, n, false)).memory.value(), 2.0 * n / kBw * 1.1, 1e-12);
  // Reads or writes alone: none.
  EXPECT_NEAR(m.cost(make_stream("r", OpKind::Read, n, false)).memory.value(), n / kBw, 1e-12);
  EXPECT_NEAR(m.cost(make_stream("w", OpKind::Write, n, false)).memory.value(), n / kBw, 1e-12);
  // Data resident in L2 has no DRAM bus to turn around.
  EXPECT_NEAR(m.cost(make_stream("c", OpKind::Copy, 1e6, true)).memory.value(), 2e6 / (2.0 * kBw), 1e-15);
}

TEST(Stream, TurnaroundScalesWithTheMinorityShare) {
  KernelParams p = ideal();
  p.hbm_turnaround_penalty = 0.2;
  AnalyticalCostModel m(h200(), p);
  // SwiGLU (fused): reads 2 x 2 B, writes 2 B per element: 2 min(r, w) / (r + w) = 2/3.
  const Op s = make_swiglu("s", 65536, 8192, DType::BF16, Impl::Fused);
  const double n = 65536.0 * 8192;
  const double r = 4.0 * n, w = 2.0 * n;
  EXPECT_NEAR(m.cost(s).memory.value(), (r + w) / kBw * (1.0 + 0.2 * 2.0 / 3.0), 1e-12);
}

TEST(Stream, RmsNormRowsLongerThanOnChipAreReadTwice) {
  KernelParams p = ideal();
  p.row_kernel_onchip_bytes = 8192;
  AnalyticalCostModel m(h200(), p);
  // 1 GiB in, 1 GiB out, bf16, beyond L2. 4096 wide = 8 KiB rows: kept on chip, read once.
  const double gib = 1024.0 * 1024 * 1024;
  const Op narrow = make_rmsnorm("n", 131072, 4096, DType::BF16, Impl::TorchFunctional);
  EXPECT_NEAR(m.cost(narrow).memory.value(), (gib + 8192.0 + gib) / kBw, 1e-12);
  // 8192 wide = 16 KiB rows, twice the on-chip length: the second pass reads them all again.
  const Op wide = make_rmsnorm("n", 65536, 8192, DType::BF16, Impl::TorchFunctional);
  EXPECT_NEAR(m.cost(wide).memory.value(), (2.0 * gib + 16384.0 + gib) / kBw, 1e-12);
  // 12 KiB rows: half of the row beyond the on-chip length, the ramp's midpoint.
  const Op mid = make_rmsnorm("n", 87381, 6144, DType::BF16, Impl::TorchFunctional);
  const double in = 87381.0 * 6144 * 2;
  EXPECT_NEAR(m.cost(mid).memory.value(), (1.5 * in + 12288.0 + in) / kBw, 1e-12);
}

TEST(Stream, RmsNormWithFewRowsIsOneCtaWalkingItsRowTwice) {
  KernelParams p = ideal();
  p.row_kernel_onchip_bytes = 8192;
  p.row_kernel_cta_bandwidth = 4e9;
  AnalyticalCostModel m(h200(), p);
  // One token, 16384 wide: a 32 KiB row walked twice at 4 GB/s = 16.384 us, far above the bytes'
  // time through L2; twice the width, twice the time.
  const OpCost one = m.cost(make_rmsnorm("n", 1, 16384, DType::BF16, Impl::TorchFunctional));
  EXPECT_NEAR(one.memory.value(), 2.0 * 32768 / 4e9, 1e-15);
  const OpCost two = m.cost(make_rmsnorm("n", 1, 32768, DType::BF16, Impl::TorchFunctional));
  EXPECT_NEAR(two.memory / one.memory, 2.0, 1e-12);
  // At half the SM clock the walk takes twice as long (it is latency in SM cycles).
  AnalyticalCostModel slow(h200(), p, OperatingPoint{h200().compute.clocks.boost * 0.5, Hertz(0)});
  EXPECT_NEAR(slow.cost(make_rmsnorm("n", 1, 16384, DType::BF16, Impl::TorchFunctional)).memory / one.memory, 2.0, 1e-9);
  // The hand-written (8-kernel) and fused forms have no row walk.
  EXPECT_LT(m.cost(make_rmsnorm("n", 1, 16384, DType::BF16, Impl::Fused)).memory.value(), 1e-7);
}

TEST(Stream, CycleModelSeesTheRowWalk) {
  KernelParams p = ideal();
  p.row_kernel_onchip_bytes = 8192;
  p.row_kernel_cta_bandwidth = 4e9;
  HardwareSpec hw = h200();
  hw.kernel_model = p;
  CycleCostModel cyc(hw);
  AnalyticalCostModel ana(hw, p);
  const Op op = make_rmsnorm("n", 1, 16384, DType::BF16, Impl::TorchFunctional);
  // One CTA: its serial walk (16.4 us) plus a negligible byte time.
  EXPECT_NEAR(cyc.cost(op).time.value(), ana.cost(op).time.value(), 0.05 * ana.cost(op).time.value());
}
