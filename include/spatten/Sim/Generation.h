//===- Generation.h - Greedy text generation on the host --------*- C++ -*-===//
//
// The host loop of `spatten-sim --generate` (docs/Simulator.md,
// "Generation"): a generation binary's `prefill` entry point runs the
// prompt and fills the KV cache in DRAM, then its `decode` entry point runs
// once per further token at a run-time position (register `position`).
// The host picks the argmax of the logits and feeds it back.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_SIM_GENERATION_H
#define SPATTEN_SIM_GENERATION_H

#include "spatten/Sim/Simulator.h"

#include "llvm/ADT/STLFunctionalExtras.h"

#include <optional>
#include <vector>

namespace spatten::sim {

/// The entry points a generation binary has, and the register of decode
/// that holds the position of the token it computes.
constexpr llvm::StringLiteral kPrefillEntry = "prefill";
constexpr llvm::StringLiteral kDecodeEntry = "decode";
constexpr llvm::StringLiteral kPositionRegister = "position";

/// What generate() produced.
struct Generation {
  /// The generated token ids, in order.
  std::vector<int64_t> ids;
  /// When asked for: the prefill's logits output as is ([1, L0, V]) and
  /// each decode step's ([1, 1, V]), step 1 first.
  std::optional<HostTensor> prefillLogits;
  std::vector<HostTensor> stepLogits;
  /// Totals over every run with `stages` filled in (Report::stages).
  Report report;
};

/// Checks that `sim`'s binary can generate `tokens` tokens after a prompt
/// of its prefill's input shape, and selects `prefill`, whose inputs the
/// caller then binds (the prompt is its input `input_ids`, else its first
/// input, of shape [1, L0]). Errors name what is missing or wrong: the
/// `prefill` or `decode` entry point, the `kv_cache`, the prompt input,
/// logits (the output `logits`, else the first output) that are not
/// float32 [1, 1, V] or [1, L0, V] for prefill and [1, 1, V] for decode,
/// decode's first input (int64 [1, 1]) or its register `position`,
/// `tokens` = 0, or
/// L0 + tokens - 1 positions beyond kv_cache.max_context.
llvm::Error prepareGeneration(Simulator &sim, uint64_t tokens);

/// Checks a value for prefill's input `input` before it is bound: when that
/// input is the prompt, every id must lie in the vocabulary [0, V) of the
/// logits, since an id past the token table would read other DRAM rather
/// than fail. Errors name the first offending position and id.
llvm::Error checkPrompt(const Simulator &sim, llvm::StringRef input,
                        const HostTensor &value);

/// Called after each run with its name (`prefill`, `step 1`, `step 2`,
/// ...) and the simulator, whose report() and timeline() are that run's.
using RunObserver =
    llvm::function_ref<void(llvm::StringRef name, const Simulator &sim)>;

/// Greedy decoding of `tokens` tokens, after prepareGeneration() and the
/// binding of prefill's inputs: runs prefill and takes token 1 from the
/// last row of its logits; then decode step s = 1 .. tokens - 1 writes
/// [[token s]] to decode's first input, sets register `position` to
/// L0 + s - 1, runs, and takes token s + 1 from its logits. Errors name
/// the run that failed.
///
/// With `fedIds` (`tokens` ids, each in [0, V)), token s is fedIds[s - 1]
/// instead of an argmax, and Generation::ids is fedIds: a run with
/// timing only (whose logits are meaningless) then feeds the tokens a full
/// run generated and gives its report byte for byte (docs/Simulator.md,
/// "Generation"). A count other than `tokens` or an id outside the
/// vocabulary is an error naming it, before any run.
llvm::Expected<Generation> generate(Simulator &sim, uint64_t tokens,
                                    bool keepLogits,
                                    RunObserver observe = nullptr,
                                    llvm::ArrayRef<int64_t> fedIds = {});

/// The index of the largest value, the lowest one on ties; a NaN counts as
/// the largest (as numpy.argmax and torch.argmax).
int64_t argmax(llvm::ArrayRef<float> values);

} // namespace spatten::sim

#endif // SPATTEN_SIM_GENERATION_H
