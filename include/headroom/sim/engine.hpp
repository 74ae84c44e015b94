#pragma once
// The event-driven core of the cycle-approximate model: kernels (KernelPlans) on streams, their
// CTAs dispatched to SMs in groups (a wave of identical CTAs that start together on free SMs
// finishes together, so one group stands for many CTAs and a tail wave is its own group), and
// the groups' memory traffic sharing each bandwidth resource (processor sharing weighted by CTAs,
// with per-CTA caps: water-filling). Time is integer ticks (sim/ticks.hpp). No global state; the
// result depends only on the inputs (ties break by insertion order).
#include <cstdint>
#include <queue>
#include <vector>

#include "headroom/sim/kernel_plan.hpp"

namespace headroom::sim {

struct KernelRecord {
  Tick start = kNever;     // preconditions met, launch gap begins
  Tick dispatch = kNever;  // first CTA on an SM
  Tick end = kNever;       // last CTA done
  int groups = 0;          // CTA groups dispatched (a lone kernel: its waves)
};

struct OpRecord {
  Tick start = kNever;  // its first kernel's start
  Tick end = kNever;    // its last kernel's end
  int stream = 0;
};

class Engine {
 public:
  explicit Engine(const SimMachine& m);

  // A stream; among kernels waiting for SMs, a higher priority stream's dispatch first, then the
  // earliest ready.
  int add_stream(int priority = 0);
  // The host issues kernels in the order they were added, `issue` ticks each (the first at
  // `issue`; library launches free); after an op with syncs it waits for the op's end plus `sync` per sync. Without
  // this call the GPU is assumed fed (kernels wait only for streams and dependencies).
  void set_host(Tick issue, Tick sync);
  // An op: its kernels run in order on `stream`, the first after all ops in deps have ended.
  int add_op(int stream, const int* deps, int ndeps, int syncs = 0);
  // Appends a kernel to the last op added.
  void add_kernel(const KernelPlan& k);

  // Runs to completion. Throws InputError when a kernel can never start (a dependency cycle).
  void run();

  [[nodiscard]] Tick end() const { return end_; }
  [[nodiscard]] const std::vector<OpRecord>& ops() const { return op_rec_; }
  [[nodiscard]] const std::vector<KernelRecord>& kernels() const { return k_rec_; }
  [[nodiscard]] const KernelPlan& plan(int kernel) const { return k_[kernel].plan; }
  // Time-averaged busy SMs / SMs over [0, end].
  [[nodiscard]] double sm_utilization() const;
  // Bytes moved (at nominal rate) / (capacity x end): 1 = saturated for the whole run.
  [[nodiscard]] double utilization(Resource r) const;
  [[nodiscard]] int64_t events() const { return events_; }
  [[nodiscard]] const SimMachine& machine() const { return m_; }

 private:
  enum Kind : uint32_t { HostIssue, LaunchDone, FlowStart, ComputeDone };
  struct Event {
    Tick t;
    uint64_t seq;
    uint32_t kind;
    int32_t id;
    bool operator>(const Event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
  };
  struct Kern {
    KernelPlan plan;
    int op = 0, stream = 0;
    int wait = 0;
    int next_on_stream = -1;
    int64_t pending = 0, running = 0;
    int64_t cycles = 0;     // compute of one CTA (one work unit) with a whole SM
    int64_t units = 1;      // work units of a light CTA (persistent kernels)
    int64_t heavy = 0;      // CTAs not yet dispatched that take units + 1 (dispatched first)
    double cap_tick = 0;    // per-CTA cap, bytes/tick (0 = none)
    Tick ready = 0;
  };
  struct Op {
    int first = -1, last = -1;
    int syncs = 0;
    int deps = 0;
  };
  struct Group {
    int kernel;
    int sms;
    int64_t ctas;
    Tick compute;      // compute + pipeline of its most loaded SM
    double bytes;      // total demand
    double remaining;
    double rate = 0;   // bytes/tick for the whole group
    Tick flow_end = kNever;
    bool compute_done = false, mem_done = false;
  };

  void push(Tick t, Kind k, int id) { heap_.push(Event{t, seq_++, k, id}); }
  [[nodiscard]] Tick issue_time(int k) const {
    return k_[k].plan.library_launch ? 0 : host_issue_ + k_[k].plan.host_extra;
  }
  void release(int k);
  void launch_done(int k);
  void kernel_done(int k);
  void group_done(int g);
  void start_flow(int g);
  void dispatch();
  void advance(Tick t);
  void finish_flows();
  void recompute_rates();

  SimMachine m_;
  double cap_tick_[kResources] = {0, 0, 0};  // bytes per tick
  std::vector<int> stream_prio_, stream_last_;
  std::vector<Kern> k_;
  std::vector<KernelRecord> k_rec_;
  std::vector<Op> ops_;
  std::vector<OpRecord> op_rec_;
  std::vector<std::pair<int, int>> edges_;  // (dep op, op)
  std::vector<int> succ_off_, succ_;
  bool host_ = false;
  Tick host_issue_ = 0, host_sync_ = 0;
  int host_blocked_on_ = -1, host_next_ = 0;

  std::priority_queue<Event, std::vector<Event>, std::greater<>> heap_;
  uint64_t seq_ = 0;
  std::vector<Group> groups_;
  std::vector<int> ready_;    // kernels with CTAs to dispatch, in dispatch order
  std::vector<int> flowing_;  // groups with memory in flight
  std::vector<int> scratch_;
  Tick now_ = 0, end_ = 0, next_flow_ = kNever;
  int free_sms_ = 0;
  bool dispatch_needed_ = false, rates_dirty_ = false;
  int64_t events_ = 0;
  double sm_busy_ = 0;  // SM x ticks (a ratio's numerator: double is exact to 2^53)
  double moved_[kResources] = {0, 0, 0};
};

}  // namespace headroom::sim
