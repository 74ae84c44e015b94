// NCCL collectives in the analytical model: LL vs simple protocol and the latency growth with
// the group, against hand-derived numbers (H200: 18 NVLinks x 25 GB/s = 450 GB/s per direction).
#include <gtest/gtest.h>

#include "headroom/core/error.hpp"
#include "headroom/cost/analytical.hpp"

using namespace headroom;

namespace {
AnalyticalCostModel pinned() {
  static HardwareSpec hw = [] {
    HardwareSpec h = HardwareSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/hw_configs/h200-sxm.yaml");
    KernelParams p = h.kernel_model.value_or(KernelParams{});
    p.collective_latency = 20e-6;
    p.collective_latency_gather = 24e-6;
    p.collective_latency_ll = 10e-6;
    p.collective_latency_growth = 0.25;            // per GPU beyond two
    p.collective_latency_growth_allreduce = 0.25;  // all-reduce grows as the others here (apart: below)
    p.collective_latency_growth_alltoall = 0.25;
    p.collective_bw_efficiency = 0.8;
    p.collective_bw_efficiency_gather = 0.7;
    p.collective_bw_efficiency_alltoall = 0;       // = the gathers'
    p.collective_ring_bw_loss_allreduce = 0;       // no ring loss here (apart: below)
    p.collective_ring_bw_loss = 0;
    p.collective_ll_bandwidth = 0.5;
    h.kernel_model = p;
    return h;
  }();
  return AnalyticalCostModel(hw);
}
double us(CollectiveKind k, int64_t gpus, double bytes) {
  return pinned().cost(make_collective("c", k, gpus, bytes, DType::BF16), IssueMode::Graph).time.value() * 1e6;
}
}  // namespace

TEST(Collective, SmallMessagesTakeTheLowLatencyProtocol) {
  // 8 KiB all-reduce on 2 GPUs: ring bus bytes 2(n-1)/n x 8192 = 8192 B.
  // LL: 10 us + 8192 / (450e9 x 0.8 x 0.5) = 10.0455 us; simple: 20.0228 us.
  EXPECT_NEAR(us(CollectiveKind::AllReduce, 2, 8192), 10 + 8192 / (450e9 * 0.8 * 0.5) * 1e6, 1e-6);
  // 4 GPUs: latency x (1 + 0.25 x (4 - 2)) = 15 us; bus bytes 1.5 x 8192.
  EXPECT_NEAR(us(CollectiveKind::AllReduce, 4, 8192), 15 + 1.5 * 8192 / (450e9 * 0.8 * 0.5) * 1e6, 1e-6);
  // 8 GPUs: six GPUs beyond 2: 10 x 2.5 = 25 us.
  EXPECT_NEAR(us(CollectiveKind::AllReduce, 8, 8192), 25 + 1.75 * 8192 / (450e9 * 0.8 * 0.5) * 1e6, 1e-6);
}

TEST(Collective, LargeMessagesTakeTheSimpleProtocol) {
  // 1 GiB all-gather input per rank on 4 GPUs: each rank receives 3 GiB.
  // simple: 24 x 1.5 = 36 us + 3 x 2^30 / (450e9 x 0.7) = 10226.1 us; LL would take twice the bytes' time.
  const double b = 1073741824.0;
  EXPECT_NEAR(us(CollectiveKind::AllGather, 4, b), 36 + 3 * b / (450e9 * 0.7) * 1e6, 1e-3);
  // all-reduce of 1 GiB on 2 GPUs: 20 + 2^30 / (450e9 x 0.8) us.
  EXPECT_NEAR(us(CollectiveKind::AllReduce, 2, b), 20 + b / (450e9 * 0.8) * 1e6, 1e-3);
}

