//===- BinaryEmitter.cpp - spatten_isa -> .spbin --------------------------===//

#include "spatten/Target/Binary/BinaryEmitter.h"

#include "spatten/Dialect/ISA/IR/ISAOps.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

using namespace mlir;
using namespace spatten;

/// The little-endian bytes of a constant, or failure for element types the
/// binary has no layout for.
static FailureOr<ArrayRef<char>> rawBytes(Operation *op, ElementsAttr value,
                                          std::vector<char> &scratch) {
  auto type = cast<ShapedType>(value.getType());
  unsigned bits = type.getElementTypeBitWidth();
  if (bits % 8)
    return op->emitOpError("constant element type ")
           << type.getElementType() << " has no byte layout";
  if (auto res = dyn_cast<DenseResourceElementsAttr>(value)) {
    AsmResourceBlob *blob = res.getRawHandle().getBlob();
    if (!blob)
      return op->emitOpError("resource blob '")
             << res.getRawHandle().getKey() << "' has no data";
    return blob->getData();
  }
  auto dense = dyn_cast<DenseElementsAttr>(value);
  if (!dense)
    return op->emitOpError("unsupported constant attribute kind");
  ArrayRef<char> raw = dense.getRawData();
  if (!dense.isSplat())
    return raw;
  size_t elemBytes = bits / 8;
  scratch.resize(type.getNumElements() * elemBytes);
  for (size_t i = 0; i < scratch.size(); i += elemBytes)
    std::memcpy(scratch.data() + i, raw.data(), elemBytes);
  return ArrayRef<char>(scratch);
}

static FailureOr<std::vector<binary::TensorInfo>> tensorInfos(Operation *op,
                                                              ArrayAttr list) {
  std::vector<binary::TensorInfo> infos;
  for (Attribute a : list) {
    auto dict = dyn_cast<DictionaryAttr>(a);
    auto name = dict ? dict.getAs<StringAttr>("name") : nullptr;
    auto shape = dict ? dict.getAs<ArrayAttr>("shape") : nullptr;
    auto dtype = dict ? dict.getAs<StringAttr>("dtype") : nullptr;
    auto addr = dict ? dict.getAs<IntegerAttr>("addr") : nullptr;
    if (!name || !shape || !dtype || !addr)
      return op->emitOpError("I/O entry needs name, shape, dtype and addr: ")
             << a;
    binary::TensorInfo info;
    info.name = name.str();
    for (Attribute d : shape)
      info.shape.push_back(cast<IntegerAttr>(d).getInt());
    info.dtype = dtype.str();
    info.dramAddr = addr.getInt();
    infos.push_back(std::move(info));
  }
  return infos;
}

/// Places every segment's bytes at its address in `rodata`, borrowed from
/// its attribute or resource blob (the module outlives writing the image);
/// only splats, stored as one element, are expanded into copies.
static LogicalResult placeSegments(MutableArrayRef<isa::SegmentOp> segments,
                                   binary::SectionBytes &rodata) {
  llvm::stable_sort(segments, [](isa::SegmentOp a, isa::SegmentOp b) {
    return a.getAddr() < b.getAddr();
  });
  std::vector<char> scratch;
  for (isa::SegmentOp seg : segments) {
    FailureOr<ArrayRef<char>> bytes = rawBytes(seg, seg.getValue(), scratch);
    if (failed(bytes))
      return failure();
    ArrayRef<uint8_t> data(reinterpret_cast<const uint8_t *>(bytes->data()),
                           bytes->size());
    auto dense = dyn_cast<DenseElementsAttr>(seg.getValue());
    bool expanded = dense && dense.isSplat(); // into `scratch`
    if (!(expanded ? rodata.placeCopy(seg.getAddr(), data)
                   : rodata.place(seg.getAddr(), data)))
      return seg.emitOpError("lies outside .rodata or overlaps another "
                             "segment");
  }
  return success();
}

/// The module's `spatten.settings`, if the pipeline recorded them.
static FailureOr<std::optional<SpAttenSettings>>
recordedSettings(ModuleOp module) {
  Attribute attr = module->getAttr(kSettingsAttrName);
  if (!attr)
    return std::optional<SpAttenSettings>();
  auto dict = dyn_cast<DictionaryAttr>(attr);
  if (!dict)
    return module.emitError() << kSettingsAttrName << " must be a dictionary";
  llvm::Expected<SpAttenSettings> settings =
      SpAttenSettings::fromAttribute(dict);
  if (!settings)
    return module.emitError() << kSettingsAttrName << ": "
                              << llvm::toString(settings.takeError());
  return std::optional<SpAttenSettings>(std::move(*settings));
}

FailureOr<binary::Image> spatten::buildImage(ModuleOp module) {
  auto programs = llvm::to_vector(module.getOps<isa::ProgramOp>());
  if (programs.size() != 1)
    return module.emitError("expected one spatten_isa.program, found ")
           << programs.size();
  isa::ProgramOp program = programs.front();
  binary::Image image;
  image.rodata = binary::SectionBytes::zeros(program.getRodataSize());
  SmallVector<isa::SegmentOp> segments;
  for (Operation &op : program.getBody().front()) {
    if (auto seg = dyn_cast<isa::SegmentOp>(op)) {
      segments.push_back(seg);
      continue;
    }
    FailureOr<isa::Instr> inst = isa::encodeInstruction(&op);
    if (failed(inst))
      return failure();
    size_t at = image.text.size();
    image.text.resize(at + isa::kInstrBytes);
    inst->encode(image.text.data() + at);
  }
  if (failed(placeSegments(segments, image.rodata)))
    return failure();

  binary::Manifest &m = image.manifest;
  llvm::Expected<llvm::json::Value> hwJson =
      llvm::json::parse(program.getHardware());
  llvm::Expected<HardwareConfig> hw =
      hwJson ? HardwareConfig::fromJSON(*hwJson)
             : llvm::Expected<HardwareConfig>(hwJson.takeError());
  if (!hw)
    return program.emitOpError("hardware: ") << llvm::toString(hw.takeError());
  m.hardware = *hw;
  m.numInstructions = image.text.size() / isa::kInstrBytes;
  m.rodataBase = 0;
  m.dramSize = program.getDramSize();
  FailureOr<std::vector<binary::TensorInfo>> ins =
      tensorInfos(program, program.getInputs());
  FailureOr<std::vector<binary::TensorInfo>> outs =
      tensorInfos(program, program.getOutputs());
  if (failed(ins) || failed(outs))
    return failure();
  m.inputs = std::move(*ins);
  m.outputs = std::move(*outs);
  FailureOr<std::optional<SpAttenSettings>> settings = recordedSettings(module);
  if (failed(settings))
    return failure();
  m.settings = std::move(*settings);
  return image;
}

void spatten::registerToBinaryTranslations() {
  TranslateFromMLIRRegistration exportBinary(
      "export-binary", "emit a .spbin (ELF64) from a spatten_isa.program",
      [](Operation *op, llvm::raw_ostream &os) -> LogicalResult {
        auto module = dyn_cast<ModuleOp>(op);
        if (!module)
          return op->emitError("expected a builtin.module");
        FailureOr<binary::Image> image = buildImage(module);
        if (failed(image))
          return failure();
        binary::writeImage(*image, os);
        return success();
      },
      [](DialectRegistry &registry) {
        registry.insert<isa::ISADialect, func::FuncDialect>();
      });
}
