#include "headroom/model/model_spec.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>

#include "headroom/core/error.hpp"
#include "headroom/core/yaml_reader.hpp"
#include "headroom/hw/hardware_spec.hpp"

namespace headroom {
namespace {

// ---- loading -------------------------------------------------------------------------------

void read_attention(const YamlReader& a, AttentionSpec& s) {
  const YamlReader type = a.at("type");
  const std::string t = type.str();
  if (t == "gqa") {
    s.kind = AttentionKind::GQA;
    s.heads = a.positive_int("heads");
    s.kv_heads = a.positive_int("kv_heads");
    if (s.heads % s.kv_heads != 0) {
      a.at("kv_heads").fail(fmt::format("must divide attention.heads ({}), got {}", s.heads, s.kv_heads));
    }
    s.head_dim = a.positive_int("head_dim");
    s.rope_theta = a.positive_number("rope_theta");
    if (auto b = a.maybe("qkv_bias")) s.qkv_bias = b->boolean();
  } else if (t == "mla") {
    s.kind = AttentionKind::MLA;
    s.heads = a.positive_int("heads");
    s.q_lora_rank = a.nonnegative_int("q_lora_rank");
    s.kv_lora_rank = a.positive_int("kv_lora_rank");
    s.qk_nope_head_dim = a.positive_int("qk_nope_head_dim");
    s.qk_rope_head_dim = a.positive_int("qk_rope_head_dim");
    s.v_head_dim = a.positive_int("v_head_dim");
    s.rope_theta = a.positive_number("rope_theta");
    // After the up-projection every head has its own K and V; the cache holds only the latent.
    s.kv_heads = s.heads;
    s.head_dim = s.qk_nope_head_dim + s.qk_rope_head_dim;
  } else {
    type.fail(fmt::format("expected gqa or mla, got \"{}\"", t));
  }
  a.finish();
}

void read_ffn(const YamlReader& f, FfnSpec& s) {
  const YamlReader type = f.at("type");
  if (type.str() != "swiglu") type.fail(fmt::format("expected swiglu, got \"{}\"", type.str()));
  s.intermediate = f.positive_int("intermediate");
  f.finish();
}

MoeSpec read_moe(const YamlReader& m, int64_t layers) {
  MoeSpec s;
  s.experts = m.positive_int("experts");
  s.top_k = m.positive_int("top_k");
  if (s.top_k > s.experts) {
    m.at("top_k").fail(fmt::format("must not exceed moe.experts ({}), got {}", s.experts, s.top_k));
  }
  s.expert_intermediate = m.positive_int("expert_intermediate");
  if (m.has("shared_experts")) s.shared_experts = m.nonnegative_int("shared_experts");
  if (m.has("first_dense_layers")) {
    s.first_dense_layers = m.nonnegative_int("first_dense_layers");
    if (s.first_dense_layers >= layers) {
      m.at("first_dense_layers")
          .fail(fmt::format("must be less than layers ({}), got {}", layers, s.first_dense_layers));
    }
  }
  if (m.has("layer_frequency")) s.layer_frequency = m.positive_int("layer_frequency");
  m.finish();
  return s;
}

// ---- writing -------------------------------------------------------------------------------

// Integral values (rope_theta is almost always one) are written without an exponent so that
// the file reads like the published config; others in their shortest exact form.
std::string number_text(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) {
    return fmt::format("{}", static_cast<int64_t>(v));
  }
  return fmt::format("{}", v);
}

// ---- counting ------------------------------------------------------------------------------

int64_t attention_params(const ModelSpec& m) {
  const AttentionSpec& a = m.attention;
  const int64_t h = m.hidden;
  if (a.kind == AttentionKind::GQA) {
    const int64_t q = a.heads * a.head_dim;
    const int64_t kv = a.kv_heads * a.head_dim;
    int64_t p = h * q + 2 * h * kv + q * h;
    if (a.qkv_bias) p += q + 2 * kv;
    return p;
  }
  // MLA (DeepSeek-V2/V3): q through an optional low-rank bottleneck, K/V through a shared
  // latent of kv_lora_rank plus a decoupled RoPE key, per-head up-projections, output.
  const int64_t qk = a.qk_nope_head_dim + a.qk_rope_head_dim;
  const int64_t q = a.q_lora_rank > 0 ? h * a.q_lora_rank + a.q_lora_rank * a.heads * qk : h * a.heads * qk;
  const int64_t kv_down = h * (a.kv_lora_rank + a.qk_rope_head_dim);
  const int64_t kv_up = a.kv_lora_rank * a.heads * (a.qk_nope_head_dim + a.v_head_dim);
  const int64_t o = a.heads * a.v_head_dim * h;
  const int64_t latent_norms = a.q_lora_rank + a.kv_lora_rank;  // RMSNorm on each latent
  return q + kv_down + kv_up + o + latent_norms;
}

int64_t swiglu_params(int64_t hidden, int64_t inter) { return 3 * hidden * inter; }

// Parameters of one layer's FFN; `active` counts only what one token touches.
int64_t ffn_params(const ModelSpec& m, int64_t layer, bool active) {
  if (!m.is_moe_layer(layer)) return swiglu_params(m.hidden, m.ffn.intermediate);
  const MoeSpec& e = *m.moe;
  const int64_t expert = swiglu_params(m.hidden, e.expert_intermediate);
  const int64_t routed = active ? e.top_k : e.experts;
  const int64_t router = m.hidden * e.experts;  // the router reads every expert's logit
  return routed * expert + e.shared_experts * expert + router;
}

int64_t count(const ModelSpec& m, bool active) {
  int64_t p = 0;
  const int64_t attn = attention_params(m);
  const int64_t norms = 2 * m.hidden;  // pre-attention and pre-FFN RMSNorm
  for (int64_t l = 0; l < m.layers; ++l) p += attn + norms + ffn_params(m, l, active);
  p += m.hidden;  // final norm
  return p + static_cast<int64_t>(m.params_embedding());
}

}  // namespace