TEST(Collective, AllReduceLatencyGrowsByItsOwnFraction) {
  // A ring all-reduce takes 2(g-1) steps, the other collectives g-1: its latency has its own growth.
  // pinned() with all-reduce growing 0.5 per GPU beyond two, the others 0.25:
  // 8 KiB all-reduce on 4 GPUs, LL: 10 x 2 = 20 us + 1.5 x 8192 / (450e9 x 0.8 x 0.5) s;
  // 8 GPUs: 10 x 4 = 40 us. An all-gather keeps 0.25: 8 KiB shard on 4 GPUs, LL: 15 us +
  // 3 x 8192 / (450e9 x 0.7 x 0.5) s.
  HardwareSpec hw = pinned().hardware();
  KernelParams p = *hw.kernel_model;
  p.collective_latency_growth_allreduce = 0.5;
  const AnalyticalCostModel m(hw, p);
  auto t_us = [&](CollectiveKind k, int64_t gpus) {
    return m.cost(make_collective("c", k, gpus, 8192, DType::BF16), IssueMode::Graph).time.value() * 1e6;
  };
  EXPECT_NEAR(t_us(CollectiveKind::AllReduce, 4), 20 + 1.5 * 8192 / (450e9 * 0.8 * 0.5) * 1e6, 1e-6);
  EXPECT_NEAR(t_us(CollectiveKind::AllReduce, 8), 40 + 1.75 * 8192 / (450e9 * 0.8 * 0.5) * 1e6, 1e-6);
  EXPECT_NEAR(t_us(CollectiveKind::AllReduce, 2), 10 + 8192 / (450e9 * 0.8 * 0.5) * 1e6, 1e-6);
  EXPECT_NEAR(t_us(CollectiveKind::AllGather, 4), 15 + 3 * 8192 / (450e9 * 0.7 * 0.5) * 1e6, 1e-6);
}

TEST(Collective, RingsReachLessOfTheLinkWithFewRanksAllToAllItsOwn) {
  // pinned() with ring losses 0.4 (all-reduce) and 0.8 (gathers), all-to-all at 0.9 with no
  // growth. 1 GiB, simple protocol:
  // all-reduce on 2 GPUs: 20 us + 2^30 / (450e9 x 0.8 x (1 - 0.4/2)); on 8: 20 x (1 + 0.25 x 6)
  // = 50 us + 1.75 x 2^30 / (450e9 x 0.8 x (1 - 0.4/8));
  // all-gather of a 1 GiB shard on 4 GPUs: 36 us + 3 x 2^30 / (450e9 x 0.7 x 0.8);
  // all-to-all on 8 GPUs: 24 us + (7/8) x 2^30 / (450e9 x 0.9), its latency flat.
  HardwareSpec hw = pinned().hardware();
  KernelParams p = *hw.kernel_model;
  p.collective_ring_bw_loss_allreduce = 0.4;
  p.collective_ring_bw_loss = 0.8;
  p.collective_bw_efficiency_alltoall = 0.9;
  p.collective_latency_growth_alltoall = 0;
  const AnalyticalCostModel m(hw, p);
  const double b = 1073741824.0;
  auto t_us = [&](CollectiveKind k, int64_t gpus) {
    return m.cost(make_collective("c", k, gpus, b, DType::BF16), IssueMode::Graph).time.value() * 1e6;
  };
  EXPECT_NEAR(t_us(CollectiveKind::AllReduce, 2), 20 + b / (450e9 * 0.8 * 0.8) * 1e6, 1e-3);
  EXPECT_NEAR(t_us(CollectiveKind::AllReduce, 8), 50 + 1.75 * b / (450e9 * 0.8 * 0.95) * 1e6, 1e-3);
  EXPECT_NEAR(t_us(CollectiveKind::AllGather, 4), 36 + 3 * b / (450e9 * 0.7 * 0.8) * 1e6, 1e-3);
  EXPECT_NEAR(t_us(CollectiveKind::AllToAll, 8), 24 + 0.875 * b / (450e9 * 0.9) * 1e6, 1e-3);
}

