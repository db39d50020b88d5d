//===- Settings.cpp - The settings of SpAtten's techniques ----------------===//
//
// Validation and JSON; LLVM Support only (the binary reader links it).
//
//===----------------------------------------------------------------------===//

#include "spatten/Dialect/SpAtten/Transforms/Settings.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

using namespace spatten;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

static Error invalid(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

Expected<llvm::SmallVector<double>>
spatten::parseTokenScheduleList(StringRef list) {
  llvm::SmallVector<StringRef> parts;
  list.split(parts, ',');
  llvm::SmallVector<double> fractions;
  for (StringRef part : parts) {
    double f;
    if (part.trim().getAsDouble(f) || !(f > 0 && f <= 1))
      return invalid("expected 'paper' or a comma-separated list of keep "
                     "fractions in (0, 1]");
    if (!fractions.empty() && f > fractions.back())
      return invalid("the fractions must be non-increasing");
    fractions.push_back(f);
  }
  return fractions;
}

/// validate()'s rules of --kv-budget.
static Error validateKVBudget(const SpAttenSettings &settings) {
  const std::vector<int64_t> &kvBudget = settings.kvBudget;
  if (!settings.kvBudgetPolicy())
    return Error::success();
  std::string flag = "--kv-budget=" +
                     llvm::join(llvm::map_range(kvBudget,
                                                [](int64_t count) {
                                                  return std::to_string(count);
                                                }),
                                ",");
  if (kvBudget.size() != 3)
    return invalid(flag + ": expected S,I,R, three token counts (first, "
                          "important, recent)");
  if (llvm::any_of(kvBudget, [](int64_t count) { return count < 0; }))
    return invalid(flag + ": a token count must be >= 0");
  if (kvBudget[0] + kvBudget[1] + kvBudget[2] < 1)
    return invalid(flag + ": the budget keeps no token (S + I + R must be "
                          ">= 1)");
  if (settings.cascadeTokenPruning() || !settings.keepPositions.empty())
    return invalid(flag + ": the KV budget replaces cascade token pruning's "
                          "schedule; give it without --token-keep, "
                          "--token-schedule and --keep-positions");
  return Error::success();
}

Error SpAttenSettings::validate() const {
  for (auto [flag, ratio] :
       {std::pair<StringRef, double>{"token-keep", tokenKeep},
        {"head-keep", headKeep},
        {"value-keep", valueKeep}})
    if (!(ratio > 0 && ratio <= 1))
      return invalid(llvm::formatv("--{0}={1}: a keep ratio must be in (0, 1]",
                                   flag, ratio));
  if (tokenSchedule != "paper")
    if (Expected<llvm::SmallVector<double>> list =
            parseTokenScheduleList(tokenSchedule);
        !list)
      return invalid("--token-schedule=" + tokenSchedule + ": " +
                     llvm::toString(list.takeError()));
  for (int64_t position : keepPositions)
    if (position < 0)
      return invalid(llvm::formatv(
          "--keep-positions={0}: a token position must be >= 0", position));
  if (Error error = validateKVBudget(*this))
    return error;
  if (pqMsb != 0 && pqMsb != 6 && pqMsb != 8)
    return invalid(llvm::formatv(
        "--pq-msb={0}: the ISA encodes MSB planes of 6 or 8 bits", pqMsb));
  if (pqLsb != 4)
    return invalid(
        llvm::formatv("--pq-lsb={0}: the ISA encodes 4-bit LSB planes", pqLsb));
  if (!(pqThreshold > 0 && pqThreshold < 1))
    return invalid(llvm::formatv("--pq-threshold={0}: a probability threshold "
                                 "must be in (0, 1)",
                                 pqThreshold));
  for (auto [flag, bits] :
       {std::pair<StringRef, int64_t>{"attn-bits", attnBits},
        {"q-bits", qBits},
        {"k-bits", kBits},
        {"v-bits", vBits}})
    if (bits != 0 && (bits < 4 || bits > 16))
      return invalid(
          llvm::formatv("--{0}={1}: the ISA encodes 4 to 16 bits", flag, bits));
  if (pqValues && pqMsb == 0)
    return invalid("--pq-values needs --pq-msb");
  return Error::success();
}

llvm::json::Value spatten::toJSON(const SpAttenSettings &settings) {
  llvm::json::Object object;
#define SPATTEN_OPTION(TYPE, MEMBER, FLAG, DEFAULT, HELP)                     \
  object[FLAG] = settings.MEMBER;
#define SPATTEN_LIST_OPTION(TYPE, MEMBER, FLAG, HELP)                         \
  object[FLAG] = settings.MEMBER;
#include "spatten/Dialect/SpAtten/Transforms/Settings.def"
  return object;
}

/// Every flag name, in table order.
static constexpr llvm::StringLiteral kFlags[] = {
#define SPATTEN_OPTION(TYPE, MEMBER, FLAG, DEFAULT, HELP) FLAG,
#define SPATTEN_LIST_OPTION(TYPE, MEMBER, FLAG, HELP) FLAG,
#include "spatten/Dialect/SpAtten/Transforms/Settings.def"
};

bool spatten::fromJSON(const llvm::json::Value &value,
                       SpAttenSettings &settings, llvm::json::Path path) {
  llvm::json::ObjectMapper mapper(value, path);
  if (!mapper)
    return false;
  for (const auto &entry : *value.getAsObject())
    if (!llvm::is_contained(kFlags, StringRef(entry.first))) {
      path.field(entry.first).report("unknown setting");
      return false;
    }
  // A list absent reads as empty, its default: manifests written before
  // a list setting existed still load.
  return true
#define SPATTEN_OPTION(TYPE, MEMBER, FLAG, DEFAULT, HELP)                     \
  &&mapper.map(FLAG, settings.MEMBER)
#define SPATTEN_LIST_OPTION(TYPE, MEMBER, FLAG, HELP)                         \
  &&mapper.mapOptional(FLAG, settings.MEMBER)
#include "spatten/Dialect/SpAtten/Transforms/Settings.def"
      ;
}

Expected<SpAttenSettings>
spatten::settingsFromJSON(const llvm::json::Value &value, StringRef name) {
  llvm::json::Path::Root root(name);
  SpAttenSettings settings;
  if (!fromJSON(value, settings, root))
    return root.getError();
  if (Error error = settings.validate())
    return std::move(error);
  return settings;
}
