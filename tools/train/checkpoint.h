// Checkpoints: a safetensors file (core/safetensors.h) holding
//   "<layer>.<param>"                    every parameter, in PyTorch's layouts and names
//   "<layer>.<buffer>"                   every buffer (BatchNorm's running_mean, running_var), as
//                                        PyTorch's state_dict names them; loaded with the parameters
//   "optimizer.<layer>.<param>.<state>"  the solver's state (momentum_buffer, exp_avg, exp_avg_sq)
//   "train.loss_scaler"                  FP16 dynamic loss scaling's state (3 floats: scale, good
//                                        steps, skipped steps; tools/train/loss_scaler.h), when the
//                                        run has one; a run without a scaler ignores it, a run with
//                                        one resuming a checkpoint without it starts a fresh scaler
//   "state.<layer>.<key>"                the state stateful layers carry from one step to the next
//                                        (an LSTM's final "h" and "c", Net::carried_state), so a
//                                        resumed run continues truncated BPTT exactly; only those
//                                        that exist (none before the first step)
//   __metadata__                         format, version, model hash, step, data position, seed,
//                                        the layers' random-number state, and for token data
//                                        "vocabulary": JSON {"kind": "characters" | "words",
//                                        "tokens": ["<pad>", "<unk>", ...]} (the tokens in id
//                                        order; absent for other data), so `kiln sample` needs no
//                                        training text; sequence-to-sequence pairs: kind "pairs",
//                                        "tokenizer" ("characters" | "words") and, with two
//                                        vocabularies, "source_tokens" (for `kiln translate`)
// A checkpoint is refused, naming the file and the reason, if it is not a kiln checkpoint, was
// written for another model (hash of the model section), or misses or adds a tensor, or has a
// tensor of another shape, or carried state for a layer that has none, or a malformed vocabulary.
// Nothing is applied until everything has been checked.
#pragma once

#include <cstdint>
#include <string>

#include "core/data/dataset.h"
#include "layers/net.h"
#include "tools/train/solver.h"

namespace kiln {

struct TrainProgress {
  int64_t step = 0;        // optimiser steps taken
  int64_t epoch = 0;       // position of the next training batch
  int64_t batch = 0;
  uint64_t seed = 0;
  uint64_t model_hash = 0;
  data::Dataset::TokenVocabulary vocabulary;  // token data: what the ids stand for (kiln sample)
};

// loss_scaler: the LossScaler's state tensor, or nullptr (no FP16 loss scaling).
void save_checkpoint(const std::string& path, Net& net, Solver& solver, const TrainProgress& progress,
                     Tensor* loss_scaler = nullptr);

// Restores parameters, solver state, layer RNG state and carried state (after net.reset_state(),
// so a checkpoint without "state.*" tensors resumes from zeros); returns the progress to resume
// from, its vocabulary included (empty when the checkpoint has none).
TrainProgress load_checkpoint(const std::string& path, Net& net, Solver& solver, uint64_t model_hash,
                              Tensor* loss_scaler = nullptr);

// Loads parameters only (--weights): a kiln checkpoint or a PyTorch state_dict saved with
// safetensors.torch.save_file. Names and shapes must match the model exactly (like PyTorch's
// load_state_dict(strict=True)); other tensors in a kiln checkpoint (optimizer.*, state.*) are
// ignored, and the net's carried state is left as it is.
void load_weights(const std::string& path, Net& net);

// The vocabulary stored in a checkpoint (or any safetensors file): empty (no kind, no tokens) when
// it has none; an error naming the file when the file is not safetensors or the vocabulary is
// malformed.
data::Dataset::TokenVocabulary read_checkpoint_vocabulary(const std::string& path);

}  // namespace kiln
