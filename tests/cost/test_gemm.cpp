// The analytical GEMM model's tile choice for cuBLASLt's persistent Hopper kernels (bf16, fp16,
// fp8), against shapes derived by hand from the profiled kernel names
// (traces/h200/profile/gemm_kernels.jsonl).
#include <gtest/gtest.h>

#include "headroom/cost/analytical.hpp"
#include "headroom/hw/hardware_spec.hpp"

using namespace headroom;

namespace {
const HardwareSpec& h200() {
  static HardwareSpec hw = HardwareSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/hw_configs/h200-sxm.yaml");
  return hw;
}
// The H200 file's parameters with the tile-size constant set by hand.
AnalyticalCostModel with_intensity(double i0) {
  KernelParams p = *h200().kernel_model;
  p.gemm_tile_intensity = i0;
  return AnalyticalCostModel(h200(), p);
}
}  // namespace

TEST(Gemm, TileRateFallsWithOperandTrafficPerFlop) {
  // I = tm tn / (tm + tn); rate I / (I + I0) relative to 128x256 (I = 85.333).
  // I0 = 16: 64x8 has I = 7.111: (7.111 / 23.111) / (85.333 / 101.333) = 0.30769 / 0.84211 = 0.36538.
  const AnalyticalCostModel m = with_intensity(16);
  EXPECT_NEAR(m.tile_rate(64, 8), 0.36538, 1e-5);
  EXPECT_DOUBLE_EQ(m.tile_rate(128, 256), 1.0);
  EXPECT_DOUBLE_EQ(m.tile_rate(256, 128), 1.0);
  // 192x192 (I = 96) is a little faster than 128x256: (96 / 112) / 0.84211 = 1.01786.
  EXPECT_NEAR(m.tile_rate(192, 192), 1.01786, 1e-5);
  // I0 = 0: every tile at the same rate.
  EXPECT_DOUBLE_EQ(with_intensity(0).tile_rate(64, 8), 1.0);
}

TEST(Gemm, PersistentTileAlongMFollowsM) {
  // Profiled: the tile along m is m rounded up to 8 rows up to 128 (64x8 at m = 1, 64x48 at
  // m = 48), m or half of it up to 256, and 128-192 rows beyond.
  const AnalyticalCostModel m(h200());
  EXPECT_EQ(m.gemm_plan(1, 4096, 4096, 1, DType::BF16, 0.0).tile_m, 8);
  EXPECT_EQ(m.gemm_plan(3, 4608, 3584, 1, DType::BF16, 0.0).tile_m, 8);
  EXPECT_EQ(m.gemm_plan(48, 5120, 5120, 1, DType::FP16, 0.0).tile_m, 48);
  EXPECT_EQ(m.gemm_plan(96, 3072, 3072, 1, DType::FP8, 0.0).tile_m, 96);
  const int t200 = m.gemm_plan(200, 13312, 16384, 1, DType::BF16, 0.0).tile_m;
  EXPECT_TRUE(t200 == 200 || t200 == 104) << t200;
  for (int64_t rows : {1000, 5000, 8192}) {
    const GemmPlan p = m.gemm_plan(rows, 8192, 8192, 1, DType::BF16, 0.0);
    EXPECT_GE(p.tile_m, 128) << rows;
    EXPECT_LE(p.tile_m, 192) << rows;
    EXPECT_EQ(p.tile_m % 8, 0) << rows;
    EXPECT_EQ(p.tile_n % 8, 0) << rows;
    EXPECT_LE(p.tile_m * p.tile_n, 320 * 128) << rows;
  }
  // tf32 keeps its fixed tiles (sm90_xmma kernels).
  const GemmPlan tf = m.gemm_plan(1000, 8192, 8192, 1, DType::TF32, 0.0);
  EXPECT_TRUE(tf.tile_m == 64 || tf.tile_m == 128 || tf.tile_m == 256) << tf.tile_m;
}

TEST(Gemm, PersistentTileAlongNFillsWholeWaves) {
  // m = 768, n = k = 3584 fp16 (a held-out shape; cuBLASLt ran nvjet ..._168x128_...: 168 along
  // n, 128 along m, grid 132). By hand (I0 = 16, compute-bound: 19.7 GFLOP against 37 MB):
  // 128 rows -> 6 tiles along m; one wave leaves 132 / 6 = 22 tiles along n: 3584 / 22 = 163 ->
  // 168 columns (22 tiles), 132 tiles in one wave of 128 x 168 = 21504 elements each. 192 rows
  // give the same work (4 x 32 tiles of 192x112 = 21504) at a lower rate (I = 70.7 < 72.6), and
  // the fixed 128x256 tile does one wave of 32768 (84 tiles).
  const GemmPlan p = with_intensity(16).gemm_plan(768, 3584, 3584, 1, DType::FP16, 0.0);
  EXPECT_EQ(p.tile_m, 128);
  EXPECT_EQ(p.tile_n, 168);
  EXPECT_EQ(p.tiles, 132);
  EXPECT_EQ(p.splits, 1);
  EXPECT_DOUBLE_EQ(p.waves, 1.0);
}

TEST(Gemm, SplitKOnlyWhenItsExtraKernelPays) {
  // m = 1, n = k = 4096 bf16 (memory-bound): 8-row tiles leave fewer tiles than SMs. Without a
  // fixed cost per kernel, splitting K fills the SMs for free and is chosen; when the reduction
  // kernel costs 50 us, the tiles run alone (as cuBLASLt's 64x8 fp8 kernel does at this shape).
  const AnalyticalCostModel m(h200());
  const GemmPlan free_split = m.gemm_plan(1, 4096, 4096, 1, DType::BF16, 0.0);
  EXPECT_GT(free_split.splits, 1);
  EXPECT_LT(free_split.tiles, 132);
  const GemmPlan costly = m.gemm_plan(1, 4096, 4096, 1, DType::BF16, 50e-6);
  EXPECT_EQ(costly.splits, 1);
  EXPECT_LT(costly.ctas, 132);
}

TEST(Gemm, OperandStreamsReachTheirOwnFractionOfTheStreamRate) {
  // m = 1, n = k = 8192 bf16, no split (the reduction costs 50 us): reads 2 B x (8192 + 8192^2) =
  // 134,234,112 B, writes 16,384 B. With both stream rates at 0.9 x 4.8 TB/s = 4.32 TB/s, every
  // CTA count at full rate (gemm_stream_ctas tiny) and gemm_memory_efficiency 0.5:
  // 134,250,496 B / 4.32e12 B/s / 0.5 = 62.153 us; at 1.0, half of it.
  KernelParams p = *h200().kernel_model;
  p.hbm_read_efficiency = 0.9;
  p.hbm_write_efficiency = 0.9;
  p.gemm_stream_ctas = 0.05;
  p.gemm_memory_efficiency = 0.5;
  const GemmPlan half = AnalyticalCostModel(h200(), p).gemm_plan(1, 8192, 8192, 1, DType::BF16, 50e-6);
  EXPECT_EQ(half.splits, 1);
  EXPECT_NEAR(half.memory, 62.153e-6, 0.001e-6);
  p.gemm_memory_efficiency = 1.0;
  const GemmPlan full = AnalyticalCostModel(h200(), p).gemm_plan(1, 8192, 8192, 1, DType::BF16, 50e-6);
  EXPECT_NEAR(full.memory, 31.0765e-6, 0.001e-6);
}