bool ModelSpec::is_moe_layer(int64_t layer) const {
  if (!moe || layer < 0 || layer >= layers) return false;
  // The Hugging Face DeepSeek rule: layer >= first_k_dense_replace and layer % moe_layer_freq == 0.
  return layer >= moe->first_dense_layers && layer % moe->layer_frequency == 0;
}

double ModelSpec::params_embedding() const {
  const int64_t table = vocab * hidden;
  return static_cast<double>(tie_embeddings ? table : 2 * table);
}

double ModelSpec::params_total() const { return static_cast<double>(count(*this, false)); }

double ModelSpec::params_active_per_token() const { return static_cast<double>(count(*this, true)); }

int64_t ModelSpec::kv_elements_per_token_per_layer() const {
  if (attention.kind == AttentionKind::MLA) return attention.kv_lora_rank + attention.qk_rope_head_dim;
  return 2 * attention.kv_heads * attention.head_dim;
}

ModelSpec ModelSpec::from_reader(const YamlReader& root, const std::string& file) {
  ModelSpec m;
  m.file = file;
  m.key = file.empty() ? "" : std::filesystem::path(file).stem().string();
  m.name = root.string("name");
  m.source = root.string("source");
  const YamlReader family = root.at("family");
  const std::string fam = family.str();
  if (fam != "dense" && fam != "moe") family.fail(fmt::format("expected dense or moe, got \"{}\"", fam));
  m.layers = root.positive_int("layers");
  m.hidden = root.positive_int("hidden");
  m.vocab = root.positive_int("vocab");
  m.tie_embeddings = root.at("tie_embeddings").boolean();
  m.max_context = root.positive_int("max_context");
  const YamlReader dt = root.at("dtype");
  auto d = parse_dtype(dt.str());
  if (!d) dt.fail(fmt::format("unknown dtype \"{}\" (expected bf16, fp16, fp8, int8, tf32, fp32, fp4, int4)", dt.str()));
  m.dtype = *d;
  read_attention(root.at("attention"), m.attention);
  read_ffn(root.at("ffn"), m.ffn);
  auto moe = root.maybe("moe");
  if (fam == "moe" && !moe) family.fail("family moe needs a moe section (experts, top_k, expert_intermediate)");
  if (fam == "dense" && moe) moe->fail("a moe section is only allowed with family: moe (family is dense)");
  if (moe) m.moe = read_moe(*moe, m.layers);
  root.finish();
  return m;
}

