//===- spatten-sim.cpp - Run a .spbin on the functional simulator ---------===//
//
//   spatten-sim model.spbin --input NAME=FILE ... --output-dir DIR
//               [--report report.json] [--trace trace.json]
//               [--timing-only] [--hw preset|file.json]
//               [--generate N [--save-logits] [--feed-ids FILE]]
//
// FILE is .npy or an ONNX TensorProto .pb. Every output of the binary's
// first entry point is written as DIR/<output name>.npy (atomically). With
// --generate, a generation binary's prefill and decode entry points
// generate N tokens greedily into DIR/generated_ids.npy (docs/Simulator.md,
// "Generation"); --feed-ids feeds the given ids instead of the argmax
// (a full run's generated_ids.npy makes --timing-only's report equal
// to that run's). Errors go to stderr with exit code 1.
//
//===----------------------------------------------------------------------===//

#include "spatten/HostIO/TensorFiles.h"
#include "spatten/Sim/Generation.h"
#include "spatten/Sim/Simulator.h"
#include "spatten/Sim/Timing/Trace.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

using namespace llvm;
using namespace spatten;

static cl::OptionCategory category("spatten-sim options");
static cl::opt<std::string> binaryPath(cl::Positional, cl::Required,
                                       cl::desc("<model.spbin>"),
                                       cl::cat(category));
static cl::list<std::string>
    inputs("input", cl::desc("Bind a graph input: NAME=FILE (.npy or .pb)"),
           cl::value_desc("NAME=FILE"), cl::cat(category));
static cl::opt<std::string> outputDir("output-dir", cl::Required,
                                      cl::desc("Directory for <output>.npy"),
                                      cl::value_desc("DIR"), cl::cat(category));
static cl::opt<std::string>
    reportPath("report", cl::desc("Write the JSON report here"),
               cl::value_desc("report.json"), cl::cat(category));
static cl::opt<std::string> hwConfig(
    "hw",
    cl::desc("Hardware config for the cycle estimate (preset name or .json); "
             "default: the one in the binary"),
    cl::value_desc("preset|file"), cl::cat(category));

static cl::opt<std::string>
    tracePath("trace",
              cl::desc("Write a Chrome/Perfetto trace-event timeline here, "
                       "one track per unit"),
              cl::value_desc("trace.json"), cl::cat(category));
static cl::opt<bool> timingOnly(
    "timing-only",
    cl::desc("Skip the arithmetic of GEMM, VEC and attention: cycles and "
             "bytes only, outputs meaningless (docs/Simulator.md)"),
    cl::cat(category));

static cl::opt<unsigned> hostThreads(
    "host-threads",
    cl::desc("Host threads, at least 1 (default: all): with 2 or more, "
             "execution and timing overlap and large GEMMs split their rows. "
             "Results are the same for every count"),
    cl::init(0), cl::cat(category));

static cl::opt<unsigned> generateTokens(
    "generate",
    cl::desc("Generate N tokens greedily with the binary's prefill and decode "
             "entry points (the prompt is prefill's input_ids); writes "
             "DIR/generated_ids.npy"),
    cl::value_desc("N"), cl::cat(category));
static cl::opt<bool> saveLogits(
    "save-logits",
    cl::desc("With --generate: also write DIR/logits_prefill.npy and "
             "DIR/logits_step_<s>.npy for each decode step"),
    cl::cat(category));

static cl::opt<std::string> feedIds(
    "feed-ids",
    cl::desc("With --generate: feed these N token ids (.npy or .pb, int64 "
             "or int32, [1, N], e.g. a full run's generated_ids.npy) instead "
             "of the argmax of the logits"),
    cl::value_desc("FILE"), cl::cat(category));

static bool generating() { return generateTokens.getNumOccurrences() > 0; }

/// The ids of --feed-ids, none without it. Errors name the file.
static Expected<std::vector<int64_t>> readFedIds() {
  std::vector<int64_t> ids;
  if (feedIds.empty())
    return ids;
  auto t = hostio::readTensorFile(feedIds);
  if (!t)
    return t.takeError();
  if (t->type == sim::ElemType::F32 || t->shape.size() != 2 ||
      t->shape[0] != 1)
    return createStringError(inconvertibleErrorCode(),
                             "--feed-ids " + feedIds +
                                 ": expected int64 or int32 token ids of "
                                 "shape [1, N], not " +
                                 sim::elemTypeName(t->type) + " " +
                                 t->shapeString());
  for (uint64_t i = 0; i < t->numElements(); ++i)
    ids.push_back(t->type == sim::ElemType::I64 ? t->as<int64_t>()[i]
                                                : t->as<int32_t>()[i]);
  return ids;
}

static int fail(const Twine &msg) {
  WithColor::error(errs(), "spatten-sim") << msg << "\n";
  return 1;
}
static int fail(Error e) { return fail(toString(std::move(e))); }

