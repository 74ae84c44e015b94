// FlashAttention prefill in the analytical model against hand-derived times (bf16 dense peak
// 989.5 TFLOP/s, 132 SMs, main loop at the full peak and no fixed costs, so only the schedule
// moves the time): causal attention's unequal work items as a list schedule.
#include <gtest/gtest.h>

#include "headroom/cost/analytical.hpp"
#include "headroom/graph/step_graph.hpp"

using namespace headroom;

namespace {
AnalyticalCostModel ideal() {
  static HardwareSpec hw = HardwareSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/hw_configs/h200-sxm.yaml");
  KernelParams p = hw.kernel_model.value_or(KernelParams{});
  p.attn_prefill_efficiency = 1.0;
  p.attn_block_overhead = 0.0;
  return AnalyticalCostModel(hw, p);
}
// Compute time (us) of a one-sequence prefill of `seq` tokens, 32 query heads of 128 (8 KV heads).
double compute_us(int64_t seq, bool causal) {
  AttentionShape s;
  s.phase = Phase::Prefill;
  s.batch = 1;
  s.q_len = s.kv_len = seq;
  s.heads = 32;
  s.kv_heads = 8;
  s.qk_dim = s.v_dim = 128;
  s.causal = causal;
  return ideal().attention_plan(make_attention("a", s, DType::BF16, DType::BF16), 0.0).compute * 1e6;
}
// Decode of `batch` sequences of `kv_len` keys, Llama-3-8B heads (32 query, 8 KV, 128 wide).
AttentionShape decode_shape(int64_t batch, int64_t kv_len) {
  AttentionShape s;
  s.phase = Phase::Decode;
  s.batch = batch;
  s.q_len = 1;
  s.kv_len = kv_len;
  s.heads = 32;
  s.kv_heads = 8;
  s.qk_dim = s.v_dim = 128;
  s.causal = false;
  return s;
}
}  // namespace

TEST(AttentionPrefill, CausalAtOneThousandTokensTakesAboutAsLongAsFullAttention) {
  // 1024 tokens: 32 heads x 8 query blocks = 256 items, two waves on 132 SMs.
  // Full: every item 2 x 128 x 1024 x 256 = 67.1 MFLOP at 1/132 of the peak = 8.95 us, 2 waves:
  // 17.90 us. Causal: the average SM's share (32 x 1024 x 1025 / 2 pairs x 512 FLOP = 8.60 GFLOP
  // over the peak = 8.69 us) plus one longest item (8.95 us x 131/132 = 8.88 us): 17.57 us.
  EXPECT_NEAR(compute_us(1024, false), 17.905, 0.01);
  EXPECT_NEAR(compute_us(1024, true), 17.574, 0.01);
}

TEST(AttentionPrefill, CausalApproachesHalfTheWorkAtLongSequences) {
  // 16384 tokens: 4096 items; causal 2364.6 us against full 4583.6 us (32 waves): 0.516.
  EXPECT_NEAR(compute_us(16384, true), 2364.65, 0.1);
  EXPECT_NEAR(compute_us(16384, true) / compute_us(16384, false), 0.516, 0.001);
}

TEST(AttentionPrefill, OneWaveOfItemsTakesTheLongestItemCausalOrNot) {
  // 512 tokens: 128 items fit on 132 SMs at once; the last query block sees every key either way:
  // 2 x 128 x 512 x 256 FLOP at 1/132 of the peak = 4.476 us.
  EXPECT_NEAR(compute_us(512, true), 4.476, 0.001);
  EXPECT_NEAR(compute_us(512, false), 4.476, 0.001);
}

TEST(AttentionDecode, ASplitContextStreamsAtItsOwnFraction) {
  // Decode, 8 KV heads of 128, context 16384. Batch 1: 8 (sequence, KV head) items < 0.8 x 132,
  // so each context is split 132 / 8 -> 16 ways (128 CTAs, under one per SM: no sharing) and
  // streams at attn_decode_split_efficiency of the rate. Batch 16: 128 items, unsplit, full rate.
  static HardwareSpec hw = HardwareSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/hw_configs/h200-sxm.yaml");
  KernelParams p = hw.kernel_model.value_or(KernelParams{});
  p.attn_decode_split_efficiency = 0.5;
  const AnalyticalCostModel m(hw, p);
  auto plan = [&](int64_t batch) {
    return m.attention_plan(make_attention("a", decode_shape(batch, 16385), DType::BF16, DType::BF16), 0.0);
  };
  const AttentionPlan one = plan(1), sixteen = plan(16);
  EXPECT_DOUBLE_EQ(one.splits, 16.0);
  EXPECT_DOUBLE_EQ(one.share, 0.5);
  EXPECT_DOUBLE_EQ(sixteen.splits, 1.0);
  EXPECT_DOUBLE_EQ(sixteen.share, 1.0);
}

TEST(AttentionDecode, AQuantizedCacheIsReadInItsFormatAndExpandedAsItIsRead) {
  // 64 sequences x 16384 keys x 8 KV heads x (128 + 128): 2^31 = 2147483648 cache elements.
  static HardwareSpec hw = HardwareSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/hw_configs/h200-sxm.yaml");
  KernelParams p = hw.kernel_model.value_or(KernelParams{});
  p.kv_convert_ops_per_element = 20.0;
  p.kv_dequant_ops_per_element = 30.0;
  const AnalyticalCostModel m(hw, p);
  const AttentionShape s = decode_shape(64, 16384);
  const double elems = 2147483648.0;
  const Op bf16 = make_attention("a", s, DType::BF16, DType::BF16);
  const Op fp8 = make_attention("a", s, DType::BF16, DType::FP8);
  EXPECT_DOUBLE_EQ(bf16.dequant_elements, 0.0);
  EXPECT_DOUBLE_EQ(fp8.dequant_elements, elems);
  // fp8: 1 byte per element instead of 2; each converted at 20 ops: 20 x 2^31 / 66.9e12 = 642.0 us.
  EXPECT_DOUBLE_EQ((bf16.bytes_read - fp8.bytes_read).value(), elems);
  EXPECT_DOUBLE_EQ(m.attention_plan(fp8, 0.0).dequant_ops, 20.0 * elems);
  // int4 (group = head_dim 128, a 16-bit scale and zero point each): 4 + 32/128 = 4.25 bits.
  Op int4 = make_attention("a", s, DType::BF16, DType::BF16);
  store_kv_as(int4, parse_kv_format("int4"));
  EXPECT_DOUBLE_EQ((bf16.bytes_read - int4.bytes_read).value(), elems * (2.0 - 4.25 / 8.0));
  EXPECT_DOUBLE_EQ(int4.dequant_elements, elems);
  EXPECT_DOUBLE_EQ(m.attention_plan(int4, 0.0).dequant_ops, 30.0 * elems);
  // The conversion adds to the compute side only: 20 x 2^31 / 66.9e12 = 641.99 us more than bf16.
  const AttentionPlan a = m.attention_plan(fp8, 0.0), b16 = m.attention_plan(bf16, 0.0);
  EXPECT_NEAR(a.compute - b16.compute, 20.0 * elems / 66.9e12, 1e-9);
  EXPECT_NEAR(a.compute - b16.compute, 641.99e-6, 0.01e-6);
}
