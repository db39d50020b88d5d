//===- SpBinTest.cpp - The .spbin container -------------------------------===//

#include "spatten/Binary/SpBin.h"
#include "spatten/ISA/Spec.h"

#include "TestUtil.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstring>

using namespace spatten;
using namespace spatten::binary;

namespace {

Image sampleImage() {
  Image img;
  isa::Instr halt;
  img.text.resize(2 * isa::kInstrBytes);
  isa::Instr sync;
  sync.set(isa::kOpcodeField, uint64_t(isa::Opcode::Sync));
  sync.encode(img.text.data());
  halt.encode(img.text.data() + isa::kInstrBytes);
  img.rodata = SectionBytes({1, 2, 3, 4, 5, 6, 7, 8});
  Manifest &m = img.manifest;
  m.version = kOldestFormatVersion; // one entry point: written as before
  m.numInstructions = 2;
  m.rodataBase = 256;
  m.dramSize = 4096;
  m.inputs.push_back({"input_ids", {1, 8}, "int64", 1024});
  m.outputs.push_back({"hidden", {1, 8, 4}, "float32", 2048});
  SpAttenSettings settings;
  settings.tokenKeep = 0.5;
  settings.keepPositions = {0, 3};
  settings.pqMsb = 6;
  m.settings = settings;
  m.extra["layers"] = 2;
  return img;
}

llvm::Expected<Image> readBytes(const std::vector<uint8_t> &bytes) {
  llvm::StringRef s(reinterpret_cast<const char *>(bytes.data()), bytes.size());
  return readImage(llvm::MemoryBufferRef(s, "test.spbin"));
}

/// A serialized image whose manifest is `meta` verbatim.
llvm::Expected<Image> readWithMeta(llvm::StringRef meta) {
  Image img = sampleImage();
  return readBytes(serializeSections(img.text, img.rodata, meta, 256));
}

std::string sampleMeta() {
  std::string s;
  llvm::raw_string_ostream(s) << sampleImage().manifest.toJSON();
  return s;
}

/// sampleMeta() with `from` replaced by `to` (once).
std::string metaWith(llvm::StringRef from, llvm::StringRef to) {
  std::string s = sampleMeta();
  size_t pos = s.find(from.str());
  EXPECT_NE(pos, std::string::npos) << from.str();
  if (pos != std::string::npos)
    s.replace(pos, from.size(), to.str());
  return s;
}

TEST(SpBin, RoundTripInMemory) {
  Image img = sampleImage();
  auto back = readBytes(serializeImage(img));
  ASSERT_OK(back);
  EXPECT_EQ(back->text, img.text);
  EXPECT_EQ(back->rodata, img.rodata);
  EXPECT_EQ(back->manifest.toJSON(), img.manifest.toJSON());
  EXPECT_EQ(back->manifest.inputs[0].bytes(), 64u);
}

TEST(SpBin, RoundTripThroughAFile) {
  llvm::SmallString<128> path;
  ASSERT_FALSE(llvm::sys::fs::createTemporaryFile("img", "spbin", path));
  ASSERT_NO_ERR(writeImage(sampleImage(), path));
  auto back = readImageFile(path);
  ASSERT_OK(back);
  EXPECT_EQ(back->manifest.outputs[0].name, "hidden");
  EXPECT_EQ(back->rodata, sampleImage().rodata);
  llvm::sys::fs::remove(path);
}

TEST(SpBin, SectionBytesPlacesBorrowedPiecesBetweenZeros) {
  std::vector<uint8_t> a = {1, 2}, b = {3};
  SectionBytes s = SectionBytes::zeros(6);
  EXPECT_TRUE(s.place(1, a));
  EXPECT_TRUE(s.placeCopy(4, b));
  // Out of order, overlapping or past the end: refused, nothing placed.
  EXPECT_FALSE(s.place(0, b));
  EXPECT_FALSE(s.place(4, b));
  EXPECT_FALSE(s.place(5, a));
  b[0] = 9; // placeCopy owns its copy
  a[1] = 7; // place borrows
  EXPECT_EQ(s.contiguous(), llvm::ArrayRef<uint8_t>({0, 1, 7, 0, 3, 0}));
  std::string written;
  llvm::raw_string_ostream os(written);
  s.write(os);
  EXPECT_EQ(written, std::string("\0\1\7\0\3\0", 6));
  EXPECT_EQ(s, SectionBytes({0, 1, 7, 0, 3, 0}));
}

TEST(SpBin, SectionsAreAlignedElf) {
  std::vector<uint8_t> bytes = serializeImage(sampleImage());
  ASSERT_GE(bytes.size(), 64u);
  EXPECT_EQ(std::memcmp(bytes.data(), "\x7f" "ELF", 4), 0);
  EXPECT_EQ(bytes[4], 2); // ELFCLASS64
  EXPECT_EQ(bytes[5], 1); // little endian
  EXPECT_EQ(bytes[16], 2); // ET_EXEC
}

TEST(SpBin, WriterRefusesInvalidImages) {
  Image img = sampleImage();
  img.manifest.numInstructions = 3;
  EXPECT_ERR(writeImage(img, "-"), "num_instructions");
}

TEST(SpBin, EveryTruncationIsRejected) {
  std::vector<uint8_t> bytes = serializeImage(sampleImage());
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + n);
    auto r = readBytes(cut);
    EXPECT_FALSE(bool(r)) << "accepted a file cut to " << n << " bytes";
    EXPECT_NE(test::errorOf(r).find("test.spbin: "), std::string::npos);
  }
}

