#pragma once
// StepGraph: the operators of one forward step (prefill or decode) of a model on one GPU of a
// tensor-parallel group, as a Boost.Graph DAG whose edges are data dependencies. Every fidelity
// (roofline, analytical, cycle-approximate, serving) consumes this graph.
#include <boost/graph/adjacency_list.hpp>

#include <optional>
#include <string>
#include <vector>

#include "headroom/graph/op.hpp"
#include "headroom/memory/quant_format.hpp"
#include "headroom/model/model_spec.hpp"

namespace headroom {

struct StepConfig {
  Phase phase = Phase::Decode;
  int64_t batch = 1;     // sequences in the step
  int64_t seq = 0;       // prefill: new tokens per sequence
  int64_t context = 0;   // decode: tokens already in the cache per sequence
  int64_t tp = 1;        // tensor-parallel degree (Megatron split)
  int64_t ep = 1;        // expert-parallel degree: routed experts split over ep GPUs, all-to-all around them
  int64_t dp = 1;        // data-parallel replicas; with ep > 1 the tp x dp GPUs of a stage share the experts
                         // (ep must divide tp x dp), each replica with its own `batch`
  std::optional<int64_t> layers;  // override the model's depth (embeddings and head unchanged)
  int64_t first_layer = 0;        // a pipeline stage's first layer (its graph holds `layers` layers from here)
  bool head = true;               // include the final norm and lm-head (the last pipeline stage)
  std::optional<DType> act_dtype;  // default: the model's dtype when 16/32-bit, else bf16
  std::optional<DType> weight_dtype;  // default: the model's dtype (matrix weights and their GEMMs)
  // Storage formats (memory/quant_format.hpp): when set, the matrix weights / the KV cache are
  // stored so (bytes with scales), and 4-bit weights or sub-8-bit caches are dequantized on the
  // CUDA cores inside the GEMM / attention kernels. fp8 and int8 weights run W8A8 GEMMs.
  std::optional<WeightFormat> weight_format;
  std::optional<KvFormat> kv_format;
  std::optional<DType> kv_dtype;   // default: act dtype
  double moe_experts_touched = 0;  // 0: expected value under the routing below
  double moe_skew = 0;             // Zipf exponent of expert popularity (0 = uniform routing; op.hpp moe_load)
  bool moe_balanced = false;       // every expert receives the same number of routed copies (not with moe_skew)
  // Implementation of the elementwise ops: the plain eager PyTorch reference (the default, as
  // measured in traces/) or fused kernels.
  Impl impl = Impl::TorchReference;
  bool embedding = true;          // include the token-embedding gather (the reference starts from hidden states)
  bool vocab_parallel_head = true;  // tp > 1: lm-head split by vocabulary + all-gather; false: replicated
};

// The KV-cache option of `--kv-dtype` / kv_dtype=: bf16, fp16 and fp8 set kv_dtype; the quantized
// formats (int4[-gN], kivi2...) set kv_format. Throws UsageError naming the accepted forms.
void set_kv_option(StepConfig& c, const std::string& text);

// A GEMM on weights stored in `f` (activations in `act`): 4-bit formats run weight-only
// (activation-dtype math, the weights dequantized on the CUDA cores inside the kernel: Impl
// Fused = a Marlin-style tensor-core kernel, TorchReference = PyTorch's own int4 kernel
// torch._weight_int4pack_mm, whose math runs on the CUDA cores); 8-bit formats run W8A8 (int8
// or fp8 math). `stored_bytes` > 0 overrides the format's byte count (a kernel's own layout).
Op make_weight_gemm(std::string name, int64_t m, int64_t n, int64_t k, DType act, const WeightFormat& f,
                    int64_t batch = 1, double stored_bytes = 0, Impl impl = Impl::Fused);

// An expert-parallel MoE layer, in issue order: the routing ids' all-to-all, the dispatch
// all-to-all, the local experts, the combine all-to-all and, when tp > 1, the all-gather over tp.
// `s` has all experts and the tokens of one data-parallel replica. The tp x dp GPUs of a stage share
// the experts (ep divides tp x dp); the tp ranks of a replica each dispatch 1/tp of its tokens.
// Routing: Zipf popularity `skew` (op.hpp moe_load; GPU 0, the busiest, sets the pace), or
// `balanced` (every expert receives the same number of copies). touched > 0 overrides the
// expected experts touched on the GPU.
struct ExpertParallel {
  int64_t tp = 1, dp = 1, ep = 1;
  double skew = 0;
  bool balanced = false;
  double touched = 0;
  const WeightFormat* format = nullptr;  // the experts' stored weight format (store_experts_as); null: `weights`
};
std::vector<Op> expert_parallel_moe(const MoeShape& s, const ExpertParallel& p, DType act, DType weights);

// An attention op (made with the activation dtype, or fp8, as its KV dtype) reading its cache in
// the stored format f: the cache bytes of that format, and every element expanded as it is read.
void store_kv_as(Op& attention, const KvFormat& f);

// MoE experts (made by make_moe_experts with the 16-bit activation dtype) holding their weights
// in format f: the weights read in f's stored bits (scales included) and, for 8-bit formats, the
// W8A8 math dtype, as make_weight_gemm treats a dense weight GEMM.
void store_experts_as(Op& experts, const WeightFormat& f);

using OpGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS, Op>;
using OpVertex = boost::graph_traits<OpGraph>::vertex_descriptor;

class StepGraph {
 public:
  // Validates the plan (throws InputError naming the constraint) and builds the graph.
  static StepGraph build(const ModelSpec& model, const StepConfig& cfg);

  [[nodiscard]] const OpGraph& graph() const { return g_; }
  [[nodiscard]] const StepConfig& config() const { return cfg_; }
  [[nodiscard]] const std::string& model_name() const { return model_name_; }
  [[nodiscard]] size_t size() const { return boost::num_vertices(g_); }
  // Operators in a topological order (the order a single stream would issue them).
  [[nodiscard]] const std::vector<OpVertex>& order() const { return order_; }
  [[nodiscard]] const Op& op(OpVertex v) const { return g_[v]; }
  // New tokens processed by the step (batch x seq, or batch in decode).
  [[nodiscard]] int64_t tokens() const;
  [[nodiscard]] int64_t layers() const { return layers_; }

  [[nodiscard]] Flops total_flops() const;
  [[nodiscard]] Bytes total_bytes() const;
  [[nodiscard]] Bytes total_weight_bytes() const;

 private:
  OpGraph g_;
  StepConfig cfg_;
  std::string model_name_;
  int64_t layers_ = 0;
  std::vector<OpVertex> order_;
};

}  // namespace headroom
