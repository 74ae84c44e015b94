// MoE experts: the rows each expert gets under a routing (moe_row_blocks), PyTorch's grouped GEMM
// over them (grouped_gemm_plan: CUTLASS tiles as aten/src/ATen/native/cuda/GroupMM.cu picks them,
// profiled in traces/h200/profile/grouped_mm.jsonl) and the combine's atomic adds. Every expected
// number is derived by hand in the comments.
#include <gtest/gtest.h>

#include <cmath>

#include "headroom/cost/analytical.hpp"
#include "headroom/graph/op.hpp"
#include "headroom/hw/hardware_spec.hpp"

using namespace headroom;

namespace {
const HardwareSpec& h200() {
  static HardwareSpec hw = HardwareSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/hw_configs/h200-sxm.yaml");
  return hw;
}
MoeShape shape(int64_t experts, int64_t top_k, int64_t tokens) {
  MoeShape s;
  s.experts = experts;
  s.top_k = top_k;
  s.hidden = 4096;
  s.inter = 14336;
  s.tokens = tokens;
  return s;
}
}  // namespace

TEST(MoeRows, BalancedRoutingGivesEveryExpertItsShare) {
  // 512 tokens x top-2 over 8 experts: 128 rows each. Tiles of 64: 2 per expert (16), of 128
  // and 256: 1 per expert (8).
  MoeShape s = shape(8, 2, 512);
  s.balanced = true;
  const MoeRowBlocks b = moe_row_blocks(s);
  EXPECT_DOUBLE_EQ(b.rows, 1024);
  EXPECT_DOUBLE_EQ(b.groups, 8);
  EXPECT_DOUBLE_EQ(b.blocks[0], 16);
  EXPECT_DOUBLE_EQ(b.blocks[1], 8);
  EXPECT_DOUBLE_EQ(b.blocks[2], 8);
  // 258 tokens x top-1 over 2 experts: 129 rows each, one over a tile: 3 tiles of 64, 2 of 128.
  MoeShape t = shape(2, 1, 258);
  t.balanced = true;
  const MoeRowBlocks c = moe_row_blocks(t);
  EXPECT_DOUBLE_EQ(c.blocks[0], 6);
  EXPECT_DOUBLE_EQ(c.blocks[1], 4);
  EXPECT_DOUBLE_EQ(c.blocks[2], 2);
  // Fewer copies than experts: one token's 2 copies over Mixtral's 8 experts reach 2 experts,
  // one row each, not 8 experts a quarter row each. The 4 experts of one GPU of 2 (stride 2)
  // expect 4 x 2/8 = 1 such expert: 1 tile of every height, 1 row.
  MoeShape one = shape(4, 2, 1);
  one.route_experts = 8;
  one.route_stride = 2;
  one.route_tokens = 1;
  one.balanced = true;
  const MoeRowBlocks d = moe_row_blocks(one);
  EXPECT_DOUBLE_EQ(d.rows, 1.0);
  EXPECT_DOUBLE_EQ(d.blocks[0], 1.0);
  EXPECT_DOUBLE_EQ(d.blocks[2], 1.0);
  // 10 tokens x top-2 = 20 copies over 8 experts: 4 get 3 rows and 4 get 2 (20 = 4 x 3 + 4 x 2),
  // each one tile of 64; 8 x 20/8 = 20 rows.
  MoeShape ten = shape(8, 2, 10);
  ten.balanced = true;
  const MoeRowBlocks e = moe_row_blocks(ten);
  EXPECT_DOUBLE_EQ(e.rows, 20.0);
  EXPECT_DOUBLE_EQ(e.blocks[0], 8.0);
}

TEST(MoeRows, RandomRoutingCountsTheTilesOfEachBinomialDraw) {
  // 2 tokens, top-1 of 2 experts: each expert gets 0, 1 or 2 rows with probability 1/4, 1/2,
  // 1/4; ceil(m / r) is 0, 1, 1 for every r: E = 3/4 per expert, 1.5 for both. Rows: 2.
  const MoeRowBlocks b = moe_row_blocks(shape(2, 1, 2));
  EXPECT_NEAR(b.rows, 2.0, 1e-12);
  for (double x : b.blocks) EXPECT_NEAR(x, 1.5, 1e-12);
  // 1 token, top-1 of 4: one expert gets the row: one tile in all.
  const MoeRowBlocks c = moe_row_blocks(shape(4, 1, 1));
  for (double x : c.blocks) EXPECT_NEAR(x, 1.0, 1e-12);
  // Many rows: the expectation exceeds the balanced count. 8 experts, top-2, 512 tokens: each
  // expert's rows are Binomial(512, 1/4), mean 128, sd 9.8; a draw above 128 (probability just
  // under 1/2) takes a third tile of 64 rows: E[tiles of 64] per expert is near 2.48, not 2.
  const MoeRowBlocks d = moe_row_blocks(shape(8, 2, 512));
  EXPECT_NEAR(d.rows, 1024.0, 1e-9);
  EXPECT_GT(d.blocks[0] / 8, 2.4);
  EXPECT_LT(d.blocks[0] / 8, 2.5);
}

TEST(MoeRows, ZipfInclusionCapsTheMostPopularExperts) {
  // skew 0: every expert top_k / experts.
  for (double p : zipf_inclusion(4, 2, 0.0)) EXPECT_DOUBLE_EQ(p, 0.5);
  // skew 10 over 3 experts, top-2: expert 0 would take more than one pick and is always chosen;
  // the other pick goes to experts 1 and 2 in the ratio 2^-10 : 3^-10.
  const auto p = zipf_inclusion(3, 2, 10.0);
  const double w1 = std::pow(2.0, -10), w2 = std::pow(3.0, -10);
  EXPECT_DOUBLE_EQ(p[0], 1.0);
  EXPECT_NEAR(p[1], w1 / (w1 + w2), 1e-12);
  EXPECT_NEAR(p[2], w2 / (w1 + w2), 1e-12);
}

