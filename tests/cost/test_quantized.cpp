// Quantized weights and KV caches in the kernel model: the direction and rough size of the effects
// the literature reports (MARLIN: ~4x at small batch, fading toward the compute-bound regime;
// QServe: dequantization on CUDA cores costs compute), from the model's own formulas.
#include <gtest/gtest.h>

#include "headroom/cost/analytical.hpp"
#include "headroom/graph/step_graph.hpp"
#include "headroom/sim/cycle_model.hpp"

using namespace headroom;

namespace {
const HardwareSpec& h200() {
  static HardwareSpec hw = HardwareSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/hw_configs/h200-sxm.yaml");
  return hw;
}
// A one-layer decode step at `batch` and `context`.
StepConfig decode(int64_t batch, int64_t context) {
  StepConfig c;
  c.phase = Phase::Decode;
  c.batch = batch;
  c.context = context;
  c.layers = 1;
  return c;
}
// The first op of the step that `pick` accepts.
template <class Pick>
Op find_op(const char* model, const StepConfig& c, Pick pick) {
  ModelSpec m = ModelSpec::from_yaml_file(std::string(HEADROOM_SOURCE_DIR "/models/") + model + ".yaml");
  StepGraph g = StepGraph::build(m, c);
  for (auto v : g.order())
    if (pick(g.op(v))) return g.op(v);
  ADD_FAILURE() << "op not found";
  return Op{};
}
// The gate-up GEMM of Llama-3-70B layer 0 in a decode step at `batch`, with the given weights.
Op gate_up_op(int64_t batch, const char* weights) {
  StepConfig c = decode(batch, 128);
  c.weight_format = parse_weight_format(weights);
  return find_op("llama3-70b", c, [](const Op& op) { return op.name == "L0.gate_up"; });
}
Seconds gate_up(int64_t batch, const char* weights) {
  return AnalyticalCostModel(h200()).cost(gate_up_op(batch, weights), IssueMode::Graph).time;
}
// The attention op of a Llama-3-8B decode step (batch 64, 8k context) with the given KV format.
Op decode_attention(std::optional<KvFormat> f) {
  StepConfig c = decode(64, 8192);
  c.kv_format = f;
  return find_op("llama3-8b", c, [](const Op& op) { return op.kind == OpKind::Attention; });
}
}  // namespace

TEST(Quantized, Int4WeightsSpeedUpMemoryBoundGemmsAndTheGainFades) {
  // int4-g128 stores 4.125 bits per weight: 3.88x fewer weight bytes than bf16.
  const double s1 = gate_up(1, "bf16") / gate_up(1, "int4");
  const double s512 = gate_up(512, "bf16") / gate_up(512, "int4");
  EXPECT_GT(s1, 2.5);   // near 4x, less the fixed kernel costs
  EXPECT_LT(s1, 3.9);
  EXPECT_LT(s512, 1.2);  // compute-bound: dequantization makes it no faster
  EXPECT_GT(s1, s512);
}

TEST(Quantized, QuantizedKvCacheReadsFewerBytes) {
  auto attention_bytes = [](std::optional<KvFormat> f) { return decode_attention(f).bytes_read.value(); };
  const double bf16 = attention_bytes(std::nullopt);
  const double int4 = attention_bytes(parse_kv_format("int4"));
  // int4 with an fp16 scale and zero-point per 128 elements: 4 + 32/128 = 4.25 bits vs 16.
  EXPECT_NEAR(int4 / bf16, 4.25 / 16.0, 0.01);
}

// The cycle-approximate fidelity lowers quantized kernels from the same plans as the analytical
// model (AnalyticalCostModel::gemm_plan, attention_plan): the stored weight / KV bytes and the
// dequantization on the CUDA cores. Alone on the GPU the two agree within the cross-check
// tolerance (10%, docs/cycle-model.md), and the cycle model shows the same int4 speed-ups.
TEST(Quantized, CycleModelAgreesOnInt4Gemm) {
  AnalyticalCostModel an(h200());
  CycleCostModel cy(h200());
  for (int64_t batch : {1, 64, 512}) {
    const Op q = gate_up_op(batch, "int4");
    ASSERT_GT(q.dequant_elements, 0);
    const double a = an.cost(q, IssueMode::Graph).time.value();
    const double c = cy.cost(q, IssueMode::Graph).time.value();
    EXPECT_NEAR(c / a, 1.0, 0.10) << "batch " << batch;
  }
  // Memory-bound at batch 1: int4 reads 3.88x fewer weight bytes in both fidelities.
  const double speedup = cy.cost(gate_up_op(1, "bf16"), IssueMode::Graph).time /
                         cy.cost(gate_up_op(1, "int4"), IssueMode::Graph).time;
  EXPECT_GT(speedup, 2.5);
  EXPECT_LT(speedup, 3.9);
  EXPECT_NEAR(speedup, gate_up(1, "bf16") / gate_up(1, "int4"), 0.10 * speedup);
}

