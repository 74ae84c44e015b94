#include "headroom/graph/step_graph.hpp"

#include <boost/graph/topological_sort.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>

#include "headroom/core/error.hpp"

namespace headroom {
namespace {

void check_plan(const ModelSpec& m, const StepConfig& c) {
  auto bad = [&](const std::string& what) {
    throw InputError(fmt::format("{}: plan {} batch={} tp={}: {}", m.name, to_string(c.phase), c.batch, c.tp, what));
  };
  if (c.batch <= 0) bad("batch must be positive");
  if (c.tp <= 0) bad("tp must be positive");
  if (c.phase == Phase::Prefill && c.seq <= 0) bad("prefill needs seq > 0");
  if (c.phase == Phase::Decode && c.context < 0) bad("decode needs context >= 0");
  if (c.layers && *c.layers <= 0) bad("layers must be positive");
  const auto& a = m.attention;
  if (a.heads % c.tp != 0) bad(fmt::format("tp={} does not divide the {} attention heads", c.tp, a.heads));
  if (a.kind == AttentionKind::GQA && a.kv_heads % c.tp != 0 && c.tp % a.kv_heads != 0)
    bad(fmt::format("tp={} and the {} KV heads: neither divides the other", c.tp, a.kv_heads));
  if (m.ffn.intermediate > 0 && m.ffn.intermediate % c.tp != 0)
    bad(fmt::format("tp={} does not divide the FFN width {}", c.tp, m.ffn.intermediate));
  if (m.moe && c.ep == 1 && m.moe->expert_intermediate % c.tp != 0)
    bad(fmt::format("tp={} does not divide the expert width {}", c.tp, m.moe->expert_intermediate));
  if (c.ep <= 0) bad("ep must be positive");
  if (!(c.moe_skew >= 0)) bad(fmt::format("moe_skew must be >= 0 (0 = uniform routing), got {}", c.moe_skew));
  if (c.moe_balanced && c.moe_skew > 0) bad("balanced routing and moe_skew exclude each other");
  if (c.ep > 1 && !m.moe) bad(fmt::format("ep={} needs a mixture-of-experts model", c.ep));
  if (c.ep > 1 && m.moe->experts % c.ep != 0)
    bad(fmt::format("ep={} does not divide the {} routed experts", c.ep, m.moe->experts));
  if (c.dp <= 0) bad("dp must be positive");
  if (c.ep > 1 && (c.tp * c.dp) % c.ep != 0)
    bad(fmt::format("ep={} must divide tp x dp = {}, the GPUs of a pipeline stage that share the experts", c.ep,
                    c.tp * c.dp));
  if (c.first_layer < 0 || c.first_layer + c.layers.value_or(m.layers - c.first_layer) > m.layers)
    bad(fmt::format("layers {}..{} are outside the model's {} layers", c.first_layer,
                    c.first_layer + c.layers.value_or(m.layers) - 1, m.layers));
  const int64_t tokens = c.phase == Phase::Prefill ? c.seq : c.context + 1;
  if (m.max_context > 0 && tokens > m.max_context * 16)
    bad(fmt::format("sequence length {} is far beyond the model's {} maximum", tokens, m.max_context));
}

}  // namespace

void set_kv_option(StepConfig& c, const std::string& text) {
  if (auto d = parse_dtype(text); d && (*d == DType::BF16 || *d == DType::FP16 || *d == DType::FP8)) {
    c.kv_dtype = d;
  } else {
    c.kv_format = parse_kv_format(text);
  }
}

std::vector<Op> expert_parallel_moe(const MoeShape& s, const ExpertParallel& p, DType act, DType weights) {
  const int64_t sent = (s.tokens + p.tp - 1) / p.tp;  // tokens each GPU dispatches
  const int64_t group_tokens = p.dp * s.tokens;       // routed by the ep GPUs together
  const int64_t local = s.experts / p.ep;
  double share = 1.0 / static_cast<double>(p.ep),
         touched = balanced_experts_touched(local, s.experts, static_cast<double>(group_tokens * s.top_k));
  if (!p.balanced) {
    const MoeLoad load = moe_load(s.experts, s.top_k, group_tokens, p.skew, p.ep);
    share = load.share;
    touched = load.touched;
  }
  if (p.touched > 0) touched = p.touched;
  const double received = share * static_cast<double>(group_tokens);  // tokens' worth of copies on GPU 0
  const double per_gpu = std::max(static_cast<double>(sent), received);  // the busiest GPU's traffic
  const double copies = per_gpu * s.top_k * bytes_per_element(act) * s.hidden;
  std::vector<Op> ops;
  ops.push_back(make_collective("dispatch.ids.all_to_all", CollectiveKind::AllToAll, p.ep, per_gpu * s.top_k * 4.0,
                                DType::FP32));
  ops.push_back(make_collective("dispatch.all_to_all", CollectiveKind::AllToAll, p.ep, copies, act));
  MoeShape mine = s;
  mine.experts = local;
  mine.tokens = std::max<int64_t>(1, std::llround(received));
  mine.experts_touched = touched;
  mine.route_experts = s.experts;
  mine.route_stride = static_cast<int32_t>(p.ep);
  mine.route_tokens = group_tokens;
  mine.skew = p.skew;
  mine.balanced = p.balanced;
  mine.exchanged = true;
  ops.push_back(make_moe_experts("experts", mine, p.format ? act : weights));
  if (p.format) store_experts_as(ops.back(), *p.format);
  ops.push_back(make_collective("combine.all_to_all", CollectiveKind::AllToAll, p.ep, copies, act));
  if (p.tp > 1)
    ops.push_back(make_collective("combine.all_gather", CollectiveKind::AllGather, p.tp,
                                  static_cast<double>(sent) * s.hidden * bytes_per_element(act), act));
  return ops;
}

void store_kv_as(Op& att, const KvFormat& f) {
  if (f.bits >= 16.0) return;
  // The cache is read in its stored format (scales and zero points included) and expanded to
  // 16 bits for the matrix units as it is read.
  auto& s = std::get<AttentionShape>(att.shape);
  const double kv_elems = static_cast<double>(s.batch) * s.kv_len * s.kv_heads * kv_row_elements(s);
  att.bytes_read = att.bytes_read - Bytes(kv_elems * s.kv_bits / 8.0) + Bytes(kv_elems * f.bits_per_element(s.qk_dim) / 8.0);
  s.kv_bits = f.bits;
  att.dequant_elements = kv_elems;
}

namespace {
// The dtype a weight GEMM in format f computes in: W8A8 for 8-bit formats (int8 or fp8); the
// activations' 16-bit type for weight-only 4-bit formats and for unquantized ones.
DType weight_math_dtype(const WeightFormat& f, DType act) {
  if (f.payload_bits <= 4.0 || f.payload_bits > 8.0) return act;
  return f.name.rfind("int8", 0) == 0 ? DType::INT8 : DType::FP8;
}
}  // namespace

void store_experts_as(Op& experts, const WeightFormat& f) {
  // Built with 16-bit activations (make_moe_experts counts weights and activations in one dtype):
  // the weights are then re-counted in their stored bits, scales included, and the math runs as a
  // weight GEMM of the format does (make_weight_gemm): W8A8 for 8-bit formats, 16-bit for 4-bit.
  const double weights = experts.weight_bytes.value() / bytes_per_element(experts.dtype);
  const Bytes stored(weights * f.bits_per_weight() / 8.0);
  experts.bytes_read = experts.bytes_read - experts.weight_bytes + stored;
  experts.weight_bytes = stored;
  std::get<MoeShape>(experts.shape).weight_bits = f.bits_per_weight();
  experts.dtype = weight_math_dtype(f, experts.dtype);
}

Op make_weight_gemm(std::string name, int64_t m, int64_t n, int64_t k, DType act, const WeightFormat& f,
                    int64_t batch, double stored_bytes, Impl impl) {
  const bool four_bit = f.payload_bits <= 4.0;
  const DType math = weight_math_dtype(f, act);
  Op op = make_gemm(std::move(name), m, n, k, math, batch);
  const Bytes stored(stored_bytes > 0 ? stored_bytes : static_cast<double>(batch) * f.matrix_bytes(n, k));
  op.bytes_read = op.bytes_read - op.weight_bytes + stored;
  op.weight_bytes = stored;
  if (four_bit) op.dequant_elements = static_cast<double>(batch) * n * k;
  op.impl = impl;
  return op;
}

namespace {

class Builder {
 public:
  Builder(const ModelSpec& m, const StepConfig& c, OpGraph& g) : m_(m), c_(c), g_(g) {
    // Weights in the model's (or the plan's) format; activations in a 16-bit float unless given:
    // fp8/int8/4-bit checkpoints still compute their elementwise work in bf16.
    w_ = c.weight_dtype.value_or(m.dtype);
    const DType md = m.dtype;
    act_ = c.act_dtype.value_or(md == DType::BF16 || md == DType::FP16 || md == DType::FP32 ? md : DType::BF16);
    kv_ = c.kv_dtype.value_or(act_);
    tokens_ = c.phase == Phase::Prefill ? c.batch * c.seq : c.batch;
  }

