//===- DramPlanTest.cpp - The SpAtten-to-ISA lowering's DRAM plan ---------===//
//
// Placement order and alignment, aliases, in-place views of cascade head
// pruning, and the error for a value the plan did not place (which valid
// IR cannot reach through the pass: every reader of a view reads it in
// place).
//
//===----------------------------------------------------------------------===//

#include "DramPlan.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace spatten;
using namespace spatten::isa;

namespace {

constexpr const char *kHeadPruning = R"mlir(
func.func @f(%x: tensor<1x3x4xf32>, %h: tensor<2xi64>) -> tensor<3x4xf32> {
  %w = arith.constant dense<1.0> : tensor<4x8xf32>
  %pw = spatten.prune_heads %w, %h {num_heads = 4 : i64, axis = 1 : i64} : tensor<4x8xf32>, tensor<2xi64> -> tensor<4x4xf32>
  %y = spatten.linear %x, %pw : (tensor<1x3x4xf32>, tensor<4x4xf32>) -> tensor<1x3x4xf32>
  %r = spatten.reshape %y : (tensor<1x3x4xf32>) -> tensor<3x4xf32>
  return %r : tensor<3x4xf32>
}
)mlir";

/// A function of another module: the plan never places its values.
constexpr const char *kOther = R"mlir(
func.func @other(%z: tensor<2xf32>) -> tensor<2xf32> {
  return %z : tensor<2xf32>
}
)mlir";

class DramPlanTest : public ::testing::Test {
protected:
  void SetUp() override {
    ctx.loadDialect<SpAttenDialect, arith::ArithDialect, func::FuncDialect>();
    module = parseSourceString<ModuleOp>(kHeadPruning, &ctx);
    ASSERT_TRUE(module);
    f = module->lookupSymbol<func::FuncOp>("f");
    otherModule = parseSourceString<ModuleOp>(kOther, &ctx);
    ASSERT_TRUE(otherModule);
    other = otherModule->lookupSymbol<func::FuncOp>("other");
    FailureOr<DramPlan> built = DramPlan::build(*module);
    ASSERT_TRUE(succeeded(built));
    plan.emplace(std::move(*built));
  }

  Operation *opNamed(StringRef name) {
    Operation *found = nullptr;
    f.walk([&](Operation *op) {
      if (op->getName().getStringRef() == name)
        found = op;
    });
    return found;
  }

  MLIRContext ctx;
  OwningOpRef<ModuleOp> module, otherModule;
  func::FuncOp f, other;
  std::optional<DramPlan> plan;
};

TEST_F(DramPlanTest, PlacesConstantsThenArenaInProgramOrder) {
  Operation *weight = opNamed("arith.constant");
  Operation *linear = opNamed("spatten.linear");
  FailureOr<const Tensor *> w = plan->lookup(weight->getResult(0), linear);
  ASSERT_TRUE(succeeded(w));
  EXPECT_EQ((*w)->ref.addr, 0);
  EXPECT_EQ((*w)->ref.cls, TensorClass::Weight);
  EXPECT_EQ(plan->rodataSize(), 4 * 8 * 4);
  // The arena starts on the next 4 KiB page: x, then h (64-byte aligned),
  // then the linear's result.
  FailureOr<const Tensor *> x = plan->lookup(f.getArgument(0), linear);
  FailureOr<const Tensor *> h = plan->lookup(f.getArgument(1), linear);
  FailureOr<const Tensor *> y = plan->lookup(linear->getResult(0), linear);
  ASSERT_TRUE(succeeded(x) && succeeded(h) && succeeded(y));
  EXPECT_EQ((*x)->ref.addr, 4096);
  EXPECT_EQ((*h)->ref.addr, 4096 + 64);
  EXPECT_EQ((*h)->ref.dtype, DType::I64);
  EXPECT_EQ((*y)->ref.addr, 4096 + 128);
  EXPECT_EQ(plan->dramSize(), 4096 + 128 + 12 * 4);
}

TEST_F(DramPlanTest, ReshapeAliasesItsInput) {
  Operation *reshape = opNamed("spatten.reshape");
  Operation *linear = opNamed("spatten.linear");
  FailureOr<const Tensor *> r = plan->lookup(reshape->getResult(0), reshape);
  FailureOr<const Tensor *> y = plan->lookup(linear->getResult(0), linear);
  ASSERT_TRUE(succeeded(r) && succeeded(y));
  EXPECT_EQ((*r)->ref.addr, (*y)->ref.addr);
  EXPECT_EQ((*r)->shape, SmallVector<int64_t>({3, 4}));
  EXPECT_FALSE(plan->isLowered(reshape));
  EXPECT_TRUE(plan->isLowered(linear));
}

TEST_F(DramPlanTest, KeptHeadsOfAWeightAreReadInPlace) {
  Operation *prune = opNamed("spatten.prune_heads");
  EXPECT_FALSE(plan->isLowered(prune));
  const InPlaceView *view = plan->viewOf(prune->getResult(0));
  ASSERT_NE(view, nullptr);
  EXPECT_EQ(view->kind, InPlaceView::Kind::KeptHeads);
  EXPECT_EQ(view->source, prune->getOperand(0));
  EXPECT_EQ(view->indices, f.getArgument(1));
  EXPECT_EQ(view->axis, 1);
  EXPECT_EQ(view->headWidth, 2);
}

/// Collects the messages of the diagnostics emitted while it lives.
struct CapturedDiagnostics {
  explicit CapturedDiagnostics(MLIRContext &ctx)
      : handler(&ctx, [this](Diagnostic &d) {
          messages.push_back(d.str());
          return success();
        }) {}
  std::vector<std::string> messages;
  ScopedDiagnosticHandler handler;
};

TEST_F(DramPlanTest, AnUnplannedValueIsAnErrorAtTheOp) {
  Operation *linear = opNamed("spatten.linear");
  CapturedDiagnostics diags(ctx);
  EXPECT_TRUE(failed(plan->lookup(other.getArgument(0), linear)));
  ASSERT_EQ(diags.messages.size(), 1u);
  EXPECT_NE(diags.messages[0].find("'spatten.linear' op reads or writes a "
                                   "value that the DRAM plan did not place"),
            std::string::npos)
      << diags.messages[0];
}

TEST_F(DramPlanTest, AViewIsNotPlaced) {
  Operation *prune = opNamed("spatten.prune_heads");
  Operation *linear = opNamed("spatten.linear");
  CapturedDiagnostics diags(ctx);
  EXPECT_TRUE(failed(plan->lookup(prune->getResult(0), linear)));
  ASSERT_EQ(diags.messages.size(), 1u);
  EXPECT_NE(diags.messages[0].find("is read in place from another tensor"),
            std::string::npos)
      << diags.messages[0];
}

} // namespace