TEST(Quantized, CycleModelAgreesOnInt4KvDecodeAttention) {
  AnalyticalCostModel an(h200());
  CycleCostModel cy(h200());
  const Op q = decode_attention(parse_kv_format("int4"));
  ASSERT_GT(q.dequant_elements, 0);
  const double a = an.cost(q, IssueMode::Graph).time.value();
  const double c = cy.cost(q, IssueMode::Graph).time.value();
  EXPECT_NEAR(c / a, 1.0, 0.10);
  // Fewer KV bytes: faster than the bf16 cache in the cycle model as in the analytical one.
  const Op dense = decode_attention(std::nullopt);
  const double cy_gain = cy.cost(dense, IssueMode::Graph).time.value() / c;
  const double an_gain = an.cost(dense, IssueMode::Graph).time.value() / a;
  EXPECT_GT(cy_gain, 1.5);
  EXPECT_NEAR(cy_gain, an_gain, 0.10 * an_gain);
}

TEST(Quantized, TorchInt4KernelRunsItsMathOnCudaCores) {
  // torch._weight_int4pack_mm (tinygemm): one CTA per 8 columns x 16 rows, 8192 weight elements
  // per CTA iteration (8 warps x 8 k-tiles x 16 x 8 columns), k / 1024 iterations. Per element:
  // dequant_ops_per_element once per row tile plus 2 ops per activation row (at least
  // torch_int4_min_rows), at torch_int4_gemm_efficiency of the 66.9 TFLOP/s fp32 rate, i.e.
  // 66.9e12 / 132 per SM; the SM holding the most CTAs, ceil(CTAs / 132), sets the time. An SM
  // holds 4 at once; a last, partial round costs at least 2 CTAs' time.
  HardwareSpec hw = h200();
  KernelParams p = hw.kernel_model.value_or(KernelParams{});
  p.dequant_ops_per_element = 4;
  p.torch_int4_gemm_efficiency = 0.5;
  p.torch_int4_min_rows = 2;
  p.torch_int4_ctas_per_sm = 4;
  p.torch_int4_tail_ctas = 2;
  p.graph_kernel_overhead = 2e-6;
  p.gemm_overhead = 1e-6;
  hw.kernel_model = p;
  const AnalyticalCostModel am(hw);
  const WeightFormat f = parse_weight_format("int4-g128");
  auto gemm = [&](int64_t m, int64_t n) {
    return make_weight_gemm("w4", m, n, 4096, DType::BF16, f, 1, 0, Impl::TorchReference);
  };
  auto t = [&](int64_t m, int64_t n = 4096) { return am.cost(gemm(m, n), IssueMode::Graph).time.value(); };
  const double per_sm = 66.9e12 / 132;
  // m = 4096, n = 4096: 512 x 256 = 131072 CTAs, ceil(131072 / 132) = 993 on the busiest SM: 248
  // rounds of 4 and one of 1 costing 2, so 994 CTA-times, each 4 iterations x 8192 x (4 + 2 x 16)
  // / 0.5 = 2,359,296 ops: 994 x 4.6548 us = 4626.9 us, + 3 us.
  EXPECT_NEAR(t(4096), 994.0 * 4 * 8192 * (4 + 32) / 0.5 / per_sm + 3e-6, 1e-9);
  // m = 1 costs two rows: 512 CTAs, 4 on the busiest SM, 4 x 8192 x (4 + 4) / 0.5 ops each:
  // 4.138 us of math, longer than streaming the 8.65 MB of weights and scales at 4.8 TB/s x
  // hbm_read_efficiency (about 2.1 us): CUDA-core bound, as measured (tinygemm reaches under half
  // the HBM bandwidth at m = 1).
  const double memory = (f.matrix_bytes(4096, 4096) + 4096.0 * 2) / (4.8e12 * p.hbm_read_efficiency) +
                        4096.0 * 2 / (4.8e12 * p.hbm_write_efficiency);
  EXPECT_LT(memory, 4.0 * 4 * 8192 * 8 / 0.5 / per_sm);
  EXPECT_NEAR(t(1), 4.0 * 4 * 8192 * 8 / 0.5 / per_sm + 3e-6, 1e-10);
  EXPECT_DOUBLE_EQ(t(1), t(2));
  // CTAs come whole: 1056 columns are 132 CTAs (one each), 1064 are 133 (two on one SM).
  const GemmPlan one = am.gemm_plan(gemm(8, 1056), 0.0), two = am.gemm_plan(gemm(8, 1064), 0.0);
  EXPECT_EQ(one.ctas, 132);
  EXPECT_EQ(two.ctas, 133);
  EXPECT_DOUBLE_EQ(two.compute, 2.0 * one.compute);
  // Rounds of 4: 4 CTAs per SM (n = 4224) take 4 CTA-times, 5 (n = 5280) take 4 + 2, as 6 do.
  const double four = am.gemm_plan(gemm(8, 4224), 0.0).compute, five = am.gemm_plan(gemm(8, 5280), 0.0).compute,
               six = am.gemm_plan(gemm(8, 6336), 0.0).compute;
  EXPECT_DOUBLE_EQ(five, 1.5 * four);
  EXPECT_DOUBLE_EQ(six, five);
  // Linear in m once compute-bound: the Marlin-style tensor-core kernel is far faster there.
  EXPECT_NEAR((t(4096) - t(2048)) / (t(2048) - t(1024)), 2.0, 0.01);
  const double marlin =
      am.cost(make_weight_gemm("w4", 4096, 4096, 4096, DType::BF16, f, 1, 0, Impl::Fused), IssueMode::Graph).time.value();
  EXPECT_LT(marlin * 10, t(4096));
}

