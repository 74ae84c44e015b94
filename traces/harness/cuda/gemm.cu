// cuBLASLt GEMM sweep: y[m,n] = x[m,k] . W[n,k]^T  (op=gemm, docs/trace-format.md).
// dtypes: bf16, fp16, fp8 (e4m3 in, bf16 out), tf32 (fp32 storage), fp32. Compute in fp32.
// Algorithm: cuBLASLt heuristic top-1 (what frameworks use), 64 MiB workspace.
// Weights are rotated through >= 256 MiB of copies (>= 4x L2) so they stream from HBM.
// Each case is checked once against a CPU double dot product on 64 sampled outputs.
// Usage: gemm --cases FILE [--out FILE] [--budget-s S] [--kernels]
//   case file lines: "<dtype> <m> <n> <k> <shape-tag>", '#' comments allowed.
//   --kernels: time nothing; per case, write what cuBLASLt's top-1 algorithm is (its config
//   attributes) and the kernels one call launches (names and grids, read with CUPTI's driver-API
//   callbacks), as {"gemm_kernels": ...} lines (traces/h200/profile/, not op records).
#include "common.h"
#include <cublasLt.h>
#include <cupti.h>
#include <fstream>
#include <sstream>

#define CKB(x)                                                                             \
  do {                                                                                     \
    cublasStatus_t s_ = (x);                                                               \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                                     \
      char b_[256];                                                                        \
      snprintf(b_, sizeof b_, "cuBLAS error %d at %s:%d (%s)", (int)s_, __FILE__, __LINE__, #x); \
      throw std::runtime_error(b_);                                                        \
    }                                                                                      \
  } while (0)

struct DT {
  cudaDataType_t ab, cd;
  cublasComputeType_t comp;
  size_t ab_size, cd_size;
  double tol;
};
static DT dtype_info(const std::string& d) {
  if (d == "bf16") return {CUDA_R_16BF, CUDA_R_16BF, CUBLAS_COMPUTE_32F, 2, 2, 2e-2};
  if (d == "fp16") return {CUDA_R_16F, CUDA_R_16F, CUBLAS_COMPUTE_32F, 2, 2, 1e-2};
  if (d == "fp8") return {CUDA_R_8F_E4M3, CUDA_R_16BF, CUBLAS_COMPUTE_32F, 1, 2, 2e-2};
  if (d == "tf32") return {CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32, 4, 4, 5e-3};
  if (d == "fp32") return {CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F, 4, 4, 1e-4};
  throw std::runtime_error("unknown dtype " + d);
}

static void fill(void* p, cudaDataType_t t, size_t n, uint64_t seed) {
  int g = 132 * 8;
  switch (t) {
    case CUDA_R_16BF: fill_unif<<<g, 256>>>((__nv_bfloat16*)p, n, seed, 1.0f); break;
    case CUDA_R_16F: fill_unif<<<g, 256>>>((__half*)p, n, seed, 1.0f); break;
    case CUDA_R_8F_E4M3: fill_unif<<<g, 256>>>((__nv_fp8_e4m3*)p, n, seed, 1.0f); break;
    case CUDA_R_32F: fill_unif<<<g, 256>>>((float*)p, n, seed, 1.0f); break;
    default: throw std::runtime_error("fill: bad type");
  }
  CKL();
}
static double to_d(const void* base, cudaDataType_t t, size_t i) {
  switch (t) {
    case CUDA_R_16BF: return (double)__bfloat162float(((const __nv_bfloat16*)base)[i]);
    case CUDA_R_16F: return (double)__half2float(((const __half*)base)[i]);
    case CUDA_R_8F_E4M3: return (double)(float)(((const __nv_fp8_e4m3*)base)[i]);
    case CUDA_R_32F: return (double)((const float*)base)[i];
    default: throw std::runtime_error("to_d: bad type");
  }
}
// a value that is not a plausible result, to see unwritten outputs
static void poison(void* p, cudaDataType_t t, size_t n) {
  if (t == CUDA_R_32F) fill_unif<<<132 * 8, 256>>>((float*)p, n, 77, 1e30f);
  else CK(cudaMemset(p, 0xFF, n * 2));  // NaN for bf16 / fp16
  CKL();
}