TEST(GroupedGemm, PicksPyTorchsTileByMeanRowsAndN) {
  const AnalyticalCostModel m(h200());
  MoeRowBlocks r;
  r.groups = 8;
  // Mean 256 rows per group: the cooperative kernel, 128x256 tiles. 8 groups of 256 rows are
  // 16 tiles of 128 rows, 4096 / 256 = 16 along n: 256 tiles, ceil(256 / 132) = 2 waves. Each
  // group's weights stream once per 256-row cluster (8 clusters): 8 x 4096 x 4096 x 2 B, plus
  // the 2048 rows of 4096 once.
  r.rows = 2048;
  r.blocks[0] = 32, r.blocks[1] = 16, r.blocks[2] = 8;
  GemmPlan g = m.grouped_gemm_plan(r, 4096, 4096, DType::BF16, 0.0);
  EXPECT_EQ(g.tile_m, 128);
  EXPECT_EQ(g.tile_n, 256);
  EXPECT_EQ(g.tiles, 256);
  EXPECT_DOUBLE_EQ(g.waves, 2);
  EXPECT_DOUBLE_EQ(g.bytes_read, 8.0 * 4096 * 4096 * 2 + 2048.0 * 4096 * 2);
  EXPECT_DOUBLE_EQ(g.bytes_written, 2048.0 * 4096 * 2);
  EXPECT_DOUBLE_EQ(g.cta_flops, 2.0 * 128 * 256 * 4096);
  // Mean 64 rows: ping-pong, 64x128. 8 groups x 1 tile x 32 along n = 256 tiles; the weights
  // stream once per 128-row cluster (8).
  r.rows = 512;
  r.blocks[0] = 8, r.blocks[1] = 8, r.blocks[2] = 8;
  g = m.grouped_gemm_plan(r, 4096, 4096, DType::BF16, 0.0);
  EXPECT_EQ(g.tile_m, 64);
  EXPECT_EQ(g.tile_n, 128);
  EXPECT_EQ(g.tiles, 256);
  EXPECT_DOUBLE_EQ(g.bytes_read, 8.0 * 4096 * 4096 * 2 + 512.0 * 4096 * 2);
  // n = 128 is small whatever the rows.
  r.rows = 2048;
  r.blocks[0] = 32, r.blocks[1] = 16, r.blocks[2] = 8;
  g = m.grouped_gemm_plan(r, 128, 4096, DType::BF16, 0.0);
  EXPECT_EQ(g.tile_m, 64);
  EXPECT_EQ(g.tiles, 32);
  // Weights stored as int4-g128 (4.125 bits: 0.515625 bytes each): the weight stream (once per
  // 128-row cluster of the 64-row tiles: 16 clusters) shrinks, the rows stay 16-bit, the tiles
  // do not change.
  const GemmPlan q = m.grouped_gemm_plan(r, 128, 4096, DType::BF16, 0.0, 0.515625);
  EXPECT_DOUBLE_EQ(q.bytes_read, 16.0 * 128 * 4096 * 0.515625 + 2048.0 * 4096 * 2);
  EXPECT_DOUBLE_EQ(g.bytes_read, 16.0 * 128 * 4096 * 2 + 2048.0 * 4096 * 2);
  EXPECT_EQ(q.tiles, g.tiles);
}

TEST(GroupedGemm, ARowOverATileBoundaryCostsAWholeTile) {
  // 8 groups of 128 rows (ping-pong: 2 tiles of 64 each, one 128-row cluster) against 8 of 129
  // (mean above 128: cooperative, 2 tiles of 128 rows each, 16 x 16 along n = 256 tiles).
  const AnalyticalCostModel m(h200());
  MoeRowBlocks even, ragged;
  even.groups = ragged.groups = 8;
  even.rows = 1024, ragged.rows = 1032;
  even.blocks[0] = 16, even.blocks[1] = 8, even.blocks[2] = 8;
  ragged.blocks[0] = 24, ragged.blocks[1] = 16, ragged.blocks[2] = 8;
  // n, k of Mixtral's down projection.
  const GemmPlan a = m.grouped_gemm_plan(even, 4096, 14336, DType::BF16, 0.0);
  const GemmPlan b = m.grouped_gemm_plan(ragged, 4096, 14336, DType::BF16, 0.0);
  EXPECT_EQ(a.tile_m, 64);   // mean 128: ping-pong
  EXPECT_EQ(b.tile_m, 128);  // mean 129: cooperative, 128-row tiles: 16 of them (2 per group)
  EXPECT_EQ(b.tiles, 16 * 16);
  EXPECT_GT(b.time, a.time);
}

TEST(GroupedGemm, TheCombinesAtomicAddsCostRowsTimesHiddenOverTheirRate) {
  // Two models that differ only in scatter_add_rate: the MoE op's time differs by the combine's
  // adds (tokens x top_k x hidden) at each rate. 1024 tokens x 2 x 4096 = 8388608 adds: at 1e11/s
  // 83.886 us, at 2e11/s 41.943 us: 41.943 us apart.
  KernelParams p = *h200().kernel_model;
  p.scatter_add_rate = 1e11;
  const AnalyticalCostModel slow(h200(), p);
  p.scatter_add_rate = 2e11;
  const AnalyticalCostModel fast(h200(), p);
  const Op op = make_moe_experts("moe", shape(8, 2, 1024), DType::BF16);
  const double d = (slow.cost(op).time - fast.cost(op).time).value();
  EXPECT_NEAR(d, 8388608.0 / 2e11, 1e-9);
}
