//===- RecordSettings.cpp - The settings as a module attribute ------------===//
//
// SpAttenSettings <-> `spatten.settings`, and the pass that records them.
//
//===----------------------------------------------------------------------===//

#include "spatten/Dialect/SpAtten/Transforms/Passes.h"
#include "spatten/Dialect/SpAtten/Transforms/SettingsOptions.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"

namespace spatten {
#define GEN_PASS_DEF_SPATTENRECORDSETTINGS
#include "spatten/Dialect/SpAtten/Transforms/Passes.h.inc"
} // namespace spatten

using namespace mlir;
using namespace spatten;

static Attribute attributeOf(Builder &b, double v) {
  return b.getF64FloatAttr(v);
}
static Attribute attributeOf(Builder &b, int64_t v) {
  return b.getI64IntegerAttr(v);
}
static Attribute attributeOf(Builder &b, bool v) { return b.getBoolAttr(v); }
static Attribute attributeOf(Builder &b, const std::string &v) {
  return b.getStringAttr(v);
}
static Attribute attributeOf(Builder &b, const std::vector<int64_t> &v) {
  return b.getI64ArrayAttr(v);
}

DictionaryAttr SpAttenSettings::toAttribute(MLIRContext *context) const {
  Builder b(context);
  SmallVector<NamedAttribute> entries;
#define SPATTEN_OPTION(TYPE, MEMBER, FLAG, DEFAULT, HELP)                     \
  entries.push_back(b.getNamedAttr(FLAG, attributeOf(b, MEMBER)));
#define SPATTEN_LIST_OPTION(TYPE, MEMBER, FLAG, HELP)                         \
  entries.push_back(b.getNamedAttr(FLAG, attributeOf(b, MEMBER)));
#include "spatten/Dialect/SpAtten/Transforms/Settings.def"
  return b.getDictionaryAttr(entries);
}

/// An attribute as JSON, so that fromJSON checks keys and types once for
/// both forms; kinds no setting has become null, which fromJSON refuses.
static llvm::json::Value jsonOf(Attribute attr) {
  if (auto f = dyn_cast<FloatAttr>(attr))
    return f.getValueAsDouble();
  if (auto b = dyn_cast<BoolAttr>(attr)) // before IntegerAttr: BoolAttr is i1
    return b.getValue();
  if (auto i = dyn_cast<IntegerAttr>(attr))
    return i.getInt();
  if (auto s = dyn_cast<StringAttr>(attr))
    return s.str();
  if (auto list = dyn_cast<ArrayAttr>(attr)) {
    llvm::json::Array elements;
    for (Attribute element : list)
      elements.push_back(jsonOf(element));
    return elements;
  }
  return nullptr;
}

llvm::Expected<SpAttenSettings>
SpAttenSettings::fromAttribute(DictionaryAttr dict) {
  llvm::json::Object object;
  for (NamedAttribute entry : dict)
    object[entry.getName().strref()] = jsonOf(entry.getValue());
  return settingsFromJSON(llvm::json::Value(std::move(object)),
                          kSettingsAttrName);
}

namespace {
struct RecordSettingsPass
    : SettingsPass<spatten::impl::SpAttenRecordSettingsBase<RecordSettingsPass>,
                   setting::All> {
  using SettingsPass::SettingsPass;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    FailureOr<SpAttenSettings> settings = checkedSettings(module);
    if (failed(settings))
      return signalPassFailure();
    module->setAttr(kSettingsAttrName, settings->toAttribute(&getContext()));
  }
};
} // namespace

std::unique_ptr<Pass>
spatten::createSpAttenRecordSettings(const SpAttenSettings &settings) {
  return std::make_unique<RecordSettingsPass>(settings);
}
