#pragma once
// Memory plan of one GPU serving a model under a parallel plan (TP x PP x EP x DP): weights by
// storage format, the activation peak of one step, runtime overheads, and the paged KV cache
// that fits in what is left at a utilization target; from it the concurrent sequences and
// tokens for a context-length distribution and what runs out first as batch or context grows.
// Formulas and sources: docs/memory-model.md.
//
// Budget (per GPU, per pipeline stage s), the vLLM rule (gpu_worker.determine_available_memory):
//   KV budget_s = util x device_total - runtime - weights_s - activation_s
// where device_total is what cudaMemGetInfo reports as total (not the datasheet's GB) and runtime
// is the CUDA context, library workspaces, NCCL buffers and CUDA-graph pool. A sequence holds KV
// on every stage, so the pipeline's capacity is that of its tightest stage.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "headroom/graph/parallel_plan.hpp"
#include "headroom/hw/hardware_spec.hpp"
#include "headroom/memory/quant_format.hpp"
#include "headroom/model/model_spec.hpp"
#include "headroom/units/units.hpp"

namespace headroom {

// Per-GPU memory the runtime takes before any weight or KV byte. Every default is a measured or
// documented value with its source; each is overridable (CLI flags, Python keywords).
struct RuntimeOverheads {
  // Memory cudaMemGetInfo reports as total. nullopt: a measured value for the hardware when one
  // is known (the hardware file's memory.hbm.visible), else the datasheet capacity (flagged).
  std::optional<Bytes> device_total;
  // Primary CUDA context (driver 580, CUDA 13.0, lazy module loading): 552,402,944 B measured on
  // H200 (traces/h200/memory.jsonl, stage after_context: total - free right after creation).
  Bytes cuda_context{552402944.0};
  // cuBLAS + cuBLASLt handles, their loaded kernels and workspaces (PyTorch keeps 32 MiB + 1 MiB)
  // and flash-attention: 208,666,624 B measured on H200 (traces/h200/memory.jsonl, after_flash
  // non-torch 726,466,560 - 552,402,944 context + 34,603,008 torch-held workspace).
  Bytes library_workspace{208666624.0};
  // NCCL's device memory when the GPU communicates (tp, pp or ep > 1), outside PyTorch's
  // allocator: the communicator (383,778,816 B) and the all-reduce buffers, 880,803,840 B in all,
  // measured on each of 4 H200s (NCCL 2.28.9, NVLS off; traces/h200x4/memory_nccl.jsonl).
  Bytes nccl{880803840.0};
  // ... plus, with expert parallelism (all-to-all), the buffers all-gather, reduce-scatter and
  // all-to-all add together: 1,272,971,264 B (same measurement, 2,153,775,104 - 880,803,840).
  Bytes nccl_all_to_all{1272971264.0};
  // Private pool of captured CUDA graphs (vLLM's decode graphs): 0 = eager. Typical 0.1-1 GiB.
  Bytes cuda_graphs{0.0};
};

// A context-length distribution: (length in tokens, weight). Weights need not sum to 1.
using ContextDistribution = std::vector<std::pair<int64_t, double>>;

struct MemoryOptions {
  ParallelPlan plan;
  std::optional<std::string> weights;   // weight format; default: the model's published dtype
  bool quantize_embeddings = false;     // embeddings and lm-head in the weight format (else bf16)
  std::optional<std::string> kv_dtype;  // KV format; default: the activation dtype (bf16/fp16)
  int64_t block = 16;                   // paged KV: tokens per block (vLLM's default block_size)
  double util = 0.9;                    // vLLM's gpu_memory_utilization default
  // Tokens in the largest step (prefill chunk; vLLM's max_num_batched_tokens) -> activation peak.
  int64_t max_batch_tokens = 8192;
  int64_t max_seqs = 256;               // sequences in the sampler's logits (vLLM's max_num_seqs)
  ContextDistribution contexts;         // empty: one length, min(4096, model max_context)
  std::optional<int64_t> batch;         // a concurrency to check against the capacity
  RuntimeOverheads runtime;
};

// A measured cudaMemGetInfo total for a hardware key ("h200-sxm"), with its source.
std::optional<std::pair<Bytes, std::string>> measured_device_total(const HardwareSpec& hw);

struct WeightBreakdown {  // per GPU
  Bytes attention, dense_ffn, routed_experts, shared_experts, router, embedding, lm_head, norms;
  [[nodiscard]] Bytes total() const {
    return attention + dense_ffn + routed_experts + shared_experts + router + embedding + lm_head + norms;
  }
};

struct StagePlan {  // one GPU of one pipeline stage
  int64_t stage = 0;
  int64_t first_layer = 0;
  int64_t layers = 0;
  WeightBreakdown weights;
  // The RoPE cos/sin table a process holds once for all its layers: max_context positions x the
  // rotary width (GQA: head_dim; MLA: qk_rope_head_dim) in the activation dtype (vLLM's
  // RotaryEmbedding.cos_sin_cache). Not a weight: computed at load, not read from the checkpoint.
  Bytes rotary_cache;
  Bytes activation;       // peak of one step of max_batch_tokens tokens
  Bytes kv_per_token;     // one token of one sequence, all of this stage's layers
  Bytes kv_budget;        // may be negative: does not fit
  int64_t kv_blocks = 0;  // whole blocks that fit in the budget
};

enum class Limit { None, Weights, Activation, KvCache, ModelContext };
std::string_view to_string(Limit l);

struct MemoryPlan {
  std::string model, hw;
  ParallelPlan plan;
  WeightFormat weight_format;
  KvFormat kv_format;
  bool quantize_embeddings = false;
  int64_t block = 16;
  double util = 0.9;
  int64_t max_batch_tokens = 0;
  int64_t max_seqs = 0;

