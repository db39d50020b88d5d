//===- SettingsOptions.h - SpAtten settings as pass options -----*- C++ -*-===//
//
// Each SpAtten pass, and --spatten-compile-pipeline, takes its settings as
// options named like spatten-compile's flags (`token-keep=0.5`). ODS would
// declare them from literals in Passes.td, repeating Settings.def; these
// templates declare them from the table instead
// (docs/Architecture.md, "SpAtten settings: one table").
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_DIALECT_SPATTEN_TRANSFORMS_SETTINGSOPTIONS_H
#define SPATTEN_DIALECT_SPATTEN_TRANSFORMS_SETTINGSOPTIONS_H

#include "spatten/Dialect/SpAtten/Transforms/Settings.h"

#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassOptions.h"

#include <tuple>

namespace spatten {
namespace setting {

/// One descriptor per row of Settings.def, named like the member:
/// `setting::tokenKeep` gives the type, flag and help of
/// SpAttenSettings::tokenKeep and finds it in a SpAttenSettings.
#define SPATTEN_SETTING_DESCRIPTOR(TYPE, MEMBER, FLAG, HELP)                  \
  struct MEMBER {                                                             \
    using Type = TYPE;                                                        \
    static constexpr llvm::StringLiteral flag = FLAG;                         \
    static constexpr llvm::StringLiteral help = HELP;                         \
    static Type &in(SpAttenSettings &s) { return s.MEMBER; }                  \
    static const Type &in(const SpAttenSettings &s) { return s.MEMBER; }      \
  };
#define SPATTEN_OPTION(TYPE, MEMBER, FLAG, DEFAULT, HELP)                     \
  SPATTEN_SETTING_DESCRIPTOR(TYPE, MEMBER, FLAG, HELP)
#define SPATTEN_LIST_OPTION(TYPE, MEMBER, FLAG, HELP)                         \
  SPATTEN_SETTING_DESCRIPTOR(std::vector<TYPE>, MEMBER, FLAG, HELP)
#include "spatten/Dialect/SpAtten/Transforms/Settings.def"
#undef SPATTEN_SETTING_DESCRIPTOR

/// A list of descriptors: the settings a pass takes.
template <typename... Settings> struct List {};

namespace detail {
template <typename Ignored, typename... Settings>
using DropFirst = List<Settings...>;
} // namespace detail

/// Every setting, in table order.
using All = detail::DropFirst<void
#define SPATTEN_OPTION(TYPE, MEMBER, FLAG, DEFAULT, HELP) , MEMBER
#define SPATTEN_LIST_OPTION(TYPE, MEMBER, FLAG, HELP) , MEMBER
#include "spatten/Dialect/SpAtten/Transforms/Settings.def"
                              >;

} // namespace setting

/// The option of `Setting` in `Parent` (mlir::Pass, or
/// mlir::detail::PassOptions for a pipeline), with the table's default.
template <typename Parent, typename Setting,
          typename Type = typename Setting::Type>
class SettingOption : public Parent::template Option<Type> {
  using Base = typename Parent::template Option<Type>;

public:
  explicit SettingOption(Parent &parent)
      : Base(parent, Setting::flag, llvm::cl::desc(Setting::help),
             llvm::cl::init(Setting::in(SpAttenSettings()))) {}
  using Base::operator=;
  void storeIn(SpAttenSettings &settings) const {
    Setting::in(settings) = this->getValue();
  }
  void loadFrom(const SpAttenSettings &settings) {
    *this = Setting::in(settings);
  }
};

/// A list setting: a comma-separated list option, empty by default.
template <typename Parent, typename Setting, typename Element>
class SettingOption<Parent, Setting, std::vector<Element>>
    : public Parent::template ListOption<Element> {
  using Base = typename Parent::template ListOption<Element>;

public:
  explicit SettingOption(Parent &parent)
      : Base(parent, Setting::flag, llvm::cl::desc(Setting::help)) {}
  using Base::operator=;
  void storeIn(SpAttenSettings &settings) const {
    Setting::in(settings).assign(this->begin(), this->end());
  }
  void loadFrom(const SpAttenSettings &settings) {
    *this = llvm::ArrayRef<Element>(Setting::in(settings));
  }
};

/// The options of the settings in `List` (a setting::List), declared in
/// `parent` under their flag names.
template <typename Parent, typename List> class SettingOptions;
template <typename Parent, typename... Settings>
class SettingOptions<Parent, setting::List<Settings...>> {
public:
  explicit SettingOptions(Parent &parent)
      : options(ownedBy<Settings>(parent)...) {}
  SettingOptions(const SettingOptions &) = delete;
  SettingOptions &operator=(const SettingOptions &) = delete;

  /// The options' values; the settings not in the list keep their defaults.
  SpAttenSettings get() const {
    SpAttenSettings settings;
    std::apply([&](const auto &...o) { (o.storeIn(settings), ...); },
               options);
    return settings;
  }
  /// Sets every option from `settings`.
  void set(const SpAttenSettings &settings) {
    std::apply([&](auto &...o) { (o.loadFrom(settings), ...); }, options);
  }

private:
  template <typename> static Parent &ownedBy(Parent &parent) { return parent; }
  std::tuple<SettingOption<Parent, Settings>...> options;
};

/// A SpAtten pass that takes the settings in `List` as options. `PassBase`
/// is its ODS base class, `impl::<Pass>Base<Derived>`.
template <typename PassBase, typename List>
class SettingsPass : public PassBase {
public:
  SettingsPass() = default;
  explicit SettingsPass(const SpAttenSettings &settings) {
    options.set(settings);
  }
  /// Options belong to the pass that declares them: a clone declares its
  /// own, and Pass::clone copies their values.
  SettingsPass(const SettingsPass &other) : PassBase(other) {}

protected:
  /// This pass's settings (defaults for the others) if they pass
  /// SpAttenSettings::validate; otherwise an error on `op` that names the
  /// pass and the flag, and failure.
  mlir::FailureOr<SpAttenSettings> checkedSettings(mlir::Operation *op) const {
    SpAttenSettings settings = options.get();
    if (llvm::Error error = settings.validate()) {
      op->emitError() << this->getArgument() << ": "
                      << llvm::toString(std::move(error));
      return mlir::failure();
    }
    return settings;
  }

private:
  SettingOptions<mlir::Pass, List> options{*this};
};

} // namespace spatten

#endif // SPATTEN_DIALECT_SPATTEN_TRANSFORMS_SETTINGSOPTIONS_H
