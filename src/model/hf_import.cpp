// Hugging Face config.json -> ModelSpec. Field names and defaults follow the transformers
// configuration classes (LlamaConfig, MistralConfig, MixtralConfig, Qwen2Config,
// DeepseekV3Config); a field is defaulted here only where that class defaults it and the
// default cannot change the model's shapes silently.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>

#include "headroom/core/error.hpp"
#include "headroom/model/model_spec.hpp"

namespace headroom {
namespace {

using nlohmann::json;

enum class Arch { Llama, Mistral, Mixtral, Qwen2, DeepseekV3 };

struct ArchName {
  Arch arch;
  std::string_view name;        // architectures[0]
  std::string_view model_type;  // the fallback field
};

constexpr std::array<ArchName, 5> kArchs = {{
    {Arch::Llama, "LlamaForCausalLM", "llama"},
    {Arch::Mistral, "MistralForCausalLM", "mistral"},
    {Arch::Mixtral, "MixtralForCausalLM", "mixtral"},
    {Arch::Qwen2, "Qwen2ForCausalLM", "qwen2"},
    {Arch::DeepseekV3, "DeepseekV3ForCausalLM", "deepseek_v3"},
}};

std::string supported_list(bool model_types) {
  std::string s;
  for (const ArchName& a : kArchs) {
    if (!s.empty()) s += ", ";
    s += model_types ? a.model_type : a.name;
  }
  return s;
}

// A byte offset (nlohmann counts from 1 and points at the character it could not use) to a
// 1-based line and column.
std::pair<size_t, size_t> line_col(const std::string& text, size_t byte) {
  const size_t at = std::min(byte == 0 ? 0 : byte - 1, text.size());
  size_t line = 1, col = 1;
  for (size_t i = 0; i < at; ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return {line, col};
}

// Reads fields of one config with messages that name the file, the field and the architecture.
class Fields {
 public:
  Fields(const json& j, std::string origin, std::string arch)
      : j_(j), origin_(std::move(origin)), arch_(std::move(arch)) {}

  [[nodiscard]] bool has(const char* f) const { return j_.contains(f) && !j_[f].is_null(); }

  [[noreturn]] void fail(const char* f, const std::string& what) const {
    throw InputError(fmt::format("{}: {}: {}", origin_, f, what));
  }

  [[nodiscard]] const json& get(const char* f) const {
    if (!has(f)) fail(f, fmt::format("missing (required for {})", arch_));
    return j_[f];
  }

  [[nodiscard]] int64_t integer(const char* f) const {
    const json& v = get(f);
    if (v.is_number_integer()) return v.get<int64_t>();
    // Some exporters write integral values as 4096.0.
    if (v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<int64_t>(v.get<double>())))
      return static_cast<int64_t>(v.get<double>());
    fail(f, fmt::format("expected an integer, got {}", v.dump()));
  }
  [[nodiscard]] int64_t positive(const char* f) const {
    const int64_t v = integer(f);
    if (v <= 0) fail(f, fmt::format("must be a positive integer, got {}", v));
    return v;
  }
  [[nodiscard]] int64_t nonnegative(const char* f) const {
    const int64_t v = integer(f);
    if (v < 0) fail(f, fmt::format("must be zero or a positive integer, got {}", v));
    return v;
  }
  [[nodiscard]] double number(const char* f) const {
    const json& v = get(f);
    if (!v.is_number()) fail(f, fmt::format("expected a number, got {}", v.dump()));
    const double d = v.get<double>();
    if (!(d > 0)) fail(f, fmt::format("must be positive, got {}", v.dump()));
    return d;
  }
  [[nodiscard]] bool boolean(const char* f, bool dflt) const {
    if (!has(f)) return dflt;
    const json& v = j_[f];
    if (!v.is_boolean()) fail(f, fmt::format("expected true or false, got {}", v.dump()));
    return v.get<bool>();
  }
  [[nodiscard]] std::string string(const char* f) const {
    const json& v = get(f);
    if (!v.is_string()) fail(f, fmt::format("expected a string, got {}", v.dump()));
    return v.get<std::string>();
  }

 private:
  const json& j_;
  std::string origin_;
  std::string arch_;
};

json parse(const std::string& text, const std::string& origin) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    auto [line, col] = line_col(text, e.byte);
    std::string what = e.what();
    // Keep nlohmann's description, drop its "[json.exception...] parse error at ...:" prefix.
    if (auto p = what.find("syntax error"); p != std::string::npos) what = what.substr(p);
    throw InputError(fmt::format("{}:{}:{}: JSON {}", origin, line, col, what));
  }
  if (!j.is_object()) throw InputError(fmt::format("{}:1:1: expected a JSON object at the top level", origin));
  return j;
}

