// Test helper: runs a loaded model's CPU forward pass over a few tokens, as a model that loads must
// run whatever its weights hold (model_mutation_test, tests/fuzz/model_fuzz).
#pragma once

#include "accel/compute/model_loader.hpp"

namespace sovereign::accel::test {

// A prefill of three tokens (the first, the last and a middle one of the vocabulary), then one
// decode step that reads them back from the KV cache, on one thread. Returns the sum of every
// logit: NaN or infinite where the weights make it so, which is the model's business.
float forward_probe(const compute::LoadedModel& model);

}  // namespace sovereign::accel::test
