#include "headroom/cost/analytical.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "headroom/core/error.hpp"

namespace headroom {

namespace {

struct Tile {
  int m, n;
  double KernelParams::*rel;  // relative efficiency parameter (nullptr: from the tile's size)
  int stages = 0;             // cp.async pipeline stages, when the kernel's name gives them (0: not modelled)
};
// Hopper tile shapes of fixed size (CTA tile M x N), for the tf32 and fp32 kernels cuBLASLt runs
// on H200 (sm90_xmma / sm80_xmma, traces/h200/profile/gemm_kernels.jsonl).
constexpr Tile kTiles[] = {{128, 256, nullptr}, {256, 128, nullptr}, {128, 128, nullptr}, {64, 128, nullptr},
                           {128, 64, nullptr}};
// fp32 runs on the FMA units: its small-m kernels are GEMVs without padding rows.
constexpr Tile kFp32Gemv{1, 128, nullptr};
// int8 GEMMs (torch._int_mm -> cuBLASLt) run Ampere-style CUTLASS kernels on Hopper (mma.sync,
// not wgmma) and never split K, profiled on H200 (traces/h200/profile/torch_gemm_kernels.jsonl):
// cutlass_80_tensorop_i16832gemm_s8_{64x64, 128x64, 128x128, 128x256}. cuBLAS computes the
// transposed product, so those names are n x m: as tiles of y[m, n] they are 64x64, 64x128,
// 128x128 and 256x128 (m x n). Their efficiencies are their own (int8_tile_*), not the Hopper
// kernels'.
// Each with the pipeline depth its name gives (cutlass_80_tensorop_i16832gemm_s8_<n x m>_<k step>x
// <stages>: 128x256_128x3, 128x128_128x5, 128x64_128x3, 64x64_128x6), k steps of 128.
constexpr Tile kInt8Tiles[] = {{256, 128, nullptr, 3}, {128, 128, &KernelParams::int8_tile_128x128, 5},
                               {64, 128, &KernelParams::int8_tile_64x128, 3}, {64, 64, &KernelParams::int8_tile_64x64, 6}};
constexpr int64_t kInt8KStep = 128;
// tinygemm (torch._weight_int4pack_mm): a CTA covers 8 columns and 16 rows (the m16n8k16 MMA);
// its 8 warps take 8 k-tiles of 16 each per iteration: 8192 weight elements per CTA iteration.
constexpr int64_t kTinygemmCols = 8;
constexpr int64_t kTinygemmRows = 16;
constexpr int64_t kTinygemmKTile = 16;
constexpr double kTinygemmKTilesPerIteration = 8 * 8;
constexpr double kTinygemmIterationElements = 8.0 * 8 * 16 * 8;
// Weight-only quantized GEMMs (Marlin-style kernels) tile the batch in 16-row steps.
constexpr Tile kMarlinTiles[] = {{16, 256, nullptr}, {32, 256, nullptr}};

// bf16, fp16 and fp8 GEMMs run cuBLASLt's persistent Hopper kernels (nvjet_sm90_*, one CTA per SM
// walking its tiles), whose tiles are not a fixed menu: profiled on H200 (traces/h200/profile/
// gemm_kernels.jsonl, 356 shapes; a name nvjet_sm90_..._NxM_... is the tile along n, then m):
//  - along m, the tile is m itself rounded up to 8 rows while m <= 128 (64x8 at m = 1, 64x48 at
//    m = 48), m or half of it up to 256 rows (128x200, 128x104 at m = 200), and 128 to 192 rows
//    in steps of 8 beyond (136 at m = 2500, 152 at m = 5000);
//  - along n, 64 to 384 columns in steps of 8, picked to fill whole waves of SMs (168x128 at
//    m = 768, n = 3584: 22 x 6 = 132 tiles, one wave), up to 320x128 in area.
// The candidates below are those shapes: along n the three standard widths and, for one to four
// waves, the narrowest width that fits the tiles into that many waves.
constexpr int kPersistentTileStep = 8;
constexpr int kPersistentTileMinN = 64, kPersistentTileMaxN = 384;
constexpr int kPersistentTileMaxM = 192, kPersistentTileMaxArea = 320 * 128;

bool persistent_family(DType d) { return d == DType::BF16 || d == DType::FP16 || d == DType::FP8; }

constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

OpCost gemm_cost(const GemmPlan& g) {
  OpCost c;
  c.compute = Seconds(g.compute);
  c.memory = Seconds(g.memory);
  c.overhead = Seconds(g.overhead);
  c.time = Seconds(g.time);
  c.bound = g.compute >= g.memory ? Bound::Compute : Bound::Memory;
  return c;
}

OpCost finish(OpCost c) {
  c.time = std::max(c.compute, c.memory) + c.overhead;
  c.bound = c.compute >= c.memory ? Bound::Compute : Bound::Memory;
  if (c.overhead > std::max(c.compute, c.memory)) c.bound = Bound::Overhead;
  return c;
}

}  // namespace

AnalyticalCostModel::AnalyticalCostModel(const HardwareSpec& hw, OperatingPoint at)
    : AnalyticalCostModel(hw, hw.kernel_model.value_or(KernelParams{}), at) {}

AnalyticalCostModel::AnalyticalCostModel(const HardwareSpec& hw, const KernelParams& params, OperatingPoint at)
    : hw_(hw), p_(params) {
  if (at.sm_clock.value() > 0) sm_scale_ = at.sm_clock / hw.compute.clocks.boost;
  if (at.mem_clock.value() > 0 && hw.hbm.clock) mem_scale_ = at.mem_clock / *hw.hbm.clock;
  const double bw = hw.hbm.bandwidth.value() * mem_scale_;
  bw_read_ = bw * p_.hbm_read_efficiency;
  bw_write_ = bw * p_.hbm_write_efficiency;
  // The L2 runs in the SM clock domain.
  bw_l2_ = hw.hbm.bandwidth.value() * p_.l2_bandwidth_ratio * sm_scale_;
  l2_bytes_ = hw.l2.capacity.value();
  sms_ = hw.compute.sm_count;
}

Seconds AnalyticalCostModel::host_issue_time(bool cuda_graph) const {
  return host_issue_time(cuda_graph ? IssueMode::Graph : IssueMode::Torch);
}

Seconds AnalyticalCostModel::host_issue_time(IssueMode mode) const {
  switch (mode) {
    case IssueMode::Cuda: return Seconds(p_.host_issue_cuda * p_.host_scale());
    case IssueMode::Torch: return Seconds(p_.host_issue_torch * p_.host_scale());
    case IssueMode::Graph: return Seconds(0);  // the whole graph is one launch
  }
  return Seconds(0);
}

Seconds AnalyticalCostModel::host_time(const Op& op, IssueMode mode) const { return host_cost(op, mode, false); }

Seconds AnalyticalCostModel::host_time_in_sequence(const Op& op, IssueMode mode) const { return host_cost(op, mode, true); }

Seconds AnalyticalCostModel::host_cost(const Op& op, IssueMode mode, bool in_sequence) const {
  Seconds t = host_issue_time(mode) * static_cast<double>(op.kernels);
  if (op.kind == OpKind::Collective && mode == IssueMode::Torch)
    t += Seconds(p_.collective_host(static_cast<int>(op.as<CollectiveShape>().gpus), in_sequence));
  return t;
}

StreamPlan AnalyticalCostModel::stream_plan(double r, double w, bool warm_l2, double efficiency,
                                            double reread) const {
  // Data already in L2 (a working set below its capacity, just written or reused) streams at the
  // L2 rate; everything else at the achievable HBM read and write rates. A second read of bytes
  // the kernel has just read (a row kernel's second pass) adds traffic, not working set.
  const bool resident = warm_l2 && r + w <= l2_bytes_;
  r += reread;
  StreamPlan s;
  if (resident) {
    s.l2 = true;
    s.nominal_bytes = (r + w) / efficiency;
    s.time = (r + w) / (bw_l2_ * efficiency);
    return s;
  }
  // Reads and writes interleaved on the HBM bus pay for its turnarounds: none for a pure stream,
  // most when they are equal (a copy). Measured: reads alone reach 94% of the datasheet rate,
  // copies 81% (traces/h200/micro.jsonl).
  const double mix = r + w > 0 ? 2.0 * std::min(r, w) / (r + w) : 0.0;
  const double turnaround = 1.0 + p_.hbm_turnaround_penalty * mix;
  s.nominal_bytes = (r / p_.hbm_read_efficiency + w / p_.hbm_write_efficiency) * turnaround / efficiency;
  s.time = (r / bw_read_ + w / bw_write_) * turnaround / efficiency;
  return s;
}

Seconds AnalyticalCostModel::stream(double r, double w, bool warm_l2, double efficiency, double reread) const {
  return Seconds(stream_plan(r, w, warm_l2, efficiency, reread).time);
}

double AnalyticalCostModel::tile_rate(int tile_m, int tile_n) const {
  // A CTA's operand traffic through shared memory per FLOP falls as 1/I, I = tm tn / (tm + tn)
  // (the harmonic half-mean of its sides): a tile reaches I / (I + gemm_tile_intensity) of its
  // tensor-core rate. Relative to the 128x256 tile the efficiencies are fitted for.
  // I / (I + I0) = tm tn / (tm tn + I0 (tm + tn)); 128x256: 32768 / (32768 + 384 I0).
  const double i0 = p_.gemm_tile_intensity;
  const double area = static_cast<double>(tile_m) * tile_n;
  return area * (32768.0 + 384.0 * i0) / (32768.0 * (area + i0 * (tile_m + tile_n)));
}

GemmPlan AnalyticalCostModel::gemm_plan(int64_t m, int64_t n, int64_t k, int64_t batch, DType d, double overhead,
                                        double weight_bytes, double dequant_elements, bool warm_l2) const {
  auto rate = hw_.peak_rate(d);
  if (!rate) throw InputError(fmt::format("{} has no {} matrix unit", hw_.name, to_string(d)));
  const double peak_sm = rate->value() * sm_scale_ * p_.gemm_eff(d) / sms_;
  const double e = bytes_per_element(d);
  const double out_e = gemm_output_bytes(d);
  const double b = static_cast<double>(batch);
  // The kernels the library has for this dtype: int8 runs Ampere kernels that never split K.
  const bool int8 = d == DType::INT8;
  const bool split_k = !int8;
  // What every candidate shares. Weights in their stored format when quantized; each CTA row of
  // tiles expands the weights it reads on the CUDA cores (Marlin-style: overlapped with the
  // matrix math, so it adds to the compute side and hides under memory time at small batch).
  const double w = weight_bytes > 0 ? weight_bytes : b * static_cast<double>(n) * k * e;
  const double read = b * static_cast<double>(m) * k * e + w;
  const double written = b * static_cast<double>(m) * n * out_e;
  const double partials = b * static_cast<double>(m) * n * 4.0;  // fp32, per split-K slice
  const double dequant_ops_per_row = dequant_elements * p_.dequant_ops_per_element;
  const double vector_rate = hw_.compute.vector_fp32.value() * sm_scale_;
  const double fill_ctas = sms_ * p_.gemm_stream_ctas;

  // The plan of one candidate: tile tm x tn (mt x nt of them, times batch) at relative rate
  // rel, split over `splits` slices of k.
  // Operands that come from HBM (not a benchmark's L2-resident repeat) and a CTA alone on its
  // SM: a k-step cannot beat the loads in flight ahead of it (gemm_cold_load_latency). Weights
  // every SM reads stay L2-resident only up to half the L2: each of its two partitions caches
  // what its own SMs read (NVIDIA's A100/H100 whitepapers), so shared data is held twice.
  // Measured (traces/h200/profile/gemm_latency.jsonl): repeated int8 weights of 25 MB ran warm,
  // 29-37 MB partly, 42 MB as cold.
  const bool cold = !warm_l2 || w > 0.5 * l2_bytes_;
  auto plan = [&](int tm, int tn, int64_t mt, int64_t nt, double rel, int64_t splits, int stages) {
    GemmPlan c;
    c.tile_m = tm;
    c.tile_n = tn;
    c.tile_efficiency = rel;
    c.tiles = mt * nt * batch;
    c.splits = splits;
    c.ctas = c.tiles * splits;
    c.waves = static_cast<double>(ceil_div(c.ctas, sms_));
    c.cta_flops = 2.0 * tm * tn * static_cast<double>(splits > 1 ? ceil_div(k, splits) : k);
    c.cta_time = c.cta_flops / (peak_sm * rel);
    if (stages > 1 && cold && c.ctas <= sms_ && p_.gemm_cold_load_latency > 0) {
      const double ksteps = static_cast<double>(ceil_div(splits > 1 ? ceil_div(k, splits) : k, kInt8KStep));
      c.load_floor = ksteps * p_.gemm_cold_load_latency / (stages - 1);
      c.cta_time = std::max(c.cta_time, c.load_floor);
    }
    c.dequant_ops = dequant_ops_per_row * static_cast<double>(mt);
    c.bytes_read = read;
    c.bytes_written = written;
    if (splits > 1) {  // fp32 partial tiles written, then read back by the reduction
      c.bytes_read += partials * static_cast<double>(splits);
      c.bytes_written += partials * static_cast<double>(splits);
    }
    c.wave_overhead = p_.gemm_wave_overhead;
    c.compute = c.waves * (c.cta_time + c.wave_overhead) + c.dequant_ops / vector_rate;
    c.fill = std::min(1.0, static_cast<double>(c.ctas) / fill_ctas);
    c.memory = (c.bytes_read / bw_read_ + c.bytes_written / bw_write_) / (c.fill * p_.gemm_memory_efficiency);
    c.overhead = overhead + p_.gemm_overhead + (splits > 1 ? overhead : 0.0);
    c.time = std::max(c.compute, c.memory) + c.overhead;
    return c;
  };
  GemmPlan best;
  best.time = 1e30;
  auto evaluate = [&](int tm, int tn, int64_t mt, int64_t nt, double rel, int64_t splits, int stages) {
    const GemmPlan c = plan(tm, tn, mt, nt, rel, splits, stages);
    if (c.time < best.time) best = c;
  };
  // Each tile with and without split-K: when its tiles cannot fill the SMs and k is long enough
  // to share (>= 256 per split), the split that fills them, or (as cuBLASLt also does on
  // memory-bound shapes: 64 tiles of 64x8 at m = 1 on fp8) the tiles alone.
  auto consider = [&](int tm, int tn, int64_t mt, double rel, int stages = 0) {
    const int64_t nt = ceil_div(n, tn);
    evaluate(tm, tn, mt, nt, rel, 1, stages);
    const int64_t tiles = mt * nt * batch;
    if (tiles < sms_ && split_k) {
      const int64_t splits = std::clamp<int64_t>(sms_ / tiles, 1, std::max<int64_t>(1, k / 256));
      if (splits > 1) evaluate(tm, tn, mt, nt, rel, splits, stages);
    }
  };
  auto consider_tile = [&](const Tile& t) {
    consider(t.m, t.n, ceil_div(m, t.m), t.rel ? p_.*(t.rel) : tile_rate(t.m, t.n), t.stages);
  };
  if (int8) {
    if (p_.int8_small_tile_waves > 0) {
      // cuBLASLt's own choice (its heuristic, not the fastest tile: traces/h200/profile/
      // torch_gemm_kernels.jsonl): the small tile while its tiles make few waves, the large tile
      // once it is at least half used along m and its tiles fill the SMs, and between them a
      // tile that depends on k. Matches 90 of the 96 profiled shapes; the misses are n = 37888
      // and 4608 at k = 3584, where cuBLASLt keeps 64x128 up to m = 3072.
      const auto& [big, mid, narrow, small] = kInt8Tiles;
      const double small_tiles = b * static_cast<double>(ceil_div(m, small.m) * ceil_div(n, small.n));
      const double big_tiles = b * static_cast<double>(ceil_div(m, big.m) * ceil_div(n, big.n));
      if (small_tiles <= p_.int8_small_tile_waves * sms_) consider_tile(small);
      else if (2 * m >= big.m && big_tiles >= p_.int8_large_tile_waves * sms_) consider_tile(big);
      else consider_tile(static_cast<double>(k) >= p_.int8_deep_k ? mid : narrow);
    } else {
      for (const Tile& t : kInt8Tiles) consider_tile(t);
    }
  } else if (persistent_family(d)) {
    auto round_up = [](int64_t x) { return static_cast<int>(ceil_div(x, kPersistentTileStep) * kPersistentTileStep); };
    int tms[16];
    int count = 0;
    if (m <= 128) {
      tms[count++] = round_up(m);
    } else if (m <= 256) {
      tms[count++] = round_up(m);
      tms[count++] = round_up(ceil_div(m, 2));
    } else {
      // For the same number of tiles along m, the shortest tile does the least work (time goes
      // as tm tn + I0 (tm + tn)): one candidate per count.
      int64_t last_mt = 0;
      for (int t = 128; t <= kPersistentTileMaxM; t += kPersistentTileStep) {
        const int64_t mt = ceil_div(m, t);
        if (mt == last_mt) continue;
        last_mt = mt;
        tms[count++] = std::max(128, round_up(ceil_div(m, mt)));
      }
    }
    for (int i = 0; i < count; ++i) {
      const int tm = tms[i];
      const int64_t mt = ceil_div(m, tm);
      int last = 0;
      auto try_n = [&](int tn) {
        if (tn == last || tn < kPersistentTileMinN || tn > kPersistentTileMaxN || tm * tn > kPersistentTileMaxArea) return;
        last = tn;
        consider(tm, tn, mt, tile_rate(tm, tn));
      };
      for (int tn : {64, 128, 256}) try_n(tn);
      const int64_t rows = mt * batch;  // tiles along m (x batch)
      for (int64_t waves = 1; waves <= 4; ++waves) {
        const int64_t cols = waves * sms_ / rows;  // tiles along n that fill this many waves
        if (cols < 1) continue;
        const int tn = round_up(ceil_div(n, cols));
        if (tn != 64 && tn != 128 && tn != 256) try_n(tn);
      }
    }
  } else {
    for (const Tile& t : kTiles) consider_tile(t);
  }
  if (d == DType::FP32) consider_tile(kFp32Gemv);
  if (dequant_elements > 0)
    for (const Tile& t : kMarlinTiles) consider_tile(t);
  return best;
}

GemmPlan AnalyticalCostModel::gemm_plan(const Op& op, double overhead) const {
  const auto& g = op.as<GemmShape>();
  if (op.dequant_elements > 0 && op.impl == Impl::TorchReference) {
    // PyTorch's own int4 kernel (torch._weight_int4pack_mm, "tinygemm"), as PyTorch's int4mm.cu
    // runs it (docs/kernel-model.md, Quantized weights):
    //  - one CTA of 8 warps per 8 output columns and 16 activation rows, grid n/8 x ceil(m/16)
    //    (profiled: traces/h200/profile/torch_gemm_kernels.jsonl);
    //  - its warps walk k in iterations of 8 k-tiles of 16 each, interleaved: k / 1024
    //    iterations of 8192 weight elements per CTA (a remainder costs its share: k = 3584 is 3.5);
    //  - per weight element, on the CUDA cores: the dequantization (once per row tile) and 2
    //    operations per activation row, no fewer than torch_int4_min_rows rows (measured: m = 1
    //    takes 0.90-0.99 of m = 2's time; its time grows linearly in m from there, at the slope
    //    of m = 4096: traces/h200/quant.jsonl);
    //  - the SM holding the most CTAs, ceil(CTAs / SMs), sets the time: it holds
    //    torch_int4_ctas_per_sm at once, sharing its CUDA cores, and a last partial round costs
    //    at least torch_int4_tail_ctas CTAs (the CTAs left over land unevenly on the SMs that
    //    free up first: traces/h200/profile/tinygemm_grid.jsonl);
    //  - the stored weights stream from HBM beside it.
    GemmPlan c;
    const int64_t row_tiles = ceil_div(g.m, kTinygemmRows);
    c.tile_m = static_cast<int>(std::min<int64_t>(g.m, kTinygemmRows));
    c.tile_n = kTinygemmCols;
    c.tiles = c.ctas = ceil_div(g.n, kTinygemmCols) * row_tiles * g.batch;
    c.cuda_cores = true;
    const int64_t per_sm = ceil_div(c.ctas, sms_);
    const int64_t resident = std::max<int64_t>(1, std::llround(p_.torch_int4_ctas_per_sm));
    const int64_t full = per_sm / resident, rest = per_sm % resident;
    c.waves = static_cast<double>(full * resident) +
              (rest > 0 ? std::max<double>(static_cast<double>(rest), full > 0 ? p_.torch_int4_tail_ctas : 0.0) : 0.0);
    const double iterations = static_cast<double>(ceil_div(g.k, kTinygemmKTile)) / kTinygemmKTilesPerIteration;
    const double rows = std::max(static_cast<double>(g.m) / static_cast<double>(row_tiles), p_.torch_int4_min_rows);
    const double cta_ops = iterations * kTinygemmIterationElements *
                           (p_.dequant_ops_per_element + 2.0 * rows) / p_.torch_int4_gemm_efficiency;
    c.dequant_ops = cta_ops * static_cast<double>(c.ctas);
    c.cta_time = cta_ops / (hw_.compute.vector_fp32.value() * sm_scale_ / sms_);
    c.compute = c.waves * c.cta_time;
    c.bytes_read = static_cast<double>(g.batch) * g.m * g.k * bytes_per_element(op.dtype) + op.weight_bytes.value();
    c.bytes_written = static_cast<double>(g.batch) * g.m * g.n * gemm_output_bytes(op.dtype);
    c.memory = c.bytes_read / bw_read_ + c.bytes_written / bw_write_;
    c.overhead = overhead + p_.gemm_overhead;
    c.time = std::max(c.compute, c.memory) + c.overhead;
    return c;
  }
  return gemm_plan(g.m, g.n, g.k, g.batch, op.dtype, overhead,
                   op.dequant_elements > 0 ? op.weight_bytes.value() : 0.0, op.dequant_elements, g.warm_l2);
}

OpCost AnalyticalCostModel::gemm(int64_t m, int64_t n, int64_t k, int64_t batch, DType d, double overhead,
                                 double weight_bytes, double dequant_elements, bool warm_l2) const {
  return gemm_cost(gemm_plan(m, n, k, batch, d, overhead, weight_bytes, dequant_elements, warm_l2));
}

AttentionPlan AnalyticalCostModel::attention_plan(const Op& op, double overhead) const {
  const auto& s = op.as<AttentionShape>();
  AttentionPlan a;
  auto rate = hw_.peak_rate(op.dtype);
  if (!rate) throw InputError(fmt::format("{} has no {} matrix unit", hw_.name, to_string(op.dtype)));
  constexpr int64_t kBlockQ = 128;  // FlashAttention-2 query block
  if (s.phase == Phase::Prefill || s.q_len > 1) {
    a.prefill = true;
    a.items = static_cast<double>(s.batch * s.heads * ceil_div(s.q_len, kBlockQ));
    a.waves = std::ceil(a.items / sms_);
    // Work spreads over waves; the last wave may be partly empty. The longest work item (the
    // last query block, which sees every key even under a causal mask) bounds the kernel from
    // below: with few items, causal attention takes as long as full attention.
    const double quant = a.waves / (a.items / sms_);
    const double rate_eff = rate->value() * sm_scale_ * p_.attn_prefill_efficiency;
    a.longest_flops = 2.0 * std::min<int64_t>(kBlockQ, s.q_len) * s.kv_len * (s.qk_dim + s.v_dim);
    a.memory = stream(op.bytes_read.value(), op.bytes_written.value(), false).value();
    if (s.causal && s.q_len > kBlockQ && a.items > sms_) {
      // Causal: query block i sees i + 1 key blocks, so the items differ. FlashAttention
      // dispatches them in index order (query blocks of one head together), the heaviest block
      // of the last head among the last: a list schedule, as long as the average SM's share plus
      // one longest item (Graham's bound, tight here; measured 1024-16384 tokens: causal takes
      // 1.0x-0.5x the full-attention time, not 0.5x throughout: traces/h200/attention.jsonl).
      // Items that fit in one wave all start at once: the longest alone (below).
      const double share = 1.0 - 1.0 / sms_;
      a.causal_schedule = true;
      a.compute = op.flops.value() / rate_eff + a.longest_flops / (rate_eff / sms_) * share;
      a.overhead = (a.items / sms_ + share) * p_.attn_block_overhead + overhead;
      return a;
    }
    a.compute = std::max(op.flops.value() / rate_eff * quant, a.longest_flops / (rate_eff / sms_));
    a.overhead = a.waves * p_.attn_block_overhead + overhead;
    return a;
  }
  // Decode (FlashAttention-2 with one query per sequence): the query heads of a GQA group are
  // packed into one CTA per (sequence, KV head), so each KV head is read once; when those CTAs
  // cannot fill the SMs the context is split and a combine kernel follows. An SM streaming two or
  // more KV heads at once reaches less of its bandwidth share (more concurrent DRAM streams).
  a.items = static_cast<double>(s.batch * s.kv_heads);
  a.splits = a.items < 0.8 * sms_ ? std::max(1.0, std::floor(sms_ / a.items)) : 1.0;
  const double per_sm = std::min(p_.attn_decode_ctas_per_sm, a.items * a.splits / sms_);
  a.share = per_sm <= 1.0 ? 1.0 : 1.0 - (1.0 - p_.attn_decode_shared_efficiency) * std::min(1.0, per_sm - 1.0);
  // A context split over several CTAs streams at a lower rate than whole contexts (measured: a
  // long context at batch 1, 16 splits per KV head, 3.9 TB/s; at batch 16 unsplit, 4.4 TB/s).
  if (a.splits > 1) a.share *= p_.attn_decode_split_efficiency;
  a.q_o_bytes = static_cast<double>(s.batch) * s.heads * (s.qk_dim + s.v_dim) * bytes_per_element(op.dtype);
  a.kv_bytes = op.bytes_read.value() + op.bytes_written.value() - a.q_o_bytes;
  a.memory = a.kv_bytes / (bw_read_ * p_.attn_decode_bw_efficiency * a.share) + a.q_o_bytes / bw_write_;
  // A quantized cache: every element read is expanded on the CUDA cores, at the cost of its
  // format (an fp8 conversion, or integer codes with scales and zero points), measured with one
  // split-KV kernel (traces/h200/profile/attention_kvq.jsonl).
  a.dequant_ops = op.dequant_elements * (s.kv_bits >= 8.0 ? p_.kv_convert_ops_per_element : p_.kv_dequant_ops_per_element);
  a.compute = op.flops.value() / (rate->value() * sm_scale_ * p_.attention_efficiency(s.shared_kv)) +
              a.dequant_ops / (hw_.compute.vector_fp32.value() * sm_scale_);
  a.waves = std::ceil(a.items * a.splits / (sms_ * p_.attn_decode_ctas_per_sm));
  a.overhead = a.waves * p_.attn_block_overhead + overhead * (a.splits > 1 ? 2.0 : 1.0);
  return a;
}

OpCost AnalyticalCostModel::attention(const Op& op, double overhead) const {
  const AttentionPlan a = attention_plan(op, overhead);
  OpCost c;
  c.compute = Seconds(a.compute);
  c.memory = Seconds(a.memory);
  c.overhead = Seconds(a.overhead);
  return finish(c);
}

MoePlan AnalyticalCostModel::moe_plan(const Op& op) const {
  const auto& s = op.as<MoeShape>();
  // Routed experts: each touched expert runs gate-up, swiglu and down on its share of the
  // token copies; shared experts run on every token.
  const double touched = std::max(1.0, s.experts_touched);
  const int64_t per_expert = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(s.tokens * s.top_k / touched)));
  const int64_t groups = static_cast<int64_t>(std::ceil(touched));
  MoePlan p;
  // Grouped: one kernel per projection over all experts; else one per expert.
  const int64_t batch = s.grouped ? groups : 1, times = s.grouped ? 1 : groups;
  // Weights stored in a quantized format (MoeShape::weight_bits): read at their stored size.
  const double weight_element = s.weight_bits > 0 ? s.weight_bits / 8.0 : 0.0;
  auto add = [&p, weight_element](int64_t m, int64_t n, int64_t k, int64_t b, int64_t t) {
    auto& g = p.gemms[p.count++];
    g.m = m, g.n = n, g.k = k, g.batch = b, g.times = t;
    g.weight_bytes = weight_element * static_cast<double>(b) * n * k;
  };
  add(per_expert, 2 * s.inter, s.hidden, batch, times);
  add(per_expert, s.hidden, s.inter, batch, times);
  p.routed = 2;
  p.gemm_kernels = static_cast<int>(2 * times);
  if (s.shared_experts > 0) {
    add(s.tokens, 2 * s.inter * s.shared_experts, s.hidden, 1, 1);
    add(s.tokens, s.hidden, s.inter * s.shared_experts, 1, 1);
    p.gemm_kernels += 2;
  }
  // Gather, activation, weighting and scatter of the routed copies: PyTorch elementwise kernels
  // on data that stays in L2 when small.
  const double e = bytes_per_element(op.dtype);
  const double copies = static_cast<double>(s.tokens) * s.top_k;
  // Per copy: gather (reads and writes hidden), silu of the strided gate half (inter in, inter
  // out), times up (2 inter in, inter out), times its routing weight (hidden in and out). The
  // combine, index_add_ of the weighted copies into the tokens' rows, is bound by its atomic adds
  // in L2, not by HBM: measured 106-137 G bf16 adds/s whatever the shape (traces/h200/profile/
  // moe_kernels.jsonl), scatter_add_rate.
  // Expert parallel: the send-buffer gather and the copy back into place, hidden in and out each.
  const double row_copies = s.exchanged ? 4.0 : 2.0;
  p.stream_read = copies * (row_copies * s.hidden + 3.0 * s.inter) * e;
  p.stream_written = copies * (row_copies * s.hidden + 2.0 * s.inter) * e;
  p.stream_efficiency = p_.strided_elementwise_efficiency;
  p.scatter_elements = copies * static_cast<double>(s.hidden);
  // torch._grouped_mm: its own tiling of the experts' rows (grouped_gemm_plan), at a fraction of
  // a dense GEMM's rates on either side (measured: traces/h200/profile/grouped_mm.jsonl).
  if (s.grouped) {
    const MoeRowBlocks rows = moe_row_blocks(s);
    for (int i = 0; i < p.routed; ++i) {
      auto& g = p.gemms[i];
      g.grouped = true;
      g.plan = grouped_gemm_plan(rows, g.n, g.k, op.dtype, 0.0, weight_element);
      g.compute_efficiency = p_.grouped_gemm_compute_efficiency;
      g.memory_efficiency = p_.grouped_gemm_memory_efficiency;
    }
  }
  return p;
}