TEST(Quantized, Int8GemmsUseAmpereTilesAndNeverSplitK) {
  // torch._int_mm on H200 (profiled): CUTLASS sm80 kernels, tiles 64x64 to 128x256, no split-K.
  // A decode-sized GEMM (32 x 4096 x 4096) has at most 64 tiles for 132 SMs: bf16 splits K to
  // fill the SMs, int8 does not, and picks one of its own tile shapes.
  AnalyticalCostModel m(h200());
  const GemmPlan i8 = m.gemm_plan(32, 4096, 4096, 1, DType::INT8, 0.0, 0.0, 0.0);
  const GemmPlan bf = m.gemm_plan(32, 4096, 4096, 1, DType::BF16, 0.0, 0.0, 0.0);
  EXPECT_EQ(i8.splits, 1);
  EXPECT_GT(bf.splits, 1);
  // The kernels' names are n x m (cuBLAS computes the transposed product): as m x n tiles of
  // y[m, n] they are 256x128, 128x128, 64x128 and 64x64.
  const bool ampere_tile = (i8.tile_n == 128 && (i8.tile_m == 256 || i8.tile_m == 128 || i8.tile_m == 64)) ||
                           (i8.tile_m == 64 && i8.tile_n == 64);
  EXPECT_TRUE(ampere_tile) << i8.tile_m << "x" << i8.tile_n;
  // With every int8 tile equally efficient, a large GEMM takes the 256x128 tile: 4096^3 is
  // 16 x 32 = 512 tiles, ceil(512 / 132) = 4 waves, where 128x128 needs 8 waves of half the work
  // each (the same math, twice the per-wave fill and epilogue).
  HardwareSpec hw = h200();
  hw.kernel_model->int8_tile_128x128 = hw.kernel_model->int8_tile_64x128 = hw.kernel_model->int8_tile_64x64 = 1.0;
  hw.kernel_model->int8_small_tile_waves = 0;  // the fastest tile, not cuBLASLt's rule
  const GemmPlan big = AnalyticalCostModel(hw).gemm_plan(4096, 4096, 4096, 1, DType::INT8, 0.0, 0.0, 0.0);
  EXPECT_EQ(big.tile_m, 256);
  EXPECT_EQ(big.tile_n, 128);
  EXPECT_EQ(big.ctas, 512);
  EXPECT_DOUBLE_EQ(big.waves, 4.0);
}

