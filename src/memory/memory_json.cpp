// The machine-readable memory plan: `headroom memory --json` and headroom.memory(...).to_dict().
// Sizes in bytes, shares as fractions.
#include "headroom/memory/memory_plan.hpp"

namespace headroom {

namespace {

using json = nlohmann::ordered_json;

json weights_json(const WeightBreakdown& w) {
  return {{"attention_bytes", w.attention.value()},
          {"dense_ffn_bytes", w.dense_ffn.value()},
          {"routed_experts_bytes", w.routed_experts.value()},
          {"shared_experts_bytes", w.shared_experts.value()},
          {"router_bytes", w.router.value()},
          {"embedding_bytes", w.embedding.value()},
          {"lm_head_bytes", w.lm_head.value()},
          {"norms_bytes", w.norms.value()},
          {"total_bytes", w.total().value()}};
}

}  // namespace

json to_json(const MemoryPlan& p) {
  json j;
  j["model"] = p.model;
  j["hw"] = p.hw;
  j["plan"] = {{"tp", p.plan.tp}, {"pp", p.plan.pp}, {"ep", p.plan.ep}, {"dp", p.plan.dp}, {"gpus", p.plan.gpus()}};
  j["weights_format"] = {{"name", p.weight_format.name},
                         {"bits_per_weight", p.weight_format.bits_per_weight()},
                         {"zero_points", p.weight_format.zero_bits > 0},
                         {"embeddings_quantized", p.quantize_embeddings}};
  j["kv_format"] = {{"name", p.kv_format.name}, {"block", p.block}};
  j["fits"] = p.fits;
  j["fails_first"] = std::string(to_string(p.fails_first));
  if (!p.fits) j["error"] = p.reason;
  const StagePlan& st = p.stages.at(static_cast<size_t>(p.binding_stage));
  j["per_gpu"] = {{"datasheet_capacity_bytes", p.datasheet_capacity.value()},
                  {"device_total_bytes", p.device_total.value()},
                  {"device_total_source", p.device_total_source},
                  {"util", p.util},
                  {"usable_bytes", p.usable.value()},
                  {"cuda_context_bytes", p.runtime.cuda_context.value()},
                  {"library_workspace_bytes", p.runtime.library_workspace.value()},
                  {"nccl_bytes", p.runtime.nccl.value()},
                  {"cuda_graphs_bytes", p.runtime.cuda_graphs.value()},
                  {"runtime_bytes", p.runtime_total.value()},
                  {"weights", weights_json(st.weights)},
                  {"rotary_cache_bytes", st.rotary_cache.value()},
                  {"activation_bytes", st.activation.value()},
                  {"max_batch_tokens", p.max_batch_tokens},
                  {"kv_budget_bytes", st.kv_budget.value()},
                  {"binding_stage", p.binding_stage}};
  j["kv"] = {{"bytes_per_token", st.kv_per_token.value()},
             {"block_bytes", p.kv_block_bytes.value()},
             {"blocks", p.kv_blocks},
             {"tokens", p.kv_tokens}};
  json ctx = json::array();
  for (const auto& [len, w] : p.contexts) ctx.push_back({{"tokens", len}, {"weight", w}});
  j["contexts"] = {{"lengths", ctx},
                   {"mean_tokens", p.mean_context},
                   {"mean_kv_bytes_per_sequence", p.mean_kv_per_sequence.value()},
                   {"fragmentation", p.fragmentation},
                   {"max_sequences", p.max_sequences},
                   {"max_sequences_all_replicas", p.max_sequences * p.plan.dp},
                   {"max_tokens_in_use", p.max_tokens_in_use}};
  json b = {{"batch", p.batch.value_or(1)},
            {"max_context", p.max_context_at_batch},
            {"context_limit", std::string(to_string(p.context_limit))}};
  if (p.batch) {
    b["fits"] = p.batch_fits;
    b["kv_share"] = p.batch_kv_share;
  }
  j["at_batch"] = b;
  json stages = json::array();
  for (const auto& s : p.stages) {
    stages.push_back({{"stage", s.stage},
                      {"first_layer", s.first_layer},
                      {"layers", s.layers},
                      {"weights_bytes", s.weights.total().value()},
                      {"rotary_cache_bytes", s.rotary_cache.value()},
                      {"activation_bytes", s.activation.value()},
                      {"kv_bytes_per_token", s.kv_per_token.value()},
                      {"kv_budget_bytes", s.kv_budget.value()},
                      {"kv_blocks", s.kv_blocks}});
  }
  j["stages"] = stages;
  j["notes"] = p.notes;
  return j;
}

}  // namespace headroom
