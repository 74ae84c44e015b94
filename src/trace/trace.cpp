#include "headroom/trace/trace.hpp"

#include "headroom/memory/quant_format.hpp"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <fstream>
#include <istream>

#include "headroom/core/error.hpp"

namespace headroom {

using json = nlohmann::ordered_json;

std::optional<json> parse_trace_line(const std::string& text, const std::string& origin, int line) {
  const size_t first = text.find_first_not_of(" \t\r");
  if (first == std::string::npos || text[first] == '#') return std::nullopt;
  json obj;
  try {
    obj = json::parse(text);
  } catch (const json::parse_error& e) {
    std::string msg = e.what();
    if (auto p = msg.find("] "); p != std::string::npos) msg = msg.substr(p + 2);
    throw InputError(fmt::format("{}:{}: malformed JSON: {}", origin, line, msg));
  }
  if (!obj.is_object()) throw InputError(fmt::format("{}:{}: expected a JSON object, got {}", origin, line, obj.type_name()));
  return obj;
}

Trace read_trace(std::istream& in, const std::string& origin) {
  Trace t;
  t.origin = origin;
  std::string text;
  int line = 0;
  while (std::getline(in, text)) {
    ++line;
    if (auto obj = parse_trace_line(text, origin, line)) t.records.push_back({line, std::move(*obj)});
  }
  return t;
}

Trace read_trace_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: cannot open file", path));
  return read_trace(in, path);
}

namespace {

class Fields {
 public:
  // The record's keys are indexed once (a record has a dozen or so): each lookup then compares
  // lengths and first characters before any bytes, where ordered_json's find compares keys in
  // turn (most of the time `headroom predict` spent per record went to key comparisons).
  Fields(const json& o, const std::string& where, std::string_view op) : o_(o), where_(where), op_(op) {
    for (auto it = o.begin(); it != o.end() && n_ < kMaxKeys; ++it) keys_[n_++] = {it.key(), &it.value()};
    indexed_ = o.size() <= kMaxKeys;
  }

  [[noreturn]] void fail(std::string_view key, const std::string& what) const {
    throw InputError(fmt::format("{}: {}: {}", where_, key, what));
  }
  const json& need(std::string_view key) const {
    const json* v = find(key);
    if (!v) fail(key, fmt::format("missing (required for op {})", op_));
    return *v;
  }
  int64_t pos_int(std::string_view key) const {
    const json& v = need(key);
    if (v.is_number_integer() && v.get<int64_t>() > 0) return v.get<int64_t>();
    if (v.is_number_float() && v.get<double>() > 0 && v.get<double>() == static_cast<double>(static_cast<int64_t>(v.get<double>())))
      return static_cast<int64_t>(v.get<double>());
    fail(key, fmt::format("expected a positive integer, got {}", v.dump()));
  }
  int64_t nonneg_int(std::string_view key) const {
    const json& v = need(key);
    if (v.is_number_integer() && v.get<int64_t>() >= 0) return v.get<int64_t>();
    fail(key, fmt::format("expected zero or a positive integer, got {}", v.dump()));
  }
  double pos_number(std::string_view key) const {
    const json& v = need(key);
    if (v.is_number() && v.get<double>() > 0) return v.get<double>();
    fail(key, fmt::format("expected a positive number, got {}", v.dump()));
  }
  double nonneg_number(std::string_view key) const {
    const json& v = need(key);
    if (v.is_number() && v.get<double>() >= 0) return v.get<double>();
    fail(key, fmt::format("expected zero or a positive number, got {}", v.dump()));
  }
  const std::string& str(std::string_view key) const {
    const json& v = need(key);
    if (!v.is_string()) fail(key, fmt::format("expected a string, got {}", v.dump()));
    return v.get_ref<const std::string&>();
  }
  bool boolean(std::string_view key, bool dflt) const {
    const json* v = find(key);
    if (!v) return dflt;
    if (!v->is_boolean()) fail(key, fmt::format("expected true or false, got {}", v->dump()));
    return v->get<bool>();
  }
  bool has(std::string_view key) const { return find(key) != nullptr; }
  DType dtype(bool int8_ok = false) const {
    const std::string& s = str("dtype");
    auto d = parse_dtype(s);
    if (!d || *d == DType::INT4 || *d == DType::FP4 || (*d == DType::INT8 && !int8_ok))
      fail("dtype", fmt::format("expected bf16, fp16, fp8, {}tf32 or fp32, got \"{}\"", int8_ok ? "int8, " : "", s));
    return *d;
  }
  DType dtype_or(DType d) const { return has("dtype") ? dtype() : d; }
  Phase phase() const {
    std::string s = str("phase");
    if (s == "prefill") return Phase::Prefill;
    if (s == "decode") return Phase::Decode;
    fail("phase", fmt::format("expected \"prefill\" or \"decode\", got \"{}\"", s));
  }

