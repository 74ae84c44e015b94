#pragma once
// Op: one kernel-level operator with its shape, dtype, and FLOP/byte accounting. The same type
// is a node of the StepGraph and a kernel case of `predict` (a trace line becomes one Op), so
// every cost backend answers both from one code path.
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "headroom/core/dtype.hpp"
#include "headroom/units/units.hpp"

namespace headroom {

enum class Phase { Prefill, Decode };
std::string_view to_string(Phase p);

enum class OpKind {
  Embedding,    // token gather from the embedding table
  RmsNorm,
  Gemm,         // y[m,n] = x[m,k] W[n,k]^T (batch > 1: independent GEMMs of one shape)
  Rope,
  KvWrite,      // append new K/V (or MLA latents) to the cache
  Attention,
  Swiglu,       // silu(a) * b
  Residual,     // elementwise add
  MoeRouter,    // router GEMM + softmax + top-k
  MoeExperts,   // routed (and shared) expert FFNs: gate-up, swiglu, down
  Collective,
  Copy,         // device-to-device copy
  Read,         // read-only streaming kernel
  Write,        // write-only streaming kernel (fill)
  Launch,       // an empty kernel (launch cost only)
};
std::string_view to_string(OpKind k);

enum class CollectiveKind { AllReduce, AllGather, ReduceScatter, AllToAll };
std::string_view to_string(CollectiveKind k);

struct GemmShape {
  int64_t m = 0, n = 0, k = 0;
  int64_t batch = 1;
  // The operands were just read and still sit in L2 (a benchmark repeating one weight matrix).
  // False in a model step: each layer's weights come from HBM.
  bool warm_l2 = false;
};

struct AttentionShape {
  Phase phase = Phase::Prefill;
  int64_t batch = 0;
  int64_t q_len = 0;    // new tokens per sequence (1 in decode)
  int64_t kv_len = 0;   // keys per sequence (seq in prefill, context + 1 in decode)
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t qk_dim = 0;   // dimension of q.k
  int64_t v_dim = 0;    // dimension of v
  bool causal = true;
  // V is the first v_dim elements of K (multi-head latent attention's absorbed decode: one
  // compressed latent serves as key and value), so the kernel reads qk_dim per cached token,
  // not qk_dim + v_dim.
  bool shared_kv = false;
  // Bits of each stored KV element's payload: 16 (bf16, fp16), 8 (fp8: converted to 16 bits in
  // the kernel), 4 or 2 (integer codes with scales: dequantized). Below 16 the decode kernel
  // expands every element it reads (Op::dequant_elements).
  float kv_bits = 16;
};

// Row-wise kernels (norms, rope, residual, swiglu, embedding, kv write): `rows` x `width`.
struct RowShape {
  int64_t rows = 0;
  int64_t width = 0;
};

struct MoeShape {
  int64_t experts = 0;
  int64_t top_k = 0;
  int64_t hidden = 0;
  int64_t inter = 0;
  int64_t tokens = 0;
  int64_t shared_experts = 0;
  bool grouped = true;        // one grouped GEMM (true) or a loop of per-expert GEMMs
  // Routing, for the rows each expert gets (moe_row_blocks). `experts` are this GPU's: global
  // expert i x route_stride (expert parallel: GPU 0 holds 0, ep, 2 ep, ...) of route_experts,
  // chosen by route_tokens tokens (0: experts, tokens). Each token picks expert i with
  // probability p_i (top_k / experts when skew = 0; Zipf inclusion probabilities otherwise), so an
  // expert's rows are Binomial(route_tokens, p_i); `balanced`: every expert exactly its share.
  bool balanced = false;
  // Expert parallel layer: the copies are also gathered into the send buffer before the
  // dispatch all-to-all and copied back into place before the combine (two more row copies).
  bool exchanged = false;
  int32_t route_stride = 1;
  double experts_touched = 0; // expected number of distinct routed experts the batch uses
  double weight_bits = 0;     // stored bits per expert weight, scales included (store_experts_as); 0: the op's dtype
  int64_t route_experts = 0;
  int64_t route_tokens = 0;
  double skew = 0;
};

struct CollectiveShape {
  CollectiveKind kind = CollectiveKind::AllReduce;
  int64_t gpus = 1;
  double bytes = 0;  // each rank's input buffer
  // Scale-up domains (nodes) the group spans: 0 = as few as hold it (ceil(gpus / domain)); a
  // pipeline send across a node boundary gives 2.
  int64_t nodes = 0;
};

struct StreamShape {
  double bytes = 0;
  bool warm_l2 = false;
};

struct LaunchShape {
  bool back_to_back = false;  // false: one synchronized launch; true: per-kernel gap in a stream
};

using OpShape = std::variant<GemmShape, AttentionShape, RowShape, MoeShape, CollectiveShape, StreamShape, LaunchShape>;

// How an op is implemented, where it changes kernels and bytes. Fused: one kernel that reads
// its inputs and writes its outputs once. TorchReference: the plain eager PyTorch expressions of
// the reference model step (traces/harness/torch/model.py), whose kernel counts and
// intermediate tensors are counted in src/graph/op.cpp next to each expression.
// TorchFunctional: torch.nn.functional's own op (F.rms_norm: a row reduction, then the scale).
enum class Impl { Fused, TorchReference, TorchFunctional };

struct Op {
  std::string name;
  OpKind kind = OpKind::Gemm;
  DType dtype = DType::BF16;
  int layer = -1;  // -1: outside the layer stack
  int kernels = 1; // kernel launches of the implementation (eager PyTorch splits some ops)
  int light_kernels = 0;  // of those, plain vectorized elementwise kernels (a lighter fixed cost, measured)
  int syncs = 0;   // host synchronizations inside the op (e.g. reading which experts are hit)
  Impl impl = Impl::Fused;
  bool strided = false;  // elementwise inputs are non-contiguous views (PyTorch's non-vectorized path)
  // Quantized weights or KV cache read by this op and expanded on the CUDA cores before the
  // matrix units use them (4-bit weight-only GEMMs, int4/2-bit KV caches): elements per call.
  double dequant_elements = 0;
  OpShape shape;
  // Accounting (filled by the make_* functions): arithmetic, bytes to/from device memory with
  // each input read once and each output written once, and bytes each GPU sends on the fabric.
  Flops flops;
  Bytes bytes_read;
  Bytes bytes_written;
  Bytes wire_bytes;
  // Weights among bytes_read (what a memory planner counts as weight traffic).
  Bytes weight_bytes;