TEST(SpBin, GarbageIsRejected) {
  EXPECT_ERR(readBytes({'h', 'e', 'l', 'l', 'o'}), "not an ELF file");
  std::vector<uint8_t> bytes = serializeImage(sampleImage());
  bytes[4] = 1; // ELFCLASS32
  EXPECT_ERR(readBytes(bytes), "not a 64-bit little-endian ELF file");
  // Section header table pointing past the end of the file.
  bytes = serializeImage(sampleImage());
  bytes[40] = 0xff;
  bytes[41] = 0xff;
  EXPECT_FALSE(bool(readBytes(bytes)));
}

TEST(SpBin, ElfIdentityAndEntryAreChecked) {
  std::vector<uint8_t> bytes = serializeImage(sampleImage());
  bytes[7] = 3; // EI_OSABI: Linux
  EXPECT_ERR(readBytes(bytes), "unexpected ELF OS/ABI 3 (expected 0");
  bytes = serializeImage(sampleImage());
  bytes[6] = 2; // EI_VERSION
  EXPECT_ERR(readBytes(bytes), "unexpected ELF version 2 (expected 1)");
  bytes = serializeImage(sampleImage());
  bytes[24] = 64; // e_entry: the second instruction
  EXPECT_ERR(readBytes(bytes), "ELF e_entry 0x40 is not the manifest's entry "
                               "point (instruction 0, offset 0x0)");
}

TEST(SpBin, DuplicateSectionIsRefused) {
  std::vector<uint8_t> bytes = serializeImage(sampleImage());
  std::string s(bytes.begin(), bytes.end());
  size_t pos = s.rfind(".rodata");
  ASSERT_NE(pos, std::string::npos);
  std::memcpy(&bytes[pos], ".text\0", 6); // a second section named .text
  EXPECT_ERR(readBytes(bytes), "section .text appears twice");
}

TEST(SpBin, MissingSectionIsNamed) {
  std::vector<uint8_t> bytes = serializeImage(sampleImage());
  std::string s(bytes.begin(), bytes.end());
  size_t pos = s.rfind(".rodata");
  ASSERT_NE(pos, std::string::npos);
  bytes[pos + 6] = 'x'; // ".rodatx"
  EXPECT_ERR(readBytes(bytes), "missing section .rodata");
}

TEST(SpBin, TextSizeMustBeAWholeNumberOfInstructions) {
  Image img = sampleImage();
  img.text.push_back(0);
  EXPECT_ERR(readBytes(serializeSections(img.text, img.rodata, sampleMeta(),
                                         256)),
             "section .text: size 129 is not a multiple of the 64-byte");
}

