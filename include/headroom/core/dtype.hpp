#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace headroom {

// Element formats. Sub-byte formats report fractional bytes per element; block formats (MX, NV
// fp4, int4 with group scales) add their scale overhead through memory/format code, not here.
enum class DType { BF16, FP16, FP8, INT8, TF32, FP32, FP4, INT4 };

std::string_view to_string(DType d);
std::optional<DType> parse_dtype(std::string_view s);
// Bytes of one stored element (TF32 is stored as fp32: 4 bytes).
double bytes_per_element(DType d);
// The matrix-unit rate key this dtype uses ("bf16", "fp8", ...); FP32 uses the vector unit.
inline constexpr DType kAllDTypes[] = {DType::BF16, DType::FP16, DType::FP8, DType::INT8,
                                       DType::TF32, DType::FP32, DType::FP4, DType::INT4};

}  // namespace headroom
