#include "headroom/units/units.hpp"

#include <fmt/format.h>

#include <array>
#include <span>
#include <charconv>
#include <cctype>
#include <cmath>

#include "headroom/core/error.hpp"

namespace headroom::units {
namespace {

struct Base {
  std::string_view spelling;
  double factor;
  bool binary_prefixes;  // Ki, Mi, ... allowed
  bool small_prefixes;   // m, u, µ, n, p allowed
};

std::span<const Base> bases(Dim d) {
  static constexpr std::array bytes{Base{"B", 1.0, true, false}, Base{"bytes", 1.0, true, false},
                                    Base{"byte", 1.0, true, false}, Base{"bit", 0.125, true, false},
                                    Base{"b", 0.125, true, false}};
  static constexpr std::array seconds{Base{"s", 1.0, false, true}, Base{"sec", 1.0, false, true}};
  static constexpr std::array hertz{Base{"Hz", 1.0, false, false}};
  static constexpr std::array watts{Base{"W", 1.0, false, true}};
  static constexpr std::array flops{Base{"FLOP", 1.0, false, false}, Base{"FLOPs", 1.0, false, false},
                                    Base{"OP", 1.0, false, false}};
  static constexpr std::array rate{Base{"FLOP/s", 1.0, false, false}, Base{"FLOPS", 1.0, false, false},
                                   Base{"OP/s", 1.0, false, false}, Base{"OPS", 1.0, false, false}};
  static constexpr std::array bw{Base{"B/s", 1.0, true, false}, Base{"Bps", 1.0, true, false},
                                 Base{"bit/s", 0.125, true, false}, Base{"b/s", 0.125, true, false}};
  switch (d) {
    case Dim::Bytes: return bytes;
    case Dim::Seconds: return seconds;
    case Dim::Hertz: return hertz;
    case Dim::Watts: return watts;
    case Dim::Flops: return flops;
    case Dim::FlopRate: return rate;
    case Dim::Bandwidth: return bw;
  }
  return {};
}

struct Prefix {
  std::string_view spelling;
  double factor;
  enum Kind { Decimal, Binary, Small } kind;
};

constexpr std::array kPrefixes{
    Prefix{"Ki", 1024.0, Prefix::Binary}, Prefix{"Mi", 1048576.0, Prefix::Binary},
    Prefix{"Gi", 1073741824.0, Prefix::Binary}, Prefix{"Ti", 1099511627776.0, Prefix::Binary},
    Prefix{"Pi", 1125899906842624.0, Prefix::Binary}, Prefix{"k", 1e3, Prefix::Decimal},
    Prefix{"K", 1e3, Prefix::Decimal}, Prefix{"M", 1e6, Prefix::Decimal}, Prefix{"G", 1e9, Prefix::Decimal},
    Prefix{"T", 1e12, Prefix::Decimal}, Prefix{"P", 1e15, Prefix::Decimal}, Prefix{"E", 1e18, Prefix::Decimal},
    Prefix{"m", 1e-3, Prefix::Small}, Prefix{"u", 1e-6, Prefix::Small}, Prefix{"\xC2\xB5", 1e-6, Prefix::Small},
    Prefix{"n", 1e-9, Prefix::Small}, Prefix{"p", 1e-12, Prefix::Small}, Prefix{"", 1.0, Prefix::Decimal}};

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Returns the multiplier of `unit` for dimension d, or NaN when it is not a unit of d.
double unit_factor(std::string_view unit, Dim d) {
  for (const Base& b : bases(d)) {
    if (unit.size() < b.spelling.size() || unit.substr(unit.size() - b.spelling.size()) != b.spelling) continue;
    std::string_view pre = unit.substr(0, unit.size() - b.spelling.size());
    for (const Prefix& p : kPrefixes) {
      if (p.spelling != pre) continue;
      if (p.kind == Prefix::Binary && !b.binary_prefixes) continue;
      if (p.kind == Prefix::Small && !b.small_prefixes) continue;
      return p.factor * b.factor;
    }
  }
  return std::nan("");
}

std::string_view dim_noun(Dim d) {
  switch (d) {
    case Dim::Bytes: return "a size";
    case Dim::Seconds: return "a time";
    case Dim::Hertz: return "a frequency";
    case Dim::Watts: return "a power";
    case Dim::Flops: return "an operation count";
    case Dim::FlopRate: return "a compute rate";
    case Dim::Bandwidth: return "a bandwidth";
  }
  return "a quantity";
}

std::string_view dim_example(Dim d) {
  switch (d) {
    case Dim::Bytes: return "\"141 GB\" or \"60 MiB\"";
    case Dim::Seconds: return "\"2 us\"";
    case Dim::Hertz: return "\"1980 MHz\"";
    case Dim::Watts: return "\"700 W\"";
    case Dim::Flops: return "\"137.4 GFLOP\"";
    case Dim::FlopRate: return "\"989 TFLOP/s\"";
    case Dim::Bandwidth: return "\"4.8 TB/s\"";
  }
  return "";
}

std::string_view base_symbol(Dim d) {
  switch (d) {
    case Dim::Bytes: return "B";
    case Dim::Seconds: return "s";
    case Dim::Hertz: return "Hz";
    case Dim::Watts: return "W";
    case Dim::Flops: return "FLOP";
    case Dim::FlopRate: return "FLOP/s";
    case Dim::Bandwidth: return "B/s";
  }
  return "";
}

}  // namespace

std::string expectation(Dim d) { return fmt::format("{} like {}", dim_noun(d), dim_example(d)); }

double parse(std::string_view text, Dim expected) {
  auto fail = [&](std::string_view why) -> double {
    throw UnitError(fmt::format("expected {}, got \"{}\"{}", expectation(expected), text, why));
  };
  std::string_view s = trim(text);
  if (s.empty()) return fail("");
  double value = 0.0;
  const char* first = s.data();
  if (*first == '+') ++first;  // from_chars rejects a leading '+'
  auto [ptr, ec] = std::from_chars(first, s.data() + s.size(), value);
  if (ec != std::errc() || !std::isfinite(value)) return fail(" (no number)");
  std::string_view unit = trim(std::string_view(ptr, static_cast<size_t>(s.data() + s.size() - ptr)));
  if (unit.empty()) return fail(" (the unit is missing)");
  double f = unit_factor(unit, expected);
  if (std::isnan(f)) {
    for (Dim other : {Dim::Bytes, Dim::Seconds, Dim::Hertz, Dim::Watts, Dim::Flops, Dim::FlopRate, Dim::Bandwidth}) {
      if (other != expected && !std::isnan(unit_factor(unit, other)))
        return fail(fmt::format(" (\"{}\" is {}, not {})", unit, dim_noun(other), dim_noun(expected)));
    }
    return fail(fmt::format(" (unknown unit \"{}\")", unit));
  }
  return value * f;
}

std::string format(double v, Dim d) {
  static constexpr std::array<std::pair<double, std::string_view>, 11> kScale{{{1e18, "E"},
                                                                               {1e15, "P"},
                                                                               {1e12, "T"},
                                                                               {1e9, "G"},
                                                                               {1e6, "M"},
                                                                               {1e3, "k"},
                                                                               {1.0, ""},
                                                                               {1e-3, "m"},
                                                                               {1e-6, "u"},
                                                                               {1e-9, "n"},
                                                                               {1e-12, "p"}}};
  if (v == 0.0 || !std::isfinite(v)) return fmt::format("{} {}", v, base_symbol(d));
  // Round to 3 significant digits first and pick the prefix from the rounded value, so that
  // 999.7e9 reads "1.00 T", not "1000 G".
  const double a = std::fabs(v);
  const double q = std::pow(10.0, std::floor(std::log10(a)) - 2);
  const double r = std::round(a / q) * q;
  for (const auto& [scale, pre] : kScale) {
    if (r >= scale * (1 - 1e-9) || scale == kScale.back().first) {
      const double x = std::copysign(r / scale, v);
      const double ax = std::fabs(x);
      const int digits = ax >= 99.95 ? 0 : ax >= 9.995 ? 1 : 2;
      return fmt::format("{:.{}f} {}{}", x, digits, pre, base_symbol(d));
    }
  }
  return fmt::format("{} {}", v, base_symbol(d));
}

std::string format_bytes_binary(double bytes) {
  static constexpr std::array<std::string_view, 5> kNames{"B", "KiB", "MiB", "GiB", "TiB"};
  size_t i = 0;
  double x = bytes;
  while (std::fabs(x) >= 1024.0 && i + 1 < kNames.size()) {
    x /= 1024.0;
    ++i;
  }
  return fmt::format("{:.{}f} {}", x, i == 0 ? 0 : 2, kNames[i]);
}

}  // namespace headroom::units
