#pragma once
// Options shared by the subcommands that describe one model step (roofline, step, memory).
#include "command.hpp"
#include "headroom/graph/step_graph.hpp"
#include "headroom/hw/hardware_spec.hpp"
#include "headroom/model/model_spec.hpp"
#include "headroom/predict/predictor.hpp"

namespace headroom::cli {

struct LoadedStep {
  ModelSpec model;
  HardwareSpec hw;
  StepConfig cfg;
  bool cuda_graph = false;
};

struct StepOptions {
  void add_to(po::options_description& o, const char* default_fidelity = "roofline");
  LoadedStep load(const po::variables_map& vm) const;
  Fidelity fidelity(const po::variables_map& vm) const;
};

}  // namespace headroom::cli
