#include "headroom/memory/memory_estimate.hpp"

#include <algorithm>

namespace headroom {

MemoryEstimate estimate_memory(const ModelSpec& m, const StepConfig& cfg, const HardwareSpec& hw) {
  MemoryEstimate e;
  const double tp = static_cast<double>(cfg.tp);
  const double w = bytes_per_element(m.dtype);
  const double layers = static_cast<double>(cfg.layers.value_or(m.layers));
  const double layer_scale = layers / static_cast<double>(m.layers);
  const double embed = m.params_embedding();
  const double norms = static_cast<double>(m.layers) * 2.0 * m.hidden + m.hidden;
  const double body = m.params_total() - embed - norms;
  double kv_proj_extra = 0.0;  // replicated K/V projections when tp > kv_heads
  const auto& a = m.attention;
  if (a.kind == AttentionKind::GQA && a.kv_heads < cfg.tp) {
    const double kv_proj = static_cast<double>(m.layers) * 2.0 * m.hidden * a.kv_heads * a.head_dim;
    kv_proj_extra = kv_proj * (1.0 / a.kv_heads - 1.0 / tp);
  }
  e.weights = Bytes(((body / tp + kv_proj_extra) * layer_scale + embed / tp + norms * layer_scale) * w);

  const DType kv_dtype = cfg.kv_dtype.value_or(cfg.act_dtype.value_or(m.dtype));
  double per_layer = static_cast<double>(m.kv_elements_per_token_per_layer());
  if (a.kind == AttentionKind::GQA) per_layer = 2.0 * std::max<int64_t>(1, a.kv_heads / cfg.tp) * a.head_dim;
  e.kv_per_token = Bytes(layers * per_layer * bytes_per_element(kv_dtype));
  const double tokens = cfg.phase == Phase::Prefill ? cfg.seq : cfg.context + 1;
  e.kv_cache = e.kv_per_token * (static_cast<double>(cfg.batch) * tokens);
  e.total = e.weights + e.kv_cache;
  e.capacity = hw.hbm.capacity;
  return e;
}

}  // namespace headroom
