#include "headroom/core/dtype.hpp"

namespace headroom {

std::string_view to_string(DType d) {
  switch (d) {
    case DType::BF16: return "bf16";
    case DType::FP16: return "fp16";
    case DType::FP8: return "fp8";
    case DType::INT8: return "int8";
    case DType::TF32: return "tf32";
    case DType::FP32: return "fp32";
    case DType::FP4: return "fp4";
    case DType::INT4: return "int4";
  }
  return "?";
}

std::optional<DType> parse_dtype(std::string_view s) {
  for (DType d : kAllDTypes)
    if (to_string(d) == s) return d;
  return std::nullopt;
}

double bytes_per_element(DType d) {
  switch (d) {
    case DType::BF16:
    case DType::FP16: return 2.0;
    case DType::FP8:
    case DType::INT8: return 1.0;
    case DType::TF32:
    case DType::FP32: return 4.0;
    case DType::FP4:
    case DType::INT4: return 0.5;
  }
  return 0.0;
}

}  // namespace headroom
