//===- spatten-asm.cpp - Test-only assembler for .spbin files -------------===//
//
//   spatten-asm prog.s --manifest m.json [--raw-manifest] -o x.spbin
//
// Builds small binaries for the simulator tests without the compiler. The
// program text uses the spatten-objdump syntax, one instruction per line:
//   load tensor_class=activations dtype=f32 bits=32 dram_addr=0 ...
// (a `bind` names its field in the next instruction that is not a bind),
// plus directives:
//   .rodata f32|i64|i32 V...   append values to .rodata
//   .word W0 ... W7            an instruction given as raw 64-bit words
//   .entry NAME                the entry point NAME starts at the next
//                              instruction
// `#` starts a comment. The manifest JSON may omit format_version (3, or 4
// with entry points or a KV cache), hardware (default preset), entry,
// num_instructions, and in `entries` each `entry` (from `.entry`) and
// empty `inputs`/`outputs`; an `.entry` not in `entries` is added, and the
// top-level entry, inputs and outputs default to the first entry point's.
// With --raw-manifest it is stored verbatim (to test reader errors).
//
//===----------------------------------------------------------------------===//

#include "spatten/Binary/SpBin.h"
#include "spatten/ISA/Disasm.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>

using namespace llvm;
using namespace spatten;

static cl::opt<std::string> inputPath(cl::Positional, cl::Required,
                                      cl::desc("<prog.s>"));
static cl::opt<std::string> manifestPath("manifest", cl::Required,
                                         cl::desc("Manifest JSON"));
static cl::opt<bool> rawManifest("raw-manifest",
                                 cl::desc("Store the manifest verbatim"));
static cl::opt<std::string> outputPath("o", cl::Required,
                                       cl::desc("Output .spbin"));

static Error lineError(unsigned line, const Twine &msg) {
  return createStringError(inconvertibleErrorCode(),
                           inputPath + ":" + Twine(line) + ": " + msg);
}

static Error appendRodata(std::vector<uint8_t> &rodata, StringRef type,
                          ArrayRef<StringRef> values, unsigned line) {
  for (StringRef v : values) {
    uint8_t bytes[8];
    size_t n = type == "i64" ? 8 : 4;
    if (type == "f32") {
      double d;
      if (v.getAsDouble(d))
        return lineError(line, "bad f32 '" + v + "'");
      float f = float(d);
      std::memcpy(bytes, &f, 4);
    } else if (type == "i64" || type == "i32") {
      int64_t i;
      if (v.getAsInteger(0, i))
        return lineError(line, "bad integer '" + v + "'");
      std::memcpy(bytes, &i, n); // little-endian host
    } else {
      return lineError(line, "unknown .rodata type '" + type + "'");
    }
    rodata.insert(rodata.end(), bytes, bytes + n);
  }
  return Error::success();
}

/// One instruction line: raw words (`.word`) or text, parsed once the
/// instruction after it is known (a bind names a field of that one).
struct InstrLine {
  unsigned line;
  StringRef text;
  std::optional<isa::Instr> words;

  std::optional<isa::Opcode> opcode() const {
    if (!words)
      return isa::parseMnemonic(text);
    const isa::OpcodeSpec *spec = isa::lookupOpcode(words->opcodeByte());
    return spec ? std::optional(spec->opcode) : std::nullopt;
  }
};

/// The opcode of the first line from `next` on that is not a bind.
static std::optional<isa::Opcode> boundOpcode(ArrayRef<InstrLine> lines,
                                              size_t next) {
  for (const InstrLine &l : lines.drop_front(next))
    if (l.opcode() != isa::Opcode::Bind)
      return l.opcode();
  return std::nullopt;
}

static Error encodeLines(ArrayRef<InstrLine> lines, binary::Image &img) {
  for (size_t i = 0; i < lines.size(); ++i) {
    std::optional<isa::Instr> inst = lines[i].words;
    if (!inst) {
      auto parsed =
          isa::parseInstruction(lines[i].text, boundOpcode(lines, i + 1));
      if (!parsed)
        return lineError(lines[i].line, toString(parsed.takeError()));
      inst = *parsed;
    }
    size_t at = img.text.size();
    img.text.resize(at + isa::kInstrBytes);
    inst->encode(img.text.data() + at);
  }
  return Error::success();
}

/// Where each `.entry NAME` starts: NAME and an instruction index.
using EntryLabels = std::vector<std::pair<std::string, uint64_t>>;