 private:
  const json* find(std::string_view key) const {
    if (!indexed_) {
      auto it = o_.find(key);
      return it == o_.end() ? nullptr : &*it;
    }
    for (int i = 0; i < n_; ++i) {
      const std::string_view k = keys_[i].first;
      if (k.size() == key.size() && k[0] == key[0] && k == key) return keys_[i].second;
    }
    return nullptr;
  }

  static constexpr int kMaxKeys = 48;
  const json& o_;
  const std::string& where_;
  std::string_view op_;
  std::array<std::pair<std::string_view, const json*>, kMaxKeys> keys_{};
  int n_ = 0;
  bool indexed_ = false;
};

// MoE routing of a moe_ffn or model_step record: "uniform" (the default: each token's top_k drawn
// at random, as a router on random inputs does), "balanced" (every expert gets the same number of
// copies) or "zipf" with moe_skew (its exponent).
void read_routing(const Fields& f, bool& balanced, double& skew) {
  const std::string routing = f.has("routing") ? f.str("routing") : "uniform";
  if (routing == "balanced") balanced = true;
  else if (routing == "zipf") skew = f.nonneg_number("moe_skew");
  else if (routing != "uniform")
    f.fail("routing", fmt::format("expected \"balanced\", \"uniform\" or \"zipf\", got \"{}\"", routing));
}

}  // namespace

IssueMode parse_issue(const json& o, const std::string& where) {
  auto it = o.find("issue");
  if (it == o.end()) return IssueMode::Cuda;
  const std::string s = it->is_string() ? it->get<std::string>() : it->dump();
  if (s == "cuda") return IssueMode::Cuda;
  if (s == "torch") return IssueMode::Torch;
  if (s == "graph") return IssueMode::Graph;
  throw InputError(fmt::format("{}: issue: expected \"cuda\", \"torch\" or \"graph\", got \"{}\"", where, s));
}