  // A GEMM on weights: in the weight dtype, or in the plan's storage format.
  Op wgemm_or_gemm(std::string name, int64_t m, int64_t n, int64_t k, DType d, int64_t batch = 1) {
    if (d != w_ || !c_.weight_format) return make_gemm(std::move(name), m, n, k, d, batch);
    return make_weight_gemm(std::move(name), m, n, k, act_, *c_.weight_format, batch);
  }

  OpVertex add(Op op, std::initializer_list<std::optional<OpVertex>> deps) {
    OpVertex v = boost::add_vertex(std::move(op), g_);
    for (const auto& d : deps)
      if (d) boost::add_edge(*d, v, g_);
    return v;
  }

  void build() {
    const int64_t layers = c_.layers.value_or(m_.layers - c_.first_layer);
    const int64_t h = m_.hidden;
    std::optional<OpVertex> x;
    if (c_.embedding && c_.first_layer == 0) x = add(make_row_op("embedding", OpKind::Embedding, tokens_, h, act_), {});
    for (int64_t l = c_.first_layer; l < c_.first_layer + layers; ++l) x = layer(static_cast<int>(l), x);
    if (!c_.head) return;
    // Final norm and lm-head on the last position of each sequence only.
    OpVertex n = add(make_rmsnorm("final_norm", c_.batch, h, act_, c_.impl), {x});
    const int64_t vocab_shard = c_.vocab_parallel_head ? (m_.vocab + c_.tp - 1) / c_.tp : m_.vocab;
    OpVertex head = add(wgemm_or_gemm("lm_head", c_.batch, vocab_shard, h, w_), {n});
    if (c_.tp > 1 && c_.vocab_parallel_head) {
      add(make_collective("lm_head.all_gather", CollectiveKind::AllGather, c_.tp,
                          static_cast<double>(c_.batch) * vocab_shard * gemm_output_bytes(act_), act_),
          {head});
    }
  }