GemmPlan AnalyticalCostModel::grouped_gemm_plan(const MoeRowBlocks& rows, int64_t n, int64_t k, DType d,
                                                double overhead, double weight_element_bytes) const {
  auto rate = hw_.peak_rate(d);
  if (!rate) throw InputError(fmt::format("{} has no {} matrix unit", hw_.name, to_string(d)));
  // PyTorch's dispatch (aten/src/ATen/native/cuda/GroupMM.cu): "small" problems, mean rows per
  // group or n at most 128, run the ping-pong kernel with 64x128 tiles, the rest the cooperative
  // one with 128x256; both in clusters of 2 CTAs along m that share each weight tile (TMA
  // multicast). Profiled kernels: traces/h200/profile/grouped_mm.jsonl.
  const double mean_rows = rows.groups > 0 ? rows.rows / rows.groups : 0.0;
  const bool small = mean_rows <= 128 || n <= 128;
  const int tm = small ? 64 : 128, tn = small ? 128 : 256;
  const int tile_j = small ? 0 : 1, cluster_j = small ? 1 : 2;  // kMoeBlockRows index of tm and 2 tm
  const double e = bytes_per_element(d);
  GemmPlan c;
  c.tile_m = tm;
  c.tile_n = tn;
  c.tile_efficiency = tile_rate(tm, tn);
  // Each group's rows in whole tiles (a group of tm + 1 rows takes two); the persistent CTAs
  // walk all groups' tiles.
  c.tiles = std::max<int64_t>(1, std::llround(rows.blocks[tile_j] * static_cast<double>(ceil_div(n, tn))));
  c.ctas = c.tiles;
  c.waves = static_cast<double>(ceil_div(c.ctas, sms_));
  c.cta_flops = 2.0 * tm * tn * static_cast<double>(k);
  c.cta_time = c.cta_flops / (rate->value() * sm_scale_ * p_.gemm_eff(d) / sms_ * c.tile_efficiency);
  // A group's weights stream once per cluster of rows (2 tm): they do not stay in L2 between
  // clusters. Its rows are read and written once.
  const double we = weight_element_bytes > 0 ? weight_element_bytes : e;
  c.bytes_read = rows.blocks[cluster_j] * static_cast<double>(n) * k * we + rows.rows * k * e;
  c.bytes_written = rows.rows * static_cast<double>(n) * gemm_output_bytes(d);
  c.wave_overhead = p_.gemm_wave_overhead;
  c.compute = c.waves * (c.cta_time + c.wave_overhead);
  c.fill = std::min(1.0, static_cast<double>(c.ctas) / (sms_ * p_.gemm_stream_ctas));
  c.memory = (c.bytes_read / bw_read_ + c.bytes_written / bw_write_) / (c.fill * p_.gemm_memory_efficiency);
  c.overhead = overhead + p_.gemm_overhead;
  c.time = std::max(c.compute, c.memory) + c.overhead;
  return c;
}