TEST(Quantized, Int8TileIsCuBlasLtsChoiceNotTheFastest) {
  // cuBLASLt's heuristic as read off the profile (traces/h200/profile/torch_gemm_kernels.jsonl),
  // with thresholds 1.25 and 1.75 waves of 132 SMs (165 and 231 tiles) and k >= 8192, checked
  // by hand against the kernels it ran:
  KernelParams p = *h200().kernel_model;
  p.int8_small_tile_waves = 1.25;
  p.int8_large_tile_waves = 1.75;
  p.int8_deep_k = 8192;
  const AnalyticalCostModel m(h200(), p);
  auto tile = [&](int64_t rows, int64_t n, int64_t k) {
    const GemmPlan g = m.gemm_plan(rows, n, k, 1, DType::INT8, 0.0, 0.0, 0.0);
    return std::to_string(g.tile_m) + "x" + std::to_string(g.tile_n);
  };
  // 32 x 6144 x 4096: 1 x 96 = 96 tiles of 64x64 <= 165: 64x64 (ran s8_64x64).
  EXPECT_EQ(tile(32, 6144, 4096), "64x64");
  // 512 x 6144 x 4096: 8 x 96 = 768 small tiles; 256x128 gives 2 x 48 = 96 < 231; k < 8192:
  // 64x128 (ran s8_128x64, which is n x m).
  EXPECT_EQ(tile(512, 6144, 4096), "64x128");
  // 32 x 57344 x 8192: 896 small tiles; a 256-row tile would be an eighth used; k = 8192:
  // 128x128 (ran s8_128x128).
  EXPECT_EQ(tile(32, 57344, 8192), "128x128");
  // 128 x 57344 x 8192: 1 x 448 = 448 >= 231 tiles of 256x128, half used: 256x128 although
  // 128x128 would do half the work (ran s8_128x256, measured 0.28 ms against 0.16 ms at m = 64).
  EXPECT_EQ(tile(128, 57344, 8192), "256x128");
  // 256 x 8192 x 28672: 1 x 64 = 64 large tiles < 231; k >= 8192: 128x128 (ran s8_128x128).
  EXPECT_EQ(tile(256, 8192, 28672), "128x128");
}

TEST(Quantized, Int8KLoopWaitsOnColdLoadsWhenItsCtaIsAloneOnItsSm) {
  // 128 x 6144 x 4096 int8 runs 96 CTAs of the 64x128 tile (s8_128x64_128x3: 3 stages, k steps
  // of 128) on 132 SMs: one CTA per SM, 4096 / 128 = 32 k-steps with 2 steps of loads in flight.
  // With a cold-load latency of 1 us a k-step takes at least 0.5 us: 16 us per CTA, whatever the
  // tensor cores could do. Warm operands (L2-resident) have no floor; nor has the 64x64 tile of
  // the same k (6 stages: 0.2 us a step), nor a shape with more CTAs than SMs.
  KernelParams p = *h200().kernel_model;
  p.int8_small_tile_waves = 1.25;
  p.int8_large_tile_waves = 1.75;
  p.int8_deep_k = 8192;
  p.gemm_cold_load_latency = 1e-6;
  const AnalyticalCostModel m(h200(), p);
  const GemmPlan cold = m.gemm_plan(128, 6144, 4096, 1, DType::INT8, 0.0, 0.0, 0.0, false);
  ASSERT_EQ(cold.tile_m, 64);
  ASSERT_EQ(cold.tile_n, 128);
  EXPECT_EQ(cold.ctas, 96);
  EXPECT_NEAR(cold.load_floor, 32 * 0.5e-6, 1e-12);
  EXPECT_NEAR(cold.cta_time, 16e-6, 1e-12);  // the tile's math (~11-12 us at the fitted rate) is below it
  const GemmPlan warm = m.gemm_plan(128, 6144, 4096, 1, DType::INT8, 0.0, 0.0, 0.0, true);
  EXPECT_EQ(warm.load_floor, 0.0);
  EXPECT_LT(warm.cta_time, 16e-6);
  EXPECT_NEAR(cold.compute - warm.compute, 16e-6 - warm.cta_time, 1e-12);  // one wave
  // 64x64 (6 stages) at 32 x 6144 x 4096: 96 CTAs, floor 32 x 0.2 us = 6.4 us.
  const GemmPlan small = m.gemm_plan(32, 6144, 4096, 1, DType::INT8, 0.0, 0.0, 0.0, false);
  ASSERT_EQ(small.tile_m, 64);
  ASSERT_EQ(small.tile_n, 64);
  EXPECT_NEAR(small.load_floor, 32 * 0.2e-6, 1e-12);
  // 512 x 6144 x 4096: 768 CTAs of 64x128 share the SMs, which hide each other's loads.
  EXPECT_EQ(m.gemm_plan(512, 6144, 4096, 1, DType::INT8, 0.0, 0.0, 0.0, false).load_floor, 0.0);
}
