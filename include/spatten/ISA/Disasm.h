//===- Disasm.h - Table-driven text form of instructions --------*- C++ -*-===//
//
// The text form `mnemonic field=value ...` used by spatten-objdump, the
// test assembler and docs/ISA.md. Everything is driven by the tables in
// spatten/ISA/Spec.h: buffers, dtypes, tensor classes, vector functions and
// mask kinds, planes, ATTN phases and TOPK roles print as names, `scale`
// and `imm` as fp32 values.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_ISA_DISASM_H
#define SPATTEN_ISA_DISASM_H

#include "spatten/ISA/Spec.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <string>

namespace spatten::isa {

/// `mnemonic field=value ...` for `inst`; fields in table order, dep_wait
/// and dep_signal only when non-zero. An invalid opcode prints as
/// `<invalid opcode 0xNN>`.
std::string formatInstruction(const Instr &inst);

/// The value of field `f` of `inst` as text (names for enumerations).
std::string formatField(const Field &f, const Instr &inst);

/// Parses the text form back; unknown mnemonic or field, bad value and
/// values that overflow the field are errors naming the field.
llvm::Expected<Instr> parseInstruction(llvm::StringRef line);

/// Markdown tables of every opcode's fields (docs/ISA.md embeds them).
std::string isaMarkdown();

} // namespace spatten::isa

#endif // SPATTEN_ISA_DISASM_H
