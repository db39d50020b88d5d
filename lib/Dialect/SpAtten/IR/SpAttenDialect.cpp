//===- SpAttenDialect.cpp - SpAtten dialect -------------------------------===//

#include "spatten/Dialect/SpAtten/IR/SpAttenDialect.h"
#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace spatten;

#include "spatten/Dialect/SpAtten/IR/SpAttenOpsDialect.cpp.inc"
#include "spatten/Dialect/SpAtten/IR/SpAttenEnums.cpp.inc"
#define GET_ATTRDEF_CLASSES
#include "spatten/Dialect/SpAtten/IR/SpAttenAttrs.cpp.inc"

void SpAttenDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "spatten/Dialect/SpAtten/IR/SpAttenOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "spatten/Dialect/SpAtten/IR/SpAttenAttrs.cpp.inc"
      >();
}
