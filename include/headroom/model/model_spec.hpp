#pragma once
// ModelSpec: a decoder-only transformer (dense or MoE; GQA/MHA/MQA or MLA attention) as
// described by a models/*.yaml file or imported from a Hugging Face config.json. Immutable
// after loading; the operator graph is built from it.
#include <cstdint>
#include <optional>
#include <string>

#include "headroom/core/dtype.hpp"

namespace headroom {

class YamlReader;

enum class AttentionKind { GQA, MLA };  // GQA covers MHA (kv_heads == heads) and MQA (1)

struct AttentionSpec {
  AttentionKind kind = AttentionKind::GQA;
  int64_t heads = 0;
  int64_t kv_heads = 0;   // GQA: KV heads; MLA: equal to heads (after up-projection)
  int64_t head_dim = 0;   // GQA: per-head dim of q, k, v; MLA: qk_nope + qk_rope
  double rope_theta = 10000.0;
  bool qkv_bias = false;  // Qwen2 has biases on q, k, v
  // MLA (DeepSeek-V2/V3) only:
  int64_t q_lora_rank = 0;  // 0 = no low-rank q projection
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
};

struct FfnSpec {
  int64_t intermediate = 0;  // dense SwiGLU FFN width (also MoE models' dense layers)
};

struct MoeSpec {
  int64_t experts = 0;             // routed experts
  int64_t top_k = 0;               // experts per token
  int64_t expert_intermediate = 0; // width of each routed expert
  int64_t shared_experts = 0;      // always-on experts of the same width
  int64_t first_dense_layers = 0;  // leading layers with a dense FFN (DeepSeek-V3: 3)
  int64_t layer_frequency = 1;     // every n-th layer is MoE (1 = all after the dense ones)
};

struct ModelSpec {
  std::string name;
  std::string source;
  std::string file;
  std::string key;  // file stem, e.g. "llama3-8b"
  int64_t layers = 0;
  int64_t hidden = 0;
  int64_t vocab = 0;
  bool tie_embeddings = false;
  int64_t max_context = 0;
  DType dtype = DType::BF16;  // weights and activations as published
  AttentionSpec attention;
  FfnSpec ffn;
  std::optional<MoeSpec> moe;

  [[nodiscard]] bool is_moe_layer(int64_t layer) const;
  // Parameter counts (exact, from the shapes).
  [[nodiscard]] double params_total() const;
  [[nodiscard]] double params_active_per_token() const;  // MoE: routed top-k + shared
  [[nodiscard]] double params_embedding() const;         // input embedding (+ head if untied)
  // KV-cache elements stored per token per layer (GQA: 2*kv_heads*head_dim; MLA: kv_lora + rope).
  [[nodiscard]] int64_t kv_elements_per_token_per_layer() const;

  static ModelSpec from_yaml_file(const std::string& path);
  static ModelSpec from_yaml_string(const std::string& text, const std::string& origin);
  static ModelSpec from_reader(const YamlReader& root, const std::string& file);
  // Writes the YAML form (the inverse of from_yaml_*); used by import-hf.
  [[nodiscard]] std::string to_yaml() const;
};

// Imports a Hugging Face config.json (LlamaForCausalLM, MistralForCausalLM,
// MixtralForCausalLM, Qwen2ForCausalLM, DeepseekV3ForCausalLM). Throws InputError naming the
// file and the missing or unsupported field.
ModelSpec import_hf_config(const std::string& json_path);
ModelSpec import_hf_config_text(const std::string& json_text, const std::string& origin);

// "llama3-8b" or "models/llama3-8b.yaml" -> a path (bare names are looked up in models/).
std::string resolve_model_path(const std::string& name_or_path, const std::string& dir = "");

}  // namespace headroom
