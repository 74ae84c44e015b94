// Trace parsing and predict's per-line error handling.
#include <gtest/gtest.h>

#include <sstream>

#include "headroom/core/error.hpp"
#include "headroom/cost/analytical.hpp"
#include "headroom/hw/hardware_spec.hpp"
#include "headroom/predict/predictor.hpp"
#include "headroom/trace/trace.hpp"

using namespace headroom;
using json = nlohmann::ordered_json;

namespace {
std::string error_of(const std::string& line) {
  try {
    (void)parse_case(json::parse(line), "t.jsonl:7");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Trace, SkipsBlankAndCommentLinesAndKeepsLineNumbers) {
  std::istringstream in("# header\n\n{\"op\":\"idle\",\"avg_w\":70}\n   \n{\"op\":\"copy\",\"bytes\":10}\n");
  Trace t = read_trace(in, "t.jsonl");
  ASSERT_EQ(t.records.size(), 2u);
  EXPECT_EQ(t.records[0].line, 3);
  EXPECT_EQ(t.records[1].line, 5);
}

TEST(Trace, MalformedJsonNamesTheLine) {
  std::istringstream in("{\"op\":\"idle\"}\n{\"op\": nope}\n");
  try {
    (void)read_trace(in, "t.jsonl");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("t.jsonl:2: malformed JSON", 0), 0u) << e.what();
  }
  std::istringstream arr("[1,2]\n");
  EXPECT_THROW((void)read_trace(arr, "t.jsonl"), InputError);
}

TEST(Trace, MissingAndBadFieldsAreNamed) {
  EXPECT_EQ(error_of(R"({"op":"gemm","m":1,"n":2,"dtype":"bf16"})"), "t.jsonl:7: k: missing (required for op gemm)");
  EXPECT_EQ(error_of(R"({"op":"gemm","m":1,"n":2,"k":-4,"dtype":"bf16"})"),
            "t.jsonl:7: k: expected a positive integer, got -4");
  EXPECT_EQ(error_of(R"({"op":"gemm","m":1,"n":2,"k":4,"dtype":"bf17"})"),
            "t.jsonl:7: dtype: expected bf16, fp16, fp8, int8, tf32 or fp32, got \"bf17\"");
  EXPECT_EQ(error_of(R"({"m":1})"), "t.jsonl:7: op: missing");
  EXPECT_NE(error_of(R"({"op":"conv2d"})").find("t.jsonl:7: op: unknown op \"conv2d\""), std::string::npos);
  EXPECT_NE(error_of(R"({"op":"attention","phase":"prefill","batch":1,"seq":8,"heads":32,"kv_heads":8,"head_dim":128,"dtype":"bf16"})")
                .find("causal: missing"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"op":"attention","phase":"decode","batch":1,"context":8,"heads":32,"kv_heads":5,"head_dim":128,"dtype":"bf16"})")
                .find("kv_heads: 5 does not divide heads = 32"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"op":"collective","collective":"broadcast","gpus":2,"bytes":8})").find("collective: expected"),
            std::string::npos);
}

TEST(Trace, EveryOpParses) {
  for (const char* l : {
           R"({"op":"gemm","m":1,"n":2,"k":3,"dtype":"fp8"})",
           R"({"op":"copy","bytes":1048576})",
           R"({"op":"read","bytes":1048576,"warm_l2":true})",
           R"({"op":"write","bytes":1048576})",
           R"({"op":"launch","kind":"gap"})",
           R"({"op":"attention","phase":"decode","batch":1,"context":8,"heads":32,"kv_heads":8,"head_dim":128,"dtype":"bf16"})",
           R"({"op":"attention","phase":"prefill","batch":1,"seq":8,"heads":32,"kv_heads":8,"head_dim":128,"causal":false,"dtype":"bf16"})",
           R"({"op":"rmsnorm","tokens":8,"hidden":4096,"dtype":"bf16"})",
           R"({"op":"swiglu","tokens":8,"inter":14336,"dtype":"bf16"})",
           R"({"op":"moe_ffn","experts":8,"top_k":2,"hidden":4096,"inter":14336,"tokens":16,"impl":"loop","dtype":"bf16"})",
           R"({"op":"collective","collective":"all_to_all","gpus":4,"bytes":8192,"dtype":"bf16"})",
           R"({"op":"model_step","model":"llama3-8b","phase":"decode","batch":1,"context":0,"tp":2,"cuda_graph":true})",
           R"({"op":"idle","avg_w":70})"}) {
    EXPECT_NO_THROW((void)parse_case(json::parse(l), "x")) << l;
  }
}

