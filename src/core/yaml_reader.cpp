#include "headroom/core/yaml_reader.hpp"

#include <fmt/format.h>

#include <charconv>
#include <fstream>
#include <sstream>

#include "headroom/core/error.hpp"

namespace headroom {

YamlReader YamlReader::load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: cannot open file", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return load_string(ss.str(), path);
}

YamlReader YamlReader::load_string(const std::string& text, const std::string& origin) {
  auto o = std::make_shared<const std::string>(origin);
  try {
    YAML::Node root = YAML::Load(text);
    if (!root.IsMap()) {
      throw InputError(fmt::format("{}:1:1: expected a mapping at the top level", origin));
    }
    return YamlReader(root, o, "");
  } catch (const YAML::Exception& e) {
    throw InputError(fmt::format("{}:{}:{}: YAML syntax error: {}", origin, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
}

YamlReader::YamlReader(YAML::Node node, std::shared_ptr<const std::string> origin, std::string path)
    : node_(std::move(node)), origin_(std::move(origin)), path_(std::move(path)),
      used_(std::make_shared<std::set<std::string>>()) {}

std::string YamlReader::where() const {
  const YAML::Mark m = node_.Mark();
  if (m.is_null()) return *origin_;
  return fmt::format("{}:{}:{}", *origin_, m.line + 1, m.column + 1);
}

void YamlReader::fail(const std::string& what) const {
  throw InputError(fmt::format("{}: {}: {}", where(), path_.empty() ? "(top)" : path_, what));
}

std::string YamlReader::child_path(std::string_view key) const {
  return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
}

bool YamlReader::has(std::string_view key) const {
  if (!node_.IsMap()) return false;
  return static_cast<bool>(node_[std::string(key)]);
}

YamlReader YamlReader::at(std::string_view key) const {
  if (!node_.IsMap()) fail("expected a mapping");
  used_->insert(std::string(key));
  YAML::Node c = node_[std::string(key)];
  if (!c) {
    throw InputError(fmt::format("{}: {}: required key is missing", where(), child_path(key)));
  }
  if (c.IsNull()) {
    // A null value's mark is wherever the parser found the next token (often the next key's
    // line), so point at the key itself.
    for (const auto& kv : node_) {
      if (kv.first.IsScalar() && kv.first.Scalar() == key) {
        const YAML::Mark m = kv.first.Mark();
        throw InputError(
            fmt::format("{}:{}:{}: {}: has no value", *origin_, m.line + 1, m.column + 1, child_path(key)));
      }
    }
    YamlReader r(c, origin_, child_path(key));
    r.fail("has no value");
  }
  return YamlReader(c, origin_, child_path(key));
}

std::optional<YamlReader> YamlReader::maybe(std::string_view key) const {
  if (!has(key)) {
    used_->insert(std::string(key));
    return std::nullopt;
  }
  return at(key);
}

std::optional<std::string> YamlReader::maybe_string(std::string_view key) const {
  auto c = maybe(key);
  if (!c) return std::nullopt;
  return c->str();
}

std::string YamlReader::str() const {
  if (!node_.IsScalar()) fail("expected a single value");
  return node_.Scalar();
}

double YamlReader::number() const {
  const std::string s = str();
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) fail(fmt::format("expected a number, got \"{}\"", s));
  return v;
}

int64_t YamlReader::integer() const {
  const std::string s = str();
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) fail(fmt::format("expected an integer, got \"{}\"", s));
  return v;
}

bool YamlReader::boolean() const {
  const std::string s = str();
  if (s == "true" || s == "True" || s == "yes") return true;
  if (s == "false" || s == "False" || s == "no") return false;
  fail(fmt::format("expected true or false, got \"{}\"", s));
}

double YamlReader::quantity(Dim d) const {
  const std::string s = str();
  try {
    return units::parse(s, d);
  } catch (const UnitError& e) {
    fail(e.what());
  }
}

int64_t YamlReader::positive_int(std::string_view key) const {
  YamlReader c = at(key);
  int64_t v = c.integer();
  if (v <= 0) c.fail(fmt::format("must be a positive integer, got {}", v));
  return v;
}

int64_t YamlReader::nonnegative_int(std::string_view key) const {
  YamlReader c = at(key);
  int64_t v = c.integer();
  if (v < 0) c.fail(fmt::format("must be zero or a positive integer, got {}", v));
  return v;
}

double YamlReader::positive_number(std::string_view key) const {
  YamlReader c = at(key);
  double v = c.number();
  if (!(v > 0)) c.fail(fmt::format("must be positive, got {}", c.str()));
  return v;
}

std::vector<YamlReader> YamlReader::items() const {
  if (!node_.IsSequence()) fail("expected a list");
  std::vector<YamlReader> out;
  size_t i = 0;
  for (const auto& n : node_) out.emplace_back(n, origin_, fmt::format("{}[{}]", path_, i++));
  return out;
}

std::vector<std::string> YamlReader::keys() const {
  if (!node_.IsMap()) fail("expected a mapping");
  std::vector<std::string> out;
  for (const auto& kv : node_) out.push_back(kv.first.as<std::string>());
  return out;
}

void YamlReader::finish() const {
  if (!node_.IsMap()) return;
  std::set<std::string> seen;
  for (const auto& kv : node_) {
    const std::string k = kv.first.as<std::string>();
    if (!seen.insert(k).second) {
      // yaml-cpp keeps the first of two equal keys and silently drops the second.
      const YAML::Mark m = kv.first.Mark();
      throw InputError(fmt::format("{}:{}:{}: {}: duplicate key", *origin_, m.line + 1, m.column + 1, child_path(k)));
    }
    if (!used_->count(k)) {
      const YAML::Mark m = kv.first.Mark();
      if (m.is_null()) throw InputError(fmt::format("{}: {}: unknown key", *origin_, child_path(k)));  // added by an override
      throw InputError(fmt::format("{}:{}:{}: {}: unknown key", *origin_, m.line + 1, m.column + 1, child_path(k)));
    }
  }
}

}  // namespace headroom
