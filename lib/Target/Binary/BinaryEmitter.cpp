//===- BinaryEmitter.cpp - spatten_isa -> .spbin --------------------------===//

#include "spatten/Target/Binary/BinaryEmitter.h"

#include "spatten/Dialect/ISA/IR/ISAOps.h"
#include "spatten/Support/InputFiles.h"

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
    if (auto rows = dict.getAs<IntegerAttr>("index_rows"))
      info.indexRows = rows.getInt();
    if (auto wraps = dict.getAs<BoolAttr>("index_wraps"))
      info.indexWraps = wraps.getValue();
    if (auto range = dict.getAs<DenseI64ArrayAttr>("value_range");
        range && range.size() == 2)
      info.valueRange = {range[0], range[1]};
    infos.push_back(std::move(info));
  }
  return infos;
}

/// Whether two segments hold the same bytes at the same address (entry
/// points repeat the constants they share).
static bool sameSegment(uint64_t addrA, ArrayRef<uint8_t> a, uint64_t addrB,
                        ArrayRef<uint8_t> b) {
  return addrA == addrB && a.size() == b.size() &&
         (a.data() == b.data() || a == b);
}

/// Places every segment's bytes at its address in `rodata`, borrowed from
/// its attribute or resource blob (the module outlives writing the image);
/// only splats, stored as one element, are expanded into copies. A segment
/// repeated with the same bytes at the same address is placed once.
static LogicalResult placeSegments(MutableArrayRef<isa::SegmentOp> segments,
                                   binary::SectionBytes &rodata) {
  llvm::stable_sort(segments, [](isa::SegmentOp a, isa::SegmentOp b) {
    return a.getAddr() < b.getAddr();
  });
  std::vector<std::vector<char>> scratch(segments.size());
  std::optional<std::pair<uint64_t, ArrayRef<uint8_t>>> last;
  for (auto [seg, copy] : llvm::zip(segments, scratch)) {
    FailureOr<ArrayRef<char>> bytes = rawBytes(seg, seg.getValue(), copy);
    if (failed(bytes))
      return failure();
    ArrayRef<uint8_t> data(reinterpret_cast<const uint8_t *>(bytes->data()),
                           bytes->size());
    if (last && sameSegment(last->first, last->second, seg.getAddr(), data))
      continue;
    auto dense = dyn_cast<DenseElementsAttr>(seg.getValue());
    bool expanded = dense && dense.isSplat(); // into `copy`
    if (!(expanded ? rodata.placeCopy(seg.getAddr(), data)
                   : rodata.place(seg.getAddr(), data)))
      return seg.emitOpError("lies outside .rodata or overlaps another "
                             "segment with different contents");
    last = {uint64_t(seg.getAddr()), data};
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

/// The attribute as JSON: integers, floats, booleans, strings, arrays and
/// dictionaries (the shape of a manifest object).
static FailureOr<llvm::json::Value> attrToJSON(Operation *op, StringRef what,
                                               Attribute attr) {
  if (auto b = dyn_cast<BoolAttr>(attr))
    return llvm::json::Value(b.getValue());
  if (auto i = dyn_cast<IntegerAttr>(attr))
    return llvm::json::Value(i.getInt());
  if (auto f = dyn_cast<FloatAttr>(attr))
    return llvm::json::Value(f.getValueAsDouble());
  if (auto str = dyn_cast<StringAttr>(attr))
    return llvm::json::Value(str.str());
  if (auto array = dyn_cast<ArrayAttr>(attr)) {
    llvm::json::Array out;
    for (Attribute a : array) {
      FailureOr<llvm::json::Value> v = attrToJSON(op, what, a);
      if (failed(v))
        return failure();
      out.push_back(std::move(*v));
    }
    return llvm::json::Value(std::move(out));
  }
  if (auto dict = dyn_cast<DictionaryAttr>(attr)) {
    llvm::json::Object out;
    for (NamedAttribute a : dict) {
      FailureOr<llvm::json::Value> v = attrToJSON(op, what, a.getValue());
      if (failed(v))
        return failure();
      out[a.getName().str()] = std::move(*v);
    }
    return llvm::json::Value(std::move(out));
  }
  return op->emitError() << what << ": " << attr << " has no JSON form";
}

/// The module's `spatten.kv_cache`, if the compiler laid one out.
static FailureOr<std::optional<binary::KVCache>>
recordedKVCache(ModuleOp module) {
  Attribute attr = module->getAttr(kKVCacheAttrName);
  if (!attr)
    return std::optional<binary::KVCache>();
  if (!llvm::isa<DictionaryAttr>(attr))
    return module.emitError() << kKVCacheAttrName << " must be a dictionary";
  FailureOr<llvm::json::Value> json =
      attrToJSON(module, kKVCacheAttrName, attr);
  if (failed(json))
    return failure();
  llvm::Expected<binary::KVCache> kv = binary::KVCache::fromJSON(*json);
  if (!kv)
    return module.emitError() << kKVCacheAttrName << ": "
                              << llvm::toString(kv.takeError());
  return std::optional<binary::KVCache>(std::move(*kv));
}

/// The programs share one DRAM image: the same .rodata size and hardware.
static LogicalResult checkShareable(ArrayRef<isa::ProgramOp> programs) {
  isa::ProgramOp first = programs.front();
  for (isa::ProgramOp p : programs.drop_front()) {
    if (p.getRodataSize() != first.getRodataSize())
      return p.emitOpError("rodata_size ")
             << p.getRodataSize() << " differs from " << first.getSymName()
             << "'s " << first.getRodataSize()
             << " (entry points share .rodata)";
    if (p.getHardware() != first.getHardware())
      return p.emitOpError("hardware differs from ")
             << first.getSymName() << "'s (entry points share one machine)";
  }
  return success();
}

/// The program's entry point, starting at instruction `entry`: its I/O and
/// its `registers` (unique names, at most binary::kMaxRegisters).
static FailureOr<binary::EntryPoint> entryPointOf(isa::ProgramOp program,
                                                  uint64_t entry) {
  binary::EntryPoint e;
  e.name = program.getSymName().str();
  e.entry = entry;
  FailureOr<std::vector<binary::TensorInfo>> ins =
      tensorInfos(program, program.getInputs());
  FailureOr<std::vector<binary::TensorInfo>> outs =
      tensorInfos(program, program.getOutputs());
  if (failed(ins) || failed(outs))
    return failure();
  e.inputs = std::move(*ins);
  e.outputs = std::move(*outs);
  if (std::optional<ArrayAttr> regs = program.getRegisters())
    for (Attribute r : *regs)
      e.registers.push_back(cast<StringAttr>(r).str());
  if (e.registers.size() > binary::kMaxRegisters)
    return program.emitOpError("registers: ")
           << e.registers.size() << " names, at most "
           << binary::kMaxRegisters;
  for (size_t i = 0; i < e.registers.size(); ++i)
    if (e.registers[i].empty() ||
        llvm::is_contained(ArrayRef(e.registers).take_front(i),
                           e.registers[i]))
      return program.emitOpError("registers: '")
             << e.registers[i] << "' is empty or repeated";
  return e;
}

/// Appends the instructions of `program` to `text` and collects its
/// segments.
static LogicalResult appendProgram(isa::ProgramOp program,
                                   std::vector<uint8_t> &text,
                                   SmallVectorImpl<isa::SegmentOp> &segments) {
  for (Operation &op : program.getBody().front()) {
    if (auto seg = dyn_cast<isa::SegmentOp>(op)) {
      segments.push_back(seg);
      continue;
    }
    FailureOr<isa::Instr> inst = isa::encodeInstruction(&op);
    if (failed(inst))
      return failure();
    size_t at = text.size();
    text.resize(at + isa::kInstrBytes);
    inst->encode(text.data() + at);
  }
  return success();
}

static FailureOr<HardwareConfig> hardwareOf(isa::ProgramOp program) {
  llvm::Expected<llvm::json::Value> hwJson =
      parseJson(program.getHardware());
  llvm::Expected<HardwareConfig> hw =
      hwJson ? HardwareConfig::fromJSON(*hwJson)
             : llvm::Expected<HardwareConfig>(hwJson.takeError());
  if (!hw)
    return program.emitOpError("hardware: ") << llvm::toString(hw.takeError());
  return *hw;
}

FailureOr<binary::Image> spatten::buildImage(ModuleOp module) {
  auto programs = llvm::to_vector(module.getOps<isa::ProgramOp>());
  if (programs.empty())
    return module.emitError("expected a spatten_isa.program, found none");
  if (failed(checkShareable(programs)))
    return failure();
  binary::Image image;
  image.rodata = binary::SectionBytes::zeros(programs.front().getRodataSize());
  binary::Manifest &m = image.manifest;
  SmallVector<isa::SegmentOp> segments;
  std::vector<binary::EntryPoint> entries;
  for (isa::ProgramOp program : programs) {
    FailureOr<binary::EntryPoint> e =
        entryPointOf(program, image.text.size() / isa::kInstrBytes);
    if (failed(e) || failed(appendProgram(program, image.text, segments)))
      return failure();
    entries.push_back(std::move(*e));
    m.dramSize = std::max<uint64_t>(m.dramSize, program.getDramSize());
  }
  if (failed(placeSegments(segments, image.rodata)))
    return failure();
  FailureOr<HardwareConfig> hw = hardwareOf(programs.front());
  FailureOr<std::optional<SpAttenSettings>> settings = recordedSettings(module);
  FailureOr<std::optional<binary::KVCache>> kv = recordedKVCache(module);
  if (failed(hw) || failed(settings) || failed(kv))
    return failure();
  m.hardware = *hw;
  m.numInstructions = image.text.size() / isa::kInstrBytes;
  m.rodataBase = 0;
  m.setEntries(std::move(entries));
  m.kvCache = std::move(*kv);
  m.settings = std::move(*settings);
  m.version = m.requiredVersion();
  return image;
}

void spatten::registerToBinaryTranslations() {
  TranslateFromMLIRRegistration exportBinary(
      "export-binary", "emit a .spbin (ELF64) from the spatten_isa.program ops",
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