// Kernel launches seen by CUPTI while g_record is set: name and grid.
struct Launch {
  std::string name;
  unsigned gx, gy, gz, bx;
};
static std::vector<Launch> g_launches;
static bool g_record = false;
static void CUPTIAPI on_driver_api(void*, CUpti_CallbackDomain dom, CUpti_CallbackId id, const void* data) {
  if (!g_record || dom != CUPTI_CB_DOMAIN_DRIVER_API) return;
  const auto* cb = static_cast<const CUpti_CallbackData*>(data);
  if (cb->callbackSite != CUPTI_API_ENTER) return;
  Launch l{cb->symbolName ? cb->symbolName : "?", 0, 0, 0, 0};
  if (id == CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel || id == CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel_ptsz) {
    const auto* p = static_cast<const cuLaunchKernel_params*>(cb->functionParams);
    l.gx = p->gridDimX, l.gy = p->gridDimY, l.gz = p->gridDimZ, l.bx = p->blockDimX;
  } else if (id == CUPTI_DRIVER_TRACE_CBID_cuLaunchKernelEx || id == CUPTI_DRIVER_TRACE_CBID_cuLaunchKernelEx_ptsz) {
    const auto* p = static_cast<const cuLaunchKernelEx_params*>(cb->functionParams);
    l.gx = p->config->gridDimX, l.gy = p->config->gridDimY, l.gz = p->config->gridDimZ, l.bx = p->config->blockDimX;
  } else if (id == CUPTI_DRIVER_TRACE_CBID_cuLaunchCooperativeKernel ||
             id == CUPTI_DRIVER_TRACE_CBID_cuLaunchCooperativeKernel_ptsz) {
    const auto* p = static_cast<const cuLaunchCooperativeKernel_params*>(cb->functionParams);
    l.gx = p->gridDimX, l.gy = p->gridDimY, l.gz = p->gridDimZ, l.bx = p->blockDimX;
  } else {
    return;
  }
  g_launches.push_back(l);
}
static void cupti_start() {
  CUpti_SubscriberHandle sub;
  if (cuptiSubscribe(&sub, (CUpti_CallbackFunc)on_driver_api, nullptr) != CUPTI_SUCCESS ||
      cuptiEnableDomain(1, sub, CUPTI_CB_DOMAIN_DRIVER_API) != CUPTI_SUCCESS)
    fprintf(stderr, "gemm: CUPTI callbacks unavailable; kernel names will be empty\n");
}
static long long algo_attr(const cublasLtMatmulAlgo_t& a, cublasLtMatmulAlgoConfigAttributes_t what) {
  uint64_t v = 0;  // attributes are 16-64 bit; zero-filled so a narrower one reads right
  size_t got = 0;
  if (cublasLtMatmulAlgoConfigGetAttribute(&a, what, &v, sizeof v, &got) != CUBLAS_STATUS_SUCCESS) return -1;
  return (long long)v;
}

struct Case {
  std::string dtype, tag;
  long long m, n, k;
};

