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
  Int, Flags, Float, Buffer, DType, Class, VecFunc, Mask, Plane, Phase, Role
};

Kind fieldKind(const Field &f) {
  llvm::StringRef name = ref(f.name);
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
  default: break;
  }
  return out;
}

const char *kindDescription(Kind k) {
  switch (k) {
  case Kind::Int: return "unsigned integer";
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

Expected<uint64_t> parseValue(const Field &f, llvm::StringRef text) {
  llvm::StringRef name = ref(f.name);
  Kind k = fieldKind(f);
  if (k == Kind::Float) {
    double d;
    if (text.getAsDouble(d))
      return fieldError(name, "expected a number, got '" + text + "'");
    return uint64_t(floatBits(float(d)));
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

std::string isa::formatField(const Field &f, const Instr &inst) {
  uint64_t v = inst.get(f);
  Kind k = fieldKind(f);
  if (k == Kind::Float)
    return floatText(bitsFloat(v));
  if (k == Kind::Flags)
    return llvm::formatv("{0:x}", v).str();
  llvm::SmallVector<llvm::StringRef> names = namesFor(k);
  if (v < names.size())
    return names[v].str();
  return std::to_string(v);
}

std::string isa::formatInstruction(const Instr &inst) {
  const OpcodeSpec *spec = lookupOpcode(inst.opcodeByte());
  if (!spec)
    return llvm::formatv("<invalid opcode {0:x2}>", unsigned(inst.opcodeByte()))
        .str();
  std::string out = ref(spec->mnemonic).str();
  for (const Field &f : {kDepWaitField, kDepSignalField})
    if (inst.get(f))
      out += " " + ref(f.name).str() + "=" + std::to_string(inst.get(f));
  for (unsigned i = 0; i < spec->numFields; ++i)
    out += " " + ref(spec->fields[i].name).str() + "=" +
           formatField(spec->fields[i], inst);
  return out;
}

Expected<Instr> isa::parseInstruction(llvm::StringRef line) {
  llvm::SmallVector<llvm::StringRef> tokens;
  llvm::SplitString(line, tokens);
  if (tokens.empty())
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "empty instruction");
  const OpcodeSpec *spec = nullptr;
  for (const OpcodeSpec &s : kOpcodeSpecs)
    if (ref(s.mnemonic) == tokens[0])
      spec = &s;
  if (!spec)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "unknown mnemonic '" + tokens[0] + "'");
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
    auto v = parseValue(*f, value);
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
