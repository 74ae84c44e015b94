#include "headroom/memory/memory_plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "headroom/core/error.hpp"

namespace headroom {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

std::string gb(Bytes b) { return fmt::format("{:.2f} GB", b.value() / 1e9); }

// Activations are bf16 (fp16 for an fp16 model, fp32 for an fp32 one): quantized checkpoints
// (fp8, int4, fp4) compute in bf16.
double act_bytes(const ModelSpec& m) {
  if (m.dtype == DType::FP16) return 2.0;
  if (m.dtype == DType::FP32 || m.dtype == DType::TF32) return 4.0;
  return 2.0;
}

// KV heads one GPU stores: split by tp, or one (replicated) when tp exceeds them.
int64_t kv_heads_per_gpu(const ModelSpec& m, int64_t tp) {
  return std::max<int64_t>(1, m.attention.kv_heads / tp);
}

// KV elements of one token in one layer on one GPU (GQA: K and V of its heads; MLA: the whole
// compressed latent and the RoPE key, which TP does not split).
int64_t kv_elements_per_gpu(const ModelSpec& m, int64_t tp) {
  const AttentionSpec& a = m.attention;
  if (a.kind == AttentionKind::MLA) return a.kv_lora_rank + a.qk_rope_head_dim;
  return 2 * kv_heads_per_gpu(m, tp) * a.head_dim;
}

// The span a KV group's scale covers when the format does not name one: a head (GQA), 64 of the
// 576 latent elements (MLA).
int64_t kv_group_span(const ModelSpec& m) {
  return m.attention.kind == AttentionKind::MLA ? 64 : m.attention.head_dim;
}

struct Formats {
  WeightFormat quant;  // the transformer blocks' matrices
  WeightFormat plain;  // norms, biases, router; embeddings unless quantized
};

// One GPU's weights for layers [first, first + n) of a stage.
WeightBreakdown stage_weights(const ModelSpec& m, const ParallelPlan& p, const Formats& f, bool quantize_embeddings,
                              int64_t first, int64_t n, bool has_embedding, bool has_head) {
  WeightBreakdown w;
  const AttentionSpec& a = m.attention;
  const int64_t h = m.hidden, tp = p.tp;
  const double plain_b = f.plain.payload_bits / 8.0;
  auto mat = [&](int64_t rows, int64_t cols) { return Bytes(f.quant.matrix_bytes(rows, cols)); };
  auto swiglu = [&](int64_t width) { return mat(width, h) * 2.0 + mat(h, width); };  // gate, up, down

  Bytes attn, norms;
  if (a.kind == AttentionKind::GQA) {
    const int64_t q = a.heads / tp * a.head_dim, kv = kv_heads_per_gpu(m, tp) * a.head_dim;
    attn = mat(q, h) + mat(kv, h) * 2.0 + mat(h, q);
    if (a.qkv_bias) norms += Bytes(static_cast<double>(q + 2 * kv) * plain_b);
  } else {
    const int64_t heads = a.heads / tp, qk = a.qk_nope_head_dim + a.qk_rope_head_dim;
    attn = a.q_lora_rank > 0 ? mat(a.q_lora_rank, h) + mat(heads * qk, a.q_lora_rank) : mat(heads * qk, h);
    attn += mat(a.kv_lora_rank + a.qk_rope_head_dim, h);  // down-projection, replicated
    attn += mat(heads * (a.qk_nope_head_dim + a.v_head_dim), a.kv_lora_rank);
    attn += mat(h, heads * a.v_head_dim);
    norms += Bytes(static_cast<double>(a.q_lora_rank + a.kv_lora_rank) * plain_b);  // latent RMSNorms
  }
  for (int64_t l = first; l < first + n; ++l) {
    w.attention += attn;
    w.norms += norms + Bytes(2.0 * static_cast<double>(h) * plain_b);
    if (!m.is_moe_layer(l)) {
      w.dense_ffn += swiglu(m.ffn.intermediate / tp);
      continue;
    }
    const MoeSpec& e = *m.moe;
    w.router += Bytes(static_cast<double>(e.experts * h) * plain_b);
    if (p.ep > 1) {
      w.routed_experts += swiglu(e.expert_intermediate) * static_cast<double>(e.experts / p.ep);
    } else {
      w.routed_experts += swiglu(e.expert_intermediate / tp) * static_cast<double>(e.experts);
    }
    w.shared_experts += swiglu(e.expert_intermediate / tp) * static_cast<double>(e.shared_experts);
  }
  const int64_t vocab_rows = ceil_div(m.vocab, tp);  // vocabulary-parallel (vLLM's 64-row padding ignored)
  const WeightFormat& emb = quantize_embeddings ? f.quant : f.plain;
  if (has_embedding) w.embedding = Bytes(emb.matrix_bytes(vocab_rows, h));
  if (has_head) {
    w.norms += Bytes(static_cast<double>(h) * plain_b);  // final norm
    if (!(m.tie_embeddings && has_embedding)) w.lm_head = Bytes(emb.matrix_bytes(vocab_rows, h));
  }
  return w;
}

}  // namespace

