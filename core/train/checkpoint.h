// Checkpoints: a safetensors file (core/train/safetensors.h) holding
//   "<layer>.<param>"                    every parameter, in PyTorch's layouts and names
//   "optimizer.<layer>.<param>.<state>"  the solver's state (momentum_buffer, exp_avg, exp_avg_sq)
//   __metadata__                         format, version, model hash, step, data position, seed,
//                                        the layers' random-number state
// A checkpoint is refused, naming the file and the reason, if it is not a kiln checkpoint, was
// written for another model (hash of the model section), or misses or adds a tensor, or has a
// tensor of another shape. Nothing is applied until everything has been checked.
#pragma once

#include <cstdint>
#include <string>

#include "core/data/dataset.h"
#include "core/graph/net.h"
#include "core/train/solver.h"

namespace kiln {

struct TrainProgress {
  int64_t step = 0;        // optimiser steps taken
  int64_t epoch = 0;       // position of the next training batch
  int64_t batch = 0;
  uint64_t seed = 0;
  uint64_t model_hash = 0;
  data::Dataset::TokenVocabulary vocabulary;  // token data: what the ids stand for (kiln sample)
};

void save_checkpoint(const std::string& path, Net& net, Solver& solver, const TrainProgress& progress);

// Restores parameters, solver state, layer RNG state; returns the progress to resume from.
TrainProgress load_checkpoint(const std::string& path, Net& net, Solver& solver, uint64_t model_hash);

// Loads parameters only (--weights): a kiln checkpoint or a PyTorch state_dict saved with
// safetensors.torch.save_file. Names and shapes must match the model exactly (like PyTorch's
// load_state_dict(strict=True)); other tensors in a kiln checkpoint (optimizer.*) are ignored.
void load_weights(const std::string& path, Net& net);

}  // namespace kiln