const ArchName& detect(const json& j, const std::string& origin) {
  if (j.contains("architectures") && !j["architectures"].is_null()) {
    const json& a = j["architectures"];
    if (!a.is_array() || a.empty() || !a[0].is_string()) {
      throw InputError(fmt::format("{}: architectures: expected a list of names, got {}", origin, a.dump()));
    }
    const std::string name = a[0].get<std::string>();
    for (const ArchName& k : kArchs)
      if (k.name == name) return k;
    throw InputError(fmt::format("{}: architectures: unsupported architecture \"{}\" (supported: {})", origin, name,
                                 supported_list(false)));
  }
  if (j.contains("model_type") && j["model_type"].is_string()) {
    const std::string mt = j["model_type"].get<std::string>();
    for (const ArchName& k : kArchs)
      if (k.model_type == mt) return k;
    throw InputError(fmt::format("{}: model_type: unsupported model type \"{}\" (supported: {})", origin, mt,
                                 supported_list(true)));
  }
  throw InputError(fmt::format("{}: architectures: missing (and no model_type to fall back on)", origin));
}

DType read_dtype(const json& j, const Fields& f) {
  // transformers >= 4.56 writes "dtype"; older files "torch_dtype".
  const char* key = f.has("torch_dtype") || !f.has("dtype") ? "torch_dtype" : "dtype";
  const std::string s = f.string(key);
  DType d = DType::BF16;
  if (s == "bfloat16") {
    d = DType::BF16;
  } else if (s == "float16") {
    d = DType::FP16;
  } else if (s == "float32") {
    d = DType::FP32;
  } else {
    f.fail(key, fmt::format("unsupported dtype \"{}\" (expected bfloat16, float16 or float32)", s));
  }
  // Checkpoints published pre-quantized (DeepSeek-V3: block-scaled e4m3) keep torch_dtype
  // bfloat16 for the unquantized tensors; the weights a server loads are fp8.
  if (j.contains("quantization_config") && j["quantization_config"].is_object()) {
    const json& q = j["quantization_config"];
    if (q.value("quant_method", std::string()) == "fp8") d = DType::FP8;
  }
  return d;
}

double read_rope_theta(const json& j, const Fields& f, double hf_default) {
  // transformers >= 4.56 nests it in rope_parameters.
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object() && j["rope_parameters"].contains("rope_theta")) {
    const json& v = j["rope_parameters"]["rope_theta"];
    if (v.is_number() && v.get<double>() > 0) return v.get<double>();
    f.fail("rope_parameters.rope_theta", fmt::format("expected a positive number, got {}", v.dump()));
  }
  return f.has("rope_theta") ? f.number("rope_theta") : hf_default;
}

}  // namespace