static Error bindInputs(sim::Simulator &s) {
  for (const std::string &spec : inputs) {
    auto [name, file] = StringRef(spec).split('=');
    if (name.empty() || file.empty())
      return createStringError(inconvertibleErrorCode(),
                               "--input '" + spec + "': expected NAME=FILE");
    auto t = hostio::readTensorFile(file);
    if (!t)
      return t.takeError();
    if (generating())
      if (Error e = sim::checkPrompt(s, name, *t))
        return createStringError(inconvertibleErrorCode(),
                                 "--input '" + spec + "': " +
                                     toString(std::move(e)));
    if (Error e = s.setInput(name, *t))
      return e;
  }
  return Error::success();
}

namespace {
/// The files one run writes (outputs, report, trace), committed together:
/// each is written to a temporary file beside its path; only once all are
/// written are they moved into place, and a failure while moving puts back
/// what was there, so a run leaves all of its files or none.
class OutputSet {
public:
  /// Adds `bytes` as the file `path`, written for `what` ("output 'x'");
  /// two files for one path are an error naming both.
  Error add(std::string path, std::string bytes, std::string what) {
    for (const File &f : files)
      if (f.path == path)
        return createStringError(inconvertibleErrorCode(),
                                 f.what + " and " + what +
                                     " would both be written to '" + path +
                                     "'");
    files.push_back({std::move(path), std::move(bytes), std::move(what)});
    return Error::success();
  }

  Error commit() {
    std::vector<sys::fs::TempFile> temps;
    auto discard = [&](Error e) {
      for (sys::fs::TempFile &t : temps)
        consumeError(t.discard());
      return e;
    };
    for (const File &f : files) {
      auto tmp = sys::fs::TempFile::create(f.path + ".tmp-%%%%%%");
      if (!tmp)
        return discard(cannotWrite(f.path, toString(tmp.takeError())));
      temps.push_back(std::move(*tmp));
      raw_fd_ostream os(temps.back().FD, /*shouldClose=*/false);
      os << f.bytes;
      os.flush();
      if (os.has_error())
        return discard(cannotWrite(f.path, os.error().message()));
    }
    // A directory (or device) in the way would fail its move after others
    // succeeded: refuse before moving anything.
    for (const File &f : files)
      if (sys::fs::exists(f.path) && !sys::fs::is_regular_file(f.path))
        return discard(cannotWrite(f.path, "it exists and is not a file"));
    return discard(moveIntoPlace(temps));
  }

private:
  struct File {
    std::string path, bytes, what;
  };

  static Error cannotWrite(StringRef path, const Twine &why) {
    return createStringError(inconvertibleErrorCode(),
                             "cannot write '" + path + "': " + why);
  }

  /// Moves every temporary file to its path, keeping what each path held
  /// aside until all have moved; on a failure, restores it.
  Error moveIntoPlace(std::vector<sys::fs::TempFile> &temps) {
    std::vector<std::pair<std::string, std::string>> setAside; // path, copy
    std::vector<std::string> placed;
    auto undo = [&](Error e) {
      for (const std::string &p : placed)
        sys::fs::remove(p);
      for (const auto &[path, aside] : setAside)
        sys::fs::rename(aside, path);
      return e;
    };
    for (size_t i = 0; i < temps.size(); ++i) {
      const std::string &path = files[i].path;
      if (sys::fs::exists(path)) {
        SmallString<256> aside;
        sys::fs::createUniquePath(path + ".old-%%%%%%", aside, false);
        if (std::error_code ec = sys::fs::rename(path, aside))
          return undo(cannotWrite(path, ec.message()));
        setAside.push_back({path, std::string(aside)});
      }
      if (Error e = temps[i].keep(path))
        return undo(cannotWrite(path, toString(std::move(e))));
      placed.push_back(path);
    }
    for (const auto &[path, aside] : setAside)
      sys::fs::remove(aside);
    return Error::success();
  }

  std::vector<File> files;
};
} // namespace

static Error createOutputDir() {
  if (std::error_code ec = sys::fs::create_directories(outputDir))
    return createStringError(ec, "cannot create --output-dir '" + outputDir +
                                     "': " + ec.message());
  return Error::success();
}

/// Adds DIR/<name>.npy holding `value`.
static Error addTensor(OutputSet &out, StringRef name,
                       const sim::HostTensor &value) {
  // Output names come from the model; keep them inside DIR.
  std::string file = name.str();
  for (char &c : file)
    if (c == '/' || c == '\\')
      c = '_';
  SmallString<256> path(outputDir);
  sys::path::append(path, file + ".npy");
  return out.add(std::string(path), hostio::serializeNpy(value),
                 ("output '" + name + "'").str());
}

static Error addOutputs(sim::Simulator &s, OutputSet &out) {
  if (Error e = createOutputDir())
    return e;
  for (const binary::TensorInfo &t : s.entryPoint().outputs) {
    auto value = s.getOutput(t.name);
    if (!value)
      return value.takeError();
    if (Error e = addTensor(out, t.name, *value))
      return e;
  }
  return Error::success();
}