TEST(SpBin, ManifestErrorsNameTheField) {
  EXPECT_ERR(readWithMeta("{"), "section .spatten.meta: invalid JSON");
  EXPECT_ERR(readWithMeta("[]"), "expected a JSON object");
  EXPECT_ERR(readWithMeta(metaWith("\"format_version\":3",
                                   "\"format_version\":9")),
             "field 'format_version': unsupported version 9");
  EXPECT_ERR(readWithMeta(metaWith("\"entry\":0", "\"entri\":0")),
             "field 'entri': unknown field");
  EXPECT_ERR(readWithMeta(metaWith("\"num_instructions\":2",
                                   "\"num_instructions\":5")),
             "field 'num_instructions': 5 does not match .text (2 instructions)");
  EXPECT_ERR(readWithMeta(metaWith("\"entry\":0", "\"entry\":2")),
             "field 'entry'");
  EXPECT_ERR(readWithMeta(metaWith("\"dtype\":\"int64\"",
                                   "\"dtype\":\"float64\"")),
             "field 'inputs[0].dtype': unsupported dtype 'float64'");
  EXPECT_ERR(readWithMeta(metaWith("\"shape\":[1,8]", "\"shape\":[1,-8]")),
             "field 'inputs[0].shape[1]': negative dimension -8");
  EXPECT_ERR(readWithMeta(metaWith("\"dram_addr\":2048",
                                   "\"dram_addr\":4000")),
             "field 'outputs[0].dram_addr': tensor 'hidden' occupies");
  EXPECT_ERR(readWithMeta(metaWith("\"size\":4096", "\"size\":200")),
             "field 'dram.rodata_base'");
  EXPECT_ERR(readWithMeta(metaWith("\"size\":4096", "\"size\":\"big\"")),
             "field 'dram.size': expected an integer");
  EXPECT_ERR(readWithMeta(metaWith("\"qk_multipliers\":512",
                                   "\"qk_multipliers\":0")),
             "field 'hardware': hardware config field 'qk_multipliers'");
}

