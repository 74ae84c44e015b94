// HBM / L2 bandwidth microbenchmarks: read (reduction), write (fill), copy.
// Emits op=read|write|copy trace lines (docs/trace-format.md).
//   warm series : one buffer reused call after call (warm_l2=true), 1 MiB .. 4 GiB
//   cold series : sizes <= 128 MiB rotated through a >= 512 MiB pool (warm_l2=false)
//   l2 series   : reads of <= 30 MiB repeated (warm_l2=true, suite=l2)
//   memcpy      : cudaMemcpyAsync device-to-device, warm, >= 16 MiB
// With --mib A,B,... (the held-out set, traces/harness/heldout/run_heldout.sh) only these sizes,
// each rotated through a >= 512 MiB pool, at least 2 buffers (warm_l2=false) as the cold series,
// suite "heldout-cold", records with "issue":"cuda", kernels checked once per size.
// --list (or HEADROOM_LIST_CASES=1): print the cases ("op bytes warm_l2 suite impl") and exit
// before any CUDA call.
// Usage: bw [--out FILE] [--quick] [--mib A,B,...] [--list]
#include "common.h"

#include <sstream>

static int g_sms = 132;
static const int TPB = 256;

__global__ void __launch_bounds__(TPB) read_k(const int4* __restrict__ p, size_t n, unsigned* __restrict__ part) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  const size_t st = (size_t)gridDim.x * blockDim.x;
  unsigned acc = 0;
  for (; i + 3 * st < n; i += 4 * st) {
    int4 a = __ldg(p + i), b = __ldg(p + i + st), c = __ldg(p + i + 2 * st), d = __ldg(p + i + 3 * st);
    acc += (unsigned)a.x + a.y + a.z + a.w + b.x + b.y + b.z + b.w + c.x + c.y + c.z + c.w + d.x + d.y + d.z + d.w;
  }
  for (; i < n; i += st) {
    int4 a = __ldg(p + i);
    acc += (unsigned)a.x + a.y + a.z + a.w;
  }
  for (int o = 16; o; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
  __shared__ unsigned sm[TPB / 32];
  if ((threadIdx.x & 31) == 0) sm[threadIdx.x >> 5] = acc;
  __syncthreads();
  if (threadIdx.x == 0) {
    unsigned t = 0;
    for (int w = 0; w < TPB / 32; ++w) t += sm[w];
    part[blockIdx.x] = t;
  }
}

__global__ void __launch_bounds__(TPB) write_k(int4* __restrict__ p, size_t n, int v) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  const size_t st = (size_t)gridDim.x * blockDim.x;
  for (; i < n; i += st) p[i] = make_int4((int)i ^ v, v, (int)(i >> 2), ~v);
}

__global__ void __launch_bounds__(TPB) copy_k(const int4* __restrict__ s, int4* __restrict__ d, size_t n) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  const size_t st = (size_t)gridDim.x * blockDim.x;
  for (; i + 3 * st < n; i += 4 * st) {
    int4 a = __ldg(s + i), b = __ldg(s + i + st), c = __ldg(s + i + 2 * st), e = __ldg(s + i + 3 * st);
    d[i] = a;
    d[i + st] = b;
    d[i + 2 * st] = c;
    d[i + 3 * st] = e;
  }
  for (; i < n; i += st) d[i] = __ldg(s + i);
}

