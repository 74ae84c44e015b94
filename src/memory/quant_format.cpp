#include "headroom/memory/quant_format.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <vector>

#include "headroom/core/error.hpp"

namespace headroom {

namespace {

constexpr const char* kWeightForms =
    "bf16, fp16, fp8, fp8-b128, int8, int4[-gN][-zp], mxfp4, nvfp4";
constexpr const char* kKvForms = "bf16, fp16, fp8, int4[-gN], kivi2[-gN][-rN], kivi4[-gN][-rN]";

std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '-') {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

// "g128" -> 128 for prefix 'g'; nullopt-like 0 when the part is not of that form.
int64_t suffix_number(std::string_view part, char prefix) {
  if (part.size() < 2 || part[0] != prefix) return 0;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(part.data() + 1, part.data() + part.size(), v);
  if (ec != std::errc() || p != part.data() + part.size() || v <= 0) return 0;
  return v;
}

[[noreturn]] void bad(std::string_view what, std::string_view text, const char* forms) {
  throw UsageError(fmt::format("{}: unknown format \"{}\" (expected {})", what, text, forms));
}

}  // namespace

double WeightFormat::bits_per_weight() const {
  double b = payload_bits;
  if (group > 0) b += (scale_bits + zero_bits) / static_cast<double>(group * group_rows);
  return b;
}

double WeightFormat::matrix_bytes(int64_t rows, int64_t cols) const {
  double bytes = static_cast<double>(rows) * static_cast<double>(cols) * payload_bits / 8.0;
  if (group > 0) {
    const double groups = std::ceil(static_cast<double>(rows) / static_cast<double>(group_rows)) *
                          std::ceil(static_cast<double>(cols) / static_cast<double>(group));
    bytes += groups * (scale_bits + zero_bits) / 8.0;
  }
  return bytes + static_cast<double>(rows) * row_bytes + tensor_bytes;
}

WeightFormat parse_weight_format(std::string_view text) {
  WeightFormat f;
  f.name = std::string(text);
  if (text == "bf16" || text == "fp16") return f;
  if (text == "fp8") {
    f.payload_bits = 8;
    f.tensor_bytes = 4;  // one fp32 scale per tensor
    return f;
  }
  if (text == "fp8-b128") {
    f.payload_bits = 8;
    f.group = 128;
    f.group_rows = 128;
    f.scale_bits = 32;  // fp32 per 128x128 block (DeepSeek-V3 weight_scale_inv)
    return f;
  }
  if (text == "int8") {
    f.payload_bits = 8;
    f.row_bytes = 4;  // fp32 per output channel
    return f;
  }
  if (text == "mxfp4") {
    f.payload_bits = 4;
    f.group = 32;
    f.scale_bits = 8;  // e8m0 (OCP Microscaling Formats v1.0)
    return f;
  }
  if (text == "nvfp4") {
    f.payload_bits = 4;
    f.group = 16;
    f.scale_bits = 8;    // e4m3 per 16 elements
    f.tensor_bytes = 4;  // fp32 second-level (per-tensor) scale
    return f;
  }
  if (text == "fp4") {
    throw UsageError("--weights: \"fp4\" is ambiguous: say mxfp4 (e8m0 scale per 32) or nvfp4 (e4m3 scale per 16)");
  }
  auto parts = split(text);
  if (parts[0] == "int4") {
    f.payload_bits = 4;
    f.group = 128;
    f.scale_bits = 16;  // fp16 scale per group
    for (size_t i = 1; i < parts.size(); ++i) {
      if (int64_t g = suffix_number(parts[i], 'g')) {
        f.group = g;
      } else if (parts[i] == "zp") {
        f.zero_bits = 4;  // 4-bit zero-point per group
      } else {
        bad("--weights", text, kWeightForms);
      }
    }
    f.name = fmt::format("int4-g{}{}", f.group, f.zero_bits > 0 ? "-zp" : "");
    return f;
  }
  bad("--weights", text, kWeightForms);
}

WeightFormat weight_format_of(DType d) {
  switch (d) {
    case DType::BF16: return parse_weight_format("bf16");
    case DType::FP16: return parse_weight_format("fp16");
    case DType::FP8: return parse_weight_format("fp8");
    case DType::INT8: return parse_weight_format("int8");
    case DType::INT4: return parse_weight_format("int4");
    case DType::FP4: return parse_weight_format("nvfp4");
    case DType::TF32:
    case DType::FP32: {
      WeightFormat f;
      f.name = std::string(to_string(d));
      f.payload_bits = 32;
      return f;
    }
  }
  return parse_weight_format("bf16");
}

double KvFormat::bits_per_element(int64_t head_dim) const {
  switch (kind) {
    case KvKind::Plain: return bits;
    case KvKind::GroupQuant: {
      const int64_t g = group > 0 ? group : head_dim;
      return bits + (scale_bits + zero_bits) / static_cast<double>(g);
    }
    case KvKind::Kivi: return bits + (scale_bits + zero_bits) / static_cast<double>(group);
  }
  return bits;
}

KvFormat parse_kv_format(std::string_view text) {
  KvFormat f;
  f.name = std::string(text);
  if (text == "bf16" || text == "fp16") return f;
  if (text == "fp8") {
    f.bits = 8;
    return f;
  }
  auto parts = split(text);
  if (parts[0] == "int4") {
    f.kind = KvKind::GroupQuant;
    f.bits = 4;
    f.scale_bits = 16;
    f.zero_bits = 16;
    for (size_t i = 1; i < parts.size(); ++i) {
      if (int64_t g = suffix_number(parts[i], 'g')) {
        f.group = g;
      } else {
        bad("--kv-dtype", text, kKvForms);
      }
    }
    f.name = f.group > 0 ? fmt::format("int4-g{}", f.group) : "int4";
    return f;
  }
  if (parts[0] == "kivi2" || parts[0] == "kivi4") {
    f.kind = KvKind::Kivi;
    f.bits = parts[0] == "kivi2" ? 2 : 4;
    f.group = 32;       // KIVI's default group size G
    f.residual = 128;   // KIVI's default residual length R
    f.scale_bits = 16;  // fp16 scale and fp16 minimum (zero-point) per group
    f.zero_bits = 16;
    for (size_t i = 1; i < parts.size(); ++i) {
      if (int64_t g = suffix_number(parts[i], 'g')) {
        f.group = g;
      } else if (int64_t r = suffix_number(parts[i], 'r')) {
        f.residual = r;
      } else {
        bad("--kv-dtype", text, kKvForms);
      }
    }
    f.name = fmt::format("{}-g{}-r{}", parts[0], f.group, f.residual);
    return f;
  }
  bad("--kv-dtype", text, kKvForms);
}

KvFormat kv_format_of(DType d) {
  switch (d) {
    case DType::BF16: return parse_kv_format("bf16");
    case DType::FP16: return parse_kv_format("fp16");
    case DType::FP8: return parse_kv_format("fp8");
    case DType::INT4: return parse_kv_format("int4");
    default: break;
  }
  throw UsageError(fmt::format("no KV-cache format for dtype {} (expected {})", to_string(d), kKvForms));
}

}  // namespace headroom
