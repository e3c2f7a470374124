// A run config's model as a Net (tools/train/trainer.h's BuiltNet): net inputs "data" (int32 ids when
// the first layer is an Embedding, else float), "label", and "decoder_input" (int32) for [data]
// source = "pairs",
// the [[layer]] tables in order, and the loss layer fed (previous layer, "label") unless the
// config names its inputs. Layer errors are prefixed with the config file and line.
#pragma once

#include "tools/train/trainer.h"

namespace kiln::cli {

BuiltNet build_model(const RunConfig& config, Device device);

}  // namespace kiln::cli
