// headroom memory: the per-GPU memory plan of a model on a hardware under a parallel plan, the KV
// cache that fits at a utilization target, and what runs out first. Exit 1 when the plan does
// not fit (the table or JSON is still printed, the reason goes to stderr).
#include <fmt/format.h>

#include <cmath>
#include <iostream>

#include "command.hpp"
#include "headroom/core/error.hpp"
#include "headroom/memory/memory_plan.hpp"

namespace headroom::cli {

namespace {

std::string gb(Bytes b) { return fmt::format("{:9.2f}", b.value() / 1e9); }
std::string gib(Bytes b) { return fmt::format("{:9.2f}", b.value() / (1024.0 * 1024.0 * 1024.0)); }

Bytes bytes_arg(const po::variables_map& vm, const char* name) {
  const std::string text = vm[name].as<std::string>();
  try {
    return Bytes(units::parse(text, Dim::Bytes));
  } catch (const UnitError& e) {
    throw UsageError(fmt::format("--{}: {}", name, e.what()));
  }
}

// 1234567 -> "1,234,567".
std::string grouped(double v) {
  const std::string digits = fmt::format("{:.0f}", std::fabs(v));
  std::string out = v < 0 ? "-" : "";
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

void row(const char* label, Bytes b, Bytes usable) {
  std::cout << fmt::format("  {:<40} {} {} {:6.1f}%\n", label, gb(b), gib(b),
                           usable.value() > 0 ? 100.0 * b.value() / usable.value() : 0.0);
}

void print_table(const MemoryPlan& p) {
  const auto& pl = p.plan;
  const StagePlan& st = p.stages.at(static_cast<size_t>(p.binding_stage));
  std::cout << fmt::format("{} on {}: tp {}, pp {}, ep {}, dp {} ({} GPU{})\n", p.model, p.hw, pl.tp, pl.pp, pl.ep,
                           pl.dp, pl.gpus(), pl.gpus() > 1 ? "s" : "");
  std::cout << fmt::format("weights {} ({:.4g} bits/weight{}; embeddings/lm-head {}), KV {}, block {}, util {:.2f}\n",
                           p.weight_format.name, p.weight_format.bits_per_weight(),
                           p.weight_format.zero_bits > 0 ? ", zero-points counted" : "",
                           p.quantize_embeddings ? p.weight_format.name : "bf16", p.kv_format.name, p.block, p.util);
  if (pl.pp > 1)
    std::cout << fmt::format("per GPU of stage {} (layers {}..{}), the stage with the least KV room\n", st.stage,
                             st.first_layer, st.first_layer + st.layers - 1);
  std::cout << fmt::format("\n  {:<40} {:>9} {:>9} {:>7}\n", "memory per GPU", "GB", "GiB", "usable");
  std::cout << fmt::format("  {:<40} {} {}\n", "datasheet capacity", gb(p.datasheet_capacity),
                           gib(p.datasheet_capacity));
  std::cout << fmt::format("  {:<40} {} {}\n", "device total (cudaMemGetInfo)", gb(p.device_total),
                           gib(p.device_total));
  row(fmt::format("usable at util {:.2f}", p.util).c_str(), p.usable, p.usable);
  row("CUDA context", p.runtime.cuda_context, p.usable);
  row("library workspaces (cuBLAS, attention)", p.runtime.library_workspace, p.usable);
  if (p.runtime.nccl.value() > 0) row("NCCL buffers", p.runtime.nccl, p.usable);
  if (p.runtime.cuda_graphs.value() > 0) row("CUDA graph pool", p.runtime.cuda_graphs, p.usable);
  const WeightBreakdown& w = st.weights;
  row("weights", w.total(), p.usable);
  const std::pair<const char*, Bytes> parts[] = {
      {"  attention", w.attention},       {"  dense FFN", w.dense_ffn},     {"  routed experts", w.routed_experts},
      {"  shared experts", w.shared_experts}, {"  router", w.router},      {"  embedding", w.embedding},
      {"  lm-head", w.lm_head},           {"  norms and biases", w.norms}};
  for (const auto& [label, b] : parts)
    if (b.value() > 0) row(label, b, p.usable);
  if (st.rotary_cache.value() > 0) row("rotary cos/sin cache", st.rotary_cache, p.usable);
  row(fmt::format("activation peak ({} tokens)", p.max_batch_tokens).c_str(), st.activation, p.usable);
  row("KV cache budget", st.kv_budget, p.usable);

  if (p.kv_format.kind == KvKind::Kivi) {
    std::cout << fmt::format("\nKV cache: {} B per quantized token per GPU (not paged) -> {} tokens\n",
                             grouped(st.kv_per_token.value()), grouped(static_cast<double>(p.kv_tokens)));
  } else {
    std::cout << fmt::format("\nKV cache: {} B per token per GPU, {}-token blocks of {} B -> {} blocks, {} tokens\n",
                             grouped(st.kv_per_token.value()), p.block, grouped(p.kv_block_bytes.value()),
                             grouped(static_cast<double>(p.kv_blocks)), grouped(static_cast<double>(p.kv_tokens)));
  }
  std::string dist;
  for (const auto& [len, wt] : p.contexts)
    dist += fmt::format("{}{}", dist.empty() ? "" : ",", p.contexts.size() == 1 ? fmt::format("{}", len)
                                                                                : fmt::format("{}:{:g}", len, wt));
  std::cout << fmt::format("contexts {} (mean {:.0f} tokens): {} B of KV per sequence, {:.2f}% left empty in "
                           "partly filled blocks\n",
                           dist, p.mean_context, grouped(p.mean_kv_per_sequence.value()), 100.0 * p.fragmentation);
  std::cout << fmt::format("max concurrent sequences: {} per replica{} -> {} tokens in use\n", p.max_sequences,
                           pl.dp > 1 ? fmt::format(" ({} over dp {})", p.max_sequences * pl.dp, pl.dp) : "",
                           grouped(static_cast<double>(p.max_tokens_in_use)));
  if (p.batch)
    std::cout << fmt::format("batch {}: {} ({:.0f}% of the KV budget)\n", *p.batch,
                             p.batch_fits ? "fits" : "does NOT fit", 100.0 * p.batch_kv_share);

  std::cout << "\nwhat fails first:\n";
  if (p.fails_first == Limit::Weights || p.fails_first == Limit::Activation) {
    std::cout << "  " << p.reason << "\n";
  } else {
    std::cout << fmt::format("  as batch grows at mean context {:.0f}: KV cache exhausted beyond {} sequences "
                             "(the activation peak is fixed by the {}-token step)\n",
                             p.mean_context, p.max_sequences, p.max_batch_tokens);
    std::cout << fmt::format("  as context grows at batch {}: {} at {} tokens per sequence\n", p.batch.value_or(1),
                             p.context_limit == Limit::ModelContext ? "the model's max_context is reached"
                                                                    : "KV cache exhausted",
                             p.max_context_at_batch);
  }
  for (const auto& n : p.notes) std::cout << "note: " << n << "\n";
  std::cout << "device total: " << p.device_total_source << "\n";
}

}  // namespace

int cmd_memory(const std::vector<std::string>& args) {
  po::options_description opts("memory options");
  opts.add_options()("help,h", "show this help")
      ("model", po::value<std::string>()->required(), "model file or name in models/ (e.g. llama3-70b)")
      ("hw", po::value<std::string>()->required(), "hardware file or name in hw_configs/ (e.g. h200-sxm)")
      ("tp", po::value<int64_t>()->default_value(1), "tensor-parallel degree")
      ("pp", po::value<int64_t>()->default_value(1), "pipeline stages")
      ("ep", po::value<int64_t>()->default_value(1), "expert-parallel degree (MoE: whole experts spread over ep GPUs)")
      ("dp", po::value<int64_t>()->default_value(1), "data-parallel replicas")
      ("weights", po::value<std::string>(),
       "weight format: bf16 fp16 fp8 fp8-b128 int8 int4[-gN][-zp] mxfp4 nvfp4 (default: the model's dtype)")
      ("quantize-embeddings", "store embeddings and lm-head in the weight format too (default: bf16)")
      ("kv-dtype", po::value<std::string>(), "KV format: bf16 fp16 fp8 int4[-gN] kivi2[-gN][-rN] kivi4 (default bf16)")
      ("block", po::value<int64_t>()->default_value(16), "paged KV cache: tokens per block")
      ("util", po::value<double>()->default_value(0.9), "memory utilization target (vLLM gpu_memory_utilization)")
      ("context", po::value<int64_t>(), "one context length (default min(4096, the model's max_context))")
      ("contexts", po::value<std::string>(), "a length distribution: 512,2048,8192 or 512:0.5,2048:0.3,8192:0.2")
      ("batch", po::value<int64_t>(), "concurrent sequences to check")
      ("max-batch-tokens", po::value<int64_t>()->default_value(8192), "tokens of the largest step (prefill chunk)")
      ("max-seqs", po::value<int64_t>()->default_value(256), "sequences in the sampler (logits buffer)")
      ("device-memory", po::value<std::string>(), "memory CUDA reports as total, e.g. \"150.1 GB\" (default: measured "
                                                  "for h200-sxm, else the datasheet)")
      ("cuda-context", po::value<std::string>(), "CUDA context size (default 552402944 B, measured on H200)")
      ("library-workspace", po::value<std::string>(), "cuBLAS/attention workspaces (default 208666624 B, measured)")
      ("nccl", po::value<std::string>(), "NCCL buffers when tp, pp or ep > 1 (default 880,803,840 B measured on H200; ep > 1 adds 1,272,971,264 B)")
      ("cuda-graphs", po::value<std::string>(), "CUDA graph pool (default 0: eager)")
      ("json", "machine-readable output");
  add_hw_set(opts);
  po::variables_map vm;
  if (!parse(args, opts, vm,
             "usage: headroom memory --model llama3-70b --hw h200-sxm [--tp 2 --pp 1 --ep 1 --dp 1] [--weights int4] "
             "[--kv-dtype fp8] [--block 16] [--util 0.9] [--context 4096 | --contexts 512,2048,8192] [--batch 64] "
             "[--json]"))
    return 0;
  if (vm.count("context") && vm.count("contexts")) throw UsageError("give --context or --contexts, not both");

  const ModelSpec model = ModelSpec::from_yaml_file(resolve_model_path(vm["model"].as<std::string>()));
  const HardwareSpec hw = HardwareSpec::from_yaml_file(resolve_hw_path(vm["hw"].as<std::string>()), hw_set(vm));
  MemoryOptions o;
  o.plan = {vm["tp"].as<int64_t>(), vm["pp"].as<int64_t>(), vm["ep"].as<int64_t>(), vm["dp"].as<int64_t>()};
  if (vm.count("weights")) o.weights = vm["weights"].as<std::string>();
  o.quantize_embeddings = vm.count("quantize-embeddings") > 0;
  if (vm.count("kv-dtype")) o.kv_dtype = vm["kv-dtype"].as<std::string>();
  o.block = vm["block"].as<int64_t>();
  o.util = vm["util"].as<double>();
  o.max_batch_tokens = vm["max-batch-tokens"].as<int64_t>();
  o.max_seqs = vm["max-seqs"].as<int64_t>();
  if (vm.count("context")) {
    if (vm["context"].as<int64_t>() < 1) throw UsageError("--context must be at least 1");
    o.contexts = {{vm["context"].as<int64_t>(), 1.0}};
  }
  if (vm.count("contexts")) o.contexts = parse_contexts(vm["contexts"].as<std::string>());
  if (vm.count("batch")) o.batch = vm["batch"].as<int64_t>();
  if (vm.count("device-memory")) o.runtime.device_total = bytes_arg(vm, "device-memory");
  if (vm.count("cuda-context")) o.runtime.cuda_context = bytes_arg(vm, "cuda-context");
  if (vm.count("library-workspace")) o.runtime.library_workspace = bytes_arg(vm, "library-workspace");
  if (vm.count("nccl")) o.runtime.nccl = bytes_arg(vm, "nccl");
  if (vm.count("cuda-graphs")) o.runtime.cuda_graphs = bytes_arg(vm, "cuda-graphs");

  const MemoryPlan p = plan_memory(model, hw, o);
  if (vm.count("json")) {
    std::cout << to_json(p).dump(2) << "\n";
  } else {
    print_table(p);
  }
  if (!p.fits) throw InputError(p.reason);
  return 0;
}

}  // namespace headroom::cli
