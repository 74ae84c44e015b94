#pragma once
// Simulated time of the cycle-approximate model: one integer tick base for every clock domain
// (DESIGN.md item 7). 1 tick = 1 ps, so int64 covers 106 days of simulated time and no clock in
// use (<= 10 GHz) has a period below 100 ticks. Conversions into ticks follow one rule, in one
// place: round to the nearest tick, ties away from zero; a positive duration lasts >= 1 tick.
// Work is first rounded up to whole cycles of its domain (a CTA cannot finish mid-cycle).
#include <cstdint>

namespace headroom::sim {

using Tick = int64_t;
inline constexpr Tick kTicksPerSecond = 1'000'000'000'000;  // 1 tick = 1 ps
inline constexpr Tick kNever = INT64_MAX;

// Seconds (a calibrated fixed cost) to ticks: nearest, ties away from zero, >= 1 when positive.
Tick seconds_to_ticks(double seconds);
inline double ticks_to_seconds(Tick t) { return static_cast<double>(t) / static_cast<double>(kTicksPerSecond); }

// A clock domain (the SM clock, the memory clock): converts whole cycles to ticks with exact
// integer arithmetic on an integer frequency in Hz, rounding to the nearest tick (ties up).
class ClockDomain {
 public:
  ClockDomain() = default;
  explicit ClockDomain(double hz);
  [[nodiscard]] int64_t hz() const { return hz_; }
  [[nodiscard]] Tick to_ticks(int64_t cycles) const;
  // Fractional cycles elapsed in t ticks (for reporting only).
  [[nodiscard]] double cycles_in(Tick t) const {
    return static_cast<double>(t) * static_cast<double>(hz_) / static_cast<double>(kTicksPerSecond);
  }
  // A rate per cycle of this clock (bytes/cycle, FLOP/cycle) as the same rate per second.
  [[nodiscard]] double per_second(double per_cycle) const { return per_cycle * static_cast<double>(hz_); }

 private:
  int64_t hz_ = 1'000'000'000;
};

// Work to whole cycles: ceil(work / per_cycle), 0 for no work.
int64_t work_to_cycles(double work, double per_cycle);

}  // namespace headroom::sim