ModelSpec import_hf_config_text(const std::string& text, const std::string& origin) {
  const json j = parse(text, origin);
  const ArchName& arch = detect(j, origin);
  const Fields f(j, origin, std::string(arch.name));

  ModelSpec m;
  m.file = origin;
  m.key = std::filesystem::path(origin).stem().string();
  const std::string name_or_path = f.has("_name_or_path") && j["_name_or_path"].is_string()
                                       ? j["_name_or_path"].get<std::string>()
                                       : std::string();
  m.name = name_or_path.empty() ? std::string(arch.name) : name_or_path;
  m.source = name_or_path.empty() ? origin : name_or_path + " config.json";

  if (f.has("hidden_act") && f.string("hidden_act") != "silu") {
    f.fail("hidden_act", fmt::format("unsupported activation \"{}\" (the SwiGLU FFN uses silu)", f.string("hidden_act")));
  }
  m.layers = f.positive("num_hidden_layers");
  m.hidden = f.positive("hidden_size");
  m.vocab = f.positive("vocab_size");
  m.max_context = f.positive("max_position_embeddings");
  // All five configuration classes default tie_word_embeddings to false.
  m.tie_embeddings = f.boolean("tie_word_embeddings", false);
  m.dtype = read_dtype(j, f);
  m.ffn.intermediate = f.positive("intermediate_size");

  AttentionSpec& a = m.attention;
  a.heads = f.positive("num_attention_heads");
  // rope_theta defaults of the transformers classes: 1e6 for Mixtral, 1e4 for the others.
  a.rope_theta = read_rope_theta(j, f, arch.arch == Arch::Mixtral ? 1e6 : 1e4);

  if (arch.arch == Arch::DeepseekV3) {
    a.kind = AttentionKind::MLA;
    a.q_lora_rank = f.has("q_lora_rank") ? f.nonnegative("q_lora_rank") : 0;  // null = no q compression
    a.kv_lora_rank = f.positive("kv_lora_rank");
    a.qk_nope_head_dim = f.positive("qk_nope_head_dim");
    a.qk_rope_head_dim = f.positive("qk_rope_head_dim");
    a.v_head_dim = f.positive("v_head_dim");
    a.kv_heads = a.heads;
    a.head_dim = a.qk_nope_head_dim + a.qk_rope_head_dim;
  } else {
    a.kind = AttentionKind::GQA;
    if (arch.arch == Arch::Llama && !f.has("num_key_value_heads")) {
      // LlamaConfig: num_key_value_heads=None means multi-head attention (= heads). The other
      // classes default it to a fixed number (Mistral/Mixtral 8, Qwen2 32), which would be a
      // silent guess here, so for them it is required.
      a.kv_heads = a.heads;
    } else {
      a.kv_heads = f.positive("num_key_value_heads");
    }
    if (a.heads % a.kv_heads != 0) {
      f.fail("num_key_value_heads",
             fmt::format("must divide num_attention_heads ({}), got {}", a.heads, a.kv_heads));
    }
    if (f.has("head_dim")) {
      a.head_dim = f.positive("head_dim");
    } else {
      if (m.hidden % a.heads != 0) {
        f.fail("head_dim", fmt::format("missing, and hidden_size ({}) is not a multiple of num_attention_heads ({})",
                                       m.hidden, a.heads));
      }
      a.head_dim = m.hidden / a.heads;
    }
    // Qwen2 always has q/k/v biases. Llama's attention_bias also adds an o_proj bias (hidden
    // parameters per layer) that ModelSpec does not count.
    a.qkv_bias = arch.arch == Arch::Qwen2 || (arch.arch == Arch::Llama && f.boolean("attention_bias", false));
  }

  if (arch.arch == Arch::Mixtral) {
    MoeSpec e;
    e.experts = f.positive("num_local_experts");
    e.top_k = f.positive("num_experts_per_tok");
    e.expert_intermediate = m.ffn.intermediate;  // every layer is MoE; intermediate_size is per expert
    if (e.top_k > e.experts) {
      f.fail("num_experts_per_tok", fmt::format("must not exceed num_local_experts ({}), got {}", e.experts, e.top_k));
    }
    m.moe = e;
  } else if (arch.arch == Arch::DeepseekV3) {
    MoeSpec e;
    e.experts = f.positive("n_routed_experts");
    e.top_k = f.positive("num_experts_per_tok");
    if (e.top_k > e.experts) {
      f.fail("num_experts_per_tok", fmt::format("must not exceed n_routed_experts ({}), got {}", e.experts, e.top_k));
    }
    e.expert_intermediate = f.positive("moe_intermediate_size");
    e.shared_experts = f.nonnegative("n_shared_experts");
    e.first_dense_layers = f.nonnegative("first_k_dense_replace");
    if (e.first_dense_layers >= m.layers) {
      f.fail("first_k_dense_replace",
             fmt::format("must be less than num_hidden_layers ({}), got {}", m.layers, e.first_dense_layers));
    }
    e.layer_frequency = f.positive("moe_layer_freq");
    m.moe = e;
  }
  return m;
}

ModelSpec import_hf_config(const std::string& json_path) {
  std::ifstream in(json_path);
  if (!in) throw InputError(fmt::format("{}: cannot open file", json_path));
  std::stringstream ss;
  ss << in.rdbuf();
  return import_hf_config_text(ss.str(), json_path);
}

}  // namespace headroom