namespace {
// The H200 file with the eager host costs set by hand: 10 us per kernel issue, 24 us per
// collective call, 36 us more for a call among other work, 100% growth per doubling of the group.
AnalyticalCostModel eager_host() {
  static HardwareSpec hw = HardwareSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/hw_configs/h200-sxm.yaml");
  KernelParams p = hw.kernel_model.value_or(KernelParams{});
  p.host_issue_torch = 10e-6;
  p.collective_host_overhead = 24e-6;
  p.collective_host_in_step = 36e-6;
  p.collective_host_growth = 1.0;
  return AnalyticalCostModel(hw, p);
}
}  // namespace

TEST(Collective, EagerHostCostGrowsWithTheGroup) {
  // An eager torch.distributed call waits for the slowest rank's host: 24 us on 2 GPUs, growing by
  // 100% per doubling (the fitted value is near 1): 48 us on 4, 72 us on 8, nothing inside a graph.
  const AnalyticalCostModel m = eager_host();
  auto host_us = [&](int64_t gpus, IssueMode mode) {
    return m.host_time(make_collective("c", CollectiveKind::AllReduce, gpus, 4096, DType::BF16), mode).value() * 1e6;
  };
  EXPECT_NEAR(host_us(2, IssueMode::Torch), 10.0 + 24.0, 1e-9);
  EXPECT_NEAR(host_us(4, IssueMode::Torch), 10.0 + 48.0, 1e-9);
  EXPECT_NEAR(host_us(8, IssueMode::Torch), 10.0 + 72.0, 1e-9);
  EXPECT_NEAR(host_us(4, IssueMode::Graph), 0.0, 1e-12);
}

TEST(Collective, EagerCallCostsTheHostMoreAmongOtherWork) {
  // Measured (traces/h200x2/profile/tp_host.jsonl): 64 all-reduces paced like a decode step cost
  // the host ~36 us more each than 64 back to back. With eager_host()'s costs: alone 34 us on 2
  // GPUs; among other work 10 + 60 = 70 us on 2 GPUs, 10 + 120 = 130 us on 4.
  const AnalyticalCostModel m = eager_host();
  const Op c2 = make_collective("c", CollectiveKind::AllReduce, 2, 4096, DType::BF16);
  const Op c4 = make_collective("c", CollectiveKind::AllReduce, 4, 4096, DType::BF16);
  EXPECT_NEAR(m.host_time(c2, IssueMode::Torch).value() * 1e6, 34.0, 1e-9);
  EXPECT_NEAR(m.host_time_in_sequence(c2, IssueMode::Torch).value() * 1e6, 70.0, 1e-9);
  EXPECT_NEAR(m.host_time_in_sequence(c4, IssueMode::Torch).value() * 1e6, 130.0, 1e-9);
  EXPECT_NEAR(m.host_time_in_sequence(c4, IssueMode::Graph).value(), 0.0, 1e-12);
  // A step composes its ops in sequence; one op alone is issued back to back.
  EXPECT_NEAR(evaluate_ops({c2}, m, IssueMode::Torch).host_time.value() * 1e6, 34.0, 1e-9);
  EXPECT_NEAR(evaluate_ops({c2, c2}, m, IssueMode::Torch).host_time.value() * 1e6, 140.0, 1e-9);
}

