//===- Settings.h - The settings of SpAtten's techniques --------*- C++ -*-===//
//
// SpAttenSettings holds what a compilation applies of cascade token and head
// pruning, local value pruning, progressive quantization and fixed-point
// attention (paper Sec. III; exact arithmetic in docs/Algorithms.md): one
// member per row of Settings.def. spatten-compile reads it from its command
// line (SettingsCommandLine), the pipeline and the passes take it
// (SettingsOptions.h), the module carries it as `spatten.settings` and the
// .spbin manifest as `settings` (docs/BinaryFormat.md).
//
// Depends only on LLVM Support, so the binary reader, which the simulator
// links without MLIR, checks manifests with it. toAttribute/fromAttribute
// need MLIR and are defined in the SpAttenTransforms library.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_DIALECT_SPATTEN_TRANSFORMS_SETTINGS_H
#define SPATTEN_DIALECT_SPATTEN_TRANSFORMS_SETTINGS_H

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace mlir {
class DictionaryAttr;
class MLIRContext;
} // namespace mlir

namespace spatten {

/// The module attribute that records the settings a module is compiled
/// with (SpAttenSettings::toAttribute); the binary emitter copies it into
/// the manifest.
constexpr llvm::StringLiteral kSettingsAttrName = "spatten.settings";

/// What a compilation applies of SpAtten's techniques: keep ratios are
/// fractions of tokens, heads or keys, widths are bits, the threshold is a
/// softmax probability. Every default is off (dense fp32).
struct SpAttenSettings {
#define SPATTEN_OPTION(TYPE, MEMBER, FLAG, DEFAULT, HELP) TYPE MEMBER = DEFAULT;
#define SPATTEN_LIST_OPTION(TYPE, MEMBER, FLAG, HELP) std::vector<TYPE> MEMBER;
#include "spatten/Dialect/SpAtten/Transforms/Settings.def"

  /// Checks every rule that holds whatever the model: keep ratios in
  /// (0, 1], the schedule's text, positions >= 0, the bit widths the ISA
  /// encodes (MSB planes of 6 or 8 bits, 4-bit LSB planes, 4..16-bit
  /// fixed point), the threshold in (0, 1), --pq-values only with
  /// --pq-msb, --kv-budget as three counts >= 0 that keep a token and
  /// without cascade token pruning's flags. The error names the first
  /// invalid setting's flag and value, e.g. "--token-keep=2.00: a keep
  /// ratio must be in (0, 1]". Rules that need the model (a schedule's
  /// length, a position past the last token) are the passes'.
  llvm::Error validate() const;

  /// The number of tokens a decode layer attends under --kv-budget=S,I,R
  /// at a context of `n` tokens (the new one included): every token up to
  /// the budget, then S + I + max(R, 1), since the new token is always
  /// attended (docs/Algorithms.md, "Fixed KV budget").
  int64_t kvBudgetKept(int64_t n) const {
    return std::min(n, kvBudget[0] + kvBudget[1] +
                           std::max<int64_t>(kvBudget[2], 1));
  }

  /// The fixed-point width of Q, K and V in bits, 0 for fp32: --q-bits,
  /// --k-bits, --v-bits, or --attn-bits where those are 0. Keys (and values
  /// with --pq-values) under progressive quantization ignore it.
  int64_t queryBits() const { return qBits ? qBits : attnBits; }
  int64_t keyBits() const { return kBits ? kBits : attnBits; }
  int64_t valueBits() const { return vBits ? vBits : attnBits; }

  /// Which techniques are on (each is off at its default).
  bool cascadeTokenPruning() const {
    return tokenKeep < 1 || tokenSchedule != "paper";
  }
  bool cascadeHeadPruning() const { return headKeep < 1; }
  bool kvBudgetPolicy() const { return !kvBudget.empty(); }
  bool localValuePruning() const { return valueKeep < 1; }
  bool progressiveQuantization() const { return pqMsb != 0; }
  bool quantization() const {
    return queryBits() != 0 || keyBits() != 0 || valueBits() != 0;
  }

  /// The `spatten.settings` dictionary: every setting keyed by its flag
  /// name, as f64, i64, string, bool or an array of i64.
  mlir::DictionaryAttr toAttribute(mlir::MLIRContext *context) const;
  /// Reads toAttribute()'s dictionary (settingsFromJSON's checks); the
  /// error names the key that is missing, unknown or of the wrong type, or
  /// is validate()'s.
  static llvm::Expected<SpAttenSettings> fromAttribute(mlir::DictionaryAttr);
};

/// The fractions of an explicit --token-schedule list ("1,0.75,0.5"): one
/// per layer, in (0, 1], non-increasing, starting at 1 (no importance is
/// known before layer 0). The error says what is wrong with the text.
llvm::Expected<llvm::SmallVector<double>>
parseTokenScheduleList(llvm::StringRef list);

/// The manifest's `settings` record: an object with every setting keyed by
/// its flag name; ratios and the threshold are numbers, bit widths integers,
/// `token-schedule` the string given, `keep-positions` an array of integers,
/// `pq-values` a boolean.
llvm::json::Value toJSON(const SpAttenSettings &settings);
/// Reads toJSON()'s object: every key present with its type (a list may be
/// absent: empty), no other key;
/// reports the offending key through `path`. Values are not validated.
bool fromJSON(const llvm::json::Value &value, SpAttenSettings &settings,
              llvm::json::Path path);
/// fromJSON(), then validate(): the error names the key below `name`
/// ("expected integer at settings.pq-msb") or is validate()'s.
llvm::Expected<SpAttenSettings> settingsFromJSON(const llvm::json::Value &value,
                                                 llvm::StringRef name);

/// The settings as command-line flags of the same names (`--token-keep=0.5`,
/// `--keep-positions=0,5`) in `category`, registered while this object
/// lives; a tool declares one at namespace scope.
class SettingsCommandLine {
public:
  explicit SettingsCommandLine(llvm::cl::OptionCategory &category)
      : category(category) {}
  SettingsCommandLine(const SettingsCommandLine &) = delete;
  SettingsCommandLine &operator=(const SettingsCommandLine &) = delete;

  /// The values given on the command line, defaults elsewhere (unchecked).
  const SpAttenSettings &settings() const { return values; }

private:
  llvm::cl::OptionCategory &category;
  SpAttenSettings values;
#define SPATTEN_OPTION(TYPE, MEMBER, FLAG, DEFAULT, HELP)                     \
  llvm::cl::opt<TYPE, /*ExternalStorage=*/true> MEMBER##Flag{                 \
      FLAG, llvm::cl::desc(HELP), llvm::cl::location(values.MEMBER),          \
      llvm::cl::cat(category)};
#define SPATTEN_LIST_OPTION(TYPE, MEMBER, FLAG, HELP)                         \
  llvm::cl::list<TYPE, std::vector<TYPE>> MEMBER##Flag{                       \
      FLAG, llvm::cl::desc(HELP), llvm::cl::location(values.MEMBER),          \
      llvm::cl::CommaSeparated, llvm::cl::cat(category)};
#include "spatten/Dialect/SpAtten/Transforms/Settings.def"
};

} // namespace spatten

#endif // SPATTEN_DIALECT_SPATTEN_TRANSFORMS_SETTINGS_H