  Bytes datasheet_capacity;   // the hardware file's HBM capacity
  Bytes device_total;         // what the process sees as total
  std::string device_total_source;
  Bytes usable;               // util x device_total
  RuntimeOverheads runtime;   // as applied (nccl zeroed when the GPU does not communicate)
  Bytes runtime_total;

  std::vector<StagePlan> stages;
  int64_t binding_stage = 0;  // the stage with the fewest KV blocks

  // Of the binding stage (per GPU):
  int64_t kv_blocks = 0;
  int64_t kv_tokens = 0;           // kv_blocks x block (Kivi: budget / asymptotic bytes per token)
  Bytes kv_block_bytes;            // one block, all the stage's layers

  // Context distribution (per replica; whole deployment = x dp):
  ContextDistribution contexts;
  double mean_context = 0;
  Bytes mean_kv_per_sequence;      // paging (last block partly filled) and Kivi residual included
  double fragmentation = 0;        // share of allocated KV bytes left empty by partial blocks
  int64_t max_sequences = 0;
  int64_t max_tokens_in_use = 0;   // max_sequences x mean_context (rounded down)

  std::optional<int64_t> batch;
  bool batch_fits = true;
  double batch_kv_share = 0;       // batch's KV / KV budget
  int64_t max_context_at_batch = 0;  // largest fixed context for `batch` (or 1) sequences
  Limit context_limit = Limit::None;  // what bounds max_context_at_batch

  bool fits = true;
  Limit fails_first = Limit::None;  // what runs out first as batch or context grows
  std::string reason;               // why it does not fit ("" when it fits)
  std::vector<std::string> notes;
};

// Throws InputError naming the constraint when the plan cannot be laid out (TP not dividing the
// heads, PP deeper than the layers, EP not dividing the experts, ...); returns a plan with
// fits = false and the reason when it can be laid out but does not fit.
MemoryPlan plan_memory(const ModelSpec& m, const HardwareSpec& hw, const MemoryOptions& opt);

// The structural checks alone: "" when the plan can be laid out, else the constraint it breaks.
std::string check_parallel_plan(const ModelSpec& m, const ParallelPlan& p);

// KV bytes of one sequence of `tokens` on one GPU of a stage with `layers` layers, paging and
// quantization included (exposed for tests and the serving simulator).
Bytes kv_bytes_per_sequence(const ModelSpec& m, const ParallelPlan& p, const KvFormat& f, int64_t layers,
                            int64_t block, int64_t tokens);
// Activation peak of one step of `tokens` tokens on one GPU of a stage (see memory-model.md).
Bytes activation_peak(const ModelSpec& m, const ParallelPlan& p, int64_t first_layer, int64_t layers,
                      bool last_stage, int64_t tokens, int64_t max_seqs);


// Parses "4096", "512,2048,8192" (equal weights) or "512:0.5,2048:0.3,8192:0.2" (length:weight).
ContextDistribution parse_contexts(const std::string& text);

// The machine-readable form (CLI --json, Python to_dict()).
nlohmann::ordered_json to_json(const MemoryPlan& p);

}  // namespace headroom