  [[nodiscard]] Bytes bytes() const { return bytes_read + bytes_written; }
  [[nodiscard]] double intensity() const {  // FLOP per byte of device memory traffic
    double b = bytes().value();
    return b > 0 ? flops.value() / b : 0.0;
  }
  template <class S>
  [[nodiscard]] const S& as() const { return std::get<S>(shape); }
};

// Factories: each fills the shape and the accounting. `act` is the activation dtype; weights
// use `w` (default: same as act).
Op make_gemm(std::string name, int64_t m, int64_t n, int64_t k, DType dtype, int64_t batch = 1);
Op make_attention(std::string name, AttentionShape s, DType dtype, DType kv_dtype);
// Cached elements per token and KV head that an attention kernel reads: qk_dim + v_dim, or
// qk_dim alone when V is part of K (AttentionShape::shared_kv).
double kv_row_elements(const AttentionShape& s);
Op make_row_op(std::string name, OpKind kind, int64_t rows, int64_t width, DType dtype);
Op make_kv_write(std::string name, int64_t tokens, int64_t width, DType kv_dtype);
Op make_rmsnorm(std::string name, int64_t rows, int64_t width, DType dtype, Impl impl);
Op make_swiglu(std::string name, int64_t rows, int64_t inter, DType dtype, Impl impl);
// RoPE on `tensors` tensors (q and k: 2) of rows x width elements in total.
Op make_rope(std::string name, int64_t rows, int64_t width, int tensors, DType dtype, Impl impl);
Op make_moe_experts(std::string name, MoeShape s, DType dtype);
Op make_moe_router(std::string name, int64_t tokens, int64_t hidden, int64_t experts, DType dtype);
Op make_collective(std::string name, CollectiveKind kind, int64_t gpus, double bytes, DType dtype);
Op make_stream(std::string name, OpKind kind, double bytes, bool warm_l2);
Op make_launch(std::string name, bool back_to_back);

// Expected distinct experts touched when `assignments` token-expert picks fall uniformly over
// `experts` (each token picks top_k distinct experts): E * (1 - (1 - k/E)^tokens).
double expected_experts_touched(int64_t experts, int64_t top_k, int64_t tokens);
// Under balanced routing (the copies spread as evenly as they can), how many of `local` experts
// (of `global`) `copies` routed copies reach: all once the copies cover every expert, their
// share of the copies before that.
double balanced_experts_touched(int64_t local, int64_t global, double copies);

// Expert load under skewed routing. Popularity follows a Zipf law of exponent `skew` over the
// experts (0 = uniform): a token picks expert i (i = 0 the most popular) with probability
// p_i = min(1, top_k * (i+1)^-skew / sum_j (j+1)^-skew). With expert parallelism the experts sit
// round-robin by popularity (expert i on GPU i mod ep, the placement a load balancer aims for);
// the step waits for the busiest GPU, GPU 0. `tokens`: tokens routed by the whole group.
struct MoeLoad {
  double touched = 0;  // experts of the busiest GPU (all experts when ep = 1) that get a token, expected
  double share = 0;    // fraction of all routed copies that GPU receives (1/ep when uniform)
};
MoeLoad moe_load(int64_t experts, int64_t top_k, int64_t tokens, double skew, int64_t ep);

// Inclusion probabilities of the Zipf law above: p_i proportional to (i + 1)^-skew, summing to
// top_k, none above 1 (those that would are always chosen; the rest share the remaining picks).
std::vector<double> zipf_inclusion(int64_t experts, int64_t top_k, double skew);

// The rows an MoE op's local experts get, as a grouped GEMM tiles them: the expected sum over
// the experts of ceil(rows / r), for each of kMoeBlockRows (the tile and cluster heights of
// PyTorch's grouped GEMM), and the expected rows in all. Exact expectation over each expert's
// Binomial row count (its +-12 sigma window), or the balanced share.
inline constexpr int64_t kMoeBlockRows[3] = {64, 128, 256};
struct MoeRowBlocks {
  double blocks[3] = {0, 0, 0};  // E[sum_g ceil(m_g / kMoeBlockRows[j])]
  double rows = 0;               // E[sum_g m_g]
  double groups = 0;             // local experts (the grouped GEMM's groups)
};
MoeRowBlocks moe_row_blocks(const MoeShape& s);

// Output element size of a GEMM in `dtype` (fp8 GEMMs write bf16; tf32 writes fp32).
double gemm_output_bytes(DType dtype);

}  // namespace headroom