std::string_view to_string(Limit l) {
  switch (l) {
    case Limit::None: return "none";
    case Limit::Weights: return "weights";
    case Limit::Activation: return "activation";
    case Limit::KvCache: return "kv_cache";
    case Limit::ModelContext: return "model_context";
  }
  return "?";
}

std::optional<std::pair<Bytes, std::string>> measured_device_total(const HardwareSpec& hw) {
  // cudaMemGetInfo's total: the datasheet's "141 GB" is neither this nor NVML's total.
  if (hw.hbm.visible) return std::pair{*hw.hbm.visible, std::string("hardware file memory.hbm.visible (measured)")};
  return std::nullopt;
}

std::string check_parallel_plan(const ModelSpec& m, const ParallelPlan& p) {
  if (p.tp < 1 || p.pp < 1 || p.ep < 1 || p.dp < 1)
    return fmt::format("tp, pp, ep and dp must be at least 1, got tp {} pp {} ep {} dp {}", p.tp, p.pp, p.ep, p.dp);
  const AttentionSpec& a = m.attention;
  if (a.heads % p.tp != 0)
    return fmt::format("tp {} does not divide the {} attention heads of {}", p.tp, a.heads, m.name);
  if (a.kind == AttentionKind::GQA && a.kv_heads % p.tp != 0 && p.tp % a.kv_heads != 0)
    return fmt::format("tp {} and the {} KV heads of {}: one must divide the other (KV heads are split, or "
                       "replicated when tp exceeds them)", p.tp, a.kv_heads, m.name);
  const bool has_dense = !m.moe || m.moe->first_dense_layers > 0 || m.moe->layer_frequency > 1;
  if (has_dense && m.ffn.intermediate % p.tp != 0)
    return fmt::format("tp {} does not divide the FFN width {} of {}", p.tp, m.ffn.intermediate, m.name);
  if (p.pp > m.layers)
    return fmt::format("pp {} is deeper than the {} layers of {}", p.pp, m.layers, m.name);
  if (p.ep > 1) {
    if (!m.moe) return fmt::format("ep {} needs a mixture-of-experts model; {} is dense", p.ep, m.name);
    if (m.moe->experts % p.ep != 0)
      return fmt::format("ep {} does not divide the {} routed experts of {}", p.ep, m.moe->experts, m.name);
    if ((p.tp * p.dp) % p.ep != 0)
      return fmt::format("ep {} must divide tp x dp = {}, the GPUs of a pipeline stage that share the experts",
                         p.ep, p.tp * p.dp);
  } else if (m.moe && m.moe->expert_intermediate % p.tp != 0) {
    return fmt::format("tp {} does not divide the expert width {} of {} (spread whole experts with ep instead)", p.tp,
                       m.moe->expert_intermediate, m.name);
  }
  return "";
}