/// `json` as the text of a JSON file.
static std::string jsonText(const json::Value &json, bool pretty) {
  std::string text;
  raw_string_ostream os(text);
  if (pretty)
    os << formatv("{0:2}", json);
  else
    os << json;
  os << "\n";
  return text;
}

/// Adds the --report and --trace files, when asked for (each built only
/// then).
static Error addReportAndTrace(OutputSet &out,
                               function_ref<json::Value()> report,
                               function_ref<json::Value()> trace) {
  if (!reportPath.empty())
    if (Error e = out.add(reportPath, jsonText(report(), /*pretty=*/true),
                          "the report"))
      return e;
  if (!tracePath.empty())
    return out.add(tracePath, jsonText(trace(), /*pretty=*/false),
                   "the trace");
  return Error::success();
}

/// --generate: the generated ids, the logits when asked, and the report and
/// trace of every run.
static Error addGeneration(sim::Simulator &s, OutputSet &out) {
  std::optional<sim::timing::RunsTrace> trace;
  if (!tracePath.empty())
    trace.emplace(s.timingConfig().clockGHz);
  auto fed = readFedIds();
  if (!fed)
    return fed.takeError();
  auto g = sim::generate(
      s, generateTokens, saveLogits,
      [&](StringRef name, const sim::Simulator &run) {
        if (trace)
          trace->addRun(name, run.timeline());
      },
      *fed);
  if (!g)
    return createStringError(inconvertibleErrorCode(),
                             binaryPath + ": " + toString(g.takeError()));
  if (Error e = createOutputDir())
    return e;
  sim::HostTensor ids =
      sim::HostTensor::zeros(sim::ElemType::I64, {1, int64_t(g->ids.size())});
  std::copy(g->ids.begin(), g->ids.end(), ids.as<int64_t>());
  if (Error e = addTensor(out, "generated_ids", ids))
    return e;
  if (g->prefillLogits)
    if (Error e = addTensor(out, "logits_prefill", *g->prefillLogits))
      return e;
  for (size_t i = 0; i < g->stepLogits.size(); ++i)
    if (Error e = addTensor(out, formatv("logits_step_{0}", i + 1).str(),
                            g->stepLogits[i]))
      return e;
  return addReportAndTrace(
      out, [&] { return g->report.toJSON(s.timingConfig()); },
      [&] { return trace->toJSON(); });
}

/// Runs the binary's first entry point, or generates with --generate.
static Error runAndAddOutputs(sim::Simulator &s, OutputSet &out) {
  if (generating())
    return addGeneration(s, out);
  if (Error e = s.run())
    return createStringError(inconvertibleErrorCode(),
                             binaryPath + ": " + toString(std::move(e)));
  if (Error e = addOutputs(s, out))
    return e;
  return addReportAndTrace(
      out, [&] { return s.report().toJSON(s.timingConfig()); },
      [&] {
        return sim::timing::traceJSON(s.timeline(), s.timingConfig().clockGHz);
      });
}

/// The units allocate and free their operand and result matrices per
/// instruction (a GEMM's are hundreds of KB). glibc maps each block above
/// 128 KB afresh and hands freed heap back to the system, so the kernel
/// faulted in and zeroed those pages on every instruction: a third of a
/// full BERT-base run's CPU time. Blocks below 32 MiB now stay on the heap.
static void keepUnitMatricesOnTheHeap() {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  keepUnitMatricesOnTheHeap();
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv,
                              "SpAtten functional simulator\n\n"
                              "Runs a .spbin program and writes its outputs "
                              "as .npy files.\n");
  auto image = binary::readImageFile(binaryPath);
  if (!image)
    return fail(image.takeError());
  std::optional<HardwareConfig> timing;
  if (!hwConfig.empty()) {
    auto cfg = HardwareConfig::load(hwConfig);
    if (!cfg)
      return fail(cfg.takeError());
    timing = *cfg;
  }
  auto simulator = sim::Simulator::create(std::move(*image), timing);
  if (!simulator)
    return fail(simulator.takeError());
  sim::Simulator &s = **simulator;
  s.setTimingOnly(timingOnly);
  if (hostThreads.getNumOccurrences()) {
    if (!hostThreads)
      return fail("--host-threads must be at least 1");
    s.setHostThreads(hostThreads);
  }
  if (saveLogits && !generating())
    return fail("--save-logits needs --generate");
  if (!feedIds.empty() && !generating())
    return fail("--feed-ids needs --generate");
  if (generating())
    if (Error e = sim::prepareGeneration(s, generateTokens))
      return fail(formatv("--generate {0}: {1}: {2}", generateTokens.getValue(),
                          binaryPath, toString(std::move(e))));
  if (Error e = bindInputs(s))
    return fail(std::move(e));
  OutputSet out;
  if (Error e = runAndAddOutputs(s, out))
    return fail(std::move(e));
  if (Error e = out.commit())
    return fail(std::move(e));
  return 0;
}
