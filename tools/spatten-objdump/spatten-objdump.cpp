//===- spatten-objdump.cpp - Inspect .spbin files -------------------------===//
//
//   spatten-objdump -d x.spbin        one line per instruction, and a
//                                     `<name>:` line where each entry
//                                     point starts (format version 4)
//   spatten-objdump --manifest x.spbin  the JSON manifest
//   spatten-objdump --isa-markdown      field tables for docs/ISA.md
//
// The disassembly reads the raw .text words even when they would not
// execute, so it is useful on broken programs; the file itself must still
// pass the container checks of binary::readImage.
//
//===----------------------------------------------------------------------===//

#include "spatten/Binary/SpBin.h"
#include "spatten/ISA/Disasm.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

#include <map>

using namespace llvm;
using namespace spatten;

static cl::OptionCategory category("spatten-objdump options");
static cl::opt<std::string> inputPath(cl::Positional, cl::desc("<x.spbin>"),
                                      cl::cat(category));
static cl::opt<bool> disassemble("d", cl::desc("Disassemble .text"),
                                 cl::cat(category));
static cl::alias disassembleLong("disassemble", cl::aliasopt(disassemble),
                                 cl::desc("Alias for -d"), cl::cat(category));
static cl::opt<bool> manifest("manifest",
                              cl::desc("Print the .spatten.meta manifest"),
                              cl::cat(category));
static cl::opt<bool> isaMarkdown(
    "isa-markdown",
    cl::desc("Print the ISA field tables as Markdown (docs/ISA.md)"),
    cl::cat(category));

static int fail(const Twine &msg) {
  WithColor::error(errs(), "spatten-objdump") << msg << "\n";
  return 1;
}

/// Like objdump's symbol labels: the entry points that start at each
/// instruction. A version-3 binary's one implicit `main` gets none, so its
/// listing is as before entry points.
static std::multimap<uint64_t, std::string>
entryLabels(const binary::Manifest &m) {
  std::multimap<uint64_t, std::string> labels;
  if (m.version > binary::kOldestFormatVersion)
    for (const binary::EntryPoint &e : m.entries)
      labels.insert({e.entry, e.name});
  return labels;
}

static void printDisassembly(const binary::Image &img) {
  std::multimap<uint64_t, std::string> labels = entryLabels(img.manifest);
  for (size_t i = 0; i * isa::kInstrBytes < img.text.size(); ++i) {
    auto [from, to] = labels.equal_range(i);
    for (auto it = from; it != to; ++it)
      outs() << "<" << it->second << ">:\n";
    isa::Instr inst = isa::Instr::decode(img.text.data() + i * isa::kInstrBytes);
    outs() << formatv("{0:x-4}:", i);
    for (uint64_t w : inst.words)
      outs() << formatv(" {0:x-16}", w);
    outs() << "  " << isa::formatInstructionAt(img.text, i) << "\n";
  }
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv, "SpAtten binary inspector\n");
  if (isaMarkdown) {
    outs() << isa::isaMarkdown();
    return 0;
  }
  if (inputPath.empty())
    return fail("no input file (usage: spatten-objdump -d x.spbin)");
  if (!disassemble && !manifest)
    return fail("nothing to do: pass -d and/or --manifest");
  auto img = binary::readImageFile(inputPath);
  if (!img)
    return fail(toString(img.takeError()));
  if (manifest)
    outs() << formatv("{0:2}", img->manifest.toJSON()) << "\n";
  if (disassemble)
    printDisassembly(*img);
  return 0;
}
