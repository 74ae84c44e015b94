// ModelSpec: loading and validation of models/*.yaml, parameter and KV counts against
// hand-derived numbers, Hugging Face config.json import, and the YAML round trip.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "headroom/core/error.hpp"
#include "headroom/model/model_spec.hpp"

namespace headroom {
namespace {

const std::string kSrc = HEADROOM_SOURCE_DIR;

std::string model_path(const std::string& key) { return kSrc + "/models/" + key + ".yaml"; }
std::string hf_path(const std::string& name) { return kSrc + "/tests/data/hf/" + name + ".json"; }

// The message of the InputError that `f` throws ("" when it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

void expect_same_shapes(const ModelSpec& a, const ModelSpec& b) {
  EXPECT_EQ(a.layers, b.layers);
  EXPECT_EQ(a.hidden, b.hidden);
  EXPECT_EQ(a.vocab, b.vocab);
  EXPECT_EQ(a.tie_embeddings, b.tie_embeddings);
  EXPECT_EQ(a.max_context, b.max_context);
  EXPECT_EQ(a.dtype, b.dtype);
  EXPECT_EQ(a.attention.kind, b.attention.kind);
  EXPECT_EQ(a.attention.heads, b.attention.heads);
  EXPECT_EQ(a.attention.kv_heads, b.attention.kv_heads);
  EXPECT_EQ(a.attention.head_dim, b.attention.head_dim);
  EXPECT_DOUBLE_EQ(a.attention.rope_theta, b.attention.rope_theta);
  EXPECT_EQ(a.attention.qkv_bias, b.attention.qkv_bias);
  EXPECT_EQ(a.attention.q_lora_rank, b.attention.q_lora_rank);
  EXPECT_EQ(a.attention.kv_lora_rank, b.attention.kv_lora_rank);
  EXPECT_EQ(a.attention.qk_nope_head_dim, b.attention.qk_nope_head_dim);
  EXPECT_EQ(a.attention.qk_rope_head_dim, b.attention.qk_rope_head_dim);
  EXPECT_EQ(a.attention.v_head_dim, b.attention.v_head_dim);
  EXPECT_EQ(a.ffn.intermediate, b.ffn.intermediate);
  ASSERT_EQ(a.moe.has_value(), b.moe.has_value());
  if (a.moe) {
    EXPECT_EQ(a.moe->experts, b.moe->experts);
    EXPECT_EQ(a.moe->top_k, b.moe->top_k);
    EXPECT_EQ(a.moe->expert_intermediate, b.moe->expert_intermediate);
    EXPECT_EQ(a.moe->shared_experts, b.moe->shared_experts);
    EXPECT_EQ(a.moe->first_dense_layers, b.moe->first_dense_layers);
    EXPECT_EQ(a.moe->layer_frequency, b.moe->layer_frequency);
  }
  EXPECT_DOUBLE_EQ(a.params_total(), b.params_total());
}

// ---- shipped files -------------------------------------------------------------------------

TEST(ModelFiles, EveryShippedModelLoadsAndRoundTrips) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(kSrc + "/models")) {
    if (e.path().extension() != ".yaml") continue;
    SCOPED_TRACE(e.path().string());
    const ModelSpec m = ModelSpec::from_yaml_file(e.path().string());
    EXPECT_EQ(m.key, e.path().stem().string());
    EXPECT_FALSE(m.name.empty());
    EXPECT_FALSE(m.source.empty());
    EXPECT_GT(m.params_total(), 1e9);
    EXPECT_LE(m.params_active_per_token(), m.params_total());
    const ModelSpec back = ModelSpec::from_yaml_string(m.to_yaml(), "<to_yaml>");
    EXPECT_EQ(back.name, m.name);
    EXPECT_EQ(back.source, m.source);
    expect_same_shapes(back, m);
    ++n;
  }
  EXPECT_GE(n, 6);
}

