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

TEST(Stream, RereadBytesAddTrafficNotWorkingSet) {
  // F.rms_norm, 1536 rows of 7168 bf16 (14 KiB, beyond an 8 KiB on-chip row: read twice), warm.
  // Touched: 22.0 MB in (plus the 14 KB weight) and 22.0 MB out = 44 MB, under the 60 MiB L2
  // (62.9 MB); moved: 66 MB with the second read. Resident by the 44 MB: all 66 MB at the L2
  // rate (2 x 4.8 TB/s here), not at HBM's because 66 MB exceeds the L2.
  KernelParams p = ideal();
  p.row_kernel_onchip_bytes = 8192;
  AnalyticalCostModel m(h200(), p);
  Op op = make_rmsnorm("n", 1536, 7168, DType::BF16, Impl::TorchFunctional);
  const double in = 1536.0 * 7168 * 2, out = in, weight = 7168.0 * 2;
  // elementwise_stream marks a norm's input warm (the previous kernel wrote it).
  const double again = (14336.0 - 8192.0) / 8192.0;  // 0.75 of each row read again
  EXPECT_NEAR(m.cost(op).memory.value(), (in + weight + again * in + out) / (2.0 * kBw), 1e-12);
  // The same traffic with a touched set beyond the L2 streams from HBM.
  EXPECT_NEAR(m.stream(in + 26e6, out, true, 1.0, again * in).value(), (in + 26e6 + again * in + out) / kBw, 1e-12);
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

TEST(Stream, TorchRowReductionWalksItsShareOfTheRow) {
  // PyTorch's reduce_kernel (the torch-expr RMSNorm's mean), 50 ns per value walked:
  // 1 row of 4096: 512 threads on the row, 8 values each: 0.4 us.
  // 8 rows: 8 held per CTA, 64 threads a row, 64 values each: 3.2 us.
  // 32 rows: 16 held, 32 threads a row, 128 values: 6.4 us.
  // 32 rows of 8192: 256 values reach the split (>= 256): 16 values per CTA: 0.8 us.
  KernelParams p = ideal();
  p.torch_reduce_element_time = 50e-9;
  AnalyticalCostModel with(h200(), p);
  p.torch_reduce_element_time = 0;
  AnalyticalCostModel without(h200(), p);
  auto walk = [&](int64_t rows, int64_t width) {
    const Op op = make_rmsnorm("n", rows, width, DType::BF16, Impl::TorchReference);
    return with.cost(op).memory.value() - without.cost(op).memory.value();
  };
  EXPECT_NEAR(walk(1, 4096), 0.4e-6, 1e-12);
  EXPECT_NEAR(walk(8, 4096), 3.2e-6, 1e-12);
  EXPECT_NEAR(walk(32, 4096), 6.4e-6, 1e-12);
  EXPECT_NEAR(walk(32, 8192), 0.8e-6, 1e-12);
  // F.rms_norm (one fused row kernel) has no such walk.
  const Op fused = make_rmsnorm("n", 32, 4096, DType::BF16, Impl::TorchFunctional);
  EXPECT_DOUBLE_EQ(with.cost(fused).memory.value(), without.cost(fused).memory.value());
}

TEST(Stream, PlainKernelsPayTheLighterFixedCost) {
  // The torch-expr RMSNorm: 8 kernels, 4 of them plain vectorized ones. With kernel_overhead
  // 3 us and light 2 us (stream) / 1 us and 2.5 us (graph): 4 x 3 + 4 x 2 = 20 us; 4 x 2.5 + 4 x 1
  // = 14 us in a graph. A residual add is one light kernel: 2 us.
  KernelParams p = ideal();
  p.kernel_overhead = 3e-6;
  p.light_kernel_overhead = 2e-6;
  p.graph_kernel_overhead = 2.5e-6;
  p.graph_light_kernel_overhead = 1e-6;
  AnalyticalCostModel m(h200(), p);
  const Op norm = make_rmsnorm("n", 1, 4096, DType::BF16, Impl::TorchReference);
  EXPECT_NEAR(m.cost(norm, IssueMode::Torch).overhead.value(), 20e-6, 1e-15);
  EXPECT_NEAR(m.cost(norm, IssueMode::Graph).overhead.value(), 14e-6, 1e-15);
  const Op add = make_row_op("r", OpKind::Residual, 1, 4096, DType::BF16);
  EXPECT_NEAR(m.cost(add, IssueMode::Torch).overhead.value(), 2e-6, 1e-15);
  // Unset (0), the light cost falls back to kernel_overhead: older hardware files are unchanged.
  p.light_kernel_overhead = 0;
  EXPECT_NEAR(AnalyticalCostModel(h200(), p).cost(norm, IssueMode::Torch).overhead.value(), 24e-6, 1e-15);
}
