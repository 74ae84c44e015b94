// The units grammar: every base unit and prefix, whitespace and exponent forms, every error, and
// the formatters. Expected values are hand-derived: GB = 1e9 B, GiB = 2^30 B, 1 b = 1/8 B.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "headroom/core/error.hpp"
#include "headroom/units/units.hpp"

namespace headroom {
namespace {

using units::parse;

// Relative comparison: the values span 1e-9 .. 1e18.
void expect_si(std::string_view text, Dim d, double expected) {
  SCOPED_TRACE(std::string(text));
  const double got = parse(text, d);
  EXPECT_NEAR(got, expected, std::fabs(expected) * 1e-12) << text;
}

// The UnitError message for `text` read as `d`; fails the test when nothing is thrown.
std::string error_of(std::string_view text, Dim d) {
  try {
    (void)parse(text, d);
  } catch (const UnitError& e) {
    return e.what();
  }
  ADD_FAILURE() << "\"" << text << "\" parsed without error";
  return "";
}

constexpr double kKi = 1024.0;
constexpr double kMi = kKi * 1024.0;
constexpr double kGi = kMi * 1024.0;
constexpr double kTi = kGi * 1024.0;

TEST(UnitsBytes, DecimalPrefixesArePowersOf1000) {
  expect_si("1 B", Dim::Bytes, 1.0);
  expect_si("1 KB", Dim::Bytes, 1e3);
  expect_si("1 kB", Dim::Bytes, 1e3);
  expect_si("1 MB", Dim::Bytes, 1e6);
  expect_si("141 GB", Dim::Bytes, 141e9);
  expect_si("2 TB", Dim::Bytes, 2e12);
  expect_si("1 PB", Dim::Bytes, 1e15);
}

TEST(UnitsBytes, BinaryPrefixesArePowersOf1024) {
  expect_si("1 KiB", Dim::Bytes, kKi);
  expect_si("228 KiB", Dim::Bytes, 228 * kKi);
  expect_si("60 MiB", Dim::Bytes, 60 * kMi);
  expect_si("80 GiB", Dim::Bytes, 80 * kGi);
  expect_si("1 TiB", Dim::Bytes, kTi);
  expect_si("1 PiB", Dim::Bytes, kTi * 1024.0);
  // The two families never mix: 1 GB != 1 GiB.
  EXPECT_NE(parse("1 GB", Dim::Bytes), parse("1 GiB", Dim::Bytes));
}

TEST(UnitsBytes, BitsAreAnEighthOfAByte) {
  expect_si("8 b", Dim::Bytes, 1.0);
  expect_si("8 bit", Dim::Bytes, 1.0);
  expect_si("1 Gb", Dim::Bytes, 1e9 / 8);
  expect_si("1 Gbit", Dim::Bytes, 1e9 / 8);
  expect_si("8 Kib", Dim::Bytes, kKi);
}

TEST(UnitsBytes, LongSpellings) {
  expect_si("3 bytes", Dim::Bytes, 3.0);
  expect_si("1 byte", Dim::Bytes, 1.0);
}

TEST(UnitsBandwidth, AllSpellings) {
  expect_si("1 B/s", Dim::Bandwidth, 1.0);
  expect_si("4.8 TB/s", Dim::Bandwidth, 4.8e12);
  expect_si("900 GB/s", Dim::Bandwidth, 900e9);
  expect_si("1 GiB/s", Dim::Bandwidth, kGi);
  expect_si("100 Gb/s", Dim::Bandwidth, 100e9 / 8);
  expect_si("400 Gbit/s", Dim::Bandwidth, 400e9 / 8);
  expect_si("25 GBps", Dim::Bandwidth, 25e9);
  expect_si("10 MB/s", Dim::Bandwidth, 1e7);
  expect_si("3 KiB/s", Dim::Bandwidth, 3 * kKi);
}

TEST(UnitsTime, AllPrefixes) {
  expect_si("2 s", Dim::Seconds, 2.0);
  expect_si("2 sec", Dim::Seconds, 2.0);
  expect_si("5 ms", Dim::Seconds, 5e-3);
  expect_si("2 us", Dim::Seconds, 2e-6);
  expect_si("2 \xC2\xB5s", Dim::Seconds, 2e-6);  // U+00B5 MICRO SIGN
  expect_si("2 µs", Dim::Seconds, 2e-6);         // the same, as typed
  expect_si("700 ns", Dim::Seconds, 700e-9);
  expect_si("3 ps", Dim::Seconds, 3e-12);
}

TEST(UnitsFrequency, AllPrefixes) {
  expect_si("50 Hz", Dim::Hertz, 50.0);
  expect_si("32 kHz", Dim::Hertz, 32e3);
  expect_si("1980 MHz", Dim::Hertz, 1.98e9);
  expect_si("1.98 GHz", Dim::Hertz, 1.98e9);
}

TEST(UnitsPower, AllPrefixes) {
  expect_si("700 W", Dim::Watts, 700.0);
  expect_si("1.2 kW", Dim::Watts, 1200.0);
  expect_si("250 mW", Dim::Watts, 0.25);
  expect_si("2 MW", Dim::Watts, 2e6);
}

TEST(UnitsOperations, CountsAndRates) {
  expect_si("1 FLOP", Dim::Flops, 1.0);
  expect_si("137.4 GFLOP", Dim::Flops, 137.4e9);
  expect_si("2 TFLOPs", Dim::Flops, 2e12);
  expect_si("5 GOP", Dim::Flops, 5e9);

  expect_si("1 FLOP/s", Dim::FlopRate, 1.0);
  expect_si("989.5 TFLOP/s", Dim::FlopRate, 989.5e12);
  expect_si("989.5 TFLOPS", Dim::FlopRate, 989.5e12);
  expect_si("1979 TOP/s", Dim::FlopRate, 1979e12);
  expect_si("1979 TOPS", Dim::FlopRate, 1979e12);
  expect_si("4.5 PFLOP/s", Dim::FlopRate, 4.5e15);
  expect_si("66.9 TFLOP/s", Dim::FlopRate, 66.9e12);
}

TEST(UnitsSyntax, WhitespaceIsOptionalAroundTheUnit) {
  expect_si("4.8TB/s", Dim::Bandwidth, 4.8e12);
  expect_si(" 4.8 TB/s ", Dim::Bandwidth, 4.8e12);
  expect_si("\t4.8   TB/s\n", Dim::Bandwidth, 4.8e12);
  expect_si("60MiB", Dim::Bytes, 60 * kMi);
}

TEST(UnitsSyntax, NumbersWithSignsExponentsAndFractions) {
  expect_si("1e3 MHz", Dim::Hertz, 1e9);
  expect_si("1E3 MHz", Dim::Hertz, 1e9);
  expect_si("2.5e-1 W", Dim::Watts, 0.25);
  expect_si("1e3MHz", Dim::Hertz, 1e9);
  expect_si("+5 W", Dim::Watts, 5.0);
  expect_si(".5 GB", Dim::Bytes, 0.5e9);
  // A sign is the number's business; positivity is checked by the hardware loader.
  expect_si("-5 W", Dim::Watts, -5.0);
  expect_si("0 W", Dim::Watts, 0.0);
}

TEST(UnitsSyntax, ParseAsReturnsStrongTypes) {
  EXPECT_DOUBLE_EQ(units::parse_as<Bandwidth>("4.8 TB/s").value(), 4.8e12);
  EXPECT_DOUBLE_EQ(units::parse_as<Bytes>("60 MiB").value(), 60 * kMi);
  EXPECT_DOUBLE_EQ(units::parse_as<Seconds>("2 us").value(), 2e-6);
  EXPECT_DOUBLE_EQ(units::parse_as<Hertz>("1980 MHz").value(), 1.98e9);
  EXPECT_DOUBLE_EQ(units::parse_as<Watts>("700 W").value(), 700.0);
  EXPECT_DOUBLE_EQ(units::parse_as<Flops>("137.4 GFLOP").value(), 137.4e9);
  EXPECT_DOUBLE_EQ(units::parse_as<FlopRate>("989.5 TFLOP/s").value(), 989.5e12);
  // The arithmetic the rest of headroom builds on.
  const Seconds t = units::parse_as<Bytes>("4.8 GB") / units::parse_as<Bandwidth>("4.8 TB/s");
  EXPECT_DOUBLE_EQ(t.value(), 1e-3);
}

TEST(UnitsErrors, BareNumberNamesTheExpectedForm) {
  const std::string m = error_of("4.8", Dim::Bandwidth);
  EXPECT_NE(m.find("expected a bandwidth like \"4.8 TB/s\", got \"4.8\""), std::string::npos) << m;
  EXPECT_NE(m.find("unit is missing"), std::string::npos) << m;
  EXPECT_NE(error_of("700", Dim::Watts).find("expected a power like \"700 W\", got \"700\""),
            std::string::npos);
  EXPECT_NE(error_of("141", Dim::Bytes).find("expected a size like"), std::string::npos);
  EXPECT_NE(error_of("2", Dim::Seconds).find("expected a time like"), std::string::npos);
  EXPECT_NE(error_of("1980", Dim::Hertz).find("expected a frequency like"), std::string::npos);
  EXPECT_NE(error_of("1", Dim::Flops).find("expected an operation count like"), std::string::npos);
  EXPECT_NE(error_of("1", Dim::FlopRate).find("expected a compute rate like"), std::string::npos);
}

TEST(UnitsErrors, UnknownUnit) {
  const std::string m = error_of("4.8 furlongs", Dim::Bandwidth);
  EXPECT_NE(m.find("unknown unit \"furlongs\""), std::string::npos) << m;
  EXPECT_NE(m.find("got \"4.8 furlongs\""), std::string::npos) << m;
  EXPECT_NE(error_of("4.8 TB/h", Dim::Bandwidth).find("unknown unit"), std::string::npos);
  // Units are case-sensitive: "gb" is neither GB nor Gb.
  EXPECT_NE(error_of("4 gb", Dim::Bytes).find("unknown unit"), std::string::npos);
  EXPECT_NE(error_of("4 mhz", Dim::Hertz).find("unknown unit"), std::string::npos);
}

TEST(UnitsErrors, WrongDimensionSaysWhatTheUnitIs) {
  const std::string m = error_of("700 W", Dim::Bandwidth);
  EXPECT_NE(m.find("expected a bandwidth like \"4.8 TB/s\", got \"700 W\""), std::string::npos) << m;
  EXPECT_NE(m.find("\"W\" is a power, not a bandwidth"), std::string::npos) << m;
  EXPECT_NE(error_of("4.8 TB/s", Dim::Bytes).find("is a bandwidth, not a size"), std::string::npos);
  EXPECT_NE(error_of("141 GB", Dim::Bandwidth).find("is a size, not a bandwidth"), std::string::npos);
  EXPECT_NE(error_of("1980 MHz", Dim::Seconds).find("is a frequency, not a time"), std::string::npos);
  EXPECT_NE(error_of("2 us", Dim::Hertz).find("is a time, not a frequency"), std::string::npos);
  EXPECT_NE(error_of("989 TFLOP/s", Dim::Flops).find("is a compute rate, not an operation count"),
            std::string::npos);
  EXPECT_NE(error_of("137 GFLOP", Dim::FlopRate).find("is an operation count, not a compute rate"),
            std::string::npos);
}

TEST(UnitsErrors, EmptyAndGarbage) {
  for (const char* s : {"", "   ", "\t"}) {
    const std::string m = error_of(s, Dim::Bytes);
    EXPECT_NE(m.find("expected a size like"), std::string::npos) << m;
  }
  for (const char* s : {"TB/s", "abc", "four TB/s", "--5 W", "inf W", "nan W", "1e999 W"}) {
    SCOPED_TRACE(s);
    EXPECT_THROW((void)parse(s, Dim::Watts), UnitError);
  }
  EXPECT_NE(error_of("abc", Dim::Watts).find("no number"), std::string::npos);
  // Trailing junk after the unit is part of the unit and therefore unknown.
  EXPECT_THROW((void)parse("4.8 TB/s extra", Dim::Bandwidth), UnitError);
  EXPECT_THROW((void)parse("4.8 4.8 TB/s", Dim::Bandwidth), UnitError);
  EXPECT_THROW((void)parse("1,000 W", Dim::Watts), UnitError);
}

TEST(UnitsErrors, BinaryPrefixOnlyOnBytes) {
  EXPECT_NE(error_of("5 GiHz", Dim::Hertz).find("unknown unit \"GiHz\""), std::string::npos);
  EXPECT_THROW((void)parse("5 KiW", Dim::Watts), UnitError);
  EXPECT_THROW((void)parse("5 Mis", Dim::Seconds), UnitError);
  EXPECT_THROW((void)parse("5 GiFLOP", Dim::Flops), UnitError);
  EXPECT_THROW((void)parse("5 TiFLOP/s", Dim::FlopRate), UnitError);
  EXPECT_THROW((void)parse("5 TiOPS", Dim::FlopRate), UnitError);
  // ...while bytes, bits and their rates take them.
  EXPECT_NO_THROW((void)parse("5 GiB", Dim::Bytes));
  EXPECT_NO_THROW((void)parse("5 Gib", Dim::Bytes));
  EXPECT_NO_THROW((void)parse("5 GiB/s", Dim::Bandwidth));
}

TEST(UnitsErrors, SmallPrefixOnlyWhereMeaningful) {
  EXPECT_NE(error_of("5 mB", Dim::Bytes).find("unknown unit \"mB\""), std::string::npos);
  EXPECT_THROW((void)parse("5 uB/s", Dim::Bandwidth), UnitError);
  EXPECT_THROW((void)parse("5 mHz", Dim::Hertz), UnitError);
  EXPECT_THROW((void)parse("5 nFLOP", Dim::Flops), UnitError);
  EXPECT_THROW((void)parse("5 mFLOP/s", Dim::FlopRate), UnitError);
  // ...but they are fine on time and power.
  EXPECT_NO_THROW((void)parse("5 ms", Dim::Seconds));
  EXPECT_NO_THROW((void)parse("5 mW", Dim::Watts));
}

TEST(UnitsFormat, DecimalPrefixesThreeSignificantDigits) {
  EXPECT_EQ(units::format(4.8e12, Dim::Bandwidth), "4.80 TB/s");
  EXPECT_EQ(units::format(900e9, Dim::Bandwidth), "900 GB/s");
  EXPECT_EQ(units::format(141e9, Dim::Bytes), "141 GB");
  EXPECT_EQ(units::format(989.5e12, Dim::FlopRate), "990 TFLOP/s");
  EXPECT_EQ(units::format(66.9e12, Dim::FlopRate), "66.9 TFLOP/s");
  EXPECT_EQ(units::format(700.0, Dim::Watts), "700 W");
  EXPECT_EQ(units::format(1.98e9, Dim::Hertz), "1.98 GHz");
  EXPECT_EQ(units::format(2e-6, Dim::Seconds), "2.00 us");
  EXPECT_EQ(units::format(1.5e-3, Dim::Seconds), "1.50 ms");
  EXPECT_EQ(units::format(137.4e9, Dim::Flops), "137 GFLOP");
  EXPECT_EQ(units::format(0.0, Dim::Bytes), "0 B");
  EXPECT_EQ(units::format(-4.8e12, Dim::Bandwidth), "-4.80 TB/s");
}

TEST(UnitsFormat, RoundingCarriesIntoTheNextPrefix) {
  // 999.7 GB rounds to 1000 at 3 significant digits: it must read 1.00 TB, not "1000 GB".
  EXPECT_EQ(units::format(999.7e9, Dim::Bytes), "1.00 TB");
  EXPECT_EQ(units::format(9.999e9, Dim::Bytes), "10.0 GB");
  EXPECT_EQ(units::format(99.99, Dim::Watts), "100 W");
}

TEST(UnitsFormat, ParseOfFormatRoundTrips) {
  for (double v : {4.8e12, 3.35e12, 2.039e12, 900e9, 64e9}) {
    EXPECT_NEAR(parse(units::format(v, Dim::Bandwidth), Dim::Bandwidth), v, v * 5e-3);
  }
}

TEST(UnitsFormat, BinaryBytes) {
  EXPECT_EQ(units::format_bytes_binary(512), "512 B");
  EXPECT_EQ(units::format_bytes_binary(1024), "1.00 KiB");
  EXPECT_EQ(units::format_bytes_binary(228 * kKi), "228.00 KiB");
  EXPECT_EQ(units::format_bytes_binary(60 * kMi), "60.00 MiB");
  EXPECT_EQ(units::format_bytes_binary(80 * kGi), "80.00 GiB");
  EXPECT_EQ(units::format_bytes_binary(141e9), "131.32 GiB");
  EXPECT_EQ(units::format_bytes_binary(2 * kTi), "2.00 TiB");
  EXPECT_EQ(units::format_bytes_binary(0), "0 B");
}

TEST(UnitsExpectation, NamesEachDimension) {
  EXPECT_EQ(units::expectation(Dim::Bandwidth), "a bandwidth like \"4.8 TB/s\"");
  EXPECT_EQ(units::expectation(Dim::Watts), "a power like \"700 W\"");
}

}  // namespace
}  // namespace headroom
