// Memory plans against hand-derived numbers. Shared constants (H200, defaults of MemoryOptions):
//   device total T = 150,109,880,320 B (cudaMemGetInfo, traces/h200/memory.jsonl)
//   runtime: context 552,402,944 + library 208,666,624 = 761,069,568 B; + NCCL 880,803,840 B when tp > 1
//     (measured, traces/h200x4/memory_nccl.jsonl)
// Llama-3-70B: h 8192, 80 layers, 64 heads, 8 KV heads x 128, FFN 28672, vocab 128256.
//   per layer: attention h*h + 2*h*1024 + h*h = 150,994,944; FFN 3*h*28672 = 704,643,072
//   quantizable (80 layers) 68,451,041,280 params; embedding + lm-head 2 * 128256 * 8192 =
//   2,101,346,304; norms 80*2*8192 + 8192 = 1,318,912.
//   bf16, tp 1: 2 * 70,553,706,496 params = 141,107,412,992 B.
//   KV per token, bf16: 80 layers * 2 (K, V) * 8 heads * 128 * 2 B = 327,680 B (tp 2: 163,840).
//   Activation peak of an 8192-token step (FFN): 8192 * (2h + 3*28672/tp) * 2 B
//     tp 1: 1,677,721,600 B; tp 2: 973,078,528 B (the sampler, 8192*8192*2 + 256*128256*8, is smaller).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>

#include "headroom/core/error.hpp"
#include "headroom/memory/memory_plan.hpp"

using namespace headroom;

