//===- Disasm.cpp - Table-driven text form of instructions ----------------===//

#include "spatten/ISA/Disasm.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>

using namespace spatten;
using namespace spatten::isa;
using llvm::Expected;

namespace {

llvm::StringRef ref(std::string_view s) { return {s.data(), s.size()}; }

/// How a field's value is written: a name from one of Spec.h's tables, an
/// fp32 bit pattern, hex flags or a plain integer.
enum class Kind {
  Int, Signed, Flags, Float, Buffer, DType, Class, VecFunc, Mask, Plane, Phase,
  Role, Source, BoundField
};

Kind fieldKind(const Field &f) {
  llvm::StringRef name = ref(f.name);
  // BIND's fields; no other layout uses these names.
  if (name == "field")
    return Kind::BoundField;
  if (name == "source")
    return Kind::Source;
  if (name == "mul" || name == "add" || name == "lo" || name == "hi")
    return Kind::Signed;
  if (name.ends_with("_buf"))
    return Kind::Buffer;
  if (name == "dtype")
    return Kind::DType;
  if (name == "tensor_class")
    return Kind::Class;
  if (name == "func")
    return Kind::VecFunc;
  if (name == "mask_kind")
    return Kind::Mask;
  if (name == "plane")
    return Kind::Plane;
  if (name == "phase")
    return Kind::Phase;
  if (name == "role")
    return Kind::Role;
  if (f.fp32)
    return Kind::Float;
  if (name == "flags")
    return Kind::Flags;
  return Kind::Int;
}

/// The name table for enumeration kinds (empty for the others).
llvm::SmallVector<llvm::StringRef> namesFor(Kind k) {
  llvm::SmallVector<llvm::StringRef> out;
  auto add = [&](const auto &arr) {
    for (std::string_view s : arr)
      out.push_back(ref(s));
  };
  switch (k) {
  case Kind::Buffer: add(kBufferNames); break;
  case Kind::DType: add(kDTypeNames); break;
  case Kind::Class: add(kTensorClassNames); break;
  case Kind::VecFunc: add(kVecFuncNames); break;
  case Kind::Mask: add(kMaskKindNames); break;
  case Kind::Plane: add(kPlaneNames); break;
  case Kind::Phase: add(kAttnPhaseNames); break;
  case Kind::Role: add(kTopkRoleNames); break;
  case Kind::Source: add(kBindSourceNames); break;
  default: break;
  }
  return out;
}

const char *kindDescription(Kind k) {
  switch (k) {
  case Kind::Int: return "unsigned integer";
  case Kind::Signed: return "signed integer";
  case Kind::BoundField:
    return "index in the next instruction's field table (text: its name)";
  case Kind::Flags: return "flag bits";
  case Kind::Float: return "fp32 bits";
  case Kind::Buffer: return "buffer";
  case Kind::DType: return "dtype";
  case Kind::Class: return "tensor class";
  case Kind::VecFunc: return "vector function";
  case Kind::Mask: return "mask kind";
  case Kind::Plane: return "plane";
  case Kind::Phase: return "attention phase";
  case Kind::Role: return "top-k role";
  case Kind::Source: return "bind source";
  }
  return "";
}

std::string floatText(float f) {
  // %.9g round-trips every fp32 value.
  return llvm::formatv("{0}", llvm::format("%.9g", double(f))).str();
}

llvm::Error fieldError(llvm::StringRef field, const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "field '" + field + "': " + msg);
}

/// BIND `field` as text: the name of field `index` of the instruction it
/// patches (`bound`), or the index when that is unknown or has no such
/// field.
std::string boundFieldText(uint64_t index, std::optional<Opcode> bound) {
  const OpcodeSpec *spec = bound ? &kOpcodeSpecs[unsigned(*bound)] : nullptr;
  if (spec && index < spec->numFields)
    return ref(spec->fields[index].name).str();
  return std::to_string(index);
}

/// BIND `field` from text: an index, or a field name of `bound`.
Expected<uint64_t> parseBoundField(llvm::StringRef text,
                                   std::optional<Opcode> bound) {
  uint64_t index;
  if (!text.getAsInteger(0, index))
    return index;
  if (!bound)
    return fieldError("field", "'" + text +
                                   "' names a field of the next instruction, "
                                   "which is not known here");
  const OpcodeSpec &spec = kOpcodeSpecs[unsigned(*bound)];
  if (std::optional<unsigned> i =
          fieldIndex(spec, std::string_view(text.data(), text.size())))
    return uint64_t(*i);
  return fieldError("field", "'" + text + "' is not a field of the next "
                                          "instruction (" +
                                 ref(spec.mnemonic) + ")");
}

Expected<uint64_t> parseValue(const Field &f, llvm::StringRef text,
                              std::optional<Opcode> bound) {
  llvm::StringRef name = ref(f.name);
  Kind k = fieldKind(f);
  if (k == Kind::Float) {
    double d;
    if (text.getAsDouble(d))
      return fieldError(name, "expected a number, got '" + text + "'");
    return uint64_t(floatBits(float(d)));
  }
  if (k == Kind::BoundField)
    return parseBoundField(text, bound);
  if (k == Kind::Signed) {
    int64_t v;
    if (text.getAsInteger(0, v))
      return fieldError(name, "bad value '" + text + "' (a signed integer)");
    return uint64_t(v);
  }
  llvm::SmallVector<llvm::StringRef> names = namesFor(k);
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == text)
      return uint64_t(i);
  uint64_t v;
  if (text.getAsInteger(0, v)) {
    std::string known = names.empty() ? "" : " (one of: " + llvm::join(names, ", ") + ")";
    return fieldError(name, "bad value '" + text + "'" + known);
  }
  return v;
}

} // namespace