OpCost AnalyticalCostModel::moe(const Op& op, double overhead) const {
  const MoePlan p = moe_plan(op);
  OpCost c;
  Seconds busy;  // the kernels run one after another; inside each, compute and memory overlap
  for (int i = 0; i < p.count; ++i) {
    const auto& g = p.gemms[i];
    OpCost x;
    if (g.grouped) {  // the plan was made without the launch's fixed cost
      GemmPlan gp = g.plan;
      gp.overhead += overhead;
      gp.time += overhead;
      x = gemm_cost(gp);
    } else {
      x = gemm(g.m, g.n, g.k, g.batch, op.dtype, overhead, g.weight_bytes);
    }
    const double times = static_cast<double>(g.times);
    c.compute += x.compute * times;
    c.memory += x.memory * times;
    c.overhead += x.overhead * times;
    busy += std::max(x.compute / g.compute_efficiency, x.memory / g.memory_efficiency) * times;
  }
  Seconds elementwise = stream(p.stream_read, p.stream_written, true, p.stream_efficiency);
  if (p_.scatter_add_rate > 0) elementwise += Seconds(p.scatter_elements / (p_.scatter_add_rate * sm_scale_));
  c.memory += elementwise;
  c.overhead += Seconds(overhead * std::max(0, op.kernels - p.gemm_kernels));
  c.time = busy + elementwise + c.overhead;
  c.bound = c.compute >= c.memory ? Bound::Compute : Bound::Memory;
  return c;
}

