//===- Generation.cpp - Greedy text generation on the host ----------------===//

#include "spatten/Sim/Generation.h"
#include "SimError.h"

#include "llvm/Support/FormatVariadic.h"

#include <cmath>

using namespace spatten;
using namespace spatten::sim;
using binary::EntryPoint;
using binary::TensorInfo;
using llvm::Error;
using llvm::Expected;


namespace {

/// The tensors the host loop reads and writes, and the sizes it needs.
struct Plan {
  const TensorInfo *prompt = nullptr, *prefillLogits = nullptr;
  const TensorInfo *decodeInput = nullptr, *decodeLogits = nullptr;
  uint64_t promptLength = 0; ///< L0
  uint64_t vocab = 0;        ///< V
};

std::string shapeOf(const TensorInfo &t) { return shapeString(t.shape); }

Expected<const EntryPoint *> findEntry(const binary::Manifest &m,
                                       llvm::StringRef name) {
  if (const EntryPoint *e = m.findEntry(name))
    return e;
  std::string names;
  for (const EntryPoint &e : m.entries)
    names += (names.empty() ? "" : ", ") + e.name;
  return makeError("the binary has no entry point '" + name +
                   "' (its entry points: " + names + ")");
}

/// `e`'s output `logits`, else its first, checked to be float32 of one of
/// `shapes` (a V of -1 is any V > 0).
Expected<const TensorInfo *>
logitsOf(const EntryPoint &e,
         std::initializer_list<std::vector<int64_t>> shapes) {
  if (e.outputs.empty())
    return makeError("entry point '" + e.name + "' has no logits output");
  const TensorInfo *t = &e.outputs.front();
  for (const TensorInfo &o : e.outputs)
    if (o.name == "logits")
      t = &o;
  std::string wanted;
  for (const std::vector<int64_t> &shape : shapes) {
    bool match = t->dtype == "float32" && t->shape.size() == shape.size();
    for (size_t i = 0; match && i < shape.size(); ++i)
      match = shape[i] < 0 ? t->shape[i] > 0 : t->shape[i] == shape[i];
    if (match)
      return t;
    wanted += (wanted.empty() ? "" : " or ") + shapeString(shape);
  }
  return makeError(llvm::formatv("entry point '{0}': logits '{1}' are {2} {3}, "
                                 "expected float32 {4} (-1: the vocabulary)",
                                 e.name, t->name, t->dtype, shapeOf(*t), wanted));
}

/// The prompt input of prefill: `input_ids`, else its first input.
Expected<const TensorInfo *> promptOf(const EntryPoint &prefill) {
  if (prefill.inputs.empty())
    return makeError("entry point 'prefill' has no input for the prompt");
  const TensorInfo *t = &prefill.inputs.front();
  for (const TensorInfo &i : prefill.inputs)
    if (i.name == "input_ids")
      t = &i;
  if (t->shape.size() != 2 || t->shape[0] != 1 || t->shape[1] < 1)
    return makeError("entry point 'prefill': prompt input '" + t->name +
                     "' is " + shapeOf(*t) + ", expected [1, L0]");
  return t;
}

Error checkDecode(const EntryPoint &decode) {
  const std::vector<TensorInfo> &ins = decode.inputs;
  if (ins.empty() || ins[0].dtype != "int64" ||
      ins[0].shape != std::vector<int64_t>{1, 1})
    return makeError("entry point 'decode': its first input must be the "
                     "int64 [1, 1] token id");
  if (!decode.registerIndex(kPositionRegister))
    return makeError("entry point 'decode' has no register 'position'");
  return Error::success();
}

Expected<Plan> planOf(const binary::Manifest &m, uint64_t tokens) {
  auto prefill = findEntry(m, kPrefillEntry);
  if (!prefill)
    return prefill.takeError();
  auto decode = findEntry(m, kDecodeEntry);
  if (!decode)
    return decode.takeError();
  if (!m.kvCache)
    return makeError("the binary has no kv_cache (not a generation binary)");
  Plan p;
  auto prompt = promptOf(**prefill);
  if (!prompt)
    return prompt.takeError();
  p.prompt = *prompt;
  p.promptLength = uint64_t(p.prompt->shape[1]);
  // Every prompt position's logits, or the last one's (what generation reads).
  auto prefillLogits =
      logitsOf(**prefill, {{1, int64_t(p.promptLength), -1}, {1, 1, -1}});
  if (!prefillLogits)
    return prefillLogits.takeError();
  p.prefillLogits = *prefillLogits;
  p.vocab = uint64_t(p.prefillLogits->shape[2]);
  if (Error e = checkDecode(**decode))
    return std::move(e);
  p.decodeInput = &(*decode)->inputs.front();
  auto decodeLogits = logitsOf(**decode, {{1, 1, int64_t(p.vocab)}});
  if (!decodeLogits)
    return decodeLogits.takeError();
  p.decodeLogits = *decodeLogits;
  if (tokens == 0)
    return makeError("at least one token must be generated");
  uint64_t positions = p.promptLength + tokens - 1;
  if (positions > m.kvCache->maxContext)
    return makeError(llvm::formatv(
        "{0} prompt tokens and {1} generated need {2} positions, beyond the "
        "KV cache's max_context {3}",
        p.promptLength, tokens, positions, m.kvCache->maxContext));
  return p;
}

/// Runs the selected entry point as the run `name`; errors name it.
Error runAs(Simulator &sim, llvm::StringRef name, RunObserver observe) {
  if (Error e = sim.run())
    return makeError(name + ": " + llvm::toString(std::move(e)));
  if (observe)
    observe(name, sim);
  return Error::success();
}

/// The argmax of the last row of `logits` ([1, L, V] float32).
int64_t nextToken(const HostTensor &logits, uint64_t vocab) {
  const float *last = logits.as<float>() + logits.numElements() - vocab;
  return argmax(llvm::ArrayRef(last, vocab));
}

} // namespace