 private:
  Op named(Op op, int layer) {
    op.name = fmt::format("L{}.{}", layer, op.name);
    op.layer = layer;
    return op;
  }

  OpVertex layer(int l, std::optional<OpVertex> x) {
    const int64_t h = m_.hidden;
    const auto& a = m_.attention;
    const int64_t tp = c_.tp;
    const int64_t heads = a.heads / tp;
    const int64_t q_len = c_.phase == Phase::Prefill ? c_.seq : 1;
    const int64_t kv_len = c_.phase == Phase::Prefill ? c_.seq : c_.context + 1;

    OpVertex n1 = add(named(make_rmsnorm("attn_norm", tokens_, h, act_, c_.impl), l), {x});
    OpVertex attn_out;
    if (a.kind == AttentionKind::GQA) {
      const int64_t kvh = std::max<int64_t>(1, a.kv_heads / tp);  // replicated when tp > kv_heads
      const int64_t d = a.head_dim;
      OpVertex qkv = add(named(wgemm_or_gemm("qkv", tokens_, (heads + 2 * kvh) * d, h, w_), l), {n1});
      OpVertex rope = add(named(make_rope("rope", tokens_, (heads + kvh) * d, 2, act_, c_.impl), l), {qkv});
      Op kv_op = make_kv_write("kv_write", tokens_, 2 * kvh * d, kv_);
      if (c_.kv_format) {  // quantize-and-store: writes the stored bits, reads the 16-bit values
        kv_op.bytes_written = Bytes(static_cast<double>(tokens_) * 2 * kvh * d * c_.kv_format->bits_per_element(d) / 8.0);
      }
      if (c_.impl == Impl::TorchReference) {  // k and v copied separately into strided cache slices
        kv_op.kernels = 2;
        kv_op.impl = c_.impl;
        kv_op.strided = true;
      }
      OpVertex kvw = add(named(std::move(kv_op), l), {rope});
      AttentionShape s{c_.phase, c_.batch, q_len, kv_len, heads, kvh, d, d, c_.phase == Phase::Prefill};
      Op att_op = make_attention("attention", s, act_, kv_);
      if (c_.kv_format) store_kv_as(att_op, *c_.kv_format);
      OpVertex att = add(named(std::move(att_op), l), {kvw});
      attn_out = add(named(wgemm_or_gemm("o_proj", tokens_, h, heads * d, w_), l), {att});
    } else {
      attn_out = mla(l, n1, heads, q_len, kv_len);
    }
    OpVertex after_o = attn_out;
    if (tp > 1)
      after_o = add(named(make_collective("o_proj.all_reduce", CollectiveKind::AllReduce, tp,
                                          static_cast<double>(tokens_) * h * bytes_per_element(act_), act_), l),
                    {attn_out});
    Op res1 = make_row_op("attn_residual", OpKind::Residual, tokens_, h, act_);
    res1.impl = c_.impl;
    OpVertex r1 = add(named(std::move(res1), l), {after_o, x});
    OpVertex n2 = add(named(make_rmsnorm("ffn_norm", tokens_, h, act_, c_.impl), l), {r1});
    OpVertex ffn_out;
    if (m_.is_moe_layer(l)) {
      const auto& moe = *m_.moe;
      OpVertex router = add(named(make_moe_router("router", tokens_, h, moe.experts, act_), l), {n2});
      if (c_.ep > 1) {
        // Expert parallelism: all-to-alls around the GPU's whole experts (expert_parallel_moe).
        MoeShape s;
        s.experts = moe.experts, s.top_k = moe.top_k, s.hidden = h, s.inter = moe.expert_intermediate;
        s.tokens = tokens_, s.shared_experts = moe.shared_experts;
        ExpertParallel p;
        p.tp = tp;
        p.dp = c_.dp;
        p.ep = c_.ep;
        p.skew = c_.moe_skew;
        p.balanced = c_.moe_balanced;
        p.touched = c_.moe_experts_touched > 0 ? c_.moe_experts_touched / c_.ep : 0.0;
        if (c_.weight_format) p.format = &*c_.weight_format;
        ffn_out = router;
        for (Op& op : expert_parallel_moe(s, p, act_, w_)) ffn_out = add(named(std::move(op), l), {ffn_out});
      } else {
        // The experts touched follow from the routing in make_moe_experts, unless given.
        MoeShape s;
        s.experts = moe.experts, s.top_k = moe.top_k, s.hidden = h, s.inter = moe.expert_intermediate / tp;
        s.tokens = tokens_, s.shared_experts = moe.shared_experts, s.experts_touched = c_.moe_experts_touched;
        s.skew = c_.moe_skew;
        s.balanced = c_.moe_balanced;
        Op experts = make_moe_experts("experts", s, c_.weight_format ? act_ : w_);
        if (c_.weight_format) store_experts_as(experts, *c_.weight_format);
        ffn_out = add(named(std::move(experts), l), {router});
      }
    } else {
      const int64_t inter = m_.ffn.intermediate / tp;
      OpVertex gu = add(named(wgemm_or_gemm("gate_up", tokens_, 2 * inter, h, w_), l), {n2});
      OpVertex act = add(named(make_swiglu("swiglu", tokens_, inter, act_, c_.impl), l), {gu});
      ffn_out = add(named(wgemm_or_gemm("down_proj", tokens_, h, inter, w_), l), {act});
    }
    OpVertex after_down = ffn_out;
    if (tp > 1 && !(c_.ep > 1 && m_.is_moe_layer(l)))  // EP experts are whole: nothing to reduce
      after_down = add(named(make_collective("down_proj.all_reduce", CollectiveKind::AllReduce, tp,
                                             static_cast<double>(tokens_) * h * bytes_per_element(act_), act_), l),
                       {ffn_out});
    Op res2 = make_row_op("ffn_residual", OpKind::Residual, tokens_, h, act_);
    res2.impl = c_.impl;
    return add(named(std::move(res2), l), {after_down, r1});
  }

