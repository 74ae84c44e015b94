#pragma once
// Quantities with units. In files a quantity is a string with its unit ("4.8 TB/s", "60 MiB");
// in code it is a strong type holding the value in SI base units (bytes, seconds, hertz, watts,
// FLOP, FLOP/s, bytes/s). Decimal prefixes are powers of 1000 (GB = 1e9 bytes), binary prefixes
// powers of 1024 (GiB = 2^30 bytes); the two are never confused.
#include <compare>
#include <string>
#include <string_view>

namespace headroom {

enum class Dim { Bytes, Seconds, Hertz, Watts, Flops, FlopRate, Bandwidth };

template <Dim D>
struct Quantity {
  double v = 0.0;
  constexpr Quantity() = default;
  constexpr explicit Quantity(double value) : v(value) {}
  [[nodiscard]] constexpr double value() const { return v; }
  constexpr Quantity operator+(Quantity o) const { return Quantity(v + o.v); }
  constexpr Quantity operator-(Quantity o) const { return Quantity(v - o.v); }
  constexpr Quantity operator*(double s) const { return Quantity(v * s); }
  constexpr Quantity operator/(double s) const { return Quantity(v / s); }
  constexpr double operator/(Quantity o) const { return v / o.v; }
  constexpr Quantity& operator+=(Quantity o) { v += o.v; return *this; }
  constexpr auto operator<=>(const Quantity&) const = default;
};
template <Dim D>
constexpr Quantity<D> operator*(double s, Quantity<D> q) { return Quantity<D>(s * q.v); }

using Bytes = Quantity<Dim::Bytes>;
using Seconds = Quantity<Dim::Seconds>;
using Hertz = Quantity<Dim::Hertz>;
using Watts = Quantity<Dim::Watts>;
using Flops = Quantity<Dim::Flops>;        // a count of floating-point operations
using FlopRate = Quantity<Dim::FlopRate>;  // FLOP/s (integer OP/s for int8 rates)
using Bandwidth = Quantity<Dim::Bandwidth>;

constexpr Seconds operator/(Bytes b, Bandwidth bw) { return Seconds(b.v / bw.v); }
constexpr Seconds operator/(Flops f, FlopRate r) { return Seconds(f.v / r.v); }
constexpr Bandwidth operator/(Bytes b, Seconds s) { return Bandwidth(b.v / s.v); }
constexpr FlopRate operator/(Flops f, Seconds s) { return FlopRate(f.v / s.v); }

namespace units {

// Parses "<number> <unit>" and returns the value in SI base units of `expected`.
// Grammar: optional whitespace, a decimal number (sign and exponent allowed), optional
// whitespace, a unit = [prefix] base, optional whitespace. Prefixes: k K M G T P E (x1000^n),
// Ki Mi Gi Ti Pi (x1024^n, bytes only), m u µ n p (only for s, W, Hz does not take them).
// Bases: Bytes B (b = bit, 1/8 byte); Seconds s (also "sec"); Hertz Hz; Watts W;
// Flops FLOP; FlopRate FLOP/s, FLOPS, OP/s, OPS; Bandwidth B/s, b/s, Bps.
// Throws UnitError naming what was expected and what was found.
double parse(std::string_view text, Dim expected);

template <class Q>
Q parse_as(std::string_view text);
template <> inline Bytes parse_as<Bytes>(std::string_view t) { return Bytes(parse(t, Dim::Bytes)); }
template <> inline Seconds parse_as<Seconds>(std::string_view t) { return Seconds(parse(t, Dim::Seconds)); }
template <> inline Hertz parse_as<Hertz>(std::string_view t) { return Hertz(parse(t, Dim::Hertz)); }
template <> inline Watts parse_as<Watts>(std::string_view t) { return Watts(parse(t, Dim::Watts)); }
template <> inline Flops parse_as<Flops>(std::string_view t) { return Flops(parse(t, Dim::Flops)); }
template <> inline FlopRate parse_as<FlopRate>(std::string_view t) { return FlopRate(parse(t, Dim::FlopRate)); }
template <> inline Bandwidth parse_as<Bandwidth>(std::string_view t) { return Bandwidth(parse(t, Dim::Bandwidth)); }

// "a bandwidth like \"4.8 TB/s\"": used in error messages.
std::string expectation(Dim d);
// Human-readable with a decimal prefix and 3 significant digits: "4.80 TB/s", "60.0 MiB" is
// not produced (formatting is always decimal) except for format_bytes_binary.
std::string format(double value_si, Dim d);  // not "si_value": a <signal.h> macro
std::string format_bytes_binary(double bytes);

}  // namespace units
}  // namespace headroom