__device__ __forceinline__ int4 ld_cg(const int4* p) {
  int4 r;
  asm volatile("ld.global.cg.v4.s32 {%0,%1,%2,%3}, [%4];" : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
  return r;
}
// reads the buffer `passes` times in one launch (L2-only loads): L2 bandwidth without launch cost
__global__ void __launch_bounds__(TPB) read_passes_k(const int4* __restrict__ p, size_t n, int passes, unsigned* __restrict__ part) {
  const size_t st = (size_t)gridDim.x * blockDim.x;
  unsigned acc = 0;
  for (int q = 0; q < passes; ++q) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    for (; i + 3 * st < n; i += 4 * st) {
      int4 a = ld_cg(p + i), b = ld_cg(p + i + st), c = ld_cg(p + i + 2 * st), d = ld_cg(p + i + 3 * st);
      acc += (unsigned)a.x + a.y + a.z + a.w + b.x + b.y + b.z + b.w + c.x + c.y + c.z + c.w + d.x + d.y + d.z + d.w;
    }
    for (; i < n; i += st) {
      int4 a = ld_cg(p + i);
      acc += (unsigned)a.x + a.y + a.z + a.w;
    }
  }
  if (acc == 0x9e3779b9u) part[blockIdx.x] = acc;
}

__global__ void empty_k() {}

static int grid_for(size_t nvec) {
  size_t want = (nvec + TPB - 1) / TPB;
  return (int)std::max<size_t>(1, std::min<size_t>(want, (size_t)g_sms * 8));
}

static const double kHostUs = 12.0;  // generous host enqueue cost per call (launch + 2 events)

struct Case {
  const char* op;
  size_t bytes;
  bool warm;
  const char* suite;
  bool memcpy_impl;
  bool check_first;  // --mib: check the kernels at this size before its cases
};

static std::vector<double> parse_mib(const char* list) {
  std::vector<double> v;
  std::stringstream ss(list);
  std::string t;
  while (std::getline(ss, t, ','))
    if (!t.empty()) v.push_back(atof(t.c_str()));
  return v;
}

// the cases in run order: bw.cu's fixed series, or (held != empty) the held-out sizes
static std::vector<Case> make_cases(bool quick, const std::vector<double>& held) {
  const size_t MiB = 1ull << 20;
  const char* ops[3] = {"read", "write", "copy"};
  std::vector<Case> cs;
  if (!held.empty()) {
    for (double mib : held)
      for (int o = 0; o < 3; ++o) cs.push_back({ops[o], (size_t)(mib * MiB), false, "heldout-cold", false, o == 0});
    return cs;
  }
  std::vector<double> sizes_mib = {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 40, 48, 64, 96, 128, 192,
                                   256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096};
  std::vector<double> l2_mib = {0.25, 0.5, 1, 2, 4, 5, 8, 10, 12, 15, 20, 25, 30};
  if (quick) {
    sizes_mib = {1, 64, 1024};
    l2_mib = {8};
  }
  for (double mib : sizes_mib)
    for (const char* op : ops) cs.push_back({op, (size_t)(mib * MiB), true, "hbm-warm", false, false});
  for (double mib : sizes_mib)
    if (mib <= 128)
      for (const char* op : ops) cs.push_back({op, (size_t)(mib * MiB), false, "hbm-cold", false, false});
  for (double mib : l2_mib) cs.push_back({"read", (size_t)(mib * MiB), true, "l2", false, false});
  for (double mib : sizes_mib)
    if (mib >= 16) cs.push_back({"copy", (size_t)(mib * MiB), true, "memcpy", true, false});
  return cs;
}

static const char* impl_name(const Case& c, std::string& buf) {
  if (c.memcpy_impl) return "cudaMemcpyAsync";
  buf = std::string(c.op) + "_k int4 grid-stride";
  return buf.c_str();
}

