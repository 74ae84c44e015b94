// Held-out bandwidth cases: the committed bw.cu kernels (read_k, write_k, copy_k) and timing,
// at a list of sizes given on the command line instead of bw.cu's fixed series.
// Every size is rotated through a >= 512 MiB pool, at least 2 buffers (warm_l2=false), as bw.cu's
// "hbm-cold" series does (there only for sizes <= 128 MiB). Emits suite "heldout-cold".
// Usage: bw_sizes --mib 5,20,56,200 [--out FILE]
// bw.cu is compiled in unchanged; its main() is renamed and not called.
#define main bw_fixed_series_main
#include "bw.cu"
#undef main

#include <sstream>

int main(int argc, char** argv) {
  try {
    init_output(argc, argv, "bw_sizes");
  } catch (std::exception& e) {
    fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  std::vector<double> sizes_mib;
  {
    std::stringstream ss(arg_val(argc, argv, "--mib", ""));
    std::string t;
    while (std::getline(ss, t, ','))
      if (!t.empty()) sizes_mib.push_back(atof(t.c_str()));
  }
  if (sizes_mib.empty()) {
    fprintf(stderr, "usage: bw_sizes --mib A,B,... [--out FILE]\n");
    return 2;
  }
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  g_sms = prop.multiProcessorCount;
  const size_t MiB = 1ull << 20;
  const size_t pool_bytes = 512 * MiB;
  size_t maxb = 0;
  for (double mib : sizes_mib) {
    size_t b = (size_t)(mib * MiB);
    size_t nb = std::max<size_t>(2, (pool_bytes + b - 1) / b);
    maxb = std::max(maxb, nb * b);
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

  // ---- correctness, once per size on the first buffer (read sum, copy, write pattern)
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

  const char* ops[3] = {"read", "write", "copy"};
  int ok = 0, failed = 0;
  for (double mib : sizes_mib) {
    size_t bytes = (size_t)(mib * MiB);
    try {
      check(bytes);
    } catch (std::exception& e) {
      fprintf(stderr, "bw_sizes: %.0f MiB CHECK FAILED: %s\n", mib, e.what());
      failed += 3;
      continue;
    }
    for (const char* op : ops) {
      try {
        size_t n = bytes / 16;
        int g = grid_for(n);
        size_t nb = std::max<size_t>(2, (pool_bytes + bytes - 1) / bytes);
        std::function<void(int)> fn;
        std::string o = op;
        if (o == "read")
          fn = [&, n, g, nb](int c) { read_k<<<g, TPB, 0, g_st>>>(A + (c % nb) * n, n, part); };
        else if (o == "write")
          fn = [&, n, g, nb](int c) { write_k<<<g, TPB, 0, g_st>>>(B + (c % nb) * n, n, c); };
        else
          fn = [&, n, g, nb](int c) { copy_k<<<g, TPB, 0, g_st>>>(A + (c % nb) * n, B + (c % nb) * n, n); };
        int maxr = (int)std::min<size_t>(200, nb * 4);
        Stats s = bench(fn, 3, 10, std::max(10, maxr), 0.04, kHostUs);
        double gms = s.med < 0.25 ? graph_per_call(fn, 50) : -1;
        double moved = (o == "copy" ? 2.0 : 1.0) * bytes;
        JLine j;
        j.str("op", op).i64("bytes", (long long)bytes).boolean("warm_l2", false);
        add_stats(j, s);
        j.str("impl", o + "_k int4 grid-stride")
            .str("suite", "heldout-cold")
            .str("timing", "queued")
            .str("issue", "cuda")
            .num("gbs", moved / (s.med * 1e-3) / 1e9)
            .i64("rotate_buffers", (long long)nb);
        if (gms > 0) j.num("ms_graph", gms);
        emit(j);
        ++ok;
      } catch (std::exception& e) {
        ++failed;
        fprintf(stderr, "bw_sizes: case %s %zu failed: %s\n", op, bytes, e.what());
        cudaGetLastError();
      }
    }
  }
  fprintf(stderr, "bw_sizes: done, %d ok, %d failed\n", ok, failed);
  return 0;
}
