// Kernel launch costs: op=launch kind=empty (launch one empty kernel + stream sync, host
// wall time) and kind=gap (1000 empty kernels back to back between two events, per kernel),
// also gap through a CUDA graph of 1000 empty kernels (impl=cuda-graph).
// Usage: launch [--out FILE] [--quick]
#include "common.h"

__global__ void empty_k() {}

int main(int argc, char** argv) {
  try {
    init_output(argc, argv, "launch");
    bool quick = has_flag(argc, argv, "--quick");
    cudaStream_t st;
    CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    // empty: launch + sync, host wall clock
    for (int grid : {1, 132}) {
      int reps = quick ? 200 : 3000;
      for (int i = 0; i < 300; ++i) {
        empty_k<<<grid, 32, 0, st>>>();
        CK(cudaStreamSynchronize(st));
      }
      std::vector<double> t(reps);
      for (int i = 0; i < reps; ++i) {
        double t0 = now_s();
        empty_k<<<grid, 32, 0, st>>>();
        CK(cudaStreamSynchronize(st));
        t[i] = (now_s() - t0) * 1e3;
      }
      CKL();
      Stats s = stats_of(t);
      JLine j;
      j.str("op", "launch").str("kind", "empty");
      add_stats(j, s);
      j.i64("grid", grid).i64("block", 32).str("impl", "cuda-runtime <<<>>> + cudaStreamSynchronize").str("timing", "host-wall");
      emit(j);
    }
    // gap: N back-to-back launches between events
    const int N = 1000;
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int grid : {1, 132}) {
      int reps = quick ? 5 : 30;
      std::vector<double> t;
      for (int r = 0; r < reps + 3; ++r) {
        CK(cudaEventRecord(e0, st));
        for (int i = 0; i < N; ++i) empty_k<<<grid, 32, 0, st>>>();
        CK(cudaEventRecord(e1, st));
        CK(cudaEventSynchronize(e1));
        CKL();
        float ms;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        if (r >= 3) t.push_back(ms / N);
      }
      Stats s = stats_of(t);
      JLine j;
      j.str("op", "launch").str("kind", "gap");
      add_stats(j, s);
      j.i64("grid", grid).i64("block", 32).i64("kernels_per_rep", N).str("impl", "cuda-runtime <<<>>>").str("timing", "events-per-1000");
      emit(j);
    }
    // gap through a CUDA graph
    {
      cudaGraph_t g;
      cudaGraphExec_t ge;
      CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
      for (int i = 0; i < N; ++i) empty_k<<<1, 32, 0, st>>>();
      CK(cudaStreamEndCapture(st, &g));
      CK(cudaGraphInstantiate(&ge, g, 0));
      std::vector<double> t;
      int reps = quick ? 5 : 30;
      for (int r = 0; r < reps + 3; ++r) {
        CK(cudaEventRecord(e0, st));
        CK(cudaGraphLaunch(ge, st));
        CK(cudaEventRecord(e1, st));
        CK(cudaEventSynchronize(e1));
        float ms;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        if (r >= 3) t.push_back(ms / N);
      }
      Stats s = stats_of(t);
      JLine j;
      j.str("op", "launch").str("kind", "gap");
      add_stats(j, s);
      j.i64("grid", 1).i64("block", 32).i64("kernels_per_rep", N).str("impl", "cuda-graph").str("issue", "graph").str("timing", "events-per-1000");
      emit(j);
    }
    fprintf(stderr, "launch: done\n");
  } catch (std::exception& e) {
    fprintf(stderr, "launch: FAILED: %s\n", e.what());
    return 1;
  }
  return 0;
}
