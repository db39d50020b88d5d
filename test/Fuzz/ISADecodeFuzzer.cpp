//===- ISADecodeFuzzer.cpp - Fuzz the instruction decoder -----------------===//
//
// Input: .text bytes, isa::kInstrBytes per instruction. Every instruction is
// disassembled as spatten-objdump -d does (a `bind` against the instruction
// it patches); text the assembler takes back must disassemble the same. Its
// accesses (the dependency pass's view) are computed. Executing instructions
// is the spbin target's part: here every input is decoded and checked only,
// thousands of times faster than a simulator set up per input.
//
//===----------------------------------------------------------------------===//

#include "FuzzSupport.h"

#include "spatten/ISA/Accesses.h"
#include "spatten/ISA/Disasm.h"

using namespace spatten;

static void checkDisassembly(llvm::ArrayRef<uint8_t> text, size_t index) {
  std::string line = isa::formatInstructionAt(text, index);
  std::optional<isa::Opcode> bound = isa::boundOpcodeAt(text, index);
  auto parsed = isa::parseInstruction(line, bound);
  if (!parsed) {
    llvm::consumeError(parsed.takeError());
    return;
  }
  fuzz::check(isa::formatInstruction(*parsed, bound) == line,
              "disassembly does not assemble back to the same text");
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::ArrayRef<uint8_t> text(data, size - size % isa::kInstrBytes);
  size_t n = text.size() / isa::kInstrBytes;
  for (size_t i = 0; i < n; ++i) {
    checkDisassembly(text, i);
    (void)isa::accessesOf(isa::Instr::decode(text.data() + i * isa::kInstrBytes));
  }
  return 0;
}
