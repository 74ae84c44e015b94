// Step latency under parallel plans: pipeline arithmetic, expert parallelism, rejected plans.
#include <gtest/gtest.h>

#include "headroom/core/error.hpp"
#include "headroom/cost/analytical.hpp"
#include "headroom/cost/step.hpp"

using namespace headroom;

namespace {
const HardwareSpec& h200() {
  static HardwareSpec hw = HardwareSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/hw_configs/h200-sxm.yaml");
  return hw;
}
ModelSpec model(const char* name) {
  return ModelSpec::from_yaml_file(std::string(HEADROOM_SOURCE_DIR) + "/models/" + name + ".yaml");
}
// A decode step of the whole model at `batch` sequences of `context` cached tokens.
StepConfig decode(int64_t batch, int64_t context) {
  StepConfig c;
  c.phase = Phase::Decode;
  c.batch = batch;
  c.context = context;
  return c;
}
// A decode step of `layers` layers at `batch` sequences of 512 cached tokens.
StepConfig decode512(int64_t batch, int64_t layers) {
  StepConfig c = decode(batch, 512);
  c.layers = layers;
  return c;
}
std::string error_of(const ModelSpec& m, StepConfig c, ParallelPlan p) {
  RooflineCostModel rl(h200());
  try {
    (void)predict_step(m, c, p, rl, false);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Step, PipelineStagesSplitLayersAndFollowGPipe) {
  RooflineCostModel rl(h200());
  ModelSpec m = model("llama3-8b");
  const StepConfig c = decode(8, 1024);
  ParallelPlan one;
  StepPrediction p1 = predict_step(m, c, one, rl, true);
  ParallelPlan pipe;
  pipe.pp = 2;
  pipe.microbatches = 2;
  StepPrediction p2 = predict_step(m, c, pipe, rl, true);
  ASSERT_EQ(p2.stages.size(), 2u);
  EXPECT_EQ(p2.stages[0].layers, 16);
  EXPECT_EQ(p2.stages[1].first_layer, 16);
  // GPipe with CUDA graphs (a stage cannot start before its input): stage 0 ends micro-batch 0 at
  // t0 and micro-batch 1 at 2 t0; stage 1 ends micro-batch 0 at t0 + p2p + t1, and starts
  // micro-batch 1 when both that is done and its input has arrived (2 t0 + p2p).
  const Seconds t0 = p2.stages[0].time, t1 = p2.stages[1].time;
  EXPECT_NEAR(p2.first_token_path.value(), (t0 + p2.p2p + t1).value(), 1e-12);
  EXPECT_NEAR(p2.latency.value(), (std::max(t0 + p2.p2p + t1, t0 * 2.0 + p2.p2p) + t1).value(), 1e-12);
  EXPECT_NEAR(p2.bubble_fraction, 1.0 / 3.0, 1e-12);
  // Decode is weight-bound: half the layers per stage, so a stage takes about half the step.
  EXPECT_NEAR(p2.stages[0].time / p1.latency, 0.5, 0.06);
  // The p2p transfer is the hidden states of one micro-batch: 4 x 4096 x 2 B over 450 GB/s.
  EXPECT_NEAR(p2.p2p.value(), 4.0 * 4096 * 2 / 450e9, 1e-12);
}

TEST(Step, EagerStagesIssueAheadOfTheirInput) {
  // Eager Llama-3-8B decode, batch 8, two stages: each stage is host-bound (the CPU issues its
  // kernels slower than the GPU runs them). A NCCL receive makes the GPU stream wait, not the
  // host, so stage 1's host queues its kernels while stage 0 runs; when stage 0's output arrives,
  // stage 1's GPU runs them at GPU speed: t = t0 + p2p + gpu1 (measured in
  // traces/h200x2/profile/pp_host.jsonl: stage 1's receive returned after 0.2 ms; the step ended
  // at stage 0's 14.5 ms + stage 1's 4.5 ms of GPU time).
  const HardwareSpec& hw = h200();
  AnalyticalCostModel am(hw);
  ModelSpec m = model("llama3-8b");
  const StepConfig c = decode(8, 2048);
  ParallelPlan pipe;
  pipe.pp = 2;
  StepPrediction p = predict_step(m, c, pipe, am, false);
  const StageTime &s0 = p.stages[0], &s1 = p.stages[1];
  ASSERT_GT(s0.host, s0.gpu * 1.5);  // host-bound stages
  ASSERT_GT(s1.host, s1.gpu * 1.5);
  EXPECT_NEAR(s0.time.value(), s0.host.value(), 1e-12);
  EXPECT_NEAR(p.latency.value(), (s0.time + p.p2p + s1.gpu).value(), 1e-12);
  EXPECT_LT(p.latency, s0.time + s1.time);  // not the stages one after the other
  // Two micro-batches: stage 0's host issues both back to back (2 host0); stage 1 then runs the
  // second one's queued kernels: t = 2 host0 + p2p + gpu1' (gpu1' of a 4-sequence micro-batch).
  pipe.microbatches = 2;
  StepPrediction p2 = predict_step(m, c, pipe, am, false);
  EXPECT_NEAR(p2.latency.value(), (p2.stages[0].host * 2.0 + p2.p2p + p2.stages[1].gpu).value(), 1e-12);
}

TEST(Step, ExpertParallelismAddsAllToAllsAroundTheExperts) {
  ModelSpec m = model("mixtral-8x7b");
  StepConfig c = decode512(16, 2);
  c.ep = 4;
  c.dp = 4;  // four replicas (attention data-parallel) share the experts
  StepGraph g = StepGraph::build(m, c);
  int a2a = 0, all_reduce_after_experts = 0;
  for (auto v : g.order()) {
    const Op& op = g.op(v);
    if (op.kind == OpKind::Collective && op.as<CollectiveShape>().kind == CollectiveKind::AllToAll) {
      ++a2a;
      EXPECT_EQ(op.as<CollectiveShape>().gpus, 4);
      if (op.name.find("ids") != std::string::npos) {
        EXPECT_DOUBLE_EQ(op.as<CollectiveShape>().bytes, 16.0 * 2 * 4);  // tokens x top-2 int32 expert ids
      } else {
        EXPECT_DOUBLE_EQ(op.as<CollectiveShape>().bytes, 16.0 * 2 * 4096 * 2);  // tokens x top-2 x hidden x bf16
      }
    }
    if (op.name.find("down_proj.all_reduce") != std::string::npos) ++all_reduce_after_experts;
    if (op.kind == OpKind::MoeExperts) {
      EXPECT_EQ(op.as<MoeShape>().experts, 2);  // 8 experts / ep 4
    }
  }
  EXPECT_EQ(a2a, 6);  // routing ids, dispatch, combine; two layers
  EXPECT_EQ(all_reduce_after_experts, 0);
}

TEST(Step, RejectsPlansThatCannotWork) {
  StepConfig c;
  c.phase = Phase::Decode;
  c.batch = 6;
  c.context = 10;
  ParallelPlan p;
  p.pp = 40;
  EXPECT_NE(error_of(model("llama3-8b"), c, p).find("pp=40 is deeper than the 32 layers"), std::string::npos);
  p.pp = 2;
  p.microbatches = 4;
  EXPECT_NE(error_of(model("llama3-8b"), c, p).find("4 micro-batches do not divide the batch of 6"), std::string::npos);
  p = ParallelPlan{};
  p.ep = 3;
  EXPECT_NE(error_of(model("mixtral-8x7b"), c, p).find("ep=3 does not divide the 8 routed experts"), std::string::npos);
  p.ep = 2;
  EXPECT_NE(error_of(model("llama3-8b"), c, p).find("ep=2 needs a mixture-of-experts model"), std::string::npos);
}

TEST(Step, SkewedRoutingConcentratesLoad) {
  // Zipf exponent 1 over Mixtral's 8 experts, top-2: weights 1, 1/2, ..., 1/8 (sum 2.717857);
  // p_i = 2 w_i / 2.717857 = 0.73587, 0.36794, 0.24529, 0.18397, 0.14717, ...
  const MoeLoad uniform = moe_load(8, 2, 4, 0.0, 1);
  EXPECT_NEAR(uniform.touched, 8 * (1 - std::pow(0.75, 4)), 1e-12);  // 5.46875
  EXPECT_NEAR(moe_load(8, 2, 4, 1.0, 1).touched, 4.625101, 1e-6);   // sum of 1 - (1 - p_i)^4
  // ep 4, experts round-robin by popularity: GPU 0 holds experts 0 and 4, (0.73587 + 0.14717) / 2
  // = 0.44152 of all copies, 1.766x its uniform share.
  const MoeLoad ep = moe_load(8, 2, 16, 1.0, 4);
  EXPECT_NEAR(ep.share, 0.4415243, 1e-6);
  EXPECT_NEAR(ep.touched, 1.9217002, 1e-6);
  EXPECT_NEAR(moe_load(8, 2, 16, 0.0, 4).share, 0.25, 1e-12);

  // In a step: the busiest GPU's experts get 1.766x the copies, and the all-to-alls carry them.
  ModelSpec m = model("mixtral-8x7b");
  StepConfig c = decode512(64, 1);
  c.ep = 4;
  c.dp = 4;
  c.moe_skew = 1.0;
  StepGraph g = StepGraph::build(m, c);
  for (auto v : g.order()) {
    const Op& op = g.op(v);
    if (op.kind == OpKind::MoeExperts) {
      EXPECT_EQ(op.as<MoeShape>().tokens, 113);  // round(64 x 1.766)
    }
    if (op.name.find("combine") != std::string::npos) {
      EXPECT_NEAR(op.as<CollectiveShape>().bytes, 64.0 * 2 * 4096 * 2 * 1.766097, 64.0 * 2 * 4096 * 2 * 1e-6);
    }
  }
  c.moe_skew = -1;
  EXPECT_THROW(StepGraph::build(m, c), InputError);
  // Four EP GPUs need four GPUs in the stage (tp x dp).
  c.moe_skew = 0;
  c.dp = 1;
  EXPECT_THROW(StepGraph::build(m, c), InputError);
}

TEST(Step, BalancedRoutingTouchesEveryExpertItReaches) {
  // Mixtral decode, batch 8 on one GPU: 16 routed copies. Uniform routing touches
  // 8 (1 - (6/8)^8) = 7.19915 experts on average; balanced routing all 8 (16 >= 8 copies), so
  // the experts op reads 8 / 7.19915 times the weights.
  ModelSpec m = model("mixtral-8x7b");
  StepConfig c = decode512(8, 1);
  auto experts = [&](const StepConfig& cfg) {
    StepGraph g = StepGraph::build(m, cfg);
    for (auto v : g.order())
      if (g.op(v).kind == OpKind::MoeExperts) return g.op(v);
    return Op{};
  };
  const Op uniform = experts(c);
  c.moe_balanced = true;
  const Op balanced = experts(c);
  EXPECT_NEAR(uniform.as<MoeShape>().experts_touched, 8 * (1 - std::pow(0.75, 8)), 1e-9);
  EXPECT_DOUBLE_EQ(balanced.as<MoeShape>().experts_touched, 8.0);
  EXPECT_TRUE(balanced.as<MoeShape>().balanced);
  // Expert parallel over 2 GPUs (tp 2): every local expert is reached, each with exactly its
  // share of the 16 copies.
  c.tp = 2;
  c.ep = 2;
  const Op ep = experts(c);
  EXPECT_TRUE(ep.as<MoeShape>().balanced);
  EXPECT_DOUBLE_EQ(ep.as<MoeShape>().experts_touched, 4.0);
  EXPECT_EQ(ep.as<MoeShape>().tokens, 4);  // 16 copies x 1/2 = 8 copies: 4 tokens of top-2
  // Balanced routing and a skew exclude each other.
  c.moe_skew = 1.0;
  EXPECT_THROW(StepGraph::build(m, c), InputError);
}

TEST(Step, ExpertParallelUnderTensorParallelDispatchesEachRanksShare) {
  // tp 4 = ep 4, one replica of 64 tokens: each TP rank sends 16 tokens x top-2 copies (not 64),
  // receives as many under uniform routing, and an all-gather over tp restores the 64 tokens.
  ModelSpec m = model("mixtral-8x7b");
  StepConfig c = decode512(64, 1);
  c.tp = 4;
  c.ep = 4;
  StepGraph g = StepGraph::build(m, c);
  int gathers = 0;
  for (auto v : g.order()) {
    const Op& op = g.op(v);
    if (op.name.find("dispatch.all_to_all") != std::string::npos) {
      EXPECT_DOUBLE_EQ(op.as<CollectiveShape>().bytes, 16.0 * 2 * 4096 * 2);
    }
    if (op.kind == OpKind::MoeExperts) {
      EXPECT_EQ(op.as<MoeShape>().tokens, 16);
    }
    if (op.name.find("combine.all_gather") != std::string::npos) {
      ++gathers;
      EXPECT_EQ(op.as<CollectiveShape>().gpus, 4);
      EXPECT_DOUBLE_EQ(op.as<CollectiveShape>().bytes, 16.0 * 4096 * 2);
    }
  }
  EXPECT_EQ(gathers, 1);
}

TEST(Step, PipelineSendsBetweenNodesCrossTheNetwork) {
  // Llama-3-70B decode, batch 8, on H200 nodes of 8 GPUs. tp = 8, pp = 2: stage 0 fills node 0,
  // stage 1 node 1, so the one send between them goes over the network: 8 x 8192 x 2 B at the
  // NIC's 50 GB/s line rate on the roofline (the NVLink one, 450 GB/s, within a node). tp = 4,
  // pp = 2 keeps both stages on one node.
  RooflineCostModel rl(h200());
  ModelSpec m = model("llama3-70b");
  StepConfig c = decode512(8, 80);
  ParallelPlan across;
  across.tp = 8;
  across.pp = 2;
  EXPECT_NEAR(predict_step(m, c, across, rl, true).p2p.value(), 8.0 * 8192 * 2 / 50e9, 1e-12);
  ParallelPlan within;
  within.tp = 4;
  within.pp = 2;
  EXPECT_NEAR(predict_step(m, c, within, rl, true).p2p.value(), 8.0 * 8192 * 2 / 450e9, 1e-12);
}