int main(int argc, char** argv) {
  const bool quick = has_flag(argc, argv, "--quick");
  const std::vector<double> held = parse_mib(arg_val(argc, argv, "--mib", ""));
  if (has_flag(argc, argv, "--mib") && held.empty()) {
    fprintf(stderr, "usage: bw [--out FILE] [--quick] [--mib A,B,...] [--list]\n");
    return 2;
  }
  const std::vector<Case> cases = make_cases(quick, held);
  const char* lc = getenv("HEADROOM_LIST_CASES");
  if (has_flag(argc, argv, "--list") || (lc && !strcmp(lc, "1"))) {
    std::string buf;
    for (const Case& c : cases)
      printf("%s %zu %s %s %s\n", c.op, c.bytes, c.warm ? "true" : "false", c.suite, impl_name(c, buf));
    return 0;
  }
  try {
    init_output(argc, argv, "bw");
  } catch (std::exception& e) {
    fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  g_sms = prop.multiProcessorCount;
  const size_t MiB = 1ull << 20;
  const size_t pool_bytes = 512 * MiB;
  auto rotated = [&](size_t bytes) { return std::max<size_t>(2, (pool_bytes + bytes - 1) / bytes); };
  size_t maxb = 0;
  if (held.empty()) {  // the largest warm buffer, and the cold pool plus one buffer (<= 128 MiB)
    for (const Case& c : cases) maxb = std::max(maxb, c.bytes);
    maxb = std::max(maxb, pool_bytes + 128 * MiB);
  } else {
    for (const Case& c : cases) maxb = std::max(maxb, rotated(c.bytes) * c.bytes);
  }
  int4 *A = nullptr, *B = nullptr;
  unsigned* part = nullptr;
  CK(cudaMalloc(&A, maxb));
  CK(cudaMalloc(&B, maxb));
  CK(cudaMalloc(&part, sizeof(unsigned) * g_sms * 8));
  fill_u32<<<g_sms * 8, 256>>>((uint32_t*)A, maxb / 4, 1);
  fill_u32<<<g_sms * 8, 256>>>((uint32_t*)B, maxb / 4, 2);
  CKL();
  CK(cudaDeviceSynchronize());

  // ---- correctness on the first buffer at `bytes` (read sum, copy, write pattern); throws
  auto check = [&](size_t bytes) {
    size_t n = bytes / 16;
    int g = grid_for(n);
    read_k<<<g, TPB>>>(A, n, part);
    CKL();
    std::vector<unsigned> hp(g), hA(n * 4);
    CK(cudaMemcpy(hp.data(), part, g * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(hA.data(), A, n * 16, cudaMemcpyDeviceToHost));
    unsigned gs = 0, hs = 0;
    for (unsigned v : hp) gs += v;
    for (unsigned v : hA) hs += v;
    if (gs != hs) throw std::runtime_error("read check failed");
    copy_k<<<g, TPB>>>(A, B, n);
    CKL();
    std::vector<unsigned> hB(n * 4);
    CK(cudaMemcpy(hB.data(), B, n * 16, cudaMemcpyDeviceToHost));
    if (memcmp(hA.data(), hB.data(), n * 16)) throw std::runtime_error("copy check failed");
    write_k<<<g, TPB>>>(B, n, 0x1234567);
    CKL();
    std::vector<int4> hw(n);
    CK(cudaMemcpy(hw.data(), B, n * 16, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < n; i += 997) {
      int4 e = make_int4((int)i ^ 0x1234567, 0x1234567, (int)(i >> 2), ~0x1234567);
      if (hw[i].x != e.x || hw[i].y != e.y || hw[i].z != e.z || hw[i].w != e.w)
        throw std::runtime_error("write check failed");
    }
    fill_u32<<<g_sms * 8, 256>>>((uint32_t*)B, maxb / 4, 2);
    CK(cudaDeviceSynchronize());
  };
  if (held.empty()) {  // the fixed series: once, at 64 MiB
    try {
      check(64 * MiB);
      fprintf(stderr, "bw: correctness checks passed (read sum, copy, write at 64 MiB)\n");
    } catch (std::exception& e) {
      fprintf(stderr, "bw: CHECK FAILED: %s\n", e.what());
      return 1;
    }
  }

  auto run_case = [&](const Case& cs) {
    const char* op = cs.op;
    const size_t bytes = cs.bytes;
    const bool warm = cs.warm, memcpy_impl = cs.memcpy_impl;
    const char* suite = cs.suite;
    try {
      size_t n = bytes / 16;
      int g = grid_for(n);
      size_t nb = 1;
      if (!warm) nb = rotated(bytes);
      std::function<void(int)> fn;
      std::string o = op;
      if (o == "read")
        fn = [&, n, g, nb](int c) { read_k<<<g, TPB, 0, g_st>>>(A + (c % nb) * n, n, part); };
      else if (o == "write")
        fn = [&, n, g, nb](int c) { write_k<<<g, TPB, 0, g_st>>>(B + (c % nb) * n, n, c); };
      else if (memcpy_impl)
        fn = [&, n, bytes, nb](int c) { cudaMemcpyAsync(B + (c % nb) * n, A + (c % nb) * n, bytes, cudaMemcpyDeviceToDevice, g_st); };
      else
        fn = [&, n, g, nb](int c) { copy_k<<<g, TPB, 0, g_st>>>(A + (c % nb) * n, B + (c % nb) * n, n); };
      int maxr = warm ? 200 : (int)std::min<size_t>(200, nb * 4);
      Stats s = bench(fn, 3, 10, std::max(10, maxr), 0.04, kHostUs);
      double gms = s.med < 0.25 ? graph_per_call(fn, 50) : -1;
      double moved = (o == "copy" ? 2.0 : 1.0) * bytes;
      std::string ibuf;
      JLine j;
      j.str("op", op).i64("bytes", (long long)bytes).boolean("warm_l2", warm);
      add_stats(j, s);
      j.str("impl", impl_name(cs, ibuf)).str("suite", suite).str("timing", "queued");
      if (!held.empty()) j.str("issue", "cuda");
      j.num("gbs", moved / (s.med * 1e-3) / 1e9);
      if (!warm) j.i64("rotate_buffers", (long long)nb);
      if (gms > 0) j.num("ms_graph", gms);
      if (!strcmp(suite, "l2")) {
        int passes = 40;
        int gl2 = g_sms * 8;
        auto fm = [&, n, passes, gl2](int) { read_passes_k<<<gl2, TPB, 0, g_st>>>(A, n, passes, part); };
        Stats m = bench(fm, 2, 10, 20, 0.02, kHostUs);
        j.num("l2_multipass_gbs", (double)bytes * passes / (m.med * 1e-3) / 1e9);
      }
      emit(j);
      return true;
    } catch (std::exception& e) {
      fprintf(stderr, "bw: case %s %zu failed: %s\n", op, bytes, e.what());
      cudaGetLastError();
      return false;
    }
  };

  if (held.empty()) {
    // diagnostics (stderr): what an event pair around one tiny kernel costs
    std::function<void(int)> fe = [&](int) { empty_k<<<1, 32, 0, g_st>>>(); };
    Stats a = bench(fe, 3, 50, 200, 0.01, kHostUs);
    Stats a2 = bench(fe, 3, 50, 200, 0.01, 50.0);
    double gg = graph_per_call(fe, 100);
    fprintf(stderr, "bw diag: empty kernel, per-call events queued: median %.2f us (p10 %.2f), with 4x spin: %.2f us; in a graph: %.2f us per kernel\n",
            a.med * 1e3, a.p10 * 1e3, a2.med * 1e3, gg * 1e3);
  }
  int ok = 0, failed = 0;
  size_t skip = 0;  // --mib: a size whose check failed
  for (const Case& c : cases) {
    if (c.check_first) {
      skip = 0;
      try {
        check(c.bytes);
      } catch (std::exception& e) {
        fprintf(stderr, "bw: %.0f MiB CHECK FAILED: %s\n", (double)c.bytes / MiB, e.what());
        skip = c.bytes;
      }
    }
    if (skip && c.bytes == skip) {
      ++failed;
      continue;
    }
    (run_case(c) ? ok : failed) += 1;
  }
  fprintf(stderr, "bw: done, %d ok, %d failed\n", ok, failed);
  return 0;
}
