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

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <string>

namespace spatten::isa {

/// `mnemonic field=value ...` for `inst`; fields in table order, dep_wait,
/// dep_signal, TOPK's count_reg and ATTN's next_tile and head_decided only
/// when non-zero. An
/// invalid opcode prints as `<invalid opcode 0xNN>`. A `bind` writes its `field` as the name of that
/// field of `bound`, the opcode of the instruction it patches, when given
/// and it has one; as the index otherwise.
std::string formatInstruction(const Instr &inst,
                              std::optional<Opcode> bound = std::nullopt);

/// formatInstruction of instruction `index` of `text` (.text bytes,
/// kInstrBytes per instruction), a `bind` resolved against the instruction
/// it patches.
std::string formatInstructionAt(llvm::ArrayRef<uint8_t> text, size_t index);

/// The opcode of the instruction a `bind` at `index` of `text` patches:
/// the next one that is not a `bind`; nullopt when there is none or its
/// opcode is invalid.
std::optional<Opcode> boundOpcodeAt(llvm::ArrayRef<uint8_t> text,
                                    size_t index);

/// The value of field `f` of `inst` as text (names for enumerations; a
/// bind's `field` as in formatInstruction).
std::string formatField(const Field &f, const Instr &inst,
                        std::optional<Opcode> bound = std::nullopt);

/// The opcode whose mnemonic is the first word of `line`, if any.
std::optional<Opcode> parseMnemonic(llvm::StringRef line);

/// Parses the text form back; unknown mnemonic or field, bad value and
/// values that overflow the field are errors naming the field. A `bind`
/// names its `field` by index, or by name when `bound` (the opcode of the
/// next instruction that is not a bind) is given.
llvm::Expected<Instr> parseInstruction(
    llvm::StringRef line, std::optional<Opcode> bound = std::nullopt);

/// Markdown tables of every opcode's fields (docs/ISA.md embeds them).
std::string isaMarkdown();

} // namespace spatten::isa

#endif // SPATTEN_ISA_DISASM_H