CollectivePlan AnalyticalCostModel::collective_plan(const Op& op) const {
  const auto& s = op.as<CollectiveShape>();
  CollectivePlan c;
  if (s.gpus <= 1) {
    c.trivial = true;
    return c;
  }
  // NCCL: a fixed latency that grows with the group (protocol handshakes, the slowest
  // rank), plus the bytes each rank sends (ring bus bytes, Op::wire_bytes) at the fraction of the
  // per-direction link bandwidth the algorithm reaches.
  const double g = static_cast<double>(s.gpus);
  const bool all_reduce = s.kind == CollectiveKind::AllReduce, all_to_all = s.kind == CollectiveKind::AllToAll;
  c.wire_bytes = op.wire_bytes.value();
  // Bandwidth: the fraction of the link NCCL reaches. A ring (all-reduce, all-gather,
  // reduce-scatter: NCCL's choice here, traces/h200x4/profile/coll_tuning.txt) reaches less of it
  // with few ranks: its efficiency is eta (1 - loss / g), an empirical form (measured bus bandwidth
  // of a 1 GiB all-gather: 284, 338, 358 GB/s on 2, 4, 8 H200). All-to-all is point-to-point to
  // every peer at once, not a ring: its own efficiency, no such loss.
  if (all_to_all) {
    c.efficiency = p_.collective_bw_efficiency_alltoall > 0 ? p_.collective_bw_efficiency_alltoall
                                                            : p_.collective_bw_efficiency_gather;
  } else {
    const double eta = all_reduce ? p_.collective_bw_efficiency : p_.collective_bw_efficiency_gather;
    const double loss = all_reduce ? p_.collective_ring_bw_loss_allreduce : p_.collective_ring_bw_loss;
    c.efficiency = eta * (1.0 - loss / g);
  }
  // Latencies are given for 2 GPUs. A ring takes one step per rank beyond the first, each a
  // handshake with the next rank (an all-reduce 2(g-1): a reduce-scatter, then an all-gather), so
  // its latency grows linearly with the group: by a fraction per GPU beyond two, all-reduce's its
  // own (measured at 4 KiB, CUDA graph: all-reduce 9.7, 12.9, 18.3 us on 2, 4, 8 GPUs; all-gather
  // 9.3, 11.8, 16.2). All-to-all's sends to all peers go at once: its own (small) growth.
  const double per_gpu = all_reduce ? p_.collective_latency_growth_allreduce
                         : all_to_all ? p_.collective_latency_growth_alltoall
                                      : p_.collective_latency_growth;
  const double growth = 1.0 + per_gpu * std::max(0.0, g - 2.0);
  c.latency = (all_reduce ? p_.collective_latency : p_.collective_latency_gather) * growth;
  // NCCL picks per size between its protocols: LL (8-byte flag+data stores: low latency, a
  // fraction of the bandwidth) for small messages, the simple protocol for large ones. The faster
  // of the two is what it reaches (it tunes the switch points to this).
  const double bw = fabric_bandwidth(hw_).value();
  double lat_ll = p_.collective_latency_ll * growth;
  // A group over several scale-up domains (nodes) also crosses the network: NCCL's ring takes
  // 2(n-1) inter-node steps for an all-reduce over n nodes, n-1 for the gathers (its tuning
  // model, src/graph/tuning.cc: latency = intra steps x intra latency + inter steps x inter
  // latency), each at the network's step latency, and the ring's bus bandwidth is the slower of
  // the two fabrics per GPU. All-to-all sends each peer 1/g of the input at once: the on-node
  // peers' share over the scale-up fabric, the others' over the network, both in parallel.
  const int64_t nodes = collective_nodes(hw_, s);
  if (nodes > 1) {
    if (!hw_.scale_out)
      throw InputError(fmt::format("{}: a collective over {} GPUs spans {} scale-up domains of {} GPUs, and the "
                                   "hardware file gives no interconnect.scale_out (the network between them)",
                                   hw_.name, s.gpus, nodes, hw_.scale_up ? hw_.scale_up->domain : 0));
    const ScaleOutLink& net = *hw_.scale_out;
    const double n = static_cast<double>(nodes);
    const double net_bw = net.bandwidth.value() * net.efficiency;
    if (all_to_all) {
      const double t = all_to_all_split_seconds(c.wire_bytes, s.gpus, nodes, bw * c.efficiency, net_bw);
      c.efficiency = c.wire_bytes / (t * bw);  // as a fraction of the scale-up link, as the rest of the model reads it
      c.latency += net.latency.value();
      lat_ll += net.latency_ll.value();
    } else {
      const double inter_steps = all_reduce ? 2.0 * (n - 1.0) : n - 1.0;
      c.efficiency = std::min(c.efficiency, net_bw / bw);
      c.latency += inter_steps * net.latency.value();
      lat_ll += inter_steps * net.latency_ll.value();
    }
  }
  const double t_simple = c.latency + c.wire_bytes / (bw * c.efficiency);
  const double ll_eff = c.efficiency * p_.collective_ll_bandwidth;
  if (p_.collective_latency_ll > 0 && lat_ll + c.wire_bytes / (bw * ll_eff) < t_simple) {
    c.latency = lat_ll;
    c.efficiency = ll_eff;
  }
  return c;
}

