// FLOP and byte accounting of model steps against hand-derived values.
#include <gtest/gtest.h>

#include <boost/graph/topological_sort.hpp>

#include "headroom/core/error.hpp"
#include "headroom/graph/step_graph.hpp"

using namespace headroom;

namespace {

ModelSpec llama8b() { return ModelSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/models/llama3-8b.yaml"); }

double gemm_flops(const StepGraph& g) {
  double f = 0;
  for (auto v : g.order())
    if (g.op(v).kind == OpKind::Gemm) f += g.op(v).flops.value();
  return f;
}

double kind_flops(const StepGraph& g, OpKind k) {
  double f = 0;
  for (auto v : g.order())
    if (g.op(v).kind == k) f += g.op(v).flops.value();
  return f;
}

}  // namespace

TEST(StepGraph, GemmFlopsOfLlama8BDecodeAreTwicePerTokenNonEmbeddingParams) {
  StepConfig c;
  c.phase = Phase::Decode;
  c.batch = 1;
  c.context = 100;
  StepGraph g = StepGraph::build(llama8b(), c);
  // Per layer: q,k,v 4096x(4096+2*1024), o 4096x4096, gate-up 4096x2*14336, down 14336x4096 =
  // 218,103,808 weights; 32 layers + lm-head 128256x4096 = 7,504,658,432 matrix weights; 2 FLOP each.
  EXPECT_DOUBLE_EQ(gemm_flops(g), 2.0 * 7'504'658'432.0);
  // Attention: 32 heads x (context + 1) keys x (128 + 128) x 2 FLOP per layer.
  EXPECT_DOUBLE_EQ(kind_flops(g, OpKind::Attention), 32.0 * 2.0 * 32 * 101 * 256);
  // All weights are read once: matrices and norms, but only one row of the embedding table.
  EXPECT_DOUBLE_EQ(g.total_weight_bytes().value(), 2.0 * (8'030'261'248.0 - 128256.0 * 4096));
  EXPECT_EQ(g.tokens(), 1);
}

TEST(StepGraph, DecodeFlopsScaleWithBatch) {
  StepConfig c;
  c.phase = Phase::Decode;
  c.context = 1000;
  c.batch = 1;
  double f1 = gemm_flops(StepGraph::build(llama8b(), c));
  c.batch = 16;
  double f16 = gemm_flops(StepGraph::build(llama8b(), c));
  EXPECT_DOUBLE_EQ(f16, 16 * f1);
}

TEST(StepGraph, CausalPrefillAttentionCountsTheLowerTriangle) {
  StepConfig c;
  c.phase = Phase::Prefill;
  c.batch = 2;
  c.seq = 2048;
  StepGraph g = StepGraph::build(llama8b(), c);
  const double pairs = 2048.0 * 2049.0 / 2.0;
  EXPECT_DOUBLE_EQ(kind_flops(g, OpKind::Attention), 32 * 2 * 32 * pairs * 2.0 * 256);
  EXPECT_EQ(g.tokens(), 4096);
  // Prefill GEMMs: 2 FLOP per matrix weight per token, lm-head on the last position only.
  EXPECT_DOUBLE_EQ(gemm_flops(g), 2.0 * 4096 * 32 * 218'103'808.0 + 2.0 * 2 * 128256 * 4096);
}

TEST(StepGraph, TensorParallelSplitsWorkAndAddsTwoAllReducesPerLayer) {
  StepConfig c;
  c.phase = Phase::Decode;
  c.batch = 4;
  c.context = 10;
  double f1 = gemm_flops(StepGraph::build(llama8b(), c));
  c.tp = 4;
  StepGraph g = StepGraph::build(llama8b(), c);
  int all_reduce = 0;
  for (auto v : g.order()) {
    const Op& op = g.op(v);
    if (op.kind == OpKind::Collective && op.as<CollectiveShape>().kind == CollectiveKind::AllReduce) {
      ++all_reduce;
      EXPECT_DOUBLE_EQ(op.as<CollectiveShape>().bytes, 4.0 * 4096 * 2);
      EXPECT_DOUBLE_EQ(op.wire_bytes.value(), 2.0 * 3 / 4 * 4.0 * 4096 * 2);  // ring: 2(n-1)/n
    }
  }
  EXPECT_EQ(all_reduce, 64);
  EXPECT_DOUBLE_EQ(gemm_flops(g), f1 / 4);
}

TEST(StepGraph, RejectsPlansThatCannotWork) {
  StepConfig c;
  c.phase = Phase::Decode;
  c.context = 10;
  c.tp = 3;
  try {
    (void)StepGraph::build(llama8b(), c);
    FAIL() << "tp=3 accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("tp=3 does not divide the 32 attention heads"), std::string::npos) << e.what();
  }
  c.tp = 1;
  c.batch = 0;
  EXPECT_THROW((void)StepGraph::build(llama8b(), c), InputError);
  c.batch = 1;
  c.phase = Phase::Prefill;
  c.seq = 0;
  EXPECT_THROW((void)StepGraph::build(llama8b(), c), InputError);
}

TEST(StepGraph, IsADagWithDependenciesInOrder) {
  StepConfig c;
  c.phase = Phase::Prefill;
  c.seq = 128;
  c.layers = 2;
  StepGraph g = StepGraph::build(llama8b(), c);
  std::vector<size_t> pos(g.size());
  for (size_t i = 0; i < g.order().size(); ++i) pos[g.order()[i]] = i;
  for (auto [e, end] = boost::edges(g.graph()); e != end; ++e)
    EXPECT_LT(pos[boost::source(*e, g.graph())], pos[boost::target(*e, g.graph())]);

  EXPECT_EQ(g.size(), 2u * 12 + 3);  // 12 ops per layer + embedding, final norm, lm-head
  EXPECT_EQ(g.layers(), 2);
}

TEST(StepGraph, MoeTouchesExpectedExperts) {
  // 8 experts, top-2: one token touches exactly 2; many tokens touch nearly all 8.
  EXPECT_DOUBLE_EQ(expected_experts_touched(8, 2, 1), 2.0);
  EXPECT_NEAR(expected_experts_touched(8, 2, 64), 8.0, 1e-6);
  // 256 experts, top-8, 4 tokens: 256 (1 - (1 - 8/256)^4) = 30.24...
  EXPECT_NEAR(expected_experts_touched(256, 8, 4), 256 * (1 - std::pow(1 - 8.0 / 256, 4)), 1e-9);
}

TEST(Op, GemmAccounting) {
  Op g = make_gemm("g", 4096, 4096, 4096, DType::BF16);
  EXPECT_DOUBLE_EQ(g.flops.value(), 137'438'953'472.0);  // 137.4 GFLOP
  EXPECT_DOUBLE_EQ(g.bytes().value(), 3.0 * 4096 * 4096 * 2);
  Op f8 = make_gemm("g", 16, 1024, 512, DType::FP8);
  EXPECT_DOUBLE_EQ(f8.bytes_read.value(), 16 * 512 + 1024 * 512);
  EXPECT_DOUBLE_EQ(f8.bytes_written.value(), 16 * 1024 * 2.0);  // fp8 GEMMs write bf16
}

TEST(Op, DecodeAttentionReadsTheWholeKvCache) {
  AttentionShape s{Phase::Decode, 8, 1, 4096, 64, 8, 128, 128, false};
  Op a = make_attention("a", s, DType::BF16, DType::BF16);
  EXPECT_DOUBLE_EQ(a.bytes_read.value(), 8.0 * 4096 * 8 * 256 * 2 + 8.0 * 64 * 128 * 2);
  EXPECT_DOUBLE_EQ(a.flops.value(), 2.0 * 8 * 64 * 4096 * 256);
}

TEST(StepGraph, MlaDecodeReadsTheCompressedCacheOnce) {
  // DeepSeek-V3, one dense layer, decode batch 4 at context 1023 (1024 keys with the new one).
  // The absorbed attention runs 128 heads against one shared latent of 512 + 64 = 576 values per
  // token, which is both key and value: the kernel reads 4 x 1024 x 576 x 2 bytes of cache (not
  // 576 + 512 per token), plus q (128 x 576) and writes o (128 x 512) per sequence, and does
  // 2 x 128 x 1024 x (576 + 512) FLOP per sequence.
  ModelSpec ds = ModelSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/models/deepseek-v3.yaml");
  StepConfig c;
  c.phase = Phase::Decode;
  c.batch = 4;
  c.context = 1023;
  c.layers = 1;
  c.head = false;
  StepGraph g = StepGraph::build(ds, c);
  int found = 0;
  for (auto v : g.order()) {
    const Op& op = g.op(v);
    if (op.kind != OpKind::Attention) continue;
    ++found;
    EXPECT_DOUBLE_EQ(op.bytes_read.value(), 4.0 * 1024 * 576 * 2 + 4.0 * 128 * 576 * 2);
    EXPECT_DOUBLE_EQ(op.bytes_written.value(), 4.0 * 128 * 512 * 2);
    EXPECT_DOUBLE_EQ(op.flops.value(), 2.0 * 4 * 128 * 1024 * (576 + 512));
  }
  EXPECT_EQ(found, 1);
}

TEST(StepGraph, MoeExpertsTakeThePlansWeightFormat) {
  // Mixtral-8x7B decode, batch 1, one layer: 2 of 8 experts touched, 3 x 4096 x 14336 weights
  // each. In bf16 they read 2 x 176,160,768 x 2 bytes; as int4-g128 (4 bits plus a 16-bit scale
  // per 128 weights: 4.125 bits) 2 x 176,160,768 x 4.125 / 8; as fp8, 1 byte each and fp8 math.
  ModelSpec mx = ModelSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/models/mixtral-8x7b.yaml");
  auto experts_of = [&](std::optional<WeightFormat> f, int64_t ep) {
    StepConfig c;
    c.phase = Phase::Decode;
    c.batch = 1;
    c.context = 100;
    c.layers = 1;
    c.moe_balanced = true;
    c.weight_format = f;
    if (ep > 1) c.tp = c.ep = ep;
    StepGraph g = StepGraph::build(mx, c);
    for (auto v : g.order())
      if (g.op(v).kind == OpKind::MoeExperts) return g.op(v);
    ADD_FAILURE() << "no experts op";
    return Op{};
  };
  const double w = 3.0 * 4096 * 14336;
  const Op bf16 = experts_of(std::nullopt, 1);
  EXPECT_DOUBLE_EQ(bf16.weight_bytes.value(), 2 * w * 2);
  const Op int4 = experts_of(parse_weight_format("int4-g128"), 1);
  EXPECT_DOUBLE_EQ(int4.weight_bytes.value(), 2 * w * 4.125 / 8);
  EXPECT_EQ(int4.dtype, DType::BF16);  // weight-only: 16-bit math
  EXPECT_DOUBLE_EQ(int4.bytes_read.value() - int4.weight_bytes.value(),
                   bf16.bytes_read.value() - bf16.weight_bytes.value());  // activations unchanged
  const Op fp8 = experts_of(parse_weight_format("fp8"), 1);
  EXPECT_DOUBLE_EQ(fp8.weight_bytes.value(), 2 * w * 1);
  EXPECT_EQ(fp8.dtype, DType::FP8);
  // Expert parallel over 2 GPUs: one token's 2 copies reach 2 of 8 experts, 1 on each GPU's 4.
  const Op ep_int4 = experts_of(parse_weight_format("int4-g128"), 2);
  EXPECT_DOUBLE_EQ(ep_int4.weight_bytes.value(), 1 * w * 4.125 / 8);
}

TEST(StepGraph, MlaPrefillOfTheReferencePadsValuesToTheKeyWidth) {
  // DeepSeek-V3 prefill, one layer, 1 x 256 tokens: causal attention over 128 heads, q.k 192 wide,
  // values 128 wide; 256 x 257 / 2 = 32,896 pairs per head. PyTorch's flash kernel takes one
  // width, so the reference pads V to 192 (and builds q and k by concatenation: three copies of
  // 256 x 128 x 192 values); a runtime with unequal widths does 192 + 128 per pair.
  ModelSpec ds = ModelSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/models/deepseek-v3.yaml");
  auto attention_and_copies = [&](Impl impl) {
    StepConfig c;
    c.phase = Phase::Prefill;
    c.batch = 1;
    c.seq = 256;
    c.layers = 1;
    c.head = false;
    c.impl = impl;
    StepGraph g = StepGraph::build(ds, c);
    double flops = 0, copied = 0;
    for (auto v : g.order()) {
      if (g.op(v).kind == OpKind::Attention) flops += g.op(v).flops.value();
      if (g.op(v).kind == OpKind::Copy) copied += g.op(v).bytes_written.value();
    }
    return std::pair{flops, copied};
  };
  const auto ref = attention_and_copies(Impl::TorchReference);
  EXPECT_DOUBLE_EQ(ref.first, 2.0 * 128 * 32896 * (192 + 192));
  EXPECT_DOUBLE_EQ(ref.second, 3.0 * 256 * 128 * 192 * 2);
  const auto fused = attention_and_copies(Impl::Fused);
  EXPECT_DOUBLE_EQ(fused.first, 2.0 * 128 * 32896 * (192 + 128));
  EXPECT_DOUBLE_EQ(fused.second, 0.0);
}