TEST(Predictor, BadLinesGetAnErrorAndTheRunGoesOn) {
  Predictor p{PredictorOptions{"", Fidelity::Roofline}};
  json ok = json::parse(R"({"op":"gemm","m":4096,"n":4096,"k":4096,"dtype":"bf16","hw":"h200-sxm","ms":0.2})");
  json out = p.annotate(ok, "x:1");
  ASSERT_TRUE(out.contains("predicted")) << out.dump();
  EXPECT_DOUBLE_EQ(out["predicted"]["ms"].get<double>(), 2.0 * 4096 * 4096 * 4096 / 989.5e12 * 1e3);
  EXPECT_EQ(out["ms"].get<double>(), 0.2);  // the record is echoed unchanged
  json bad = p.annotate(json::parse(R"({"op":"gemm","hw":"h200-sxm"})"), "x:2");
  EXPECT_TRUE(bad.contains("error"));
  json nohw = p.annotate(json::parse(R"({"op":"copy","bytes":10})"), "x:3");
  EXPECT_NE(nohw["error"].get<std::string>().find("hw: missing"), std::string::npos);
  json unk = p.annotate(json::parse(R"({"op":"copy","bytes":10,"hw":"no-such-gpu"})"), "x:4");
  EXPECT_NE(unk["error"].get<std::string>().find("not found"), std::string::npos);
}

TEST(Predictor, AQueuedCallPaysItsEventPairOnce) {
  // The analytical model of the shipped H200 file: a queued record adds event_pair_overhead
  // (measured 2.04 us) to the op's GPU time, once however many kernels the op runs; the same op
  // without "timing":"queued" is issued from the host instead.
  Predictor p{PredictorOptions{"", Fidelity::Analytical}};
  const HardwareSpec hw = HardwareSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/hw_configs/h200-sxm.yaml");
  const AnalyticalCostModel cm(hw);
  const double pair = hw.kernel_model->event_pair_overhead;
  EXPECT_NEAR(pair, 2.04e-6, 1e-12);
  json r = json::parse(R"({"op":"rmsnorm","tokens":1,"hidden":4096,"dtype":"bf16","impl":"torch-expr","timing":"queued","hw":"h200-sxm"})");
  const Op op = make_rmsnorm("rmsnorm", 1, 4096, DType::BF16, Impl::TorchReference);
  const double gpu = cm.cost(op, IssueMode::Torch).time.value();
  Prediction pr = p.predict(r, "x");
  ASSERT_TRUE(pr.ok()) << pr.error;
  EXPECT_NEAR(*pr.ms, (gpu + pair) * 1e3, 1e-9);
}

