// The cycle-approximate fidelity: tick arithmetic, agreement with the analytical model where its
// assumptions hold, the effects only a simulation shows (tail waves, contention between streams,
// communication overlapped with compute), and determinism. Cross-checks use the calibrated
// hw_configs/h200-sxm.yaml as it stands; numbers derived by hand in the comments use the H200
// datasheet (132 SMs, 1980 MHz, bf16 989.5 TFLOP/s, HBM 4.8 TB/s) with the parameter values
// pinned in pinned_h200() below, so that a recalibration does not invalidate them.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <map>

#include "headroom/core/error.hpp"
#include "headroom/cost/analytical.hpp"
#include "headroom/graph/step_graph.hpp"
#include "headroom/sim/cycle_model.hpp"
#include "headroom/sim/engine.hpp"
#include "headroom/trace/score.hpp"
#include "headroom/trace/trace.hpp"

using namespace headroom;
using sim::Tick;

namespace {

const HardwareSpec& h200() {
  static HardwareSpec hw = HardwareSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/hw_configs/h200-sxm.yaml");
  return hw;
}

// The H200 with the kernel-model values the hand derivations use (the first calibration,
// 2026-11-21); parameters not listed keep the file's values.
const HardwareSpec& pinned_h200() {
  static HardwareSpec hw = [] {
    HardwareSpec h = h200();
    KernelParams p = h.kernel_model.value_or(KernelParams{});
    p.kernel_overhead = 3.649e-6;
    p.graph_kernel_overhead = 1.536e-6;
    p.hbm_read_efficiency = 0.8577;
    p.hbm_write_efficiency = 0.8851;
    p.hbm_turnaround_penalty = 0;  // (fitted since; these derivations predate it)
    p.gemm_efficiency[static_cast<size_t>(DType::BF16)] = 0.7822;
    p.gemm_overhead = 1.327e-6;
    p.gemm_tile_intensity = 0;  // every tile at the 128x256 rate (these derivations predate the tile-size rate)
    p.gemm_wave_overhead = 0.6379e-6;
    p.gemm_cold_load_latency = 0;  // (these derivations predate the k-loop latency floor)
    p.gemm_stream_ctas = 0.7694;
    p.collective_latency = 39.08e-6;
    p.collective_latency_growth = 0;  // 39.08 us on any group size
    p.collective_latency_growth_allreduce = 0;  // all-reduce too
    p.collective_bw_efficiency = 0.7616;
    p.collective_latency_growth_alltoall = 0;
    p.collective_ring_bw_loss_allreduce = p.collective_ring_bw_loss = 0;  // (these derivations predate the ring loss)
    // These derivations predate the lighter fixed cost of plain elementwise kernels, the event
    // pair and the row reduction's walk: every kernel at kernel_overhead, none of the others.
    p.light_kernel_overhead = p.graph_light_kernel_overhead = 0;
    p.event_pair_overhead = 0;
    p.torch_reduce_element_time = 0;
    h.kernel_model = p;
    return h;
  }();
  return hw;
}

const ModelSpec& model(const char* name) {
  static std::map<std::string, ModelSpec> cache;
  auto it = cache.find(name);
  if (it == cache.end())
    it = cache.emplace(name, ModelSpec::from_yaml_file(std::string(HEADROOM_SOURCE_DIR "/models/") + name + ".yaml"))
             .first;
  return it->second;
}

StepGraph decode_step(const char* name, int64_t batch, int64_t context, int64_t layers, int64_t tp = 1) {
  StepConfig c;
  c.phase = Phase::Decode;
  c.batch = batch;
  c.context = context;
  c.layers = layers;
  c.tp = tp;
  return StepGraph::build(model(name), c);
}

double ratio(const OpCost& a, const OpCost& b) { return a.time / b.time; }

// A compute-only kernel plan: `ctas` CTAs of `cycles` SM cycles each, one per SM.
sim::KernelPlan compute_kernel(int64_t ctas, int64_t cycles) {
  sim::KernelPlan k;
  k.label = "synthetic";
  k.ctas = ctas;
  k.cta_cycles = cycles;
  return k;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Ticks and clock domains.

TEST(CycleTicks, OneRoundingRule) {
  // 1 tick = 1 ps. Seconds round to the nearest tick, ties away from zero, >= 1 when positive.
  EXPECT_EQ(sim::seconds_to_ticks(1e-6), 1'000'000);
  EXPECT_EQ(sim::seconds_to_ticks(1.5e-12), 2);
  EXPECT_EQ(sim::seconds_to_ticks(1.4e-12), 1);
  EXPECT_EQ(sim::seconds_to_ticks(1e-14), 1);
  EXPECT_EQ(sim::seconds_to_ticks(0.0), 0);
  // SM clock 1980 MHz: a cycle is 505.05 ps -> 505; 2 cycles 1010.1 -> 1010; 198 cycles are
  // exactly 100 ns. Cycles convert as a whole (no accumulated per-cycle rounding).
  sim::ClockDomain sm(1.98e9);
  EXPECT_EQ(sm.to_ticks(1), 505);
  EXPECT_EQ(sm.to_ticks(2), 1010);
  EXPECT_EQ(sm.to_ticks(198), 100'000);
  EXPECT_EQ(sm.to_ticks(198'000'000'000), 100'000'000'000'000);  // 100 s: no overflow
  // Work rounds up to whole cycles.
  EXPECT_EQ(sim::work_to_cycles(1024.0, 512.0), 2);
  EXPECT_EQ(sim::work_to_cycles(1025.0, 512.0), 3);
  EXPECT_EQ(sim::work_to_cycles(0.0, 512.0), 0);
}

// ---------------------------------------------------------------------------------------------
// Cross-check with the analytical model where its assumptions hold (long kernels that fill the
// machine, no concurrency): the two derive their numbers from the same parameters, so they must
// agree within 10% (measured: within 0.5%).

TEST(CycleCrossCheck, LargeGemmsMatchAnalytical) {
  AnalyticalCostModel an(h200());
  CycleCostModel cy(h200());
  // 8192^3 bf16, hand-derived (pinned parameters, every tile at the same rate): cuBLASLt's
  // persistent kernels take 128-192 rows along m; the fewest waves for the least work come with
  // 144x256 tiles -> 57 x 32 = 1824 tiles = 13.8 -> 14 waves on 132 SMs (128x256: 2048 tiles,
  // 16 waves). Per tile 2*144*256*8192 = 604.0 MFLOP at 989.5e12 / 1.98e9 / 132 x 0.7822 =
  // 2961.4 FLOP/cycle = 203,953 cycles = 103.006 us, + 0.638 us pipeline fill = 103.644 us per
  // wave; 14 waves = 1451.02 us, + kernel 3.649 us + GEMM 1.327 us fixed = 1455.99 us. Its 268 MB
  // of operands (~0.07 ms at the read rate) hide under the compute.
  const Op big = make_gemm("g", 8192, 8192, 8192, DType::BF16);
  const OpCost pinned = CycleCostModel(pinned_h200()).cost(big);
  EXPECT_NEAR(pinned.time.value(), 1455.99e-6, 0.1e-6);
  EXPECT_EQ(pinned.bound, Bound::Compute);
  const OpCost c = cy.cost(big);
  EXPECT_NEAR(ratio(c, an.cost(big)), 1.0, 0.10);
  // Llama-3-8B gate_up at 4096 tokens: 32 x 56 = 1792 tiles = 13.6 -> 14 waves.
  const Op ffn = make_gemm("g", 4096, 14336, 4096, DType::BF16);
  EXPECT_NEAR(ratio(cy.cost(ffn), an.cost(ffn)), 1.0, 0.10);
  // A decode GEMV (memory-bound, split over the SMs) agrees as well.
  const Op gemv = make_gemm("g", 8, 28672, 8192, DType::BF16);
  EXPECT_NEAR(ratio(cy.cost(gemv), an.cost(gemv)), 1.0, 0.10);
}

TEST(CycleCrossCheck, LongStreamMatchesAnalytical) {
  AnalyticalCostModel an(h200());
  CycleCostModel cy(h200());
  // 1 GiB copy (pinned parameters): 2^30 B read at 4.8e12 x 0.8577 + 2^30 B written at 4.8e12 x
  // 0.8851 = 260.8 + 252.7 = 513.5 us, + 3.649 us launch = 517.2 us.
  const Op copy = make_stream("copy", OpKind::Copy, 1024.0 * 1024 * 1024, false);
  const OpCost pinned = CycleCostModel(pinned_h200()).cost(copy);
  EXPECT_NEAR(pinned.time.value(), 517.19e-6, 0.1e-6);
  EXPECT_EQ(pinned.bound, Bound::Memory);
  EXPECT_NEAR(ratio(cy.cost(copy), an.cost(copy)), 1.0, 0.10);
}

TEST(CycleCrossCheck, LongContextDecodeAttentionMatchesAnalytical) {
  AnalyticalCostModel an(h200());
  CycleCostModel cy(h200());
  // Llama-3-70B decode, batch 64, 32k context: 64 x 8 KV heads = 512 CTAs; the 64 x 32769 x 8 x
  // 256 x 2 B = 8.6 GB of KV cache streams at the decode bandwidth for ~2.5 ms.
  AttentionShape s{Phase::Decode, 64, 1, 32769, 64, 8, 128, 128, false};
  const Op att = make_attention("att", s, DType::BF16, DType::BF16);
  EXPECT_NEAR(ratio(cy.cost(att), an.cost(att)), 1.0, 0.10);
  // Batch 1 splits the context so that its 8 CTAs fill the SMs (and adds a combine kernel).
  AttentionShape s1{Phase::Decode, 1, 1, 32769, 64, 8, 128, 128, false};
  const Op att1 = make_attention("att", s1, DType::BF16, DType::BF16);
  EXPECT_NEAR(ratio(cy.cost(att1), an.cost(att1)), 1.0, 0.10);
}

TEST(CycleCrossCheck, GraphStepMatchesAnalyticalSum) {
  // One stream, CUDA graph, no concurrency: the simulated step is the sum of its kernels, as
  // the analytical evaluate_step composes it (8 layers of Llama-3-8B, batch 8, context 2048).
  const StepGraph g = decode_step("llama3-8b", 8, 2048, 8);
  AnalyticalCostModel an(h200());
  const StepSimulation s = simulate_step(g, h200());
  const StepCost a = evaluate_step(g, an, true);
  EXPECT_NEAR(s.time / a.time, 1.0, 0.10);
  // Op records are in issue order, back to back on one stream.
  ASSERT_EQ(s.ops.size(), g.size());
  for (size_t i = 1; i < s.ops.size(); ++i) EXPECT_GE(s.ops[i].start.value(), s.ops[i - 1].end.value() - 1e-15);
  EXPECT_DOUBLE_EQ(s.ops.back().end.value(), s.time.value());
}

TEST(CycleCrossCheck, EagerStepIsHostBoundLikeAnalytical) {
  // Eager PyTorch at batch 1: the host issues ~38 kernels per layer at ~14 us each, slower
  // than the GPU runs them, so the step is host-bound in both models.
  const StepGraph g = decode_step("llama3-8b", 1, 2048, 8);
  AnalyticalCostModel an(h200());
  SimOptions o;
  o.cuda_graph = false;
  const StepSimulation s = simulate_step(g, h200(), o);
  const StepCost a = evaluate_step(g, an, false);
  EXPECT_GT(a.host_time, a.gpu_time);
  // The simulated host runs ahead of the GPU except where long GEMMs (gate_up: ~60 us) let the
  // GPU fall behind, so the simulation is at or a little above max(host, gpu).
  EXPECT_GE(s.time.value(), a.host_time.value());
  EXPECT_NEAR(s.time / a.time, 1.0, 0.10);
}

// ---------------------------------------------------------------------------------------------
// What the analytical model cannot show.

TEST(CycleEffects, TailWaveLeavesSmsIdle) {
  // 133 compute-bound CTAs of 198,000 cycles (100 us at 1980 MHz) on 132 SMs: the first wave
  // fills every SM, the 133rd CTA runs alone in a second wave -> 200 us, and the SMs are busy
  // 133 x 100 / (132 x 200) = 50.4% of the time. 132 CTAs take 100 us at 100%.
  const sim::Lowering low(pinned_h200(), *pinned_h200().kernel_model);
  for (int64_t ctas : {132, 133}) {
    sim::Engine e(low.machine());
    e.add_stream();
    e.add_op(0, nullptr, 0);
    e.add_kernel(compute_kernel(ctas, 198'000));
    e.run();
    const double expect_t = ctas == 132 ? 100e-6 : 200e-6;
    EXPECT_DOUBLE_EQ(sim::ticks_to_seconds(e.end()), expect_t);
    EXPECT_NEAR(e.sm_utilization(), ctas == 132 ? 1.0 : 133.0 / 264.0, 1e-9);
    EXPECT_EQ(e.kernels()[0].groups, ctas == 132 ? 1 : 2);  // one CTA group per wave
  }
  // A real GEMM shows the same: 8192^3 has 1824 tiles (144x256) for 132 persistent CTAs; 108 take
  // 14 tiles and 24 take 13, so during the last tile 24 of 132 SMs are idle.
  OpGraph og;
  boost::add_vertex(make_gemm("g", 8192, 8192, 8192, DType::BF16), og);
  const StepSimulation s = simulate_graph(og, {0}, pinned_h200());
  // Busy fraction over the whole kernel, its graph-node and GEMM fixed costs included:
  // 1824 x 103.644 us / (132 x (14 x 103.644 + 1.536 + 1.327) us) = 0.98507.
  EXPECT_NEAR(s.utilization.sm, 0.98507, 0.00002);
}

TEST(CycleEffects, ConcurrentCopiesShareBandwidth) {
  // Two bandwidth-bound 1 GiB copies on two streams (pinned parameters): each alone takes 513.5
  // us of HBM time (+3.649 us launch); together they take the sum of their bytes over the
  // bandwidth, 2 x 513.5 + 3.649 = 1030.7 us, not the max (the analytical model prices each
  // kernel on an idle GPU).
  const sim::Lowering low(pinned_h200(), *pinned_h200().kernel_model);
  const Op copy = make_stream("copy", OpKind::Copy, 1024.0 * 1024 * 1024, false);
  std::vector<sim::KernelPlan> plans;
  low.lower(copy, IssueMode::Cuda, plans);
  ASSERT_EQ(plans.size(), 1u);
  auto run = [&](int copies) {
    sim::Engine e(low.machine());
    for (int i = 0; i < copies; ++i) {
      e.add_stream();
      e.add_op(i, nullptr, 0);
      e.add_kernel(plans[0]);
    }
    e.run();
    return std::make_pair(sim::ticks_to_seconds(e.end()), e.utilization(sim::Resource::Hbm));
  };
  const auto [one, util1] = run(1);
  const auto [two, util2] = run(2);
  EXPECT_NEAR(one, 513.545e-6 + 3.649e-6, 0.01e-6);
  EXPECT_NEAR(two, 2 * 513.545e-6 + 3.649e-6, 0.01e-6);
  EXPECT_GT(util1, 0.99);  // HBM saturated (at its achievable rate) all but the launch gap
  EXPECT_GT(util2, 0.99);
}

TEST(CycleEffects, BandwidthCapsAreWaterFilled) {
  // 10 CTAs capped at 24 GB/s each next to 100 uncapped CTAs on HBM (4.8 TB/s nominal). An
  // equal share would be 4.8e12 / 110 = 43.6 GB/s, above the cap, so the capped CTAs draw
  // 10 x 24 = 240 GB/s and the other 100 share the remaining 4.56 TB/s:
  //   uncapped: 100 x 0.456 MB = 45.6 MB / 4.56e12 = 10 us;
  //   capped: 2.4 MB each at 24 GB/s = 100 us (the cap still binds once they are alone).
  const sim::Lowering low(h200(), *h200().kernel_model);
  sim::Engine e(low.machine());
  e.add_stream();
  e.add_stream();
  sim::KernelPlan capped;
  capped.ctas = 10;
  capped.cta_bytes = 2.4e6;
  capped.cta_rate_cap = 24e9;
  sim::KernelPlan uncapped;
  uncapped.ctas = 100;
  uncapped.cta_bytes = 0.456e6;
  e.add_op(0, nullptr, 0);
  e.add_kernel(capped);
  e.add_op(1, nullptr, 0);
  e.add_kernel(uncapped);
  e.run();
  EXPECT_NEAR(sim::ticks_to_seconds(e.kernels()[1].end), 10e-6, 2e-12);
  EXPECT_NEAR(sim::ticks_to_seconds(e.kernels()[0].end), 100e-6, 2e-12);
}

TEST(CycleEffects, CollectiveOverlapsComputeOnItsOwnStream) {
  // TP-style step fragment: a GEMM and an all-reduce that do not depend on each other, then a
  // residual add that needs both (pinned parameters, CUDA graph).
  //   GEMM 8192^3 bf16: persistent, 132 CTAs over 1824 tiles of 144x256 (108 CTAs take 14, 24
  //   take 13) of 103.644 us, + 1.536 us graph node + 1.327 us GEMM prologue = 1453.88 us alone.
  //   all_reduce of 256 MiB on 4 GPUs: 1.5 x 268.4 MB = 402.7 MB on the wire at 450 GB/s x
  //   0.7616 = 1174.9 us, + 39.08 us all-reduce latency = 1213.96 us, on 16 SMs.
  // One stream: ~1454 + 1214 = 2668 us (+ the residual).
  // Two streams (NCCL's high priority), GEMM SM margin 16 (the default then): the collective
  // starts at once on 16 SMs; the GEMM's grid is 116 CTAs over 1824 tiles (84 take 16, 32 take
  // 15): 2.863 + 16 x 103.644 = 1661.17 us, 207 us later than alone, and the step ends at ~1.67
  // ms instead of ~2.67. (If CTAs were fluid: (1824 x 103.644 + 16 x 1213.96) / 132 = 1579 us.)
  // Two streams, no margin: the GEMM's 132 CTAs find 116 SMs; 108 heavy and 8 light CTAs run,
  // 16 light ones wait for the collective's SMs: 1213.96 + 13 x 103.644 = 2561.33 us, barely
  // better than one stream: the reason TransformerEngine reserves SMs for NCCL.
  OpGraph og;
  const OpVertex gemm = boost::add_vertex(make_gemm("gemm", 8192, 8192, 8192, DType::BF16), og);
  const OpVertex ar =
      boost::add_vertex(make_collective("ar", CollectiveKind::AllReduce, 4, 256.0 * 1024 * 1024, DType::BF16), og);
  const OpVertex res = boost::add_vertex(make_row_op("res", OpKind::Residual, 8192, 8192, DType::BF16), og);
  boost::add_edge(gemm, res, og);
  boost::add_edge(ar, res, og);
  const std::vector<OpVertex> order{gemm, ar, res};
  SimOptions one;
  SimOptions two;
  two.collectives_on_own_stream = true;
  SimOptions no_margin = two;
  no_margin.gemm_sm_margin = 0;
  const StepSimulation s1 = simulate_graph(og, order, pinned_h200(), one);
  const StepSimulation s2 = simulate_graph(og, order, pinned_h200(), two);
  const StepSimulation s3 = simulate_graph(og, order, pinned_h200(), no_margin);
  const double gemm_t = s1.ops[0].end.value() - s1.ops[0].start.value();
  const double coll_t = s1.ops[1].end.value() - s1.ops[1].start.value();
  EXPECT_NEAR(gemm_t, 1453.88e-6, 0.01e-6);
  EXPECT_NEAR(coll_t, 1213.96e-6, 0.01e-6);
  EXPECT_NEAR(s1.time.value(), gemm_t + coll_t + (s1.ops[2].end - s1.ops[2].start).value(), 1e-9);
  EXPECT_LT(s2.time.value(), s1.time.value() - 0.9e-3);  // ~1.0 ms saved
  EXPECT_NEAR(s2.ops[0].end.value(), 1661.17e-6, 0.01e-6);
  EXPECT_EQ(s2.ops[1].stream, 1);
  EXPECT_DOUBLE_EQ(s2.ops[1].start.value(), 0.0);  // starts with the GEMM
  EXPECT_GT(s2.utilization.sm, s1.utilization.sm);
  EXPECT_GT(s2.utilization.link, s1.utilization.link);
  EXPECT_NEAR(s3.ops[0].end.value(), 2561.33e-6, 0.01e-6);
  EXPECT_LT(s3.time.value(), s1.time.value());
}

TEST(CycleEffects, TensorParallelDecodeHasNoCollectiveOverlap) {
  // In a Megatron decoder layer every all-reduce sits on the critical path (the residual needs
  // it, everything after needs the residual): a second stream cannot help. At batch 8 the GEMMs
  // stream their weights (8-row tiles, no compute to speak of), so the SMs reserved for NCCL
  // by default on it cost nothing; at batch 256 their compute waves run on 116 SMs instead of
  // 132 and the step is slower.
  for (int64_t batch : {8, 256}) {
    const StepGraph g = decode_step("llama3-70b", batch, 2048, 4, 4);
    SimOptions apart;
    apart.collectives_on_own_stream = true;
    SimOptions apart_no_margin = apart;
    apart_no_margin.gemm_sm_margin = 0;
    const StepSimulation a = simulate_step(g, h200());
    const StepSimulation b = simulate_step(g, h200(), apart_no_margin);
    const StepSimulation c = simulate_step(g, h200(), apart);
    EXPECT_NEAR(b.time / a.time, 1.0, 0.001) << batch;
    if (batch == 8) {
      EXPECT_NEAR(c.time / a.time, 1.0, 0.001);
    } else {
      EXPECT_GT(c.time / a.time, 1.01);
    }
    EXPECT_GT(a.utilization.link, 0.0);
  }
}

TEST(CycleEffects, LowerSmClockSlowsComputeNotMemory) {
  CycleCostModel full(h200());
  CycleCostModel half(h200(), OperatingPoint{Hertz(990e6), Hertz(0)});
  const Op big = make_gemm("g", 8192, 8192, 8192, DType::BF16);
  const Op copy = make_stream("copy", OpKind::Copy, 1024.0 * 1024 * 1024, false);
  // Main loops take twice the time; fixed costs (wave fill, launch: ~16 us of ~1480) do not
  // scale, as in the analytical model at the same operating point.
  const double r = half.cost(big).time / full.cost(big).time;
  EXPECT_GT(r, 1.95);
  EXPECT_LT(r, 2.0);
  AnalyticalCostModel an_full(h200());
  AnalyticalCostModel an_half(h200(), OperatingPoint{Hertz(990e6), Hertz(0)});
  EXPECT_NEAR(r, an_half.cost(big).time / an_full.cost(big).time, 0.01);
  EXPECT_NEAR(half.cost(copy).time / full.cost(copy).time, 1.0, 1e-3);
}

TEST(CycleEffects, MissingMatrixUnitIsAnError) {
  CycleCostModel cy(h200());
  EXPECT_THROW((void)cy.cost(make_gemm("g", 64, 64, 64, DType::FP4)), InputError);
}

// ---------------------------------------------------------------------------------------------
// End to end: simulate_step against the measured model steps (the Predictor prices model_step
// records with evaluate_step; this is the step simulation itself). Measured on the calibrated
// H200 at the time of writing: 6.5% MAPE on the train half, 7.1% on the hold-out half
// (evaluate_step over analytical kernel costs: about 6% and 7%); the bound leaves room for
// recalibration.

TEST(CycleTraces, ModelStepsWithinTolerance) {
  double err[2] = {0, 0};
  int n[2] = {0, 0};
  for (const char* f : {"/traces/h200/model_step.jsonl", "/traces/h200x4/tp_step.jsonl"}) {
    const Trace t = read_trace_file(std::string(HEADROOM_SOURCE_DIR) + f);
    for (const auto& r : t.records) {
      if (r.obj.value("op", "") != "model_step" || !r.obj.contains("ms")) continue;
      const Case c = parse_case(r.obj, t.origin);
      const auto& m = std::get<ModelStepCase>(c);
      const StepGraph g = StepGraph::build(model(m.model.c_str()), m.cfg);
      SimOptions o;
      o.cuda_graph = m.cuda_graph;
      const double predicted = simulate_step(g, h200(), o).time.value() * 1e3;
      const int h = is_holdout(r.obj) ? 1 : 0;
      err[h] += std::fabs(predicted / r.obj["ms"].get<double>() - 1.0);
      ++n[h];
    }
  }
  ASSERT_GT(n[0], 50);
  ASSERT_GT(n[1], 20);
  std::cout << "simulate_step MAPE on measured model steps: train " << 100 * err[0] / n[0] << "% (" << n[0]
            << "), hold-out " << 100 * err[1] / n[1] << "% (" << n[1] << ")\n";
  EXPECT_LT(err[0] / n[0], 0.12);
  EXPECT_LT(err[1] / n[1], 0.12);
}

// ---------------------------------------------------------------------------------------------
// Determinism.

TEST(CycleDeterminism, SameInputsSameTicks) {
  const StepGraph g = decode_step("llama3-70b", 64, 4096, 8, 2);
  SimOptions o;
  o.collectives_on_own_stream = true;
  const StepSimulation a = simulate_step(g, h200(), o);
  const StepSimulation b = simulate_step(g, h200(), o);
  EXPECT_EQ(a.ticks, b.ticks);
  EXPECT_EQ(a.events, b.events);
  ASSERT_EQ(a.ops.size(), b.ops.size());
  for (size_t i = 0; i < a.ops.size(); ++i) {
    EXPECT_EQ(a.ops[i].start.value(), b.ops[i].start.value());
    EXPECT_EQ(a.ops[i].end.value(), b.ops[i].end.value());
  }
  EXPECT_EQ(a.utilization.sm, b.utilization.sm);
  CycleCostModel cy(h200());
  const Op op = make_gemm("g", 133 * 128, 256, 4096, DType::BF16);
  EXPECT_EQ(cy.cost(op).time.value(), cy.cost(op).time.value());
}

TEST(CycleDeterminism, DependencyOnALaterOpIsRejected) {
  const sim::Lowering low(h200(), *h200().kernel_model);
  sim::Engine e(low.machine());
  e.add_stream();
  const int later = 1;
  EXPECT_THROW(e.add_op(0, &later, 1), InputError);
}