OpCost AnalyticalCostModel::collective(const Op& op, double overhead) const {
  const CollectivePlan p = collective_plan(op);
  OpCost c;
  if (p.trivial) {
    c.overhead = Seconds(overhead);
    c.time = c.overhead;
    c.bound = Bound::Overhead;
    return c;
  }
  c.comm = Seconds(p.wire_bytes / (fabric_bandwidth(hw_).value() * p.efficiency));
  c.overhead = Seconds(p.latency);
  c.time = c.comm + c.overhead;
  c.bound = c.comm >= c.overhead ? Bound::Communication : Bound::Overhead;
  return c;
}

ElementwiseStream AnalyticalCostModel::elementwise_stream(const Op& op) const {
  ElementwiseStream s;
  if (const auto* st = std::get_if<StreamShape>(&op.shape)) s.warm_l2 = st->warm_l2;
  if (op.kind == OpKind::RmsNorm || op.kind == OpKind::Swiglu || op.kind == OpKind::Residual ||
      op.kind == OpKind::Rope || op.kind == OpKind::KvWrite) {
    s.warm_l2 = true;  // activations just written by the previous kernel
  }
  if (op.impl != Impl::Fused) s.efficiency = op.strided ? p_.strided_elementwise_efficiency : p_.torch_elementwise_efficiency;
  if (op.kind == OpKind::RmsNorm && op.impl == Impl::TorchFunctional) {
    // F.rms_norm: one fused, vectorized CTA per row (a tuned stream: no torch elementwise
    // factor), two passes (sum of squares, then scale and store). A row longer than the CTA keeps
    // on chip is read again in the second pass, fully from twice that length: measured at 4096
    // tokens and more, 8 KiB rows move 2.3 bytes per 2, rows of 16 and 32 KiB 3 per 2
    // (traces/h200/norm.jsonl). With few rows each CTA's latency-bound walk over its row, twice,
    // sets the time (one token: 7.2, 10.0, 15.7 us at 4096, 8192, 16384 wide).
    s.efficiency = 1.0;
    const auto& r = op.as<RowShape>();
    const double row_in = static_cast<double>(r.width) * bytes_per_element(op.dtype);
    const double onchip = std::max(1.0, p_.row_kernel_onchip_bytes);
    const double again = std::clamp((row_in - onchip) / onchip, 0.0, 1.0);
    s.extra_read = again * row_in * static_cast<double>(r.rows);
    s.serial = 2.0 * row_in / (p_.row_kernel_cta_bandwidth * sm_scale_);
  }
  if (op.kind == OpKind::RmsNorm && op.impl == Impl::TorchReference) {
    // The expression's mean over each row is PyTorch's reduce_kernel (aten/src/ATen/native/cuda/
    // Reduce.cuh), whose threads walk their share of a row one value after another. Profiled on
    // H200 (traces/h200/profile/norm_kernels.jsonl, step_kernels.jsonl): a CTA of 512 threads
    // holds min(16, rows rounded up to a power of 2) rows ([512,1] at 1 row, [64,8] at 8, [32,16]
    // from 16), so each thread walks v = width / (512 / rows held) fp32 values; when v reaches 16
    // per row held, or 256, the row is split over ceil(v / 16) CTAs of 16 values each. The kernel
    // took 2.4, 5.4 and 9.0 us at v = 8, 64 and 128 (4096 wide), 2.5-3.5 us split (8192 wide):
    // linear in v, torch_reduce_element_time per value.
    const auto& r = op.as<RowShape>();
    int64_t held = 1;
    while (held < r.rows && held < 16) held *= 2;
    double v = std::ceil(static_cast<double>(r.width) / static_cast<double>(512 / held));
    if (v >= 16.0 * static_cast<double>(held) || v >= 256.0) v = 16.0;
    s.chain = v * p_.torch_reduce_element_time / sm_scale_;
  }
  return s;
}

