#pragma once
// A YAML node that knows its file and key path, so that every error says
// "file:line:col: key.path: what was expected, what was found". Each key read through a
// Reader is marked used; finish() rejects the keys nobody read (unknown keys are errors).
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "headroom/units/units.hpp"

namespace headroom {

class YamlReader {
 public:
  // Parses a file; a YAML syntax error becomes an InputError with the file's line and column.
  static YamlReader load_file(const std::string& path);
  // Parses text; `origin` names it in messages (e.g. "<dict>" or a file name).
  static YamlReader load_string(const std::string& text, const std::string& origin);
  YamlReader(YAML::Node node, std::shared_ptr<const std::string> origin, std::string path);

  // A required key; missing -> error naming the key.
  [[nodiscard]] YamlReader at(std::string_view key) const;
  // An optional key.
  [[nodiscard]] std::optional<YamlReader> maybe(std::string_view key) const;
  [[nodiscard]] bool has(std::string_view key) const;

  [[nodiscard]] std::string str() const;
  [[nodiscard]] double number() const;
  [[nodiscard]] int64_t integer() const;
  [[nodiscard]] bool boolean() const;
  // A quantity string with a unit; a bare number is an error.
  [[nodiscard]] double quantity(Dim d) const;
  template <class Q>
  [[nodiscard]] Q as() const { return Q(quantity(dim_of<Q>())); }

  // Helpers for the common "key: positive value" forms.
  [[nodiscard]] int64_t positive_int(std::string_view key) const;
  [[nodiscard]] int64_t nonnegative_int(std::string_view key) const;
  [[nodiscard]] double positive_number(std::string_view key) const;
  template <class Q>
  [[nodiscard]] Q positive(std::string_view key) const {
    YamlReader c = at(key);
    Q q = c.as<Q>();
    if (!(q.value() > 0)) c.fail("must be positive, got \"" + c.str() + "\"");
    return q;
  }
  template <class Q>
  [[nodiscard]] std::optional<Q> maybe_positive(std::string_view key) const {
    if (!has(key)) return std::nullopt;
    return positive<Q>(key);
  }
  [[nodiscard]] std::string string(std::string_view key) const { return at(key).str(); }
  [[nodiscard]] std::optional<std::string> maybe_string(std::string_view key) const;

  [[nodiscard]] bool is_map() const { return node_.IsMap(); }
  [[nodiscard]] bool is_sequence() const { return node_.IsSequence(); }
  [[nodiscard]] std::vector<YamlReader> items() const;           // sequence elements
  [[nodiscard]] std::vector<std::string> keys() const;           // map keys, in file order

  // Fails on every key of this map that was not read.
  void finish() const;
  [[noreturn]] void fail(const std::string& what) const;

  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] const std::string& origin() const { return *origin_; }
  [[nodiscard]] const YAML::Node& node() const { return node_; }

 private:
  template <class Q>
  static constexpr Dim dim_of();
  [[nodiscard]] std::string child_path(std::string_view key) const;
  [[nodiscard]] std::string where() const;

  YAML::Node node_;
  std::shared_ptr<const std::string> origin_;
  std::string path_;
  std::shared_ptr<std::set<std::string>> used_;  // keys read from this map
};

template <> constexpr Dim YamlReader::dim_of<Bytes>() { return Dim::Bytes; }
template <> constexpr Dim YamlReader::dim_of<Seconds>() { return Dim::Seconds; }
template <> constexpr Dim YamlReader::dim_of<Hertz>() { return Dim::Hertz; }
template <> constexpr Dim YamlReader::dim_of<Watts>() { return Dim::Watts; }
template <> constexpr Dim YamlReader::dim_of<Flops>() { return Dim::Flops; }
template <> constexpr Dim YamlReader::dim_of<FlopRate>() { return Dim::FlopRate; }
template <> constexpr Dim YamlReader::dim_of<Bandwidth>() { return Dim::Bandwidth; }

}  // namespace headroom