std::string isa::formatField(const Field &f, const Instr &inst,
                             std::optional<Opcode> bound) {
  uint64_t v = inst.get(f);
  Kind k = fieldKind(f);
  if (k == Kind::Float)
    return floatText(bitsFloat(v));
  if (k == Kind::Signed)
    return std::to_string(int64_t(v));
  if (k == Kind::BoundField)
    return boundFieldText(v, bound);
  if (k == Kind::Flags)
    return llvm::formatv("{0:x}", v).str();
  llvm::SmallVector<llvm::StringRef> names = namesFor(k);
  if (v < names.size())
    return names[v].str();
  return std::to_string(v);
}

std::string isa::formatInstruction(const Instr &inst,
                                   std::optional<Opcode> bound) {
  const OpcodeSpec *spec = lookupOpcode(inst.opcodeByte());
  if (!spec)
    return llvm::formatv("<invalid opcode {0:x2}>", unsigned(inst.opcodeByte()))
        .str();
  std::string out = ref(spec->mnemonic).str();
  for (const Field &f : {kDepWaitField, kDepSignalField})
    if (inst.get(f))
      out += " " + ref(f.name).str() + "=" + std::to_string(inst.get(f));
  for (unsigned i = 0; i < spec->numFields; ++i) {
    const Field &f = spec->fields[i];
    if ((f.name == fields::Topk::countReg.name ||
         f.name == fields::Attn::nextTile.name ||
         f.name == fields::Attn::headDecided.name) &&
        !inst.get(f))
      continue; // like the tokens: only when used
    out += " " + ref(f.name).str() + "=" + formatField(f, inst, bound);
  }
  return out;
}

std::optional<Opcode> isa::boundOpcodeAt(llvm::ArrayRef<uint8_t> text,
                                         size_t index) {
  for (size_t i = index + 1; (i + 1) * kInstrBytes <= text.size(); ++i) {
    const OpcodeSpec *spec =
        lookupOpcode(Instr::decode(text.data() + i * kInstrBytes).opcodeByte());
    if (!spec)
      return std::nullopt;
    if (spec->opcode != Opcode::Bind)
      return spec->opcode;
  }
  return std::nullopt;
}

std::string isa::formatInstructionAt(llvm::ArrayRef<uint8_t> text,
                                     size_t index) {
  Instr inst = Instr::decode(text.data() + index * kInstrBytes);
  if (inst.opcodeByte() != uint8_t(Opcode::Bind))
    return formatInstruction(inst);
  return formatInstruction(inst, boundOpcodeAt(text, index));
}

std::optional<Opcode> isa::parseMnemonic(llvm::StringRef line) {
  llvm::StringRef word = line.ltrim().split(' ').first.rtrim();
  for (const OpcodeSpec &s : kOpcodeSpecs)
    if (ref(s.mnemonic) == word)
      return s.opcode;
  return std::nullopt;
}

Expected<Instr> isa::parseInstruction(llvm::StringRef line,
                                      std::optional<Opcode> bound) {
  llvm::SmallVector<llvm::StringRef> tokens;
  llvm::SplitString(line, tokens);
  if (tokens.empty())
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "empty instruction");
  std::optional<Opcode> opcode = parseMnemonic(tokens[0]);
  if (!opcode)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "unknown mnemonic '" + tokens[0] + "'");
  const OpcodeSpec *spec = &kOpcodeSpecs[unsigned(*opcode)];
  Instr inst;
  inst.set(kOpcodeField, uint64_t(spec->opcode));
  for (llvm::StringRef tok : llvm::ArrayRef(tokens).drop_front()) {
    auto [name, value] = tok.split('=');
    const Field *f = lookupField(*spec, std::string_view(name.data(), name.size()));
    if (name == "dep_wait")
      f = &kDepWaitField;
    else if (name == "dep_signal")
      f = &kDepSignalField;
    if (!f)
      return fieldError(name, "not a field of " + ref(spec->mnemonic));
    auto v = parseValue(*f, value, bound);
    if (!v)
      return v.takeError();
    if (!inst.set(*f, *v))
      return fieldError(name, llvm::formatv("value {0} does not fit in {1} bits",
                                            *v, unsigned(f->width)));
  }
  return inst;
}

static void appendFieldRow(std::string &out, const Field &f) {
  Kind k = fieldKind(f);
  std::string values = llvm::join(namesFor(k), ", ");
  out += llvm::formatv("| `{0}` | {1} | {2}..{3} | {4} | {5}{6} |\n",
                       ref(f.name), unsigned(f.word), unsigned(f.lsb),
                       unsigned(f.lsb + f.width - 1), unsigned(f.width),
                       kindDescription(k),
                       values.empty() ? "" : ": " + values)
             .str();
}

std::string isa::isaMarkdown() {
  std::string out;
  const char *head = "| field | word | bits | width | value |\n"
                     "|---|---|---|---|---|\n";
  out += "#### Header (word 0, every opcode)\n\n";
  out += head;
  for (const Field &f : {kOpcodeField, kDepWaitField, kDepSignalField})
    appendFieldRow(out, f);
  for (const OpcodeSpec &s : kOpcodeSpecs) {
    out += llvm::formatv("\n#### `{0}` (opcode {1})\n\n", ref(s.mnemonic),
                         unsigned(s.opcode))
               .str();
    if (!s.numFields) {
      out += "No fields beyond the header.\n";
      continue;
    }
    out += head;
    for (unsigned i = 0; i < s.numFields; ++i)
      appendFieldRow(out, s.fields[i]);
  }
  return out;
}
