#include "headroom/sim/engine.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "headroom/core/error.hpp"

namespace headroom::sim {

Engine::Engine(const SimMachine& m) : m_(m) {
  for (int r = 0; r < kResources; ++r) cap_tick_[r] = m.capacity[r] / static_cast<double>(kTicksPerSecond);
  free_sms_ = m.sms;
}

int Engine::add_stream(int priority) {
  stream_prio_.push_back(priority);
  stream_last_.push_back(-1);
  return static_cast<int>(stream_prio_.size()) - 1;
}

void Engine::set_host(Tick issue, Tick sync) {
  host_ = true;
  host_issue_ = issue;
  host_sync_ = sync;
}

int Engine::add_op(int stream, const int* deps, int ndeps, int syncs) {
  if (stream < 0 || stream >= static_cast<int>(stream_prio_.size()))
    throw InputError(fmt::format("cycle model: op on stream {} of {}", stream, stream_prio_.size()));
  const int id = static_cast<int>(ops_.size());
  Op o;
  o.syncs = syncs;
  o.deps = ndeps;
  for (int i = 0; i < ndeps; ++i) {
    if (deps[i] < 0 || deps[i] >= id) throw InputError("cycle model: an op depends on an op not added before it");
    edges_.emplace_back(deps[i], id);
  }
  ops_.push_back(o);
  OpRecord r;
  r.stream = stream;
  op_rec_.push_back(r);
  return id;
}

void Engine::add_kernel(const KernelPlan& plan) {
  if (ops_.empty()) throw InputError("cycle model: a kernel before any op");
  const int id = static_cast<int>(k_.size());
  const int op = static_cast<int>(ops_.size()) - 1;
  const int stream = op_rec_[op].stream;
  Kern k;
  k.plan = plan;
  k.plan.ctas_per_sm = std::max(1, plan.ctas_per_sm);
  k.op = op;
  k.stream = stream;
  k.pending = std::max<int64_t>(0, plan.ctas);
  k.cycles = std::max<int64_t>(0, plan.cta_cycles);
  if (k.pending > 0 && plan.work_units > k.pending) {
    k.units = plan.work_units / k.pending;
    k.heavy = plan.work_units % k.pending;
  }
  k.cap_tick = plan.cta_rate_cap / static_cast<double>(kTicksPerSecond);
  if (ops_[op].first < 0) {
    ops_[op].first = id;
    k.wait += ops_[op].deps;
  }
  ops_[op].last = id;
  if (stream_last_[stream] >= 0) {
    k_[stream_last_[stream]].next_on_stream = id;
    ++k.wait;
  }
  stream_last_[stream] = id;
  k_.push_back(k);
  k_rec_.emplace_back();
}

void Engine::release(int k) {
  if (--k_[k].wait > 0) return;
  k_rec_[k].start = now_;
  Kern& x = k_[k];
  if (x.plan.launch > 0) {
    push(now_ + x.plan.launch, LaunchDone, k);
  } else {
    launch_done(k);
  }
}

void Engine::launch_done(int k) {
  Kern& x = k_[k];
  x.ready = now_;
  if (x.pending == 0) {
    kernel_done(k);
    return;
  }
  // Dispatch order: stream priority (high first), then ready time, then insertion (kernel id).
  auto before = [&](int a, int b) {
    const int pa = stream_prio_[k_[a].stream], pb = stream_prio_[k_[b].stream];
    if (pa != pb) return pa > pb;
    if (k_[a].ready != k_[b].ready) return k_[a].ready < k_[b].ready;
    return a < b;
  };
  auto it = ready_.begin();
  while (it != ready_.end() && before(*it, k)) ++it;
  ready_.insert(it, k);
  dispatch_needed_ = true;
}

void Engine::kernel_done(int k) {
  k_rec_[k].end = now_;
  end_ = std::max(end_, now_);
  if (k_[k].next_on_stream >= 0) release(k_[k].next_on_stream);
  const int op = k_[k].op;
  if (ops_[op].last != k) return;
  op_rec_[op].end = now_;
  for (int i = succ_off_[op]; i < succ_off_[op + 1]; ++i) release(ops_[succ_[i]].first);
  if (host_blocked_on_ == op) {
    host_blocked_on_ = -1;
    if (host_next_ < static_cast<int>(k_.size()))
      push(now_ + host_sync_ * ops_[op].syncs + issue_time(host_next_), HostIssue, host_next_);
  }
}

void Engine::group_done(int g) {
  const Group& gr = groups_[g];
  free_sms_ += gr.sms;
  dispatch_needed_ = true;
  Kern& x = k_[gr.kernel];
  x.running -= gr.ctas;
  if (x.pending == 0 && x.running == 0) kernel_done(gr.kernel);
}

void Engine::start_flow(int g) {
  flowing_.push_back(g);
  rates_dirty_ = true;
}

void Engine::dispatch() {
  dispatch_needed_ = false;
  // The first kernel in dispatch order keeps the SMs' attention until its CTAs are all placed
  // (or the free SMs run out).
  while (!ready_.empty() && free_sms_ > 0) {
    const int k = ready_.front();
    Kern& x = k_[k];
    // Breadth first, as the block scheduler: one CTA per free SM, up to the occupancy when the
    // CTAs outnumber the SMs. CTAs on one SM share its compute rate; the group ends with its
    // most loaded SM.
    // Persistent kernels: the CTAs with one more unit of work go first.
    const int r = x.plan.ctas_per_sm;
    const bool heavy = x.heavy > 0;
    const int64_t avail = heavy ? x.heavy : x.pending;
    const int sms = static_cast<int>(std::min<int64_t>(free_sms_, avail));
    const int64_t ctas = std::min<int64_t>(avail, static_cast<int64_t>(sms) * r);
    const int64_t per_sm = (ctas + sms - 1) / sms;
    const int64_t units = x.units + (heavy ? 1 : 0);
    if (heavy) x.heavy -= ctas;
    free_sms_ -= sms;
    x.pending -= ctas;
    x.running += ctas;
    if (k_rec_[k].dispatch == kNever) k_rec_[k].dispatch = now_;
    ++k_rec_[k].groups;
    const int g = static_cast<int>(groups_.size());
    const Tick compute = m_.sm_clock.to_ticks(x.cycles * units * per_sm) + x.plan.cta_pipeline * units;
    Group gr{k, sms, ctas, compute, x.plan.cta_bytes * static_cast<double>(units * ctas), 0.0};
    gr.remaining = gr.bytes;
    gr.mem_done = !(gr.bytes > 0);
    groups_.push_back(gr);
    const Tick work = now_ + x.plan.cta_serial;
    push(work + compute, ComputeDone, g);
    if (!groups_[g].mem_done) {
      const Tick mem_start = x.plan.pipelined ? work : work + compute;
      if (mem_start > now_) {
        push(mem_start, FlowStart, g);
      } else {
        start_flow(g);
      }
    }
    if (x.pending == 0) ready_.erase(ready_.begin());
  }
}

void Engine::advance(Tick t) {
  const Tick dt = t - now_;
  if (dt > 0) {
    sm_busy_ += static_cast<double>(m_.sms - free_sms_) * static_cast<double>(dt);
    for (int g : flowing_) groups_[g].remaining -= groups_[g].rate * static_cast<double>(dt);
  }
  now_ = t;
}

void Engine::finish_flows() {
  size_t out = 0;
  for (size_t i = 0; i < flowing_.size(); ++i) {
    const int g = flowing_[i];
    Group& gr = groups_[g];
    if (gr.flow_end <= now_) {
      gr.mem_done = true;
      gr.remaining = 0;
      moved_[static_cast<int>(k_[gr.kernel].plan.mem)] += gr.bytes;
      rates_dirty_ = true;
      if (gr.compute_done) group_done(g);
    } else {
      flowing_[out++] = g;
    }
  }
  flowing_.resize(out);
}

// Processor sharing with per-CTA caps (water-filling): every CTA in flight on a resource gets an
// equal share of its rate, except CTAs capped below that share, whose unused share goes to the rest.
void Engine::recompute_rates() {
  rates_dirty_ = false;
  next_flow_ = kNever;
  for (int r = 0; r < kResources; ++r) {
    scratch_.clear();
    double weight = 0;
    for (int g : flowing_) {
      if (static_cast<int>(k_[groups_[g].kernel].plan.mem) != r) continue;
      scratch_.push_back(g);
      weight += static_cast<double>(groups_[g].ctas);
    }
    if (scratch_.empty()) continue;
    auto cap = [&](int g) {
      const double c = k_[groups_[g].kernel].cap_tick;
      return c > 0 ? c : 1e300;
    };
    std::stable_sort(scratch_.begin(), scratch_.end(), [&](int a, int b) { return cap(a) < cap(b); });
    double left = cap_tick_[r];
    for (int g : scratch_) {
      Group& gr = groups_[g];
      const double n = static_cast<double>(gr.ctas);
      const double share = left / weight;
      const double per_cta = std::min(share, cap(g));
      gr.rate = per_cta * n;
      if (!(gr.rate > 0))
        throw InputError(fmt::format("cycle model: no {} bandwidth for kernel {}", to_string(static_cast<Resource>(r)),
                                     k_[gr.kernel].plan.label));
      left = std::max(0.0, left - gr.rate);
      weight -= n;
      // Completion: the first tick at which all bytes have arrived (ceil); a relative tolerance
      // keeps an exact quotient from rounding one tick up.
      const double ticks = gr.remaining / gr.rate;
      const Tick dt = ticks > 0 ? static_cast<Tick>(std::ceil(ticks * (1.0 - 1e-12))) : 0;
      gr.flow_end = now_ + dt;
      next_flow_ = std::min(next_flow_, gr.flow_end);
    }
  }
}

void Engine::run() {
  // Successor lists (CSR) from the dependency edges.
  const int nops = static_cast<int>(ops_.size());
  succ_off_.assign(static_cast<size_t>(nops) + 1, 0);
  for (const auto& e : edges_) ++succ_off_[e.first + 1];
  for (int i = 0; i < nops; ++i) succ_off_[i + 1] += succ_off_[i];
  succ_.assign(edges_.size(), 0);
  {
    std::vector<int> fill(succ_off_.begin(), succ_off_.end() - 1);
    for (const auto& e : edges_) succ_[fill[e.first]++] = e.second;
  }
  for (int i = 0; i < nops; ++i)
    if (ops_[i].first < 0) throw InputError(fmt::format("cycle model: op {} has no kernel", i));
  if (host_) {
    for (auto& k : k_) ++k.wait;
    if (!k_.empty()) push(issue_time(0), HostIssue, 0);
  }
  // Kernels with nothing to wait for start at 0 (in insertion order).
  scratch_.clear();
  for (int k = 0; k < static_cast<int>(k_.size()); ++k)
    if (k_[k].wait == 0) scratch_.push_back(k);
  for (int k : scratch_) {
    ++k_[k].wait;
    release(k);
  }
  if (dispatch_needed_) dispatch();
  if (rates_dirty_) recompute_rates();
  while (true) {
    const Tick th = heap_.empty() ? kNever : heap_.top().t;
    const Tick t = std::min(th, next_flow_);
    if (t == kNever) break;
    advance(t);
    if (next_flow_ <= t) finish_flows();
    while (!heap_.empty() && heap_.top().t == t) {
      const Event ev = heap_.top();
      heap_.pop();
      ++events_;
      switch (ev.kind) {
        case HostIssue: {
          const int k = ev.id;
          host_next_ = k + 1;
          release(k);
          const Op& o = ops_[k_[k].op];
          if (o.last == k && o.syncs > 0 && op_rec_[k_[k].op].end == kNever) {
            host_blocked_on_ = k_[k].op;
          } else if (host_next_ < static_cast<int>(k_.size())) {
            push(now_ + issue_time(host_next_), HostIssue, host_next_);
          }
          break;
        }
        case LaunchDone: launch_done(ev.id); break;
        case FlowStart: start_flow(ev.id); break;
        case ComputeDone: {
          Group& gr = groups_[ev.id];
          gr.compute_done = true;
          if (gr.mem_done) group_done(ev.id);
          break;
        }
      }
    }
    if (dispatch_needed_) dispatch();
    if (rates_dirty_) recompute_rates();
  }
  for (int k = 0; k < static_cast<int>(k_.size()); ++k)
    if (k_rec_[k].end == kNever)
      throw InputError(fmt::format("cycle model: kernel {} ({}) never ran: the dependencies form a cycle", k,
                                   k_[k].plan.label));
  for (int i = 0; i < nops; ++i) op_rec_[i].start = k_rec_[ops_[i].first].start;
}

double Engine::sm_utilization() const {
  if (end_ <= 0) return 0.0;
  return sm_busy_ / (static_cast<double>(m_.sms) * static_cast<double>(end_));
}

double Engine::utilization(Resource r) const {
  const int i = static_cast<int>(r);
  if (end_ <= 0 || cap_tick_[i] <= 0) return 0.0;
  return moved_[i] / (cap_tick_[i] * static_cast<double>(end_));
}

}  // namespace headroom::sim