Case parse_case(const json& o, const std::string& where) {
  auto it = o.find("op");
  if (it == o.end()) throw InputError(fmt::format("{}: op: missing", where));
  if (!it->is_string()) throw InputError(fmt::format("{}: op: expected a string, got {}", where, it->dump()));
  const std::string_view op = it->get_ref<const std::string&>();
  Fields f(o, where, op);

  if (op == "gemm") {
    const int64_t m = f.pos_int("m"), n = f.pos_int("n"), k = f.pos_int("k");
    // A benchmark that repeats one weight matrix may keep it in L2 (GemmShape::warm_l2).
    auto warm = [&](Op g) {
      std::get<GemmShape>(g.shape).warm_l2 = f.boolean("warm_l2", false);
      return g;
    };
    if (!f.has("weight_format")) return warm(make_gemm("gemm", m, n, k, f.dtype(true)));
    // Quantized weights: dtype is the activations' (weight-only 4-bit) or the math's (W8A8).
    WeightFormat wf;
    try {
      wf = parse_weight_format(f.str("weight_format"));
    } catch (const Error& e) {
      f.fail("weight_format", e.what());
    }
    if (!wf.quantized()) f.fail("weight_format", fmt::format("\"{}\" is not a quantized format", wf.name));
    Impl impl = Impl::Fused;
    if (f.has("impl")) {
      const std::string i = f.str("impl");
      if (i.rfind("torch._weight_int4pack_mm", 0) == 0) impl = Impl::TorchReference;
      else if (i.rfind("marlin", 0) != 0)
        f.fail("impl", fmt::format("expected \"torch._weight_int4pack_mm...\" or \"marlin...\" with weight_format, got \"{}\"", i));
    }
    if (impl == Impl::TorchReference && wf.payload_bits > 4.0)
      f.fail("impl", "torch._weight_int4pack_mm takes 4-bit weights");
    return warm(make_weight_gemm("gemm", m, n, k, f.dtype(), wf, 1,
                                 f.has("weight_bytes") ? f.pos_number("weight_bytes") : 0.0, impl));
  }
  if (op == "copy" || op == "read" || op == "write") {
    OpKind k = op == "copy" ? OpKind::Copy : op == "read" ? OpKind::Read : OpKind::Write;
    return make_stream(std::string(op), k, f.pos_number("bytes"), f.boolean("warm_l2", false));
  }
  if (op == "launch") {
    std::string kind = f.str("kind");
    if (kind != "empty" && kind != "gap") f.fail("kind", fmt::format("expected \"empty\" or \"gap\", got \"{}\"", kind));
    return make_launch("launch", kind == "gap");
  }
  if (op == "attention") {
    AttentionShape s;
    s.phase = f.phase();
    s.batch = f.pos_int("batch");
    s.heads = f.pos_int("heads");
    s.kv_heads = f.pos_int("kv_heads");
    s.qk_dim = s.v_dim = f.pos_int("head_dim");
    // Multi-head latent attention (absorbed decode): q.k over head_dim, values of v_head_dim that
    // are the first v_head_dim of each key (shared_kv), e.g. DeepSeek-V3's 576 and 512.
    if (f.has("v_head_dim")) s.v_dim = f.pos_int("v_head_dim");
    s.shared_kv = f.boolean("shared_kv", false);
    if (s.shared_kv && s.v_dim > s.qk_dim)
      f.fail("v_head_dim", fmt::format("{} exceeds head_dim = {}: with shared_kv the values are part of the keys",
                                       s.v_dim, s.qk_dim));
    if (s.heads % s.kv_heads != 0)
      f.fail("kv_heads", fmt::format("{} does not divide heads = {}", s.kv_heads, s.heads));
    if (s.phase == Phase::Prefill) {
      s.q_len = s.kv_len = f.pos_int("seq");
      s.causal = f.boolean("causal", true);
      if (!f.has("causal")) f.fail("causal", "missing (required for op attention, phase prefill)");
      if (s.shared_kv) f.fail("shared_kv", "modelled for decode only (prefill materialises K and V per head)");
    } else {
      s.q_len = 1;
      s.kv_len = f.pos_int("context");
      s.causal = false;
    }
    DType d = f.dtype();
    // The KV cache's storage: kv_dtype (bf16, fp16, fp8; default the dtype) or a quantized
    // kv_format ("int4", "int4-g64", "kivi2", ...; docs/trace-format.md). Decode only.
    const bool has_kv_dtype = f.has("kv_dtype"), has_kv_format = f.has("kv_format");
    if (!has_kv_dtype && !has_kv_format) return make_attention("attention", s, d, d);
    if (has_kv_dtype && has_kv_format) f.fail("kv_format", "give kv_dtype or kv_format, not both");
    DType kv = d;
    if (has_kv_dtype) {
      const std::string k = f.str("kv_dtype");
      const auto p = parse_dtype(k);
      if (!p || !(*p == DType::BF16 || *p == DType::FP16 || *p == DType::FP8))
        f.fail("kv_dtype", fmt::format("expected bf16, fp16 or fp8, got \"{}\"", k));
      kv = *p;
    }
    if (s.phase != Phase::Decode)
      f.fail(has_kv_dtype ? "kv_dtype" : "kv_format", "a quantized KV cache is modelled for decode only");
    Op att = make_attention("attention", s, d, kv);
    if (has_kv_format) {
      KvFormat fmt_kv;
      try {
        fmt_kv = parse_kv_format(f.str("kv_format"));
      } catch (const std::exception& e) {
        f.fail("kv_format", e.what());
      }
      store_kv_as(att, fmt_kv);
    }
    return att;
  }
  if (op == "rmsnorm") {
    Impl impl = Impl::Fused;
    if (f.has("impl")) {
      const std::string i = f.str("impl");
      if (i == "torch-expr") impl = Impl::TorchReference;
      else if (i == "F.rms_norm") impl = Impl::TorchFunctional;
      else if (i != "fused") f.fail("impl", fmt::format("expected \"torch-expr\", \"F.rms_norm\" or \"fused\", got \"{}\"", i));
    }
    return make_rmsnorm("rmsnorm", f.pos_int("tokens"), f.pos_int("hidden"), f.dtype(), impl);
  }
  if (op == "swiglu") {
    Impl impl = Impl::Fused;
    if (f.has("impl")) {
      const std::string i = f.str("impl");
      if (i == "F.silu(a)*b") impl = Impl::TorchReference;
      else if (i != "fused") f.fail("impl", fmt::format("expected \"F.silu(a)*b\" or \"fused\", got \"{}\"", i));
    }
    return make_swiglu("swiglu", f.pos_int("tokens"), f.pos_int("inter"), f.dtype(), impl);
  }
  if (op == "moe_ffn") {
    MoeShape s;
    s.experts = f.pos_int("experts");
    s.top_k = f.pos_int("top_k");
    s.hidden = f.pos_int("hidden");
    s.inter = f.pos_int("inter");
    s.tokens = f.pos_int("tokens");
    if (s.top_k > s.experts) f.fail("top_k", fmt::format("{} exceeds experts = {}", s.top_k, s.experts));
    std::string impl = f.str("impl");
    if (impl != "grouped" && impl != "loop") f.fail("impl", fmt::format("expected \"grouped\" or \"loop\", got \"{}\"", impl));
    s.grouped = impl == "grouped";
    const DType d = f.dtype();
    const int64_t ep = f.has("ep") ? f.pos_int("ep") : 1;
    read_routing(f, s.balanced, s.skew);
    if (ep == 1) return make_moe_experts("moe_ffn", s, d);
    // Expert parallel (traces/harness/torch/ep_moe.py): `tokens` per rank; each rank holds
    // experts/ep whole experts and receives tokens x top_k routed copies (balanced routing).
    if (s.experts % ep != 0) f.fail("ep", fmt::format("{} does not divide experts = {}", ep, s.experts));
    if (!s.grouped) f.fail("impl", "expert parallel layers are measured with impl \"grouped\"");
    // The ranks each route their own `tokens` (dp = ep, tp = 1).
    ExpertParallel p;
    p.ep = p.dp = ep;
    p.balanced = s.balanced;
    p.skew = s.skew;
    OpSequenceCase q;
    q.ops = expert_parallel_moe(s, p, d, d);
    // The EP layer's own kernels around the grouped GEMMs: gather of the copies to send, id
    // conversion and offset (2), argsort (3), counts and offsets (3), gather, silu, mul,
    // scatter back, weight gather and multiply (2), zero, index_add = 19 (ep_moe.py).
    q.ops[2].kernels = 19;
    return q;
  }
  if (op == "collective") {
    std::string c = f.str("collective");
    CollectiveKind k;
    if (c == "all_reduce") k = CollectiveKind::AllReduce;
    else if (c == "all_gather") k = CollectiveKind::AllGather;
    else if (c == "reduce_scatter") k = CollectiveKind::ReduceScatter;
    else if (c == "all_to_all") k = CollectiveKind::AllToAll;
    else f.fail("collective", fmt::format("expected all_reduce, all_gather, reduce_scatter or all_to_all, got \"{}\"", c));
    return make_collective(c, k, f.pos_int("gpus"), f.pos_number("bytes"), f.dtype_or(DType::BF16));
  }
  if (op == "model_step") {
    ModelStepCase m;
    m.model = f.str("model");
    m.cfg.phase = f.phase();
    m.cfg.batch = f.pos_int("batch");
    if (m.cfg.phase == Phase::Prefill) m.cfg.seq = f.pos_int("seq");
    else m.cfg.context = f.nonneg_int("context");
    m.cfg.tp = f.has("tp") ? f.pos_int("tp") : 1;
    if (f.has("layers")) m.cfg.layers = f.pos_int("layers");
    if (f.has("dtype")) m.cfg.act_dtype = f.dtype();
    if (f.has("weight_dtype")) {  // the weights' element type when not the model file's (e.g. bf16 DeepSeek-V3)
      const std::string w = f.str("weight_dtype");
      const auto p = parse_dtype(w);
      if (!p || !(*p == DType::BF16 || *p == DType::FP16 || *p == DType::FP8 || *p == DType::FP32))
        f.fail("weight_dtype", fmt::format("expected bf16, fp16, fp8 or fp32, got \"{}\"", w));
      m.cfg.weight_dtype = *p;
    }
    m.cuda_graph = f.boolean("cuda_graph", false);
    m.plan.tp = m.cfg.tp;
    if (f.has("pp")) m.plan.pp = f.pos_int("pp");
    if (f.has("ep")) m.plan.ep = f.pos_int("ep");
    if (f.has("microbatches")) m.plan.microbatches = f.pos_int("microbatches");
    read_routing(f, m.cfg.moe_balanced, m.cfg.moe_skew);  // MoE models, as for moe_ffn
    if (m.cfg.batch % m.plan.microbatches != 0)
      f.fail("microbatches", fmt::format("{} does not divide batch = {}", m.plan.microbatches, m.cfg.batch));
    if (m.plan.microbatches > 1 && m.plan.pp == 1) f.fail("microbatches", "micro-batches need pipeline stages (pp > 1)");
    // The reference workload (docs/trace-format.md) starts from hidden states and replicates the
    // lm-head on every tensor-parallel rank.
    m.cfg.embedding = false;
    m.cfg.vocab_parallel_head = false;
    m.cfg.impl = Impl::TorchReference;
    return m;
  }
  if (op == "idle") return IdleCase{};
  throw InputError(fmt::format("{}: op: unknown op \"{}\" (expected gemm, copy, read, write, launch, attention, rmsnorm, "
                               "swiglu, moe_ffn, collective, model_step or idle)", where, op));
}

std::string op_family(const json& o) {
  std::string op = o.value("op", std::string("?"));
  if (op == "attention") return "attention." + o.value("phase", std::string("?"));
  // Eager steps carry the host's per-kernel issue cost, CUDA-graph steps do not: scored apart.
  if (op == "model_step")
    return "model_step." + o.value("phase", std::string("?")) + (o.value("cuda_graph", false) ? ".graph" : ".eager");
  // Collectives issued one by one from eager torch.distributed carry the host's per-call cost,
  // which differed by up to 2.5x between two machines for the same case (traces/README.md):
  // scored apart from the GPU-side (CUDA graph / C++) timings.
  if (op == "collective") return o.value("issue", std::string("cuda")) == "torch" ? "collective.eager" : "collective";
  return op;
}

}  // namespace headroom
