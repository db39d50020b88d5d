//===- ProgramBuilderTest.cpp - Typed instructions and binds --------------===//
//
// ProgramBuilder emits a `bind` before the next instruction, named by the
// field; the op verifier resolves the name against that instruction and
// the encoding carries its index. TOPK's count register.
//
//===----------------------------------------------------------------------===//

#include "ProgramBuilder.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace spatten;
using namespace spatten::isa;

namespace {

class ProgramBuilderTest : public ::testing::Test {
protected:
  void SetUp() override {
    ctx.loadDialect<ISADialect>();
    module = ModuleOp::create(UnknownLoc::get(&ctx));
    OpBuilder b(&ctx);
    b.setInsertionPointToEnd(module->getBody());
    program = ProgramOp::create(
        b, b.getUnknownLoc(), b.getStringAttr("main"), b.getI64IntegerAttr(4096),
        b.getI64IntegerAttr(0), b.getArrayAttr({}), b.getArrayAttr({}),
        b.getStringAttr("{}"));
    program.getBody().emplaceBlock();
    builder.setInsertionPointToEnd(&program.getBody().front());
  }

  /// Verifies the module; the first diagnostic, if any, in `message`.
  LogicalResult verifyModule() {
    ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &d) {
      if (message.empty())
        message = d.str();
      return success();
    });
    return verify(*module);
  }

  MLIRContext ctx;
  OwningOpRef<ModuleOp> module;
  ProgramOp program;
  OpBuilder builder{&ctx};
  HardwareConfig hw;
  std::string message;
};

TEST_F(ProgramBuilderTest, BindPrecedesTheNextInstruction) {
  ProgramBuilder pb(builder, hw);
  pb.bind({"rows", BindSource::Register, 2, 1, 1, 0, 8});
  pb.bind({"dram_addr", BindSource::Table, 2, 16, 0, 0, 4096, 64});
  pb.load({Buffer::Act, 0, 4}, DramRef{}, 16, 8, 4);
  TopkInstr topk;
  topk.flags = TopkIota | TopkWriteCount;
  topk.countReg = 3;
  topk.scores = {Buffer::Act, 0, 0};
  topk.n = 4;
  topk.k = 2;
  pb.emit(topk);
  pb.halt();
  ASSERT_TRUE(succeeded(verifyModule())) << message;

  auto ops = llvm::to_vector(
      llvm::map_range(program.getBody().front(), [](Operation &op) {
        return &op;
      }));
  ASSERT_EQ(ops.size(), 5u);
  auto rows = cast<BindOp>(ops[0]);
  EXPECT_EQ(getBoundOp(rows), ops[2]);
  EXPECT_EQ(getBinds(ops[2]).size(), 2u);
  FailureOr<Instr> word = encodeInstruction(rows);
  ASSERT_TRUE(succeeded(word));
  EXPECT_EQ(word->get(fields::Bind::field),
            *fieldIndex(kOpcodeSpecs[unsigned(Opcode::Load)], "rows"));
  EXPECT_EQ(int64_t(word->get(fields::Bind::add)), 1);
  FailureOr<Instr> table = encodeInstruction(ops[1]);
  ASSERT_TRUE(succeeded(table));
  EXPECT_EQ(table->get(fields::Bind::source), uint64_t(BindSource::Table));
  EXPECT_EQ(table->get(fields::Bind::table), 64u);
  FailureOr<Instr> t = encodeInstruction(ops[3]);
  ASSERT_TRUE(succeeded(t));
  EXPECT_EQ(t->get(fields::Topk::countReg), 3u);
}

TEST_F(ProgramBuilderTest, BindOfAFieldTheInstructionLacksIsAnError) {
  ProgramBuilder pb(builder, hw);
  pb.bind({"lk", BindSource::Register, 0, 1, 0, 0, 8});
  pb.load({Buffer::Act, 0, 4}, DramRef{}, 16, 8, 4);
  pb.halt();
  EXPECT_TRUE(failed(verifyModule()));
  EXPECT_NE(message.find("field 'lk' is not a field of 'spatten_isa.load'"),
            std::string::npos)
      << message;
}

} // namespace