  // Multi-head latent attention (DeepSeek-V2/V3). Prefill materialises K and V per head from the
  // latent; decode uses the absorbed form: attention runs in the latent space against the
  // compressed cache (one shared "KV head" of kv_lora + rope dims).
  OpVertex mla(int l, OpVertex n1, int64_t heads, int64_t q_len, int64_t kv_len) {
    const auto& a = m_.attention;
    const int64_t h = m_.hidden;
    const int64_t qk = a.qk_nope_head_dim + a.qk_rope_head_dim;
    OpVertex q;
    if (a.q_lora_rank > 0) {
      OpVertex qa = add(named(wgemm_or_gemm("q_a", tokens_, a.q_lora_rank, h, w_), l), {n1});
      OpVertex qn = add(named(make_rmsnorm("q_a_norm", tokens_, a.q_lora_rank, act_, c_.impl), l), {qa});
      q = add(named(wgemm_or_gemm("q_b", tokens_, heads * qk, a.q_lora_rank, w_), l), {qn});
    } else {
      q = add(named(wgemm_or_gemm("q", tokens_, heads * qk, h, w_), l), {n1});
    }
    OpVertex kva = add(named(wgemm_or_gemm("kv_a", tokens_, a.kv_lora_rank + a.qk_rope_head_dim, h, w_), l), {n1});
    OpVertex kvn = add(named(make_rmsnorm("kv_a_norm", tokens_, a.kv_lora_rank, act_, c_.impl), l), {kva});
    OpVertex rope = add(named(make_rope("rope", tokens_, (heads + 1) * a.qk_rope_head_dim, 2, act_, c_.impl), l),
                        {q, kvn});
    OpVertex kvw =
        add(named(make_kv_write("kv_write", tokens_, a.kv_lora_rank + a.qk_rope_head_dim, kv_), l), {rope});
    OpVertex att;
    if (c_.phase == Phase::Prefill) {
      const int64_t up_rows = c_.batch * kv_len;
      OpVertex kvb = add(named(wgemm_or_gemm("kv_b", up_rows, heads * (a.qk_nope_head_dim + a.v_head_dim),
                                         a.kv_lora_rank, w_), l), {kvw});
      int64_t v_width = a.v_head_dim;
      if (c_.impl == Impl::TorchReference && v_width != qk) {
        // The reference (traces/harness/torch/mla_step.py) builds q and k per head by
        // concatenation (the nope part with the RoPE part, k's broadcast to every head) and pads V
        // to q.k's width, since PyTorch's flash kernel takes one width for all three (as vLLM
        // does for FlashAttention-2): three strided copies of [tokens, heads x qk], and the
        // attention runs on padded values.
        for (const char* name : {"q_cat", "k_cat", "v_pad"}) {
          Op cp = make_row_op(name, OpKind::Copy, up_rows, heads * qk, act_);
          cp.impl = c_.impl;
          cp.strided = true;
          kvb = add(named(std::move(cp), l), {kvb});
        }
        v_width = qk;
      }
      AttentionShape s{c_.phase, c_.batch, q_len, kv_len, heads, heads, qk, v_width, true};
      att = add(named(make_attention("attention", s, act_, act_), l), {kvb});
    } else {
      // q_nope absorbed into the latent: per head [tokens, nope] x [nope, kv_lora].
      OpVertex qabs = add(named(wgemm_or_gemm("q_absorb", tokens_, a.kv_lora_rank, a.qk_nope_head_dim, w_, heads), l),
                          {kvw});
      // The latent is key and value at once: each cached token is read once (shared_kv).
      AttentionShape s{c_.phase, c_.batch, 1, kv_len, heads, 1, a.kv_lora_rank + a.qk_rope_head_dim,
                       a.kv_lora_rank, false};
      s.shared_kv = true;
      OpVertex core = add(named(make_attention("attention", s, act_, kv_), l), {qabs});
      att = add(named(wgemm_or_gemm("v_absorb", tokens_, a.v_head_dim, a.kv_lora_rank, w_, heads), l), {core});
    }
    return add(named(wgemm_or_gemm("o_proj", tokens_, h, heads * a.v_head_dim, w_), l), {att});
  }