TEST(Collective, ASlowerHostScalesEveryHostCost) {
  // eager_host()'s costs on a reference host whose probe reads 9 us; a host reading 13.5 us is
  // 1.5x slower at every host cost: kernel issue 15 us (torch), 4.5 us (C++ at 3 us), the 2-GPU
  // collective call 36 us, among other work 90 us; nothing inside a graph. No reference given:
  // no scaling, whatever host_probe reads.
  static HardwareSpec hw = HardwareSpec::from_yaml_file(HEADROOM_SOURCE_DIR "/hw_configs/h200-sxm.yaml");
  KernelParams p = hw.kernel_model.value_or(KernelParams{});
  p.host_issue_torch = 10e-6;
  p.host_issue_cuda = 3e-6;
  p.collective_host_overhead = 24e-6;
  p.collective_host_in_step = 36e-6;
  p.collective_host_growth = 1.0;
  p.host_probe_reference = 9e-6;
  p.host_probe = 13.5e-6;
  const AnalyticalCostModel m(hw, p);
  const Op c2 = make_collective("c", CollectiveKind::AllReduce, 2, 4096, DType::BF16);
  const Op c4 = make_collective("c", CollectiveKind::AllReduce, 4, 4096, DType::BF16);
  EXPECT_NEAR(m.host_issue_time(IssueMode::Torch).value() * 1e6, 15.0, 1e-9);
  EXPECT_NEAR(m.host_issue_time(IssueMode::Cuda).value() * 1e6, 4.5, 1e-9);
  EXPECT_NEAR(m.host_time(c2, IssueMode::Torch).value() * 1e6, 15.0 + 36.0, 1e-9);
  EXPECT_NEAR(m.host_time_in_sequence(c2, IssueMode::Torch).value() * 1e6, 15.0 + 90.0, 1e-9);
  EXPECT_NEAR(m.host_time(c4, IssueMode::Torch).value() * 1e6, 15.0 + 72.0, 1e-9);
  EXPECT_NEAR(m.host_time(c4, IssueMode::Graph).value(), 0.0, 1e-12);
  p.host_probe_reference = 0;
  EXPECT_NEAR(AnalyticalCostModel(hw, p).host_time(c2, IssueMode::Torch).value() * 1e6, 10.0 + 24.0, 1e-9);
}

TEST(Collective, GroupsBeyondOneNodeCrossTheNetwork) {
  // The H200 file: NVSwitch domains of 8 GPUs, one 400 Gb/s NIC per GPU (50 GB/s x 0.94 = 47 GB/s),
  // 9.6 us (simple) and 2.7 us (LL) per inter-node ring step. pinned(): latency growth 0.25 per GPU.
  // All-reduce of 1 GiB over 16 GPUs (2 nodes): 2 inter-node steps; the ring runs at the slower
  // fabric, the network's 47 GB/s: 20 x (1 + 0.25 x 14) = 90 us + 2 x 9.6 us + 2 (15/16) 2^30 / 47e9 s.
  const double b = 1073741824.0;
  EXPECT_NEAR(us(CollectiveKind::AllReduce, 16, b), 90 + 19.2 + 2 * 15.0 / 16 * b / 47e9 * 1e6, 1e-3);
  // All-to-all of 1 GiB over 16 GPUs: 1/16 to each peer; 7 on-node peers at 450e9 x 0.7, 8 off-node
  // at 47e9, at once: the network's 8/16 x 2^30 / 47e9 s sets the time, after 24 x 4.5 + 9.6 us.
  EXPECT_NEAR(us(CollectiveKind::AllToAll, 16, b), 108 + 9.6 + 0.5 * b / 47e9 * 1e6, 1e-3);
  // Eight GPUs stay on their node: no network term.
  EXPECT_NEAR(us(CollectiveKind::AllReduce, 8, b), 20 * 2.5 + 1.75 * b / (450e9 * 0.8) * 1e6, 1e-3);
  // A part whose file gives a domain and no network cannot hold a 16-GPU group: a clear error.
  HardwareSpec hw = pinned().hardware();
  hw.scale_out.reset();
  const AnalyticalCostModel m(hw, *hw.kernel_model);
  try {
    (void)m.cost(make_collective("c", CollectiveKind::AllReduce, 16, b, DType::BF16), IssueMode::Graph);
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("spans 2 scale-up domains of 8 GPUs, and the hardware file gives no "
                                         "interconnect.scale_out"),
              std::string::npos)
        << e.what();
  }
}
