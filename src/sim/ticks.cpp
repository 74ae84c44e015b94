#include "headroom/sim/ticks.hpp"

#include <cmath>

#include "headroom/core/error.hpp"

namespace headroom::sim {

namespace {
__extension__ typedef __int128 Wide;  // GCC/Clang 128-bit integer (exact cycles x 1e12)
}  // namespace

Tick seconds_to_ticks(double seconds) {
  if (!(seconds > 0)) return 0;
  const double t = seconds * static_cast<double>(kTicksPerSecond);
  if (t >= 9.0e18) throw InputError("cycle model: a duration beyond the tick range (about 106 days)");
  const Tick r = std::llround(t);
  return r > 0 ? r : 1;
}

ClockDomain::ClockDomain(double hz) : hz_(std::llround(hz)) {
  if (hz_ <= 0) throw InputError("cycle model: a clock domain needs a positive frequency");
}

Tick ClockDomain::to_ticks(int64_t cycles) const {
  if (cycles <= 0) return 0;
  // cycles * 1e12 / hz, rounded to nearest, ties up; 128-bit so that no product overflows.
  const Wide num = static_cast<Wide>(cycles) * kTicksPerSecond;
  const Wide r = (num + hz_ / 2) / hz_;
  return r > 0 ? static_cast<Tick>(r) : 1;
}

int64_t work_to_cycles(double work, double per_cycle) {
  if (!(work > 0)) return 0;
  // A relative tolerance keeps exact multiples (1024 FLOP at 512 FLOP/cycle) from rounding up.
  const double c = work / per_cycle;
  return static_cast<int64_t>(std::ceil(c * (1.0 - 1e-12)));
}

}  // namespace headroom::sim