int64_t sim::argmax(llvm::ArrayRef<float> values) {
  int64_t best = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    if (std::isnan(values[i]))
      return int64_t(i);
    if (values[i] > values[best])
      best = int64_t(i);
  }
  return best;
}

Error sim::checkPrompt(const Simulator &sim, llvm::StringRef input,
                       const HostTensor &prompt) {
  auto plan = planOf(sim.manifest(), 1);
  if (!plan)
    return plan.takeError();
  if (input != plan->prompt->name)
    return Error::success();
  if (prompt.type == ElemType::F32)
    return makeError("the prompt must hold integer token ids, not float32");
  for (uint64_t i = 0; i < prompt.numElements(); ++i) {
    int64_t id = prompt.type == ElemType::I64 ? prompt.as<int64_t>()[i]
                                              : prompt.as<int32_t>()[i];
    if (id < 0 || uint64_t(id) >= plan->vocab)
      return makeError(llvm::formatv("prompt token {0} is {1}, outside the "
                                     "vocabulary [0, {2}) of the logits",
                                     i, id, plan->vocab));
  }
  return Error::success();
}

Error sim::prepareGeneration(Simulator &sim, uint64_t tokens) {
  if (auto plan = planOf(sim.manifest(), tokens); !plan)
    return plan.takeError();
  return sim.selectEntry(kPrefillEntry);
}

/// Checks the ids fed in place of the argmax: `tokens` of them, each in
/// the vocabulary.
static Error checkFedIds(llvm::ArrayRef<int64_t> ids, uint64_t tokens,
                         uint64_t vocab) {
  if (ids.size() != tokens)
    return makeError(llvm::formatv("{0} token ids fed for {1} generated "
                                   "tokens",
                                   ids.size(), tokens));
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || uint64_t(ids[i]) >= vocab)
      return makeError(llvm::formatv("fed token {0} is {1}, outside the "
                                     "vocabulary [0, {2}) of the logits",
                                     i, ids[i], vocab));
  return Error::success();
}

Expected<Generation> sim::generate(Simulator &sim, uint64_t tokens,
                                   bool keepLogits, RunObserver observe,
                                   llvm::ArrayRef<int64_t> fedIds) {
  auto plan = planOf(sim.manifest(), tokens);
  if (!plan)
    return plan.takeError();
  if (!fedIds.empty())
    if (Error e = checkFedIds(fedIds, tokens, plan->vocab))
      return std::move(e);
  // Token `n` (from 0): the fed one, else the argmax of the last logits.
  auto tokenOf = [&](size_t n, const HostTensor &logits) {
    return fedIds.empty() ? nextToken(logits, plan->vocab) : fedIds[n];
  };
  Generation g;
  GenerationStages stages;
  // Registers and the prefill's bound inputs: selecting keeps the inputs.
  if (Error e = sim.selectEntry(kPrefillEntry))
    return std::move(e);
  if (Error e = runAs(sim, "prefill", observe))
    return std::move(e);
  g.report = sim.report();
  stages.prefill = sim.report().figures();
  auto logits = sim.getOutput(plan->prefillLogits->name);
  if (!logits)
    return logits.takeError();
  g.ids.push_back(tokenOf(0, *logits));
  if (keepLogits)
    g.prefillLogits = std::move(*logits);
  if (tokens > 1)
    if (Error e = sim.selectEntry(kDecodeEntry))
      return std::move(e);
  for (unsigned step = 1; step < tokens; ++step) {
    HostTensor id = HostTensor::zeros(ElemType::I64, {1, 1});
    id.as<int64_t>()[0] = g.ids.back();
    uint64_t position = plan->promptLength + step - 1;
    if (Error e = sim.setInput(plan->decodeInput->name, id))
      return std::move(e);
    if (Error e = sim.setRegister(kPositionRegister, uint32_t(position)))
      return std::move(e);
    if (Error e = runAs(sim, llvm::formatv("step {0}", step).str(), observe))
      return std::move(e);
    g.report.addTotals(sim.report());
    stages.steps.push_back({step, position, sim.report().figures()});
    auto stepLogits = sim.getOutput(plan->decodeLogits->name);
    if (!stepLogits)
      return stepLogits.takeError();
    g.ids.push_back(tokenOf(step, *stepLogits));
    if (keepLogits)
      g.stepLogits.push_back(std::move(*stepLogits));
  }
  g.report.stages = std::move(stages);
  return std::move(g);
}