TEST(Predictor, ARecordsHostProbeScalesItsHostCosts) {
  // The shipped H200 file: its host costs are those of hosts whose probe read 8.79 us. An eager
  // 2-GPU all-reduce of 4 KiB is host-bound, its time the host's: issue + the collective call.
  // A record whose host_probe_us reads 2 x 8.79 doubles that host time; the same record with
  // record_host_probe off, or issued in a CUDA graph (no host per call), is unchanged.
  const HardwareSpec hw = HardwareSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/hw_configs/h200-sxm.yaml");
  ASSERT_NEAR(hw.kernel_model->host_probe_reference, 8.79e-6, 1e-12);
  const AnalyticalCostModel cm(hw);
  const Op op = make_collective("c", CollectiveKind::AllReduce, 2, 4096, DType::BF16);
  const double host = cm.host_time(op, IssueMode::Torch).value();
  ASSERT_GT(host, cm.cost(op, IssueMode::Torch).time.value());  // host-bound, so the call costs its host time
  const std::string rec = R"({"op":"collective","collective":"all_reduce","gpus":2,"bytes":4096,"dtype":"bf16","impl":"nccl","issue":"torch","hw":"h200-sxm")";
  json plain = json::parse(rec + "}");
  json slow = json::parse(rec + R"(,"host_probe_us":17.58})");
  Predictor p{PredictorOptions{"", Fidelity::Analytical}};
  const Prediction a = p.predict(plain, "x:1"), b = p.predict(slow, "x:2");
  ASSERT_TRUE(a.ok() && b.ok()) << a.error << b.error;
  EXPECT_NEAR(*b.ms - *a.ms, host * 1e3, 1e-9);
  PredictorOptions off{"", Fidelity::Analytical};
  off.record_host_probe = false;
  Predictor q{off};
  EXPECT_NEAR(*q.predict(slow, "x:2").ms, *a.ms, 1e-12);
  json graph = json::parse(R"({"op":"collective","collective":"all_reduce","gpus":2,"bytes":4096,"dtype":"bf16","impl":"nccl","issue":"graph","hw":"h200-sxm","host_probe_us":17.58})");
  json graph0 = graph;
  graph0.erase("host_probe_us");
  EXPECT_NEAR(*p.predict(graph, "x:3").ms, *p.predict(graph0, "x:4").ms, 1e-12);
  // A probe that is not a positive number is this record's error, naming where and the key.
  for (const char* v : {R"("fast")", "0", "-3"}) {
    const Prediction e = p.predict(json::parse(rec + R"(,"host_probe_us":)" + v + "}"), "t.jsonl:7");
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.error.find("t.jsonl:7: host_probe_us"), std::string::npos) << e.error;
  }
}

