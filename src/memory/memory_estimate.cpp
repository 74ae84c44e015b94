#include "headroom/memory/memory_estimate.hpp"

#include <algorithm>

#include "headroom/memory/memory_plan.hpp"

namespace headroom {

MemoryEstimate estimate_memory(const ModelSpec& m, const StepConfig& cfg, const HardwareSpec& hw) {
  const int64_t tokens = cfg.phase == Phase::Prefill ? cfg.seq : cfg.context + 1;
  MemoryOptions o;
  o.plan.tp = cfg.tp;
  o.plan.ep = cfg.ep;
  if (cfg.weight_format) o.weights = cfg.weight_format->name;
  else if (cfg.weight_dtype) o.weights = std::string(to_string(*cfg.weight_dtype));
  if (cfg.kv_format) o.kv_dtype = cfg.kv_format->name;
  else if (cfg.kv_dtype) o.kv_dtype = std::string(to_string(*cfg.kv_dtype));
  o.contexts = {{std::max<int64_t>(1, tokens), 1.0}};
  o.max_batch_tokens = std::max<int64_t>(1, cfg.phase == Phase::Prefill ? cfg.batch * cfg.seq : cfg.batch);
  o.util = 1.0;
  const MemoryPlan p = plan_memory(m, hw, o);
  const StagePlan& st = p.stages.front();
  // A --layers override keeps the embedding and head but scales the layer stack.
  const double scale = static_cast<double>(cfg.layers.value_or(m.layers)) / static_cast<double>(m.layers);
  MemoryEstimate e;
  const Bytes fixed = st.weights.embedding + st.weights.lm_head;
  e.weights = fixed + (st.weights.total() - fixed) * scale;
  e.kv_per_token = st.kv_per_token * scale;
  e.kv_cache = e.kv_per_token * (static_cast<double>(cfg.batch) * tokens);
  e.runtime = p.runtime_total + st.activation;
  e.total = e.weights + e.kv_cache + e.runtime;
  e.capacity = p.device_total;
  return e;
}

}  // namespace headroom