static Error assemble(StringRef text, binary::Image &img, EntryLabels &labels) {
  std::vector<uint8_t> rodata;
  std::vector<InstrLine> instrs;
  SmallVector<StringRef> lines;
  text.split(lines, '\n');
  for (unsigned i = 0; i < lines.size(); ++i) {
    StringRef l = lines[i].split('#').first.trim();
    if (l.empty())
      continue;
    SmallVector<StringRef> tok;
    SplitString(l, tok);
    if (tok[0] == ".rodata") {
      if (tok.size() < 2)
        return lineError(i + 1, ".rodata needs a type");
      if (Error e = appendRodata(rodata, tok[1],
                                 ArrayRef(tok).drop_front(2), i + 1))
        return e;
      continue;
    }
    if (tok[0] == ".entry") {
      if (tok.size() != 2)
        return lineError(i + 1, ".entry needs a name");
      labels.push_back({tok[1].str(), instrs.size()});
      continue;
    }
    InstrLine instr{i + 1, l, std::nullopt};
    if (tok[0] == ".word") {
      if (tok.size() != 1 + isa::kInstrWords)
        return lineError(i + 1, ".word needs 8 words");
      instr.words.emplace();
      for (unsigned w = 0; w < isa::kInstrWords; ++w)
        if (tok[w + 1].getAsInteger(0, instr.words->words[w]))
          return lineError(i + 1, "bad word '" + tok[w + 1] + "'");
    }
    instrs.push_back(instr);
  }
  if (Error e = encodeLines(instrs, img))
    return e;
  img.rodata = binary::SectionBytes(std::move(rodata));
  return Error::success();
}

/// `m[key]` when it is absent.
static void setDefault(json::Object &m, StringRef key, json::Value value) {
  if (!m.get(key))
    m[key] = std::move(value);
}

/// The `entries` of `m` with every label's entry point: its `entry` from
/// the label, its `inputs` and `outputs` empty unless given.
static void completeEntries(json::Object &m, const EntryLabels &labels) {
  if (labels.empty() && !m.get("entries"))
    return;
  setDefault(m, "entries", json::Array());
  json::Array *entries = m.getArray("entries");
  if (!entries)
    return; // the reader names the field
  for (const auto &[name, index] : labels) {
    auto same = [&](const json::Value &e) {
      return e.getAsObject() && e.getAsObject()->getString("name") == name;
    };
    auto it = llvm::find_if(*entries, same);
    if (it == entries->end())
      it = entries->insert(entries->end(), json::Object{{"name", name}});
    if (json::Object *e = it->getAsObject())
      setDefault(*e, "entry", int64_t(index));
  }
  for (json::Value &e : *entries)
    if (json::Object *o = e.getAsObject())
      for (const char *key : {"inputs", "outputs"})
        setDefault(*o, key, json::Array());
  if (json::Object *first = entries->empty() ? nullptr
                                             : (*entries)[0].getAsObject())
    for (const char *key : {"entry", "inputs", "outputs"})
      if (const json::Value *v = first->get(key))
        setDefault(m, key, *v);
}

/// Fills the manifest keys a hand-written test need not spell out.
static void completeManifest(json::Object &m, uint64_t numInstructions,
                             const EntryLabels &labels) {
  completeEntries(m, labels);
  bool v4 = m.get("entries") || m.get("kv_cache");
  setDefault(m, "format_version",
             int64_t(v4 ? binary::kFormatVersion
                        : binary::kOldestFormatVersion));
  setDefault(m, "hardware", HardwareConfig().toJSON());
  setDefault(m, "num_instructions", int64_t(numInstructions));
  for (const char *key : {"inputs", "outputs"})
    setDefault(m, key, json::Array());
}

static int fail(const Twine &msg) {
  WithColor::error(errs(), "spatten-asm") << msg << "\n";
  return 1;
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(argc, argv, "SpAtten test assembler\n");
  auto src = MemoryBuffer::getFile(inputPath, /*IsText=*/true);
  auto meta = MemoryBuffer::getFile(manifestPath, /*IsText=*/true);
  if (!src || !meta)
    return fail("cannot read " + (src ? manifestPath : inputPath));
  binary::Image img;
  EntryLabels labels;
  if (Error e = assemble((*src)->getBuffer(), img, labels))
    return fail(toString(std::move(e)));
  std::string metaText = (*meta)->getBuffer().str();
  if (!rawManifest) {
    auto json = json::parse(metaText);
    if (!json || !json->getAsObject())
      return fail(manifestPath + ": not a JSON object");
    completeManifest(*json->getAsObject(),
                     img.text.size() / isa::kInstrBytes, labels);
    auto m = binary::Manifest::fromJSON(*json);
    if (!m)
      return fail(manifestPath + ": " + toString(m.takeError()));
    img.manifest = std::move(*m);
    if (Error e = binary::writeImage(img, outputPath))
      return fail(toString(std::move(e)));
    return 0;
  }
  std::vector<uint8_t> bytes =
      binary::serializeSections(img.text, img.rodata, metaText);
  if (Error e = writeToOutput(outputPath, [&](raw_ostream &os) {
        os.write(reinterpret_cast<const char *>(bytes.data()), bytes.size());
        return Error::success();
      }))
    return fail(toString(std::move(e)));
  return 0;
}