int main(int argc, char** argv) {
  try {
    init_output(argc, argv, "gemm");
  } catch (std::exception& e) {
    fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  const char* cf = arg_val(argc, argv, "--cases", nullptr);
  double budget = atof(arg_val(argc, argv, "--budget-s", "1e9"));
  const bool kernels = has_flag(argc, argv, "--kernels");
  if (kernels) cupti_start();
  if (!cf) {
    fprintf(stderr, "usage: gemm --cases FILE [--out FILE] [--budget-s S] [--kernels]\n");
    return 2;
  }
  std::vector<Case> cases;
  {
    std::ifstream in(cf);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream ss(line);
      Case c;
      if (ss >> c.dtype >> c.m >> c.n >> c.k >> c.tag) cases.push_back(c);
    }
  }
  fprintf(stderr, "gemm: %zu cases\n", cases.size());
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  const size_t rot_bytes = 256ull << 20;
  cublasLtHandle_t lt;
  CKB(cublasLtCreate(&lt));
  size_t ws_size = 64ull << 20;
  void* ws;
  CK(cudaMalloc(&ws, ws_size));
  double t_start = now_s();
  int done = 0, failed = 0;
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const Case& c = cases[ci];
    if (now_s() - t_start > budget) {
      fprintf(stderr, "gemm: budget of %.0f s reached, skipping the remaining %zu cases\n", budget, cases.size() - ci);
      break;
    }
    void *X = nullptr, *W = nullptr, *Y = nullptr;
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t Ad = nullptr, Bd = nullptr, Cd = nullptr;
    cublasLtMatmulPreference_t pref = nullptr;
    try {
      DT t = dtype_info(c.dtype);
      size_t wbytes = (size_t)c.n * c.k * t.ab_size;
      size_t nw = std::max<size_t>(2, (rot_bytes + wbytes - 1) / wbytes);
      CK(cudaMalloc(&X, (size_t)c.m * c.k * t.ab_size));
      CK(cudaMalloc(&W, wbytes * nw));
      CK(cudaMalloc(&Y, (size_t)c.m * c.n * t.cd_size));
      fill(X, t.ab, (size_t)c.m * c.k, 1000 + ci);
      fill(W, t.ab, (size_t)c.n * c.k * nw, 5000 + ci);
      poison(Y, t.cd, (size_t)c.m * c.n);
      CK(cudaDeviceSynchronize());
      // Column-major view: Y^T[n,m] = (W[n,k] as col-major k x n)^T . (X as col-major k x m)  ("TN")
      CKB(cublasLtMatmulDescCreate(&op, t.comp, CUDA_R_32F));
      cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
      CKB(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
      CKB(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
      CKB(cublasLtMatrixLayoutCreate(&Ad, t.ab, c.k, c.n, c.k));
      CKB(cublasLtMatrixLayoutCreate(&Bd, t.ab, c.k, c.m, c.k));
      CKB(cublasLtMatrixLayoutCreate(&Cd, t.cd, c.n, c.m, c.n));
      CKB(cublasLtMatmulPreferenceCreate(&pref));
      CKB(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_size, sizeof ws_size));
      cublasLtMatmulHeuristicResult_t heur;
      int nres = 0;
      CKB(cublasLtMatmulAlgoGetHeuristic(lt, op, Ad, Bd, Cd, Cd, pref, 1, &heur, &nres));
      if (nres < 1) throw std::runtime_error("no cuBLASLt algorithm");
      float alpha = 1.f, beta = 0.f;
      auto call = [&](int i) {
        const char* Wi = (const char*)W + (size_t)(i % nw) * wbytes;
        cublasStatus_t s = cublasLtMatmul(lt, op, &alpha, Wi, Ad, X, Bd, &beta, Y, Cd, Y, Cd, &heur.algo, ws, ws_size, g_st);
        if (s != CUBLAS_STATUS_SUCCESS) throw std::runtime_error("cublasLtMatmul failed " + std::to_string((int)s));
      };
      if (kernels) {  // one call, recorded; no timing
        call(0);
        CK(cudaDeviceSynchronize());
        g_launches.clear();
        g_record = true;
        call(1);
        CK(cudaDeviceSynchronize());
        g_record = false;
        JLine j;
        j.str("gemm_kernels", "cublaslt").i64("m", c.m).i64("n", c.n).i64("k", c.k).str("dtype", c.dtype).str("shape", c.tag);
        j.i64("algo_id", algo_attr(heur.algo, CUBLASLT_ALGO_CONFIG_ID))
            .i64("tile_id", algo_attr(heur.algo, CUBLASLT_ALGO_CONFIG_TILE_ID))
            .i64("stages_id", algo_attr(heur.algo, CUBLASLT_ALGO_CONFIG_STAGES_ID))
            .i64("splitk", algo_attr(heur.algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM))
            .i64("reduction", algo_attr(heur.algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME))
            .i64("swizzle", algo_attr(heur.algo, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING))
            .i64("cluster_id", algo_attr(heur.algo, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID))
            .i64("custom", algo_attr(heur.algo, CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION))
            .num("waves", heur.wavesCount)
            .i64("workspace", (long long)heur.workspaceSize)
            .i64("launches", (long long)g_launches.size());
        for (size_t q = 0; q < g_launches.size() && q < 4; ++q) {
          const Launch& l = g_launches[q];
          std::string kn = "k" + std::to_string(q);
          j.str(kn.c_str(), l.name)
              .i64((kn + "_grid").c_str(), (long long)l.gx * l.gy * l.gz)
              .str((kn + "_dims").c_str(), std::to_string(l.gx) + "x" + std::to_string(l.gy) + "x" +
                                                std::to_string(l.gz) + "/" + std::to_string(l.bx));
        }
        emit(j);
        ++done;
        goto next_case;
      }
      // ---- correctness: first weight copy, 64 sampled outputs vs CPU double
      call(0);
      CK(cudaDeviceSynchronize());
      {
        const int R = 8;
        std::vector<long long> rows(R), cols(R);
        for (int r = 0; r < R; ++r) {
          rows[r] = hash32(ci * 131 + r) % c.m;
          cols[r] = hash32(ci * 131 + r + 57) % c.n;
        }
        std::vector<char> xr(c.k * t.ab_size), wr(c.k * t.ab_size), yv(t.cd_size);
        std::vector<std::vector<double>> xs(R, std::vector<double>(c.k)), wsd(R, std::vector<double>(c.k));
        for (int r = 0; r < R; ++r) {
          CK(cudaMemcpy(xr.data(), (char*)X + (size_t)rows[r] * c.k * t.ab_size, c.k * t.ab_size, cudaMemcpyDeviceToHost));
          CK(cudaMemcpy(wr.data(), (char*)W + (size_t)cols[r] * c.k * t.ab_size, c.k * t.ab_size, cudaMemcpyDeviceToHost));
          for (long long q = 0; q < c.k; ++q) {
            xs[r][q] = to_d(xr.data(), t.ab, q);
            wsd[r][q] = to_d(wr.data(), t.ab, q);
          }
        }
        double num = 0, den = 0;
        bool bad = false;
        for (int a = 0; a < R; ++a)
          for (int b = 0; b < R; ++b) {
            double ref = 0;
            for (long long q = 0; q < c.k; ++q) ref += xs[a][q] * wsd[b][q];
            CK(cudaMemcpy(yv.data(), (char*)Y + ((size_t)rows[a] * c.n + cols[b]) * t.cd_size, t.cd_size, cudaMemcpyDeviceToHost));
            double y = to_d(yv.data(), t.cd, 0);
            if (!std::isfinite(y)) bad = true;
            num += (y - ref) * (y - ref);
            den += ref * ref;
          }
        double rel = std::sqrt(num / std::max(den, 1e-30));
        if (bad || !(rel <= t.tol)) {
          char b[256];
          snprintf(b, sizeof b, "correctness check failed: rel err %.3g (tol %.3g)%s", rel, t.tol, bad ? " non-finite" : "");
          throw std::runtime_error(b);
        }
      }
      Stats s = bench(call, 3, 10, 50, 0.12, 20.0);
      double gms = s.med < 0.25 ? graph_per_call(call, 20) : -1;
      JLine j;
      j.str("op", "gemm").i64("m", c.m).i64("n", c.n).i64("k", c.k).str("dtype", c.dtype);
      add_stats(j, s);
      j.boolean("warm_l2", false)
          .str("impl", "cublaslt")
          .str("shape", c.tag)
          .i64("rotate_buffers", (long long)nw)
          .str("timing", "queued")
          .num("tflops", 2.0 * c.m * c.n * c.k / (s.med * 1e-3) / 1e12);
      if (gms > 0) j.num("ms_graph", gms);
      emit(j);
      ++done;
    } catch (std::exception& e) {
      ++failed;
      fprintf(stderr, "gemm: case %s m=%lld n=%lld k=%lld (%s) failed: %s\n", c.dtype.c_str(), c.m, c.n, c.k, c.tag.c_str(), e.what());
      cudaGetLastError();
    }
  next_case:
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (Ad) cublasLtMatrixLayoutDestroy(Ad);
    if (Bd) cublasLtMatrixLayoutDestroy(Bd);
    if (Cd) cublasLtMatrixLayoutDestroy(Cd);
    if (op) cublasLtMatmulDescDestroy(op);
    cudaFree(X);
    cudaFree(W);
    cudaFree(Y);
  }
  fprintf(stderr, "gemm: done, %d ok, %d failed, %.1f s\n", done, failed, now_s() - t_start);
  return 0;
}