ModelSpec ModelSpec::from_yaml_file(const std::string& path) {
  return from_reader(YamlReader::load_file(path), path);
}

ModelSpec ModelSpec::from_yaml_string(const std::string& text, const std::string& origin) {
  return from_reader(YamlReader::load_string(text, origin), "");
}

std::string ModelSpec::to_yaml() const {
  YAML::Emitter out;
  out << YAML::Comment(source.empty() ? name : fmt::format("{}. Source: {}", name, source));
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << name;
  out << YAML::Key << "source" << YAML::Value << source;
  out << YAML::Key << "family" << YAML::Value << (moe ? "moe" : "dense");
  out << YAML::Key << "layers" << YAML::Value << layers;
  out << YAML::Key << "hidden" << YAML::Value << hidden;
  out << YAML::Key << "vocab" << YAML::Value << vocab;
  out << YAML::Key << "tie_embeddings" << YAML::Value << tie_embeddings;
  out << YAML::Key << "max_context" << YAML::Value << max_context;
  out << YAML::Key << "dtype" << YAML::Value << std::string(to_string(dtype));

  const AttentionSpec& a = attention;
  out << YAML::Key << "attention" << YAML::Value << YAML::BeginMap;
  if (a.kind == AttentionKind::GQA) {
    out << YAML::Key << "type" << YAML::Value << "gqa";
    out << YAML::Key << "heads" << YAML::Value << a.heads;
    out << YAML::Key << "kv_heads" << YAML::Value << a.kv_heads;
    out << YAML::Key << "head_dim" << YAML::Value << a.head_dim;
    out << YAML::Key << "rope_theta" << YAML::Value << number_text(a.rope_theta);
    if (a.qkv_bias) out << YAML::Key << "qkv_bias" << YAML::Value << true;
  } else {
    out << YAML::Key << "type" << YAML::Value << "mla";
    out << YAML::Key << "heads" << YAML::Value << a.heads;
    out << YAML::Key << "q_lora_rank" << YAML::Value << a.q_lora_rank;
    out << YAML::Key << "kv_lora_rank" << YAML::Value << a.kv_lora_rank;
    out << YAML::Key << "qk_nope_head_dim" << YAML::Value << a.qk_nope_head_dim;
    out << YAML::Key << "qk_rope_head_dim" << YAML::Value << a.qk_rope_head_dim;
    out << YAML::Key << "v_head_dim" << YAML::Value << a.v_head_dim;
    out << YAML::Key << "rope_theta" << YAML::Value << number_text(a.rope_theta);
  }
  out << YAML::EndMap;

  out << YAML::Key << "ffn" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "type" << YAML::Value << "swiglu";
  out << YAML::Key << "intermediate" << YAML::Value << ffn.intermediate;
  out << YAML::EndMap;

  if (moe) {
    out << YAML::Key << "moe" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "experts" << YAML::Value << moe->experts;
    out << YAML::Key << "top_k" << YAML::Value << moe->top_k;
    out << YAML::Key << "expert_intermediate" << YAML::Value << moe->expert_intermediate;
    out << YAML::Key << "shared_experts" << YAML::Value << moe->shared_experts;
    out << YAML::Key << "first_dense_layers" << YAML::Value << moe->first_dense_layers;
    out << YAML::Key << "layer_frequency" << YAML::Value << moe->layer_frequency;
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  if (!out.good()) throw Error(fmt::format("to_yaml: {}", out.GetLastError()));
  return std::string(out.c_str()) + "\n";
}

std::string resolve_model_path(const std::string& name, const std::string& dir) {
  namespace fs = std::filesystem;
  if (fs::exists(name)) return name;
  const std::string base = dir.empty() ? data_dir() + "/models" : dir;
  fs::path p = fs::path(base) / (name + ".yaml");
  if (fs::exists(p)) return p.string();
  throw InputError(fmt::format("model \"{}\" not found (looked for {} and {})", name, name, p.string()));
}

}  // namespace headroom