TEST(SpBin, SettingsRoundTripWithEveryKey) {
  auto back = readWithMeta(sampleMeta());
  ASSERT_OK(back);
  ASSERT_TRUE(back->manifest.settings.has_value());
  EXPECT_EQ(back->manifest.settings->tokenKeep, 0.5);
  EXPECT_EQ(back->manifest.settings->keepPositions,
            (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(back->manifest.settings->pqMsb, 6);
  EXPECT_EQ(back->manifest.settings->tokenSchedule, "paper");
  // Kept alive: `json` points into it.
  llvm::json::Value manifest = back->manifest.toJSON();
  const llvm::json::Object *json =
      manifest.getAsObject()->getObject("settings");
  ASSERT_NE(json, nullptr);
  for (llvm::StringRef key :
       {"token-keep", "token-schedule", "keep-positions", "kv-budget",
        "head-keep", "value-keep", "pq-msb", "pq-lsb", "pq-threshold",
        "pq-values", "attn-bits", "q-bits", "k-bits", "v-bits"})
    EXPECT_NE(json->get(key), nullptr) << key.str();
  EXPECT_EQ(json->size(), 14u);
}

// A manifest written before --kv-budget existed still loads: an absent
// list reads as empty.
TEST(SpBin, AbsentListSettingIsEmpty) {
  auto back = readWithMeta(metaWith("\"kv-budget\":[],", ""));
  ASSERT_OK(back);
  EXPECT_TRUE(back->manifest.settings->kvBudget.empty());
}

TEST(SpBin, SettingsAreOptional) {
  Image img = sampleImage();
  img.manifest.settings.reset();
  auto back = readBytes(serializeImage(img));
  ASSERT_OK(back);
  EXPECT_FALSE(back->manifest.settings.has_value());
  EXPECT_EQ(back->manifest.toJSON().getAsObject()->get("settings"), nullptr);
}

TEST(SpBin, SettingsErrorsNameTheKey) {
  EXPECT_ERR(readWithMeta(metaWith("\"pq-msb\":6", "\"pq-msb\":\"6\"")),
             "expected integer at settings.pq-msb");
  EXPECT_ERR(readWithMeta(metaWith("\"pq-msb\":6,", "")),
             "missing value at settings.pq-msb");
  EXPECT_ERR(readWithMeta(metaWith("\"pq-msb\":6", "\"pq-msb\":6,\"x\":1")),
             "unknown setting at settings.x");
  EXPECT_ERR(readWithMeta(
                 metaWith("\"keep-positions\":[0,3]", "\"keep-positions\":0")),
             "expected array at settings.keep-positions");
  EXPECT_ERR(readWithMeta(metaWith("\"pq-msb\":6", "\"pq-msb\":5")),
             "field 'settings': --pq-msb=5: the ISA encodes MSB planes of 6 "
             "or 8 bits");
}

TEST(SpBin, DuplicateNamesAreRejected) {
  Image img = sampleImage();
  img.manifest.inputs.push_back(img.manifest.inputs[0]);
  std::string meta;
  llvm::raw_string_ostream(meta) << img.manifest.toJSON();
  EXPECT_ERR(readWithMeta(meta), "field 'inputs[1].name': duplicate tensor "
                                 "'input_ids'");
}

TEST(SpBin, DramSizeBeyondHardwareCapacity) {
  EXPECT_ERR(readWithMeta(metaWith("\"dram_bytes\":8589934592",
                                   "\"dram_bytes\":1024")),
             "field 'dram.size': 4096 bytes exceed hardware.dram_bytes 1024");
}

} // namespace

namespace {

/// sampleImage() as a generation binary: entry points `prefill` (the
/// sample's I/O) and `decode` (one register), and a one-layer KV cache.
Image generationImage() {
  Image img = sampleImage();
  Manifest &m = img.manifest;
  EntryPoint prefill = m.mainEntry();
  prefill.name = "prefill";
  EntryPoint decode{"decode", 1, {{"input_ids", {1, 1}, "int64", 1100}},
                    {{"logits", {1, 1, 4}, "float32", 2100}}, {"position"}};
  m.setEntries({prefill, decode});
  KVCacheRegion k{3072, {1, 2, 4, 4}, "float32", 16};
  KVCacheRegion v = k;
  v.addr = 3584;
  m.kvCache = KVCache{4, {{k, v}}};
  m.version = m.requiredVersion();
  return img;
}

TEST(SpBinEntries, AVersion3BinaryHasOneEntryPointMain) {
  auto back = readBytes(serializeImage(sampleImage()));
  ASSERT_OK(back);
  EXPECT_EQ(back->manifest.version, 3u);
  ASSERT_EQ(back->manifest.entries.size(), 1u);
  const EntryPoint *main = back->manifest.findEntry("main");
  ASSERT_TRUE(main);
  EXPECT_EQ(main->inputs, back->manifest.inputs);
  EXPECT_EQ(main->outputs, back->manifest.outputs);
  EXPECT_FALSE(back->manifest.findEntry("decode"));
  // Written as before entry points: no `entries` key.
  EXPECT_EQ(sampleMeta().find("entries"), std::string::npos);
}

TEST(SpBinEntries, EntryPointsAndKVCacheRoundTrip) {
  Image img = generationImage();
  EXPECT_EQ(img.manifest.version, 4u);
  auto back = readBytes(serializeImage(img));
  ASSERT_OK(back);
  EXPECT_EQ(back->manifest.toJSON(), img.manifest.toJSON());
  const EntryPoint *decode = back->manifest.findEntry("decode");
  ASSERT_TRUE(decode);
  EXPECT_EQ(decode->entry, 1u);
  EXPECT_EQ(decode->registerIndex("position"), 0u);
  EXPECT_FALSE(decode->registerIndex("step"));
  ASSERT_TRUE(back->manifest.kvCache);
  EXPECT_EQ(back->manifest.kvCache->maxContext, 4u);
  EXPECT_EQ(back->manifest.kvCache->layers[0].v.addr, 3584u);
  EXPECT_EQ(back->manifest.kvCache->layers[0].k.bytes(), 2u * 4 * 16);
}

TEST(SpBinEntries, RequiredVersion) {
  Manifest m;
  EXPECT_EQ(m.requiredVersion(), 3u);
  m.setEntries({m.mainEntry()});
  EXPECT_EQ(m.requiredVersion(), 3u);
  m.entries[0].registers = {"position"};
  EXPECT_EQ(m.requiredVersion(), 4u);
  m.entries[0].registers.clear();
  m.kvCache = KVCache{1, {}};
  EXPECT_EQ(m.requiredVersion(), 4u);
}

TEST(SpBinEntries, WriterChecksEntryPointsAndKVCache) {
  Image img = generationImage();
  img.manifest.entries[1].entry = 2;
  EXPECT_ERR(readBytes(serializeImage(img)), "'entries[1].entry': 2 is past the last "
                                    "instruction (1)");
  img = generationImage();
  img.manifest.kvCache->layers[0].v.addr = 4000;
  EXPECT_ERR(readBytes(serializeImage(img)), "'kv_cache.layers[0].v.addr': region "
                                    "occupies [0xfa0, 0x1020) beyond "
                                    "dram.size 0x1000");
  img = generationImage();
  img.manifest.entries[1].outputs[0].dramAddr = 4090;
  EXPECT_ERR(readBytes(serializeImage(img)), "'entries[1].outputs[0].dram_addr': "
                                    "tensor 'logits' occupies");
}

} // namespace