double AnalyticalCostModel::kernels_overhead(const Op& op, IssueMode mode, double overhead) const {
  const int light = std::clamp(op.light_kernels, 0, op.kernels);
  return overhead * (op.kernels - light) + light_kernel_overhead(mode) * light;
}

OpCost AnalyticalCostModel::elementwise(const Op& op, IssueMode mode, double overhead) const {
  // Streaming kernels: copies, fills, reductions, norms, activations, residuals, RoPE, KV
  // writes, embedding gathers. Their compute is small next to their bytes.
  OpCost c;
  const ElementwiseStream s = elementwise_stream(op);
  c.memory = std::max(stream(op.bytes_read.value(), op.bytes_written.value(), s.warm_l2, s.efficiency, s.extra_read),
                      Seconds(s.serial)) +
             Seconds(s.chain);
  c.compute = Seconds(op.flops.value() / (hw_.compute.vector_fp32.value() * sm_scale_));
  c.overhead = Seconds(kernels_overhead(op, mode, overhead));
  return finish(c);
}

OpCost AnalyticalCostModel::cost(const Op& op, IssueMode mode) const {
  const double overhead = kernel_overhead(mode);
  switch (op.kind) {
    case OpKind::Gemm:
    case OpKind::MoeRouter: {
      OpCost c = gemm_cost(gemm_plan(op, overhead));
      if (op.kind == OpKind::MoeRouter) {  // softmax + top-k kernels after the router GEMM
        c.overhead += Seconds(overhead * std::max(0, op.kernels - 1));
        c.time = std::max(c.compute, c.memory) + c.overhead;
      }
      return c;
    }
    case OpKind::Attention: return attention(op, overhead);
    case OpKind::MoeExperts: return moe(op, overhead);
    case OpKind::Collective: return collective(op, overhead);
    case OpKind::Launch: {
      OpCost c;
      const bool gap = op.as<LaunchShape>().back_to_back;
      c.overhead = Seconds(gap ? overhead : p_.launch_latency);
      c.time = c.overhead;
      c.bound = Bound::Overhead;
      return c;
    }
    default: return elementwise(op, mode, overhead);
  }
}

}  // namespace headroom
