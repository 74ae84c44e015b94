// Shared helpers for the headroom CUDA microbenchmarks: error checks, JSON lines,
// statistics, random fill, and "queued" event timing (a spin kernel holds the GPU
// while the host enqueues all timed reps, so each event pair measures GPU time only).
#pragma once
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#define CK(x)                                                                              \
  do {                                                                                     \
    cudaError_t e_ = (x);                                                                  \
    if (e_ != cudaSuccess) {                                                               \
      char b_[512];                                                                        \
      snprintf(b_, sizeof b_, "CUDA error %s at %s:%d: %s", #x, __FILE__, __LINE__,       \
               cudaGetErrorString(e_));                                                    \
      throw std::runtime_error(b_);                                                        \
    }                                                                                      \
  } while (0)

#define CKL() CK(cudaGetLastError())

static inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// ---------------------------------------------------------------- JSON line builder
struct JLine {
  std::string s = "{";
  bool first = true;
  void key(const char* k) {
    if (!first) s += ",";
    first = false;
    s += "\"";
    s += k;
    s += "\":";
  }
  JLine& str(const char* k, const std::string& v) {
    key(k);
    s += "\"";
    for (char c : v) {
      if (c == '"' || c == '\\') s += '\\';
      s += c;
    }
    s += "\"";
    return *this;
  }
  JLine& i64(const char* k, long long v) {
    key(k);
    s += std::to_string(v);
    return *this;
  }
  JLine& num(const char* k, double v) {
    key(k);
    char b[64];
    snprintf(b, sizeof b, "%.6g", v);
    s += b;
    return *this;
  }
  JLine& boolean(const char* k, bool v) {
    key(k);
    s += v ? "true" : "false";
    return *this;
  }
  std::string done() const { return s + "}"; }
};

static FILE* g_out = stdout;
static cudaStream_t g_st = nullptr;  // all timed work goes to this non-blocking stream
static std::string g_gpu = "unknown";
static const char* kHw = "h200-sxm";

static void emit(JLine& j) {
  j.str("hw", kHw).str("gpu", g_gpu);
  fprintf(g_out, "%s\n", j.done().c_str());
  fflush(g_out);
}

static void init_output(int argc, char** argv, const char* program) {
  for (int i = 1; i < argc; ++i)
    if (!strcmp(argv[i], "--out") && i + 1 < argc) {
      g_out = fopen(argv[i + 1], "a");
      if (!g_out) {
        perror("fopen");
        exit(1);
      }
    }
  cudaDeviceProp p;
  CK(cudaGetDeviceProperties(&p, 0));
  g_gpu = p.name;
  CK(cudaStreamCreateWithFlags(&g_st, cudaStreamNonBlocking));
  int drv = 0, rt = 0;
  cudaDriverGetVersion(&drv);
  cudaRuntimeGetVersion(&rt);
  time_t t = time(nullptr);
  char date[64];
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
  fprintf(g_out,
          "# env {\"program\":\"%s\",\"gpu\":\"%s\",\"sms\":%d,\"l2_bytes\":%d,\"cc\":\"%d.%d\","
          "\"cuda_driver_api\":%d,\"cuda_runtime\":%d,\"date\":\"%s\"}\n",
          program, p.name, p.multiProcessorCount, p.l2CacheSize, p.major, p.minor, drv, rt, date);
  fflush(g_out);
}

static bool has_flag(int argc, char** argv, const char* f) {
  for (int i = 1; i < argc; ++i)
    if (!strcmp(argv[i], f)) return true;
  return false;
}
static const char* arg_val(int argc, char** argv, const char* f, const char* def) {
  for (int i = 1; i + 1 < argc; ++i)
    if (!strcmp(argv[i], f)) return argv[i + 1];
  return def;
}

// ---------------------------------------------------------------- statistics
struct Stats {
  double med = 0, p10 = 0, p90 = 0;
  int reps = 0;
};
static double pct(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  double pos = q * (v.size() - 1);
  size_t lo = (size_t)pos;
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}
static Stats stats_of(const std::vector<double>& v) {
  Stats s;
  s.med = pct(v, 0.5);
  s.p10 = pct(v, 0.1);
  s.p90 = pct(v, 0.9);
  s.reps = (int)v.size();
  return s;
}
static void add_stats(JLine& j, const Stats& s) {
  j.num("ms", s.med).num("ms_p10", s.p10).num("ms_p90", s.p90).i64("reps", s.reps);
}

// ---------------------------------------------------------------- random fill
__host__ __device__ inline uint32_t hash32(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return (uint32_t)x;
}
// uniform in [-1, 1)
__host__ __device__ inline float hash_unif(uint64_t i, uint64_t seed) {
  return (float)(hash32(i * 0x9E3779B97F4A7C15ULL + seed) >> 8) * (2.0f / 16777216.0f) - 1.0f;
}
template <typename T> __device__ inline T from_f(float f) { return (T)f; }
template <> __device__ inline __nv_bfloat16 from_f<__nv_bfloat16>(float f) { return __float2bfloat16(f); }
template <> __device__ inline __half from_f<__half>(float f) { return __float2half(f); }
template <> __device__ inline __nv_fp8_e4m3 from_f<__nv_fp8_e4m3>(float f) { return __nv_fp8_e4m3(f); }

