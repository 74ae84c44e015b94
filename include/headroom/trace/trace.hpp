#pragma once
// The trace format (docs/trace-format.md): JSON Lines, one case per line. Reading keeps each
// record's line number so every later error can name it.
#include <nlohmann/json.hpp>

#include <iosfwd>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "headroom/cost/cost_model.hpp"
#include "headroom/graph/op.hpp"
#include "headroom/graph/parallel_plan.hpp"
#include "headroom/graph/step_graph.hpp"

namespace headroom {

struct TraceRecord {
  int line = 0;
  nlohmann::ordered_json obj;
};

struct Trace {
  std::string origin;
  std::vector<TraceRecord> records;
};

// One line of a trace: nullopt for a blank line or a '#' comment; a line that is not a JSON object
// throws InputError "origin:LINE: malformed JSON: ...".
std::optional<nlohmann::ordered_json> parse_trace_line(const std::string& text, const std::string& origin, int line);

// Skips blank lines and lines starting with '#'. A line that is not a JSON object throws
// InputError "origin:LINE: malformed JSON: ...".
Trace read_trace(std::istream& in, const std::string& origin);
Trace read_trace_file(const std::string& path);

struct ModelStepCase {
  std::string model;  // a file in models/ without extension, or a path
  StepConfig cfg;
  ParallelPlan plan;  // tp (= cfg.tp), pp, ep, microbatches from the record
  bool cuda_graph = false;
};
// Several kernels issued back to back on one stream, measured as one call (an expert-parallel
// MoE layer: dispatch all-to-alls, the local experts, the combine all-to-all).
struct OpSequenceCase {
  std::vector<Op> ops;
};
struct IdleCase {};
using Case = std::variant<Op, ModelStepCase, OpSequenceCase, IdleCase>;

// Turns one record into a case. Missing or mistyped fields and unknown ops throw InputError
// "where: key: what was expected, what was found".
Case parse_case(const nlohmann::ordered_json& obj, const std::string& where);

// How the record's kernels were issued ("issue" field; default "cuda": from C++).
IssueMode parse_issue(const nlohmann::ordered_json& obj, const std::string& where);

// The family a record is scored under: "gemm", "attention.prefill", "copy", ...
std::string op_family(const nlohmann::ordered_json& obj);

}  // namespace headroom