namespace {

const HardwareSpec& h200() {
  static HardwareSpec hw = HardwareSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/hw_configs/h200-sxm.yaml");
  return hw;
}
const ModelSpec& model(const std::string& key) {
  static std::map<std::string, ModelSpec> cache;
  auto it = cache.find(key);
  if (it == cache.end())
    it = cache.emplace(key, ModelSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/models/" + key + ".yaml")).first;
  return it->second;
}
MemoryOptions opts(int64_t tp = 1) {
  MemoryOptions o;
  o.plan.tp = tp;
  return o;
}
std::string message_of(const ModelSpec& m, const MemoryOptions& o) {
  try {
    (void)plan_memory(m, h200(), o);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(MemoryPlan, WeightsAddUpToTheParameterCount) {
  for (const char* key : {"llama3-8b", "llama3-70b", "llama3-405b", "qwen2.5-72b", "mixtral-8x7b", "deepseek-v3"}) {
    const ModelSpec& m = model(key);
    MemoryOptions o = opts();
    o.weights = "bf16";
    o.util = 1.0;
    MemoryPlan p = plan_memory(m, h200(), o);
    EXPECT_DOUBLE_EQ(p.stages[0].weights.total().value(), 2.0 * m.params_total()) << key;
  }
}

TEST(MemoryPlan, Llama70bBf16OnOneH200DoesNotFitAtUtil09) {
  // usable 0.9 * T = 135,098,892,288 < 141,107,412,992 weights + 761,069,568 runtime.
  MemoryPlan p = plan_memory(model("llama3-70b"), h200(), opts());
  EXPECT_DOUBLE_EQ(p.stages[0].weights.total().value(), 141107412992.0);
  EXPECT_DOUBLE_EQ(p.usable.value(), 0.9 * 150109880320.0);
  EXPECT_FALSE(p.fits);
  EXPECT_EQ(p.fails_first, Limit::Weights);
  EXPECT_NE(p.reason.find("the weights do not fit: 141.11 GB of weights + 0.76 GB runtime exceed the 135.10 GB"),
            std::string::npos) << p.reason;
  EXPECT_EQ(p.kv_tokens, 0);
}

TEST(MemoryPlan, Llama70bBf16OnOneH200AtUtil1LeavesTwentyThousandTokens) {
  // T - runtime - weights - rotary cache - activation = 150,109,880,320 - 761,069,568 - 141,107,412,992
  //   - 2,097,152 (8192 positions x 128 x 2 B) - 1,677,721,600 = 6,561,579,008 B; blocks of 16 * 327,680
  //   = 5,242,880 B -> 1251 blocks, 20,016 tokens: four 4096-token sequences.
  MemoryOptions o = opts();
  o.util = 1.0;
  MemoryPlan p = plan_memory(model("llama3-70b"), h200(), o);
  EXPECT_TRUE(p.fits) << p.reason;
  EXPECT_DOUBLE_EQ(p.stages[0].activation.value(), 1677721600.0);
  EXPECT_DOUBLE_EQ(p.stages[0].rotary_cache.value(), 8192.0 * 128 * 2);
  EXPECT_DOUBLE_EQ(p.stages[0].kv_budget.value(), 6561579008.0);
  EXPECT_DOUBLE_EQ(p.stages[0].kv_per_token.value(), 327680.0);
  EXPECT_EQ(p.kv_blocks, 1251);
  EXPECT_EQ(p.kv_tokens, 20016);
  EXPECT_EQ(p.max_sequences, 4);  // floor(1251 / 256)
}

TEST(MemoryPlan, Llama70bBf16Tp2) {
  // Per GPU: weights 70,555,025,408 B (half the matrices and vocabulary, norms replicated:
  // 141,107,412,992 / 2 + 1,318,912); runtime 1,641,873,408 (NCCL counted); activation 973,078,528.
  // KV budget 135,098,892,288 - 1,641,873,408 - 70,555,025,408 - 2,097,152 (rotary cache, not split)
  // - 973,078,528 = 61,926,817,792 B; block 16 * 163,840 = 2,621,440 B -> 23,623 blocks = 377,968 tokens;
  // 92 sequences of 4096 (256 blocks each).
  MemoryPlan p = plan_memory(model("llama3-70b"), h200(), opts(2));
  ASSERT_TRUE(p.fits) << p.reason;
  EXPECT_DOUBLE_EQ(p.stages[0].weights.total().value(), 70555025408.0);
  EXPECT_DOUBLE_EQ(p.runtime_total.value(), 1641873408.0);
  EXPECT_DOUBLE_EQ(p.stages[0].activation.value(), 973078528.0);
  EXPECT_DOUBLE_EQ(p.stages[0].kv_budget.value(), 61926817792.0);
  EXPECT_EQ(p.kv_blocks, 23623);
  EXPECT_EQ(p.kv_tokens, 377968);
  EXPECT_EQ(p.max_sequences, 92);
  EXPECT_EQ(p.max_tokens_in_use, 92 * 4096);
  EXPECT_EQ(p.fails_first, Limit::KvCache);
}

TEST(MemoryPlan, Fp8KvCacheDoublesTheTokens) {
  // Same budget, 81,920 B per token: 61,926,817,792 / 1,310,720 = 47,246.4 -> 47,246 blocks = 2 x 23,623.
  MemoryOptions o = opts(2);
  o.kv_dtype = "fp8";
  MemoryPlan p = plan_memory(model("llama3-70b"), h200(), o);
  EXPECT_EQ(p.kv_blocks, 47246);
  EXPECT_EQ(p.kv_tokens, 2 * 377968);
}

TEST(MemoryPlan, Fp8WeightsOnTp2) {
  // Quantized matrices 68,451,041,280 / 2 params at 1 B + 80 layers * 7 matrices * 4 B of per-tensor
  // scales; embedding + lm-head stay bf16 (2,101,346,304 / 2 params * 2 B); norms 2,637,824 B.
  // = 34,225,520,640 + 2,240 + 2,101,346,304 + 2,637,824 = 36,329,507,008 B: 0.5149 x the bf16 weights.
  // KV budget 135,098,892,288 - 1,641,873,408 - 36,329,507,008 - 2,097,152 - 973,078,528
  // = 96,152,336,192 -> 36,679 blocks = 586,864 tokens: 1.5527 x the bf16-weight capacity.
  MemoryOptions o = opts(2);
  o.weights = "fp8";
  MemoryPlan p = plan_memory(model("llama3-70b"), h200(), o);
  EXPECT_DOUBLE_EQ(p.stages[0].weights.total().value(), 36329507008.0);
  EXPECT_EQ(p.kv_blocks, 36679);
  EXPECT_EQ(p.kv_tokens, 586864);
  EXPECT_NEAR(static_cast<double>(p.kv_tokens) / 377968.0, 1.5527, 1e-4);
}

TEST(MemoryPlan, Fp8WeightsFitOnOneH200) {
  // Weights 68,451,041,280 + 2,240 + 4,202,692,608 + 2,637,824 = 72,656,373,952 B;
  // budget 135,098,892,288 - 761,069,568 - 72,656,373,952 - 1,677,721,600 = 60,003,727,168
  // -> 11,444 blocks of 5,242,880 B = 183,104 tokens.
  MemoryOptions o = opts();
  o.weights = "fp8";
  MemoryPlan p = plan_memory(model("llama3-70b"), h200(), o);
  EXPECT_DOUBLE_EQ(p.stages[0].weights.total().value(), 72656373952.0);
  EXPECT_EQ(p.kv_tokens, 183104);
}

TEST(MemoryPlan, Int4G128WeightsAre4125Bits) {
  // 68,451,041,280 params * 4.125 / 8 = 35,295,068,160 B (every K of 8192 / 28672 is a multiple of
  // 128) + bf16 embedding and head 4,202,692,608 + norms 2,637,824 = 39,500,398,592 B.
  MemoryOptions o = opts();
  o.weights = "int4";
  MemoryPlan p = plan_memory(model("llama3-70b"), h200(), o);
  EXPECT_DOUBLE_EQ(p.stages[0].weights.total().value() - p.stages[0].weights.embedding.value() -
                       p.stages[0].weights.lm_head.value() - p.stages[0].weights.norms.value(),
                   68451041280.0 * 4.125 / 8.0);
  EXPECT_DOUBLE_EQ(p.stages[0].weights.embedding.value(), 2101346304.0);
  // Quantizing the embeddings too: they shrink by 4.125 / 16.
  o.quantize_embeddings = true;
  MemoryPlan q = plan_memory(model("llama3-70b"), h200(), o);
  EXPECT_DOUBLE_EQ(q.stages[0].weights.embedding.value(), 1050673152.0 * 4.125 / 8.0);
}

TEST(MemoryPlan, DeepSeekV3MlaCachePerToken) {
  // 61 layers x (kv_lora 512 + rope 64) x 2 B = 70,272 B per token, the same on every TP rank.
  const ModelSpec& m = model("deepseek-v3");
  EXPECT_DOUBLE_EQ(kv_bytes_per_sequence(m, {}, parse_kv_format("bf16"), 61, 1, 1).value(), 70272.0);
  EXPECT_DOUBLE_EQ(kv_bytes_per_sequence(m, {8, 1, 1, 1}, parse_kv_format("bf16"), 61, 1, 1).value(), 70272.0);
  EXPECT_DOUBLE_EQ(kv_bytes_per_sequence(m, {8, 1, 1, 1}, parse_kv_format("fp8"), 61, 1, 1).value(), 35136.0);
  MemoryPlan p = plan_memory(m, h200(), opts(8));
  ASSERT_TRUE(p.fits) << p.reason;
  EXPECT_DOUBLE_EQ(p.stages[0].kv_per_token.value(), 70272.0);
  bool noted = false;
  for (const auto& n : p.notes) noted |= n.find("MLA latent cache is not split by TP") != std::string::npos;
  EXPECT_TRUE(noted);
  // Whole experts over ep 8 hold the same bytes as every expert split 8 ways, but for the fp8
  // per-tensor scales: 32 x 3 whole matrices instead of 256 x 3 shards per MoE layer:
  // (768 - 96) x 58 layers x 4 B = 155,904 B less.
  MemoryOptions e = opts(8);
  e.plan.ep = 8;
  MemoryPlan q = plan_memory(m, h200(), e);
  EXPECT_DOUBLE_EQ(p.stages[0].weights.routed_experts.value() - q.stages[0].weights.routed_experts.value(),
                   155904.0);
}

TEST(MemoryPlan, KiviOverheads) {
  // Llama-3-8B: 32 layers, 2 * 8 * 128 = 2048 KV elements per token per layer (1024 K, 1024 V).
  // KIVI-2, G 32, R 128: 3 bits per quantized element.
  // n = 4096: keys all quantized (4096 mod 128 = 0); values: 128 in bf16, 3968 quantized.
  //   per layer 1024 * ((4096 + 3968) * 3/8 + 128 * 2) = 1024 * 3280 = 3,358,720 B; x 32 = 107,479,040 B,
  //   4.995 x less than bf16 (536,870,912 B).
  const ModelSpec& m = model("llama3-8b");
  KvFormat k = parse_kv_format("kivi2");
  EXPECT_DOUBLE_EQ(kv_bytes_per_sequence(m, {}, k, 32, 1, 4096).value(), 107479040.0);
  EXPECT_DOUBLE_EQ(kv_bytes_per_sequence(m, {}, parse_kv_format("bf16"), 32, 16, 4096).value(), 536870912.0);
  // n = 1000: keys 896 quantized + 104 waiting; values 872 quantized + 128 recent.
  //   per layer 1024 * ((896 + 872) * 3/8 + (104 + 128) * 2) = 1024 * 1127 = 1,154,048 B; x 32.
  EXPECT_DOUBLE_EQ(kv_bytes_per_sequence(m, {}, k, 32, 1, 1000).value(), 32.0 * 1154048.0);
  // n = 100 < R: everything in bf16: 100 * 2048 * 2 B per layer.
  EXPECT_DOUBLE_EQ(kv_bytes_per_sequence(m, {}, k, 32, 1, 100).value(), 32.0 * 409600.0);
  // int4 KV (per head: fp16 scale + zero per 128): 4.25 bits -> 32 * 2048 * 4.25 / 8 = 34,816 B per token.
  MemoryOptions o = opts();
  o.kv_dtype = "int4";
  EXPECT_DOUBLE_EQ(plan_memory(m, h200(), o).stages[0].kv_per_token.value(), 34816.0);
  // KIVI needs separate K and V; R must be a multiple of G.
  o.kv_dtype = "kivi2";
  EXPECT_NE(message_of(model("deepseek-v3"), o).find("caches one MLA latent"), std::string::npos);
  o.kv_dtype = "kivi2-r100";
  EXPECT_THROW((void)plan_memory(m, h200(), o), UsageError);
}

TEST(MemoryPlan, PagingFragmentation) {
  // Block 16: a 1000-token sequence takes ceil(1000/16) = 63 blocks (1008 slots), a 100-token one 7 (112).
  // Mixed equally: 35 blocks per sequence on average, 550 tokens: 1 - 1100/1120 = 1.786% left empty.
  const ModelSpec& m = model("llama3-8b");
  EXPECT_DOUBLE_EQ(kv_bytes_per_sequence(m, {}, parse_kv_format("bf16"), 32, 16, 1000).value(), 1008.0 * 131072.0);
  MemoryOptions o = opts();
  o.contexts = {{100, 1.0}, {1000, 1.0}};
  MemoryPlan p = plan_memory(m, h200(), o);
  EXPECT_NEAR(p.fragmentation, 1.0 - 1100.0 / 1120.0, 1e-12);
  EXPECT_DOUBLE_EQ(p.mean_kv_per_sequence.value(), 35.0 * 16.0 * 131072.0);
  EXPECT_EQ(p.max_sequences, p.kv_blocks / 35);
  EXPECT_DOUBLE_EQ(p.mean_context, 550.0);
  // Block 1: no fragmentation.
  o.block = 1;
  EXPECT_DOUBLE_EQ(plan_memory(m, h200(), o).fragmentation, 0.0);
  // Weighted histogram "512:3,2048:1": mean 896 tokens.
  EXPECT_EQ(parse_contexts("512:3,2048:1"), (ContextDistribution{{512, 3.0}, {2048, 1.0}}));
  EXPECT_THROW((void)parse_contexts("512,abc"), UsageError);
  EXPECT_THROW((void)parse_contexts("0"), UsageError);
}

TEST(MemoryPlan, WhatFailsFirst) {
  const ModelSpec& m = model("llama3-70b");
  // A 65,536-token step on one GPU at util 1: activation 65536 * 102400 * 2 = 13.4 GB > 8.24 GB of room.
  MemoryOptions o = opts();
  o.util = 1.0;
  o.max_batch_tokens = 65536;
  MemoryPlan a = plan_memory(m, h200(), o);
  EXPECT_FALSE(a.fits);
  EXPECT_EQ(a.fails_first, Limit::Activation);
  EXPECT_NE(a.reason.find("activation peak of a 65536-token step"), std::string::npos) << a.reason;
  // TP 2, batch 64: floor(23623 / 64) = 369 blocks = 5904 tokens per sequence, below max_context 8192.
  MemoryOptions b = opts(2);
  b.batch = 64;
  MemoryPlan p = plan_memory(m, h200(), b);
  EXPECT_TRUE(p.fits);
  EXPECT_EQ(p.max_context_at_batch, 5904);
  EXPECT_EQ(p.context_limit, Limit::KvCache);
  EXPECT_NEAR(p.batch_kv_share, 64.0 * 256.0 / 23623.0, 1e-12);
  // Batch 1: the model's max_context comes first.
  b.batch = 1;
  p = plan_memory(m, h200(), b);
  EXPECT_EQ(p.max_context_at_batch, 8192);
  EXPECT_EQ(p.context_limit, Limit::ModelContext);
  // Batch 93 at 4096: one more than the 92 that fit.
  b.batch = 93;
  p = plan_memory(m, h200(), b);
  EXPECT_FALSE(p.fits);
  EXPECT_FALSE(p.batch_fits);
  EXPECT_NE(p.reason.find("at most 92 sequences"), std::string::npos) << p.reason;
  // One sequence longer than the whole cache (1 GPU, util 1: 20,016 tokens).
  MemoryOptions c = opts();
  c.util = 1.0;
  c.contexts = {{32768, 1.0}};
  p = plan_memory(m, h200(), c);
  EXPECT_FALSE(p.fits);
  EXPECT_NE(p.reason.find("less than one sequence of 32768 tokens"), std::string::npos) << p.reason;
}

TEST(MemoryPlan, PipelineStages) {
  // vLLM's get_pp_indices: 80 layers over 3 stages = 26 each, the remainder 2 to the stages before
  // the last: 27, 27, 26.
  EXPECT_EQ(stage_layers(80, 3), (std::vector<int64_t>{27, 27, 26}));
  EXPECT_EQ(stage_layers(61, 4), (std::vector<int64_t>{15, 15, 16, 15}));
  MemoryOptions o = opts();
  o.plan.pp = 3;
  MemoryPlan p = plan_memory(model("llama3-70b"), h200(), o);
  ASSERT_EQ(p.stages.size(), 3u);
  // Stage 0 holds 27 layers and the embedding: the least room for the same 27-layer KV.
  EXPECT_EQ(p.binding_stage, 0);
  EXPECT_DOUBLE_EQ(p.stages[0].kv_per_token.value(), 27.0 * 4096.0);
  EXPECT_DOUBLE_EQ(p.stages[0].weights.lm_head.value(), 0.0);
  EXPECT_DOUBLE_EQ(p.stages[2].weights.embedding.value(), 0.0);
  EXPECT_DOUBLE_EQ(p.stages[2].weights.lm_head.value(), 128256.0 * 8192.0 * 2.0);
  EXPECT_DOUBLE_EQ(p.runtime.nccl.value(), 880803840.0);
  // Expert parallelism adds the all-to-all family's buffers: 880,803,840 + 1,272,971,264.
  MemoryOptions e = opts();
  e.plan.ep = 8;
  e.plan.dp = 8;
  EXPECT_DOUBLE_EQ(plan_memory(model("deepseek-v3"), h200(), e).runtime.nccl.value(), 2153775104.0);
}

TEST(MemoryPlan, RejectedPlansNameTheConstraint) {
  EXPECT_EQ(message_of(model("llama3-70b"), opts(3)), "tp 3 does not divide the 64 attention heads of Llama-3-70B");
  MemoryOptions pp = opts();
  pp.plan.pp = 81;
  EXPECT_EQ(message_of(model("llama3-70b"), pp), "pp 81 is deeper than the 80 layers of Llama-3-70B");
  MemoryOptions ep = opts(4);
  ep.plan.ep = 3;
  EXPECT_EQ(message_of(model("deepseek-v3"), ep), "ep 3 does not divide the 256 routed experts of DeepSeek-V3");
  ep.plan.ep = 2;
  EXPECT_EQ(message_of(model("llama3-70b"), ep), "ep 2 needs a mixture-of-experts model; Llama-3-70B is dense");
  ep.plan.ep = 8;
  EXPECT_EQ(message_of(model("deepseek-v3"), ep),
            "ep 8 must divide tp x dp = 4, the GPUs of a pipeline stage that share the experts");
  const ModelSpec odd = ModelSpec::from_yaml_string(R"(
name: Odd
source: test
family: dense
layers: 4
hidden: 1536
vocab: 1000
tie_embeddings: true
max_context: 4096
dtype: bf16
attention: {type: gqa, heads: 12, kv_heads: 4, head_dim: 128, rope_theta: 10000}
ffn: {type: swiglu, intermediate: 4001}
)", "<test>");
  EXPECT_EQ(message_of(odd, opts(3)),
            "tp 3 and the 4 KV heads of Odd: one must divide the other (KV heads are split, or replicated when tp "
            "exceeds them)");
  EXPECT_EQ(message_of(odd, opts(2)), "tp 2 does not divide the FFN width 4001 of Odd");
  EXPECT_THROW((void)plan_memory(odd, h200(), [] { MemoryOptions o; o.util = 1.5; return o; }()), UsageError);
}

TEST(MemoryPlan, ReplicatedKvHeadsAndDeviceTotal) {
  // tp 16 > 8 KV heads: each GPU keeps one head: 80 * 2 * 1 * 128 * 2 = 40,960 B per token.
  MemoryPlan p = plan_memory(model("llama3-70b"), h200(), opts(16));
  EXPECT_DOUBLE_EQ(p.stages[0].kv_per_token.value(), 40960.0);
  EXPECT_EQ(p.device_total.value(), 150109880320.0);
  EXPECT_EQ(p.datasheet_capacity.value(), 141e9);
  // A hardware without a measured total falls back to its datasheet capacity, with a note.
  HardwareSpec h100 = HardwareSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/hw_configs/h100-sxm.yaml");
  MemoryPlan q = plan_memory(model("llama3-8b"), h100, opts());
  EXPECT_EQ(q.device_total, h100.hbm.capacity);
  EXPECT_FALSE(q.notes.empty());
  MemoryOptions o = opts();
  o.runtime.device_total = Bytes(85e9);
  EXPECT_EQ(plan_memory(model("llama3-8b"), h100, o).device_total.value(), 85e9);
}

// End to end against the H200 measurement (traces/h200/memory.jsonl): the defaults are the
// measured runtime, and the predicted largest paged KV cache of Llama-3-8B (bf16 weights resident,
// block 16) is within 2% of what PyTorch could allocate.
TEST(MemoryPlan, MatchesMeasuredH200Capacity) {
  std::ifstream f(HEADROOM_SOURCE_DIR "/traces/h200/memory.jsonl");
  ASSERT_TRUE(f) << "traces/h200/memory.jsonl";
  std::map<std::string, nlohmann::json> stage;
  std::vector<nlohmann::json> util_lines;
  for (std::string line; std::getline(f, line);) {
    if (line.empty() || line[0] == '#') continue;
    auto j = nlohmann::json::parse(line);
    if (j["stage"] == "paged_kv_util") util_lines.push_back(j);
    stage[j["stage"].get<std::string>()] = j;
  }
  const RuntimeOverheads rt;
  EXPECT_EQ(rt.cuda_context.value(), stage["after_context"]["non_torch_used"].get<double>());
  EXPECT_EQ(rt.library_workspace.value(), stage["after_flash"]["non_torch_used"].get<double>() -
                                              stage["after_context"]["non_torch_used"].get<double>() +
                                              stage["after_flash"]["torch_allocated"].get<double>());
  EXPECT_EQ(measured_device_total(h200())->first.value(), stage["after_context"]["total"].get<double>());

  const ModelSpec& m = model("llama3-8b");
  MemoryOptions o = opts();
  o.util = 1.0;
  o.max_batch_tokens = 1;  // the measurement held no activations
  MemoryPlan p = plan_memory(m, h200(), o);
  EXPECT_DOUBLE_EQ(p.stages[0].weights.total().value(), stage["weights"]["weight_bytes"].get<double>());
  const double measured = stage["paged_kv_max"]["num_blocks"].get<double>();
  EXPECT_NEAR(static_cast<double>(p.kv_blocks) / measured, 1.0, 0.02) << p.kv_blocks << " vs " << measured;
  // vLLM-style budget at util 0.9 (measured: 56,387 blocks).
  o.util = 0.9;
  p = plan_memory(m, h200(), o);
  ASSERT_FALSE(util_lines.empty());
  EXPECT_NEAR(static_cast<double>(p.kv_blocks) / util_lines[0]["num_blocks"].get<double>(), 1.0, 0.02);
}