Bytes kv_bytes_per_sequence(const ModelSpec& m, const ParallelPlan& p, const KvFormat& f, int64_t layers,
                            int64_t block, int64_t tokens) {
  const double e = static_cast<double>(kv_elements_per_gpu(m, p.tp));
  const double qbits = f.bits_per_element(kv_group_span(m));
  if (f.kind != KvKind::Kivi) {
    const double stored = static_cast<double>(ceil_div(tokens, block) * block);  // last block partly filled
    return Bytes(static_cast<double>(layers) * stored * e * qbits / 8.0);
  }
  // KIVI: keys wait in full precision until R of them can be quantized per channel; values
  // keep the last R tokens in full precision and quantize older ones per token.
  const int64_t r = f.residual;
  const int64_t k_res = tokens % r, k_q = tokens - k_res;
  const int64_t v_res = std::min(tokens, r), v_q = tokens - v_res;
  const double half = e / 2.0;
  const double per_layer = half * (static_cast<double>(k_q + v_q) * qbits / 8.0 +
                                   static_cast<double>(k_res + v_res) * f.residual_bits / 8.0);
  return Bytes(static_cast<double>(layers) * per_layer);
}

Bytes activation_peak(const ModelSpec& m, const ParallelPlan& p, int64_t first_layer, int64_t layers,
                      bool last_stage, int64_t tokens, int64_t max_seqs) {
  const AttentionSpec& a = m.attention;
  const double ab = act_bytes(m);
  const double h = static_cast<double>(m.hidden), tp = static_cast<double>(p.tp);
  // Elements live per token at the peak of each phase; 2h = residual stream + normed hidden.
  double attn = 0;
  if (a.kind == AttentionKind::GQA) {
    const double q = static_cast<double>(a.heads) / tp * a.head_dim;
    const double kv = static_cast<double>(kv_heads_per_gpu(m, p.tp) * a.head_dim);
    attn = 2 * h + (q + 2 * kv) + q;  // fused qkv output + attention output
  } else {
    const double heads = static_cast<double>(a.heads) / tp;
    const double qk = static_cast<double>(a.qk_nope_head_dim + a.qk_rope_head_dim);
    attn = 2 * h + static_cast<double>(a.q_lora_rank) + heads * qk +
           static_cast<double>(a.kv_lora_rank + a.qk_rope_head_dim) +
           heads * static_cast<double>(a.qk_nope_head_dim + a.v_head_dim) + heads * qk +
           heads * static_cast<double>(a.v_head_dim);  // prefill: latent, up-projected K/V, K with RoPE, output
  }
  double peak = attn;
  for (int64_t l = first_layer; l < first_layer + layers; ++l) {
    if (!m.is_moe_layer(l)) {
      peak = std::max(peak, 2 * h + 3 * static_cast<double>(m.ffn.intermediate) / tp);  // gate-up + silu*mul
      continue;
    }
    const MoeSpec& e = *m.moe;
    // vLLM fused_moe caches per (token, expert) pair: gate-up (2w), silu*mul (w), down output (h).
    const double pairs = p.ep > 1 ? static_cast<double>(e.top_k * p.dp) / static_cast<double>(p.ep)
                                  : static_cast<double>(e.top_k);
    const double w = p.ep > 1 ? static_cast<double>(e.expert_intermediate)
                              : static_cast<double>(e.expert_intermediate) / tp;
    const double shared = static_cast<double>(e.shared_experts) * 3 * static_cast<double>(e.expert_intermediate) / tp;
    const double router = static_cast<double>(e.experts) * 4.0 / ab;  // fp32 logits
    peak = std::max(peak, 2 * h + router + pairs * (3 * w + h) + shared);
  }
  const double t = static_cast<double>(tokens);
  double bytes = t * peak * ab;
  if (last_stage) {
    // Sampler: hidden states + fp32 logits and fp32 probabilities over the full (gathered)
    // vocabulary for up to max_seqs sequences.
    const double seqs = static_cast<double>(std::min(tokens, max_seqs));
    bytes = std::max(bytes, t * h * ab + seqs * static_cast<double>(m.vocab) * 8.0);
  }
  return Bytes(bytes);
}

