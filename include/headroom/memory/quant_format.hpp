#pragma once
// Storage formats of weights and KV caches, with the bytes their scales and zero-points add.
// docs/memory-model.md gives each format's layout and source.
//
// Weight formats (names as accepted by parse_weight_format and `headroom memory --weights`):
//   bf16, fp16           16 bits, no scales
//   fp8                  e4m3, one fp32 scale per tensor (vLLM's per-tensor fp8)
//   fp8-b128             e4m3, one fp32 scale per 128x128 block (the DeepSeek-V3 checkpoint)
//   int8                 8 bits, one fp32 scale per output channel (W8A8 per-channel)
//   int4[-gN][-zp]       4 bits, one fp16 scale per N weights along the input dimension
//                        (default N = 128, GPTQ/AWQ); -zp adds a 4-bit zero-point per group
//                        (asymmetric, AWQ's packed qzeros); without it none is counted
//   mxfp4                OCP MX e2m1, one e8m0 (8-bit) scale per 32 weights
//   nvfp4                NVIDIA e2m1, one fp8 e4m3 scale per 16 weights + one fp32 per tensor
//
// KV-cache formats (parse_kv_format, `--kv-dtype`):
//   bf16, fp16, fp8      2, 2, 1 bytes per element (fp8: per-tensor scales, not counted)
//   int4[-gN]            4 bits, an fp16 scale and an fp16 zero-point per group of N elements of
//                        one token (default N = head_dim: per token per head, as LMDeploy's int4)
//   kivi2[-gN][-rN]      KIVI (Liu et al., ICML 2024): 2-bit keys per channel (groups of G tokens)
//                        and 2-bit values per token (groups of G channels), an fp16 scale and an
//                        fp16 zero-point per group (default G = 32); the most recent R tokens
//                        (default 128) stay in bf16 (keys: the len mod R not yet quantized;
//                        values: the last min(len, R)). Also kivi4 (4-bit).
#include <cstdint>
#include <string>
#include <string_view>

#include "headroom/core/dtype.hpp"

namespace headroom {

struct WeightFormat {
  std::string name;            // canonical: "int4-g128", "nvfp4"
  double payload_bits = 16.0;  // per weight
  int64_t group = 0;           // weights per scale along the input (K) dimension; 0 = no groups
  int64_t group_rows = 1;      // output rows sharing a group's scale (fp8-b128: 128)
  double scale_bits = 0.0;     // per group
  double zero_bits = 0.0;      // per group (asymmetric formats)
  double row_bytes = 0.0;      // per output row (per-channel scales)
  double tensor_bytes = 0.0;   // per matrix (per-tensor scales)

  // Bits per weight of a large matrix, scales and zero-points included (int4-g128: 4.125).
  [[nodiscard]] double bits_per_weight() const;
  // Exact bytes of one rows x cols matrix (cols = input dimension), partial groups rounded up.
  [[nodiscard]] double matrix_bytes(int64_t rows, int64_t cols) const;
  [[nodiscard]] bool quantized() const { return payload_bits < 16.0; }
};

// Throws UsageError naming the accepted forms.
WeightFormat parse_weight_format(std::string_view text);
// The format a checkpoint published in `d` uses (bf16 -> bf16, fp8 -> fp8, int4 -> int4-g128,
// fp4 -> nvfp4).
WeightFormat weight_format_of(DType d);

enum class KvKind { Plain, GroupQuant, Kivi };

struct KvFormat {
  std::string name;        // "bf16", "int4-g128", "kivi2-g32-r128"
  KvKind kind = KvKind::Plain;
  double bits = 16.0;      // per stored element
  int64_t group = 0;       // GroupQuant: elements per group (0 = head_dim); Kivi: G
  double scale_bits = 0.0; // per group
  double zero_bits = 0.0;  // per group
  int64_t residual = 0;    // Kivi: R, the full-precision window
  double residual_bits = 16.0;

  // Bits per element of the quantized part, scales and zero-points included.
  [[nodiscard]] double bits_per_element(int64_t head_dim) const;
};

KvFormat parse_kv_format(std::string_view text);
KvFormat kv_format_of(DType d);  // bf16, fp16, fp8 (others: UsageError)

}  // namespace headroom