TEST(ModelFiles, ResolvesBareNamesAndPaths) {
  EXPECT_EQ(resolve_model_path("llama3-8b", kSrc + "/models"), kSrc + "/models/llama3-8b.yaml");
  EXPECT_EQ(resolve_model_path(model_path("mixtral-8x7b")), model_path("mixtral-8x7b"));
  const std::string msg = error_of([] { (void)resolve_model_path("no-such-model", kSrc + "/models"); });
  EXPECT_NE(msg.find("model \"no-such-model\" not found"), std::string::npos) << msg;
}

// ---- parameter counts (hand-derived from the published shapes) -----------------------------

TEST(ModelParams, Llama3_8B) {
  const ModelSpec m = ModelSpec::from_yaml_file(model_path("llama3-8b"));
  // per layer: q,o 2*4096*4096 + k,v 2*4096*1024 + FFN 3*4096*14336 + norms 2*4096 = 218,112,000
  // 32 layers + embeddings 2*128256*4096 + final norm 4096
  EXPECT_EQ(m.params_total(), 8'030'261'248.0);
  EXPECT_EQ(m.params_active_per_token(), m.params_total());
  EXPECT_EQ(m.params_embedding(), 2.0 * 128256 * 4096);
  EXPECT_FALSE(m.is_moe_layer(0));
}

TEST(ModelParams, Llama3_70B) {
  EXPECT_EQ(ModelSpec::from_yaml_file(model_path("llama3-70b")).params_total(), 70'553'706'496.0);
}

TEST(ModelParams, Llama31_405B) {
  // per layer 3,187,703,808; x126 + 2*128256*16384 + 16384
  EXPECT_EQ(ModelSpec::from_yaml_file(model_path("llama3-405b")).params_total(), 405'853'388'800.0);
}

TEST(ModelParams, Qwen25_72B_CountsQkvBias) {
  const ModelSpec m = ModelSpec::from_yaml_file(model_path("qwen2.5-72b"));
  // per layer: attention 150,994,944 + q/k/v bias 8192+2*1024 + FFN 3*8192*29568 + norms 16384
  EXPECT_EQ(m.params_total(), 72'706'203'648.0);  // Qwen reports 72.7 B
}

TEST(ModelParams, Mixtral8x7B) {
  const ModelSpec m = ModelSpec::from_yaml_file(model_path("mixtral-8x7b"));
  EXPECT_EQ(m.params_total(), 46'702'792'704.0);
  // per layer active: attention 41,943,040 + 2 experts 352,321,536 + router 32,768 + norms 8,192
  EXPECT_EQ(m.params_active_per_token(), 32.0 * 394'305'536 + 2.0 * 32000 * 4096 + 4096);
  for (int64_t l = 0; l < m.layers; ++l) EXPECT_TRUE(m.is_moe_layer(l));
}

TEST(ModelParams, DeepSeekV3) {
  const ModelSpec m = ModelSpec::from_yaml_file(model_path("deepseek-v3"));
  // Hugging Face's count of the checkpoint without the MTP module.
  EXPECT_NEAR(m.params_total(), 671'026'419'712.0, 671'026'419'712.0 * 1e-3);
  // DeepSeek reports 37 B activated per token.
  EXPECT_GT(m.params_active_per_token(), 36e9);
  EXPECT_LT(m.params_active_per_token(), 38e9);
  EXPECT_FALSE(m.is_moe_layer(0));
  EXPECT_FALSE(m.is_moe_layer(2));
  EXPECT_TRUE(m.is_moe_layer(3));
  EXPECT_TRUE(m.is_moe_layer(60));
  EXPECT_FALSE(m.is_moe_layer(61));
  EXPECT_EQ(m.attention.kv_heads, 128);
  EXPECT_EQ(m.attention.head_dim, 192);
}

TEST(ModelParams, LayerFrequencySkipsLayers) {
  ModelSpec m = ModelSpec::from_yaml_file(model_path("mixtral-8x7b"));
  m.moe->first_dense_layers = 1;
  m.moe->layer_frequency = 2;
  EXPECT_FALSE(m.is_moe_layer(0));
  EXPECT_FALSE(m.is_moe_layer(1));
  EXPECT_TRUE(m.is_moe_layer(2));
  EXPECT_FALSE(m.is_moe_layer(3));
}

// ---- KV cache ------------------------------------------------------------------------------

TEST(ModelKv, Llama3_8B_Bf16Is128KiBPerToken) {
  const ModelSpec m = ModelSpec::from_yaml_file(model_path("llama3-8b"));
  EXPECT_EQ(m.kv_elements_per_token_per_layer(), 2 * 8 * 128);
  const double bytes = m.layers * m.kv_elements_per_token_per_layer() * bytes_per_element(m.dtype);
  EXPECT_EQ(bytes, 131072.0);  // 32 layers * 2 * 8 * 128 * 2 B
}

TEST(ModelKv, DeepSeekV3CachesTheLatent) {
  const ModelSpec m = ModelSpec::from_yaml_file(model_path("deepseek-v3"));
  EXPECT_EQ(m.kv_elements_per_token_per_layer(), 512 + 64);
}

// ---- validation errors ---------------------------------------------------------------------

// Line numbers of kBase are fixed; the tests below edit single lines.
const std::vector<std::string> kBase = {
    "name: Test",             // 1
    "source: test",           // 2
    "family: dense",          // 3
    "layers: 4",              // 4
    "hidden: 256",            // 5
    "vocab: 1000",            // 6
    "tie_embeddings: false",  // 7
    "max_context: 2048",      // 8
    "dtype: bf16",            // 9
    "attention:",             // 10
    "  type: gqa",            // 11
    "  heads: 8",             // 12
    "  kv_heads: 2",          // 13
    "  head_dim: 32",         // 14
    "  rope_theta: 10000",    // 15
    "ffn:",                   // 16
    "  type: swiglu",         // 17
    "  intermediate: 512",    // 18
};
const std::vector<std::string> kMoe = {
    "moe:",                    // 19
    "  experts: 8",            // 20
    "  top_k: 2",              // 21
    "  expert_intermediate: 128",  // 22
};

std::string join(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}
std::vector<std::string> with(std::vector<std::string> lines, int line, const std::string& text) {
  lines[line - 1] = text;
  return lines;
}
std::vector<std::string> plus(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
std::string load_error(const std::vector<std::string>& lines) {
  return error_of([&] { (void)ModelSpec::from_yaml_string(join(lines), "t.yaml"); });
}

TEST(ModelErrors, BaseAndMoeLoad) {
  EXPECT_NO_THROW((void)ModelSpec::from_yaml_string(join(kBase), "t.yaml"));
  const ModelSpec m = ModelSpec::from_yaml_string(join(plus(with(kBase, 3, "family: moe"), kMoe)), "t.yaml");
  ASSERT_TRUE(m.moe);
  EXPECT_EQ(m.moe->shared_experts, 0);
  EXPECT_EQ(m.moe->layer_frequency, 1);
}

TEST(ModelErrors, UnknownKey) {
  auto lines = kBase;
  lines.insert(lines.begin() + 15, "  window: 4096");  // becomes line 16
  const std::string msg = load_error(lines);
  EXPECT_NE(msg.find("t.yaml:16:3: attention.window: unknown key"), std::string::npos) << msg;
  EXPECT_NE(load_error(plus(kBase, {"layer: 4"})).find("t.yaml:19:1: layer: unknown key"), std::string::npos);
}

TEST(ModelErrors, UnknownKeyForTheAttentionType) {
  // MLA has no kv_heads key: the loader derives it.
  auto lines = with(kBase, 11, "  type: mla");
  const std::string msg = load_error(lines);
  EXPECT_NE(msg.find("attention.q_lora_rank: required key is missing"), std::string::npos) << msg;
}

TEST(ModelErrors, MissingKey) {
  auto lines = kBase;
  lines.erase(lines.begin() + 4);  // hidden
  const std::string msg = load_error(lines);
  EXPECT_NE(msg.find("t.yaml:1:1: hidden: required key is missing"), std::string::npos) << msg;
  auto no_theta = kBase;
  no_theta.erase(no_theta.begin() + 14);
  const std::string m2 = load_error(no_theta);
  EXPECT_NE(m2.find("t.yaml:11:3: attention.rope_theta: required key is missing"), std::string::npos) << m2;
}

TEST(ModelErrors, BadValues) {
  std::string msg = load_error(with(kBase, 4, "layers: -4"));
  EXPECT_NE(msg.find("t.yaml:4:9: layers: must be a positive integer, got -4"), std::string::npos) << msg;
  msg = load_error(with(kBase, 5, "hidden: wide"));
  EXPECT_NE(msg.find("t.yaml:5:9: hidden: expected an integer, got \"wide\""), std::string::npos) << msg;
  msg = load_error(with(kBase, 9, "dtype: bf17"));
  EXPECT_NE(msg.find("t.yaml:9:8: dtype: unknown dtype \"bf17\""), std::string::npos) << msg;
  msg = load_error(with(kBase, 11, "  type: mha"));
  EXPECT_NE(msg.find("t.yaml:11:9: attention.type: expected gqa or mla, got \"mha\""), std::string::npos) << msg;
  msg = load_error(with(kBase, 3, "family: sparse"));
  EXPECT_NE(msg.find("t.yaml:3:9: family: expected dense or moe"), std::string::npos) << msg;
  msg = load_error(with(kBase, 7, "tie_embeddings: maybe"));
  EXPECT_NE(msg.find("t.yaml:7:17: tie_embeddings: expected true or false"), std::string::npos) << msg;
  msg = load_error(with(kBase, 17, "  type: gelu"));
  EXPECT_NE(msg.find("t.yaml:17:9: ffn.type: expected swiglu"), std::string::npos) << msg;
}

TEST(ModelErrors, KvHeadsMustDivideHeads) {
  const std::string msg = load_error(with(kBase, 13, "  kv_heads: 3"));
  EXPECT_NE(msg.find("t.yaml:13:13: attention.kv_heads: must divide attention.heads (8), got 3"), std::string::npos)
      << msg;
}

TEST(ModelErrors, FamilyAndMoeMustAgree) {
  std::string msg = load_error(with(kBase, 3, "family: moe"));
  EXPECT_NE(msg.find("t.yaml:3:9: family: family moe needs a moe section"), std::string::npos) << msg;
  msg = load_error(plus(kBase, kMoe));
  EXPECT_NE(msg.find("t.yaml:20:3: moe: a moe section is only allowed with family: moe"), std::string::npos) << msg;
}

TEST(ModelErrors, MoeLimits) {
  auto moe = plus(with(kBase, 3, "family: moe"), kMoe);
  std::string msg = load_error(with(moe, 21, "  top_k: 9"));
  EXPECT_NE(msg.find("t.yaml:21:10: moe.top_k: must not exceed moe.experts (8), got 9"), std::string::npos) << msg;
  msg = load_error(plus(moe, {"  first_dense_layers: 4"}));
  EXPECT_NE(msg.find("t.yaml:23:23: moe.first_dense_layers: must be less than layers (4), got 4"), std::string::npos)
      << msg;
}

TEST(ModelErrors, YamlSyntaxError) {
  const std::string msg = load_error(with(kBase, 14, "  head_dim: [32"));
  EXPECT_NE(msg.find("t.yaml:15:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("YAML syntax error"), std::string::npos) << msg;
}

TEST(ModelErrors, FileErrorsNameTheFile) {
  const std::string msg = error_of([] { (void)ModelSpec::from_yaml_file(kSrc + "/models/none.yaml"); });
  EXPECT_NE(msg.find("none.yaml: cannot open file"), std::string::npos) << msg;
}

// ---- Hugging Face import -------------------------------------------------------------------

struct HfCase {
  const char* json;
  const char* yaml;
};

class HfImportMatchesShippedYaml : public testing::TestWithParam<HfCase> {};

TEST_P(HfImportMatchesShippedYaml, Shapes) {
  const ModelSpec hf = import_hf_config(hf_path(GetParam().json));
  const ModelSpec yaml = ModelSpec::from_yaml_file(model_path(GetParam().yaml));
  expect_same_shapes(hf, yaml);
  // The imported spec writes a file that loads to the same shapes.
  expect_same_shapes(ModelSpec::from_yaml_string(hf.to_yaml(), "<import>"), hf);
}

INSTANTIATE_TEST_SUITE_P(HfImport, HfImportMatchesShippedYaml,
                         testing::Values(HfCase{"llama3-8b", "llama3-8b"}, HfCase{"mixtral-8x7b", "mixtral-8x7b"},
                                         HfCase{"qwen2.5-72b", "qwen2.5-72b"},
                                         HfCase{"deepseek-v3", "deepseek-v3"}));

TEST(HfImport, NameFallsBackToTheArchitecture) {
  EXPECT_EQ(import_hf_config(hf_path("llama3-8b")).name, "LlamaForCausalLM");
  const ModelSpec m = import_hf_config_text(
      R"({"_name_or_path": "meta-llama/Meta-Llama-3-8B", "architectures": ["LlamaForCausalLM"],
          "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
          "vocab_size": 100, "max_position_embeddings": 256, "torch_dtype": "float16"})",
      "c.json");
  EXPECT_EQ(m.name, "meta-llama/Meta-Llama-3-8B");
  EXPECT_EQ(m.source, "meta-llama/Meta-Llama-3-8B config.json");
  EXPECT_EQ(m.attention.kv_heads, 4);  // Llama: absent num_key_value_heads means MHA
  EXPECT_EQ(m.attention.head_dim, 16);
  EXPECT_EQ(m.dtype, DType::FP16);
}

TEST(HfImport, ModelTypeFallback) {
  const ModelSpec m = import_hf_config_text(
      R"({"model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
          "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 32768,
          "max_position_embeddings": 32768, "rope_theta": 1000000.0, "torch_dtype": "bfloat16"})",
      "m.json");
  EXPECT_EQ(m.name, "MistralForCausalLM");
  EXPECT_EQ(m.attention.kv_heads, 8);
  EXPECT_FALSE(m.moe);
}

TEST(HfImport, MissingField) {
  std::string msg = error_of([] {
    (void)import_hf_config_text(R"({"architectures": ["MixtralForCausalLM"], "hidden_size": 64,
        "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "vocab_size": 100, "max_position_embeddings": 256, "torch_dtype": "bfloat16", "num_experts_per_tok": 2})",
                                "x.json");
  });
  EXPECT_EQ(msg, "x.json: num_local_experts: missing (required for MixtralForCausalLM)");
  // Only Llama defaults num_key_value_heads to num_attention_heads.
  msg = error_of([] {
    (void)import_hf_config_text(R"({"architectures": ["Qwen2ForCausalLM"], "hidden_size": 64,
        "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "vocab_size": 100, "max_position_embeddings": 256, "torch_dtype": "bfloat16"})",
                                "q.json");
  });
  EXPECT_EQ(msg, "q.json: num_key_value_heads: missing (required for Qwen2ForCausalLM)");
}

TEST(HfImport, BadValues) {
  const std::string msg = error_of([] {
    (void)import_hf_config_text(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 64,
        "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 3,
        "vocab_size": 100, "max_position_embeddings": 256, "torch_dtype": "bfloat16"})",
                                "k.json");
  });
  EXPECT_EQ(msg, "k.json: num_key_value_heads: must divide num_attention_heads (4), got 3");
}

TEST(HfImport, UnsupportedArchitecture) {
  const std::string msg = error_of([] { (void)import_hf_config(hf_path("unsupported")); });
  EXPECT_NE(msg.find("unsupported.json: architectures: unsupported architecture \"GPT2LMHeadModel\" (supported: "
                     "LlamaForCausalLM, MistralForCausalLM"),
            std::string::npos)
      << msg;
}

TEST(HfImport, BrokenJsonNamesLineAndColumn) {
  const std::string msg = error_of([] { (void)import_hf_config(hf_path("broken")); });
  EXPECT_NE(msg.find("broken.json:5:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("syntax error"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("[json.exception"), std::string::npos) << msg;
}

TEST(HfImport, MissingFile) {
  const std::string msg = error_of([] { (void)import_hf_config(hf_path("absent")); });
  EXPECT_NE(msg.find("absent.json: cannot open file"), std::string::npos) << msg;
}

}  // namespace
}  // namespace headroom