ContextDistribution parse_contexts(const std::string& text) {
  ContextDistribution d;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(start, end - start);
    const size_t colon = item.find(':');
    try {
      size_t used = 0;
      const std::string len_text = item.substr(0, colon);
      const long long len = std::stoll(len_text, &used);
      if (used != len_text.size() || len < 1) throw std::invalid_argument("length");
      double weight = 1.0;
      if (colon != std::string::npos) {
        const std::string w_text = item.substr(colon + 1);
        weight = std::stod(w_text, &used);
        if (used != w_text.size() || !(weight > 0)) throw std::invalid_argument("weight");
      }
      d.emplace_back(len, weight);
    } catch (const std::exception&) {
      throw UsageError(fmt::format("contexts: expected lengths like \"4096\", \"512,2048,8192\" or "
                                   "\"512:0.5,2048:0.5\" (positive lengths and weights), got \"{}\"", text));
    }
    start = end + 1;
  }
  return d;
}

MemoryPlan plan_memory(const ModelSpec& m, const HardwareSpec& hw, const MemoryOptions& opt) {
  const ParallelPlan& p = opt.plan;
  if (std::string why = check_parallel_plan(m, p); !why.empty()) throw InputError(why);
  if (!(opt.util > 0.0 && opt.util <= 1.0))
    throw UsageError(fmt::format("util must be in (0, 1], got {}", opt.util));
  if (opt.block < 1) throw UsageError(fmt::format("block must be at least 1 token, got {}", opt.block));
  if (opt.max_batch_tokens < 1 || opt.max_seqs < 1)
    throw UsageError("max_batch_tokens and max_seqs must be at least 1");
  if (opt.batch && *opt.batch < 1) throw UsageError(fmt::format("batch must be at least 1, got {}", *opt.batch));

  MemoryPlan r;
  r.model = m.name;
  r.hw = hw.name;
  r.plan = p;
  r.weight_format = opt.weights ? parse_weight_format(*opt.weights) : weight_format_of(m.dtype);
  const DType act = m.dtype == DType::FP16 ? DType::FP16 : DType::BF16;
  r.kv_format = opt.kv_dtype ? parse_kv_format(*opt.kv_dtype) : kv_format_of(act);
  if (r.kv_format.kind == KvKind::Kivi) {
    if (m.attention.kind == AttentionKind::MLA)
      throw InputError(fmt::format("KV format {} quantizes keys and values separately; {} caches one MLA latent",
                                   r.kv_format.name, m.name));
    if (r.kv_format.residual % r.kv_format.group != 0)
      throw UsageError(fmt::format("KV format {}: the residual R must be a multiple of the group G",
                                   r.kv_format.name));
  }
  r.quantize_embeddings = opt.quantize_embeddings;
  r.block = r.kv_format.kind == KvKind::Kivi ? 1 : opt.block;
  r.util = opt.util;
  r.max_batch_tokens = opt.max_batch_tokens;
  r.max_seqs = opt.max_seqs;
  r.batch = opt.batch;

  // Memory the process can use.
  r.datasheet_capacity = hw.hbm.capacity;
  if (opt.runtime.device_total) {
    r.device_total = *opt.runtime.device_total;
    r.device_total_source = "given";
  } else if (auto measured = measured_device_total(hw)) {
    r.device_total = measured->first;
    r.device_total_source = measured->second;
  } else {
    r.device_total = hw.hbm.capacity;
    r.device_total_source = "datasheet capacity (no measured cudaMemGetInfo total for this hardware)";
    r.notes.push_back("device total is the datasheet capacity: the memory CUDA reports can differ by several % "
                      "(H200: 150.1 GB visible vs 141 GB on the datasheet); give --device-memory");
  }
  r.usable = r.device_total * opt.util;
  r.runtime = opt.runtime;
  r.runtime.device_total = r.device_total;
  const bool communicates = p.tp > 1 || p.pp > 1 || p.ep > 1;
  if (!communicates) r.runtime.nccl = Bytes(0);
  if (p.ep > 1) r.runtime.nccl += r.runtime.nccl_all_to_all;
  r.runtime_total = r.runtime.cuda_context + r.runtime.library_workspace + r.runtime.nccl + r.runtime.cuda_graphs;

  // Per stage.
  Formats f{r.weight_format, weight_format_of(act)};
  if (r.weight_format.payload_bits > 16) f.plain = r.weight_format;
  const std::vector<int64_t> parts = stage_layers(m.layers, p.pp);
  int64_t first = 0;
  for (int64_t s = 0; s < p.pp; ++s) {
    StagePlan st;
    st.stage = s;
    st.first_layer = first;
    st.layers = parts[static_cast<size_t>(s)];
    const bool last = s == p.pp - 1;
    st.weights = stage_weights(m, p, f, opt.quantize_embeddings, first, st.layers, s == 0, last);
    st.activation = activation_peak(m, p, first, st.layers, last, opt.max_batch_tokens, opt.max_seqs);
    st.kv_per_token = Bytes(static_cast<double>(st.layers) * static_cast<double>(kv_elements_per_gpu(m, p.tp)) *
                            r.kv_format.bits_per_element(kv_group_span(m)) / 8.0);
    const int64_t rotary = m.attention.kind == AttentionKind::MLA ? m.attention.qk_rope_head_dim : m.attention.head_dim;
    st.rotary_cache = Bytes(static_cast<double>(m.max_context) * static_cast<double>(rotary) * bytes_per_element(act));
    st.kv_budget = r.usable - r.runtime_total - st.weights.total() - st.rotary_cache - st.activation;
    const Bytes block_bytes = st.kv_per_token * static_cast<double>(r.block);
    st.kv_blocks = st.kv_budget.value() > 0 ? static_cast<int64_t>(std::floor(st.kv_budget / block_bytes)) : 0;
    r.stages.push_back(st);
    first += st.layers;
  }
  // The binding stage: the first that does not fit, else the one with the fewest KV blocks.
  size_t worst = 0;
  for (size_t i = 1; i < r.stages.size(); ++i) {
    const StagePlan& a = r.stages[i];
    const StagePlan& w = r.stages[worst];
    const bool a_short = a.kv_budget.value() <= 0, w_short = w.kv_budget.value() <= 0;
    if ((a_short && !w_short) ||
        (a_short == w_short && (a_short ? a.kv_budget < w.kv_budget : a.kv_blocks < w.kv_blocks)))
      worst = i;
  }
  const StagePlan& st = r.stages[worst];
  r.binding_stage = st.stage;
  r.kv_blocks = st.kv_blocks;
  r.kv_tokens = st.kv_blocks * r.block;
  r.kv_block_bytes = st.kv_per_token * static_cast<double>(r.block);
  const Bytes kv_room = r.kv_block_bytes * static_cast<double>(r.kv_blocks);  // whole blocks

  // Context distribution.
  r.contexts = opt.contexts;
  if (r.contexts.empty()) r.contexts = {{std::min<int64_t>(4096, m.max_context), 1.0}};
  double wsum = 0, len_sum = 0, bytes_sum = 0, ideal_sum = 0;
  int64_t longest = 0;
  for (const auto& [len, w] : r.contexts) {
    if (len < 1 || !(w > 0)) throw UsageError("contexts: lengths and weights must be positive");
    wsum += w;
    len_sum += w * static_cast<double>(len);
    bytes_sum += w * kv_bytes_per_sequence(m, p, r.kv_format, st.layers, r.block, len).value();
    ideal_sum += w * static_cast<double>(len) * st.kv_per_token.value();
    longest = std::max(longest, len);
  }
  r.mean_context = len_sum / wsum;
  r.mean_kv_per_sequence = Bytes(bytes_sum / wsum);
  r.fragmentation = r.kv_format.kind == KvKind::Kivi ? 0.0 : 1.0 - ideal_sum / bytes_sum;
  r.max_sequences = static_cast<int64_t>(std::floor(kv_room / r.mean_kv_per_sequence));
  r.max_tokens_in_use = static_cast<int64_t>(std::floor(static_cast<double>(r.max_sequences) * r.mean_context));
  if (longest > m.max_context)
    r.notes.push_back(fmt::format("context {} exceeds the model's max_context {}", longest, m.max_context));

  // The longest fixed context for `batch` (or one) sequences.
  const int64_t b = opt.batch.value_or(1);
  auto fits_ctx = [&](int64_t n) {
    return kv_bytes_per_sequence(m, p, r.kv_format, st.layers, r.block, n) * static_cast<double>(b) <= kv_room;
  };
  int64_t lo = 0, hi = 1;
  while (fits_ctx(hi) && hi < (int64_t{1} << 40)) hi *= 2;
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    (fits_ctx(mid) ? lo : hi) = mid;
  }
  r.max_context_at_batch = lo;
  r.context_limit = Limit::KvCache;
  if (lo >= m.max_context) {
    r.max_context_at_batch = m.max_context;
    r.context_limit = Limit::ModelContext;
  }

  // What fails first, and whether this plan works at all.
  const std::string where = p.pp > 1 ? fmt::format(" on stage {}", st.stage) : "";
  const Bytes fixed = r.runtime_total + st.weights.total();
  if (fixed > r.usable) {
    r.fits = false;
    r.fails_first = Limit::Weights;
    r.reason = fmt::format("the weights do not fit{}: {} of weights + {} runtime exceed the {} usable "
                           "(util {:.2f} x {} device memory)", where, gb(st.weights.total()), gb(r.runtime_total),
                           gb(r.usable), r.util, gb(r.device_total));
  } else if (fixed + st.activation >= r.usable) {
    r.fits = false;
    r.fails_first = Limit::Activation;
    r.reason = fmt::format("the activation peak of a {}-token step ({}) leaves no room for the KV cache{}: {} "
                           "weights + {} runtime + {} activations vs {} usable; lower --max-batch-tokens",
                           opt.max_batch_tokens, gb(st.activation), where, gb(st.weights.total()),
                           gb(r.runtime_total), gb(st.activation), gb(r.usable));
  } else {
    r.fails_first = Limit::KvCache;
    const Bytes longest_bytes = kv_bytes_per_sequence(m, p, r.kv_format, st.layers, r.block, longest);
    if (longest_bytes > kv_room) {
      r.fits = false;
      r.reason = fmt::format("KV cache exhausted{}: the {} budget holds {} tokens, less than one sequence of {} "
                             "tokens ({})", where, gb(kv_room), r.kv_tokens, longest, gb(longest_bytes));
    } else if (opt.batch) {
      const Bytes need = r.mean_kv_per_sequence * static_cast<double>(*opt.batch);
      r.batch_kv_share = need / kv_room;
      r.batch_fits = *opt.batch <= r.max_sequences;
      if (!r.batch_fits) {
        r.fits = false;
        r.reason = fmt::format("KV cache exhausted{}: batch {} at a mean context of {:.0f} tokens needs {} of KV, the "
                               "budget is {} (at most {} sequences)", where, *opt.batch, r.mean_context, gb(need),
                               gb(kv_room), r.max_sequences);
      }
    }
  }

  if (m.attention.kind == AttentionKind::GQA && p.tp > m.attention.kv_heads)
    r.notes.push_back(fmt::format("tp {} exceeds the {} KV heads: each GPU stores one KV head (replicated {}x)", p.tp,
                                  m.attention.kv_heads, p.tp / m.attention.kv_heads));
  if (m.attention.kind == AttentionKind::MLA && p.tp > 1)
    r.notes.push_back("the MLA latent cache is not split by TP: every TP rank stores the whole latent");
  if (r.kv_format.kind == KvKind::Kivi)
    r.notes.push_back(fmt::format("{}: not paged (block size not applied); each sequence keeps up to {} recent "
                                  "tokens in bf16; kv_tokens counts quantized tokens only", r.kv_format.name,
                                  r.kv_format.residual));
  if (p.dp > 1)
    r.notes.push_back(fmt::format("dp {}: the deployment holds {} sequences ({} per replica)", p.dp,
                                  r.max_sequences * p.dp, r.max_sequences));
  return r;
}

}  // namespace headroom