  const ModelSpec& m_;
  const StepConfig& c_;
  OpGraph& g_;
  DType act_ = DType::BF16;
  DType w_ = DType::BF16;
  DType kv_ = DType::BF16;
  int64_t tokens_ = 0;
};

}  // namespace

StepGraph StepGraph::build(const ModelSpec& model, const StepConfig& cfg) {
  check_plan(model, cfg);
  StepGraph sg;
  sg.cfg_ = cfg;
  sg.model_name_ = model.name;
  sg.layers_ = cfg.layers.value_or(model.layers);
  Builder(model, cfg, sg.g_).build();
  std::vector<OpVertex> rev;
  boost::topological_sort(sg.g_, std::back_inserter(rev));
  sg.order_.assign(rev.rbegin(), rev.rend());
  return sg;
}

int64_t StepGraph::tokens() const { return cfg_.phase == Phase::Prefill ? cfg_.batch * cfg_.seq : cfg_.batch; }

Flops StepGraph::total_flops() const {
  Flops f;
  for (auto v : order_) f += g_[v].flops;
  return f;
}

Bytes StepGraph::total_bytes() const {
  Bytes b;
  for (auto v : order_) b += g_[v].bytes();
  return b;
}

Bytes StepGraph::total_weight_bytes() const {
  Bytes b;
  for (auto v : order_) b += g_[v].weight_bytes;
  return b;
}

}  // namespace headroom
