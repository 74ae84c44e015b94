// Storage formats: bits per weight / per KV element with scales and zero-points, by hand.
#include <gtest/gtest.h>

#include "headroom/core/error.hpp"
#include "headroom/memory/quant_format.hpp"

using namespace headroom;

TEST(MemoryFormat, WeightBitsPerWeight) {
  EXPECT_DOUBLE_EQ(parse_weight_format("bf16").bits_per_weight(), 16.0);
  EXPECT_DOUBLE_EQ(parse_weight_format("fp8").bits_per_weight(), 8.0);  // + 4 B per tensor
  // int4, one fp16 scale per 128 weights: 4 + 16/128 = 4.125 bits; no zero-point counted.
  EXPECT_DOUBLE_EQ(parse_weight_format("int4").bits_per_weight(), 4.125);
  EXPECT_EQ(parse_weight_format("int4").name, "int4-g128");
  // With a 4-bit zero-point per group (AWQ): 4 + (16 + 4)/128 = 4.15625.
  EXPECT_DOUBLE_EQ(parse_weight_format("int4-zp").bits_per_weight(), 4.15625);
  // Group 32 with zero-points: 4 + 20/32 = 4.625.
  EXPECT_DOUBLE_EQ(parse_weight_format("int4-g32-zp").bits_per_weight(), 4.625);
  // MX fp4: e2m1 + one e8m0 per 32: 4 + 8/32 = 4.25.
  EXPECT_DOUBLE_EQ(parse_weight_format("mxfp4").bits_per_weight(), 4.25);
  // NV fp4: e2m1 + one e4m3 per 16: 4 + 8/16 = 4.5 (+ an fp32 per tensor).
  EXPECT_DOUBLE_EQ(parse_weight_format("nvfp4").bits_per_weight(), 4.5);
  // fp8 with an fp32 scale per 128x128 block: 8 + 32/16384 = 8.001953125.
  EXPECT_DOUBLE_EQ(parse_weight_format("fp8-b128").bits_per_weight(), 8.001953125);
}

TEST(MemoryFormat, WeightMatrixBytes) {
  // nvfp4 8192 x 8192: 8192*8192/2 payload + 8192*(8192/16) e4m3 scales + 4 B tensor scale.
  EXPECT_DOUBLE_EQ(parse_weight_format("nvfp4").matrix_bytes(8192, 8192), 33554432.0 + 4194304.0 + 4.0);
  // int4-g128 with 100 input columns: one (partial) group per row -> 10 rows * (50 + 2) B.
  EXPECT_DOUBLE_EQ(parse_weight_format("int4").matrix_bytes(10, 100), 520.0);
  // int8: 8 bits + an fp32 scale per output row: 4096*4096 + 4096*4.
  EXPECT_DOUBLE_EQ(parse_weight_format("int8").matrix_bytes(4096, 4096), 16777216.0 + 16384.0);
  // fp8-b128, 256 x 300: 256*300 B + ceil(256/128)*ceil(300/128) = 2*3 blocks * 4 B.
  EXPECT_DOUBLE_EQ(parse_weight_format("fp8-b128").matrix_bytes(256, 300), 76800.0 + 24.0);
}

TEST(MemoryFormat, KvBitsPerElement) {
  EXPECT_DOUBLE_EQ(parse_kv_format("fp8").bits_per_element(128), 8.0);
  // int4 KV: an fp16 scale + fp16 zero per head vector of 128: 4 + 32/128 = 4.25 bits.
  EXPECT_DOUBLE_EQ(parse_kv_format("int4").bits_per_element(128), 4.25);
  EXPECT_DOUBLE_EQ(parse_kv_format("int4-g32").bits_per_element(128), 5.0);
  // KIVI-2, G = 32: 2 + (16 + 16)/32 = 3 bits per quantized element.
  KvFormat k = parse_kv_format("kivi2");
  EXPECT_EQ(k.kind, KvKind::Kivi);
  EXPECT_EQ(k.name, "kivi2-g32-r128");
  EXPECT_DOUBLE_EQ(k.bits_per_element(128), 3.0);
  EXPECT_EQ(parse_kv_format("kivi4-r64-g16").name, "kivi4-g16-r64");
}

TEST(MemoryFormat, UnknownFormatsNameTheForms) {
  try {
    (void)parse_weight_format("fp4");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("mxfp4"), std::string::npos);
  }
  EXPECT_THROW((void)parse_weight_format("int4-x"), UsageError);
  EXPECT_THROW((void)parse_weight_format("int3"), UsageError);
  try {
    (void)parse_kv_format("int2");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("kivi2"), std::string::npos);
  }
}