template <typename T>
__global__ void fill_unif(T* p, size_t n, uint64_t seed, float scale) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    p[i] = from_f<T>(hash_unif(i, seed) * scale);
}
__global__ void fill_u32(uint32_t* p, size_t n, uint64_t seed) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    p[i] = hash32(i + seed * 0x100000001B3ULL) | 1u;  // never zero
}

// ---------------------------------------------------------------- spin kernel + queued timing
__global__ void spin_kernel(unsigned long long ns) {
  unsigned long long t0, t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
  do {
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  } while (t - t0 < ns);
}

struct EventPool {
  std::vector<cudaEvent_t> ev;
  void ensure(size_t n) {
    while (ev.size() < n) {
      cudaEvent_t e;
      CK(cudaEventCreate(&e));
      ev.push_back(e);
    }
  }
};
static EventPool g_events;
// Running call counter: fn() gets a number that never repeats, so buffer rotation never
// restarts at a buffer that was used just before (and may still sit in L2).
static long long g_call = 0;

// Time `reps` calls of fn(i) (i = running call number, for buffer rotation) with one event pair each.
// If `queued`, a spin kernel of spin_us microseconds is launched first so the host can enqueue
// everything before the GPU reaches it: each pair then brackets GPU work only.
static Stats time_reps(const std::function<void(int)>& fn, int reps, bool queued, double spin_us,
                       cudaStream_t st = g_st) {
  g_events.ensure(2 * reps);
  if (queued) {
    spin_kernel<<<1, 1, 0, st>>>((unsigned long long)(spin_us * 1000.0));
    CKL();
  }
  for (int r = 0; r < reps; ++r) {
    CK(cudaEventRecord(g_events.ev[2 * r], st));
    fn((int)(g_call++ & 0x3fffffff));
    CK(cudaEventRecord(g_events.ev[2 * r + 1], st));
  }
  CK(cudaStreamSynchronize(st));
  CKL();
  std::vector<double> t(reps);
  for (int r = 0; r < reps; ++r) {
    float ms;
    CK(cudaEventElapsedTime(&ms, g_events.ev[2 * r], g_events.ev[2 * r + 1]));
    t[r] = ms;
  }
  return stats_of(t);
}

// Warm up, estimate the per-call time, pick reps so that the timed region is ~target_s,
// then time in queued mode.
static Stats bench(const std::function<void(int)>& fn, int warmup, int min_reps, int max_reps,
                   double target_s, double host_us_per_call, cudaStream_t st = g_st) {
  for (int i = 0; i < warmup; ++i) fn((int)(g_call++ & 0x3fffffff));
  CK(cudaStreamSynchronize(st));
  CKL();
  Stats est = time_reps(fn, 3, true, 3 * host_us_per_call + 100, st);
  double per = std::max(est.med, 1e-4);  // ms
  int reps = (int)std::lround(target_s * 1000.0 / per);
  reps = std::max(min_reps, std::min(max_reps, reps));
  double spin = reps * host_us_per_call + 200.0;
  return time_reps(fn, reps, true, spin, st);
}

// Per-call time when `ncalls` calls are captured back to back in one CUDA graph (the marginal
// cost of a call inside a graph / a model step, without per-call events): median over 7 replays
// of (replay time / ncalls). Returns -1 if capture fails.
static double graph_per_call(const std::function<void(int)>& fn, int ncalls, cudaStream_t st = g_st) {
  cudaGraph_t g = nullptr;
  cudaGraphExec_t ge = nullptr;
  double res = -1;
  try {
    CK(cudaStreamSynchronize(st));
    CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
    try {
      for (int i = 0; i < ncalls; ++i) fn((int)(g_call++ & 0x3fffffff));
    } catch (...) {
      cudaStreamEndCapture(st, &g);
      throw;
    }
    CK(cudaStreamEndCapture(st, &g));
    CK(cudaGraphInstantiate(&ge, g, 0));
    CK(cudaGraphLaunch(ge, st));
    CK(cudaStreamSynchronize(st));
    g_events.ensure(14);
    spin_kernel<<<1, 1, 0, st>>>(200000ull);
    for (int r = 0; r < 7; ++r) {
      CK(cudaEventRecord(g_events.ev[2 * r], st));
      CK(cudaGraphLaunch(ge, st));
      CK(cudaEventRecord(g_events.ev[2 * r + 1], st));
    }
    CK(cudaStreamSynchronize(st));
    std::vector<double> t(7);
    for (int r = 0; r < 7; ++r) {
      float ms;
      CK(cudaEventElapsedTime(&ms, g_events.ev[2 * r], g_events.ev[2 * r + 1]));
      t[r] = ms / ncalls;
    }
    res = pct(t, 0.5);
  } catch (std::exception& e) {
    fprintf(stderr, "graph_per_call: %s\n", e.what());
    cudaGetLastError();
  }
  if (ge) cudaGraphExecDestroy(ge);
  if (g) cudaGraphDestroy(g);
  return res;
}
