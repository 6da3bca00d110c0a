// The runtime API in one include: models and the forward pass, the
// tokenizer, sampling and the generation loop, and the kernels beneath them.
// Tooling (synthetic models, GGUF export, quantization) is in
// llmk/model_tools.h; the benchmark harness in llmk/bench.h.
#pragma once

#include "llmk/arena.h"
#include "llmk/export.h"
#include "llmk/generate.h"
#include "llmk/gguf.h"
#include "llmk/kv_cache.h"
#include "llmk/llama2c.h"
#include "llmk/log.h"
#include "llmk/model.h"
#include "llmk/ops.h"
#include "llmk/kquant.h"
#include "llmk/quant.h"
#include "llmk/sampler.h"
#include "llmk/target.h"
#include "llmk/tensor_type.h"
#include "llmk/thread_pool.h"
#include "llmk/tokenizer.h"