TEST(Predictor, ModelStepMatchesTheGraphSum) {
  Predictor p{PredictorOptions{"", Fidelity::Roofline}};
  json r = json::parse(R"({"op":"model_step","model":"llama3-8b","phase":"decode","batch":1,"context":0,"hw":"h200-sxm"})");
  Prediction pr = p.predict(r, "x");
  ASSERT_TRUE(pr.ok()) << pr.error;
  // Memory-bound everywhere at batch 1: the weights less the embedding table (one row is
  // gathered), 2 x (8,030,261,248 - 128256 x 4096) B = 15.01 GB over 4.8 TB/s = 3.127 ms.
  EXPECT_NEAR(*pr.ms, 2.0 * (8'030'261'248.0 - 128256.0 * 4096) / 4.8e12 * 1e3, 0.01);
}

TEST(Trace, PipelineAndQuantizedFieldsAreParsedAndChecked) {
  auto c = parse_case(nlohmann::ordered_json::parse(
                          R"({"op":"model_step","model":"llama3-8b","phase":"decode","batch":8,"context":64,"pp":2,"microbatches":4})"),
                      "t.jsonl:3");
  const auto& m = std::get<ModelStepCase>(c);
  EXPECT_EQ(m.plan.pp, 2);
  EXPECT_EQ(m.plan.microbatches, 4);
  EXPECT_EQ(error_of(R"({"op":"model_step","model":"llama3-8b","phase":"decode","batch":6,"context":64,"pp":2,"microbatches":4})"),
            "t.jsonl:7: microbatches: 4 does not divide batch = 6");
  EXPECT_EQ(error_of(R"({"op":"model_step","model":"llama3-8b","phase":"decode","batch":8,"context":64,"microbatches":2})"),
            "t.jsonl:7: microbatches: micro-batches need pipeline stages (pp > 1)");
  // 4-bit weights: the stored bytes (given, or the format's) replace the bf16 weight bytes.
  auto g = std::get<Op>(parse_case(nlohmann::ordered_json::parse(
      R"J({"op":"gemm","m":1,"n":4096,"k":4096,"dtype":"bf16","weight_format":"int4-g128","weight_bytes":8912896,"impl":"torch._weight_int4pack_mm (tinygemm)"})J"),
      "t.jsonl:4"));
  EXPECT_DOUBLE_EQ(g.weight_bytes.value(), 8912896.0);
  EXPECT_DOUBLE_EQ(g.bytes_read.value(), 8912896.0 + 4096 * 2);
  EXPECT_DOUBLE_EQ(g.dequant_elements, 4096.0 * 4096);
  EXPECT_EQ(g.impl, Impl::TorchReference);
  EXPECT_NE(error_of(R"({"op":"gemm","m":1,"n":8,"k":8,"dtype":"bf16","weight_format":"int3"})").find("t.jsonl:7: weight_format:"),
            std::string::npos);
  EXPECT_EQ(error_of(R"({"op":"gemm","m":1,"n":8,"k":8,"dtype":"bf16","weight_format":"int8","impl":"torch._weight_int4pack_mm"})"),
            "t.jsonl:7: impl: torch._weight_int4pack_mm takes 4-bit weights");
}

TEST(Trace, DecodeAttentionReadsItsCacheInTheStoredFormat) {
  // 2 sequences x 1024 keys x 8 KV heads x (128 + 128) = 4194304 cache elements.
  const std::string base =
      R"({"op":"attention","phase":"decode","batch":2,"context":1024,"heads":32,"kv_heads":8,"head_dim":128,"dtype":"bf16")";
  auto read = [&](const std::string& extra) {
    return std::get<Op>(parse_case(nlohmann::ordered_json::parse(base + extra + "}"), "t.jsonl:3"));
  };
  const Op b = read(""), f = read(R"(,"kv_dtype":"fp8")"), q = read(R"(,"kv_format":"int4")");
  EXPECT_DOUBLE_EQ((b.bytes_read - f.bytes_read).value(), 4194304.0);  // 1 byte less each
  EXPECT_DOUBLE_EQ(f.dequant_elements, 4194304.0);
  EXPECT_DOUBLE_EQ(f.as<AttentionShape>().kv_bits, 8.0);
  EXPECT_DOUBLE_EQ((b.bytes_read - q.bytes_read).value(), 4194304.0 * (2.0 - 4.25 / 8.0));
  EXPECT_DOUBLE_EQ(q.as<AttentionShape>().kv_bits, 4.0);
  EXPECT_EQ(error_of(base + R"(,"kv_dtype":"int8"})"), "t.jsonl:7: kv_dtype: expected bf16, fp16 or fp8, got \"int8\"");
  EXPECT_EQ(error_of(base + R"(,"kv_dtype":"fp8","kv_format":"int4"})"),
            "t.jsonl:7: kv_format: give kv_dtype or kv_format, not both");
  EXPECT_NE(error_of(base + R"(,"kv_format":"int3"})").find("t.jsonl:7: kv_format:"), std::string::npos);
  EXPECT_EQ(error_of(R"({"op":"attention","phase":"prefill","batch":1,"seq":128,"causal":true,"heads":32,"kv_heads":8,"head_dim":128,"dtype":"bf16","kv_dtype":"fp8"})"),
            "t.jsonl:7: kv_dtype: a quantized KV cache is modelled for decode only");
}

TEST(Trace, ExpertParallelMoeIsASequenceOfAllToAllsAndLocalExperts) {
  // Mixtral experts over 4 GPUs, 2048 tokens per rank, top-2, balanced routing: each rank sends
  // and receives 2048 x 2 copies of 4096 bf16 values (16 MiB) and runs its 2 experts on them.
  auto c = parse_case(nlohmann::ordered_json::parse(
                          R"({"op":"moe_ffn","experts":8,"top_k":2,"hidden":4096,"inter":14336,"tokens":2048,"impl":"grouped","ep":4,"dtype":"bf16","routing":"balanced"})"),
                      "t.jsonl:5");
  const auto& q = std::get<OpSequenceCase>(c);
  ASSERT_EQ(q.ops.size(), 4u);
  EXPECT_DOUBLE_EQ(q.ops[0].as<CollectiveShape>().bytes, 2048.0 * 2 * 4);  // int32 expert ids
  EXPECT_DOUBLE_EQ(q.ops[1].as<CollectiveShape>().bytes, 2048.0 * 2 * 4096 * 2);
  EXPECT_EQ(q.ops[2].as<MoeShape>().experts, 2);
  EXPECT_DOUBLE_EQ(q.ops[2].as<MoeShape>().experts_touched, 2.0);
  EXPECT_EQ(q.ops[2].as<MoeShape>().tokens, 2048);
  // The local experts' rows come from all 4 ranks' tokens routed over the 8 experts (for the
  // grouped GEMM's tiles), balanced; the copies are gathered and put back around the exchange.
  EXPECT_EQ(q.ops[2].as<MoeShape>().route_experts, 8);
  EXPECT_EQ(q.ops[2].as<MoeShape>().route_stride, 4);
  EXPECT_EQ(q.ops[2].as<MoeShape>().route_tokens, 4 * 2048);
  EXPECT_TRUE(q.ops[2].as<MoeShape>().balanced);
  EXPECT_TRUE(q.ops[2].as<MoeShape>().exchanged);
  EXPECT_DOUBLE_EQ(q.ops[3].as<CollectiveShape>().bytes, 2048.0 * 2 * 4096 * 2);
  // Zipf routing, exponent 1: GPU 0 receives 1.766x its share (tests/cost/test_step.cpp).
  auto z = std::get<OpSequenceCase>(parse_case(
      nlohmann::ordered_json::parse(
          R"({"op":"moe_ffn","experts":8,"top_k":2,"hidden":4096,"inter":14336,"tokens":2048,"impl":"grouped","ep":4,"dtype":"bf16","routing":"zipf","moe_skew":1.0})"),
      "t.jsonl:6"));
  EXPECT_EQ(z.ops[2].as<MoeShape>().tokens, 3617);  // round(2048 x 1.766097)
  EXPECT_EQ(error_of(R"({"op":"moe_ffn","experts":8,"top_k":2,"hidden":8,"inter":8,"tokens":8,"impl":"grouped","ep":3,"dtype":"bf16"})"),
            "t.jsonl:7: ep: 3 does not divide experts = 8");
  EXPECT_EQ(error_of(R"({"op":"moe_ffn","experts":8,"top_k":2,"hidden":8,"inter":8,"tokens":8,"impl":"grouped","ep":2,"dtype":"bf16","routing":"zipf"})"),
            "t.jsonl:7: moe_skew: missing (required for op moe_ffn)");
  // One GPU: the routing is read too ("uniform" when absent); a name it does not know is an error.
  auto one = parse_case(nlohmann::ordered_json::parse(
                            R"({"op":"moe_ffn","experts":8,"top_k":2,"hidden":8,"inter":8,"tokens":8,"impl":"grouped","dtype":"bf16","routing":"balanced"})"),
                        "t.jsonl:8");
  EXPECT_TRUE(std::get<Op>(one).as<MoeShape>().balanced);
  EXPECT_EQ(error_of(R"({"op":"moe_ffn","experts":8,"top_k":2,"hidden":8,"inter":8,"tokens":8,"impl":"grouped","dtype":"bf16","routing":"round-robin"})"),
            "t.jsonl:7: routing: expected \"balanced\", \"uniform\" or \"zipf\", got \"round-robin\"");
  // A model step reads the same routing field (ep_step.py's steps are balanced).
  auto st = std::get<ModelStepCase>(parse_case(
      nlohmann::ordered_json::parse(
          R"({"op":"model_step","model":"mixtral-8x7b","phase":"decode","batch":8,"context":2048,"tp":2,"ep":2,"routing":"balanced"})"),
      "t.jsonl:9"));
  EXPECT_TRUE(st.cfg.moe_balanced);
  EXPECT_EQ(st.plan.ep, 2);
  EXPECT_EQ(error_of(R"({"op":"model_step","model":"mixtral-8x7b","phase":"decode","batch":8,"context":2048,"routing":"zipf"})"),
            "t.jsonl:7: moe_skew: missing (required for op model_step)");
}
