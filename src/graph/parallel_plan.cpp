#include "headroom/graph/parallel_plan.hpp"

#include <cstddef>

namespace headroom {

std::vector<int64_t> stage_layers(int64_t layers, int64_t pp) {
  std::vector<int64_t> parts(static_cast<size_t>(pp), layers / pp);
  const int64_t rem = layers % pp;
  for (int64_t i = 2; i < rem + 2; ++i) parts[static_cast<size_t>(pp - i)] += 1;  // vllm/distributed/utils.py
  return parts;
}

}  // namespace headroom
