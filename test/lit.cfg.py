# -*- Python -*-
# lit configuration for the SpAtten compiler and simulator tests.
#
# The suite lives in build/test (lit.site.cfg.py); tools come from build/bin,
# FileCheck/not/split-file from LLVM 22. Substitutions:
#   %spatten_root   the source root
#   %shared_models  ../shared/models relative to the source root; tests that
#                   read it say `REQUIRES: shared-models`, so they are
#                   reported UNSUPPORTED (with that reason) when it is absent.

import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "SPATTEN"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".onnxtext", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.spatten_obj_root, "test")
# Inputs/ hold data read by tests, not tests.
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]

llvm_config.use_default_substitutions()

config.substitutions.append(("%spatten_root", config.spatten_src_root))
shared_models = os.path.normpath(
    os.path.join(config.spatten_src_root, "..", "shared", "models"))
config.substitutions.append(("%shared_models", shared_models))
if os.path.isdir(shared_models):
    config.available_features.add("shared-models")
config.substitutions.append(("%python", "/usr/bin/python3"))

llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
tool_dirs = [config.spatten_tools_dir, config.llvm_tools_dir]
# A sanitized tree (scripts/sanitize.sh) builds only the simulator's tools;
# the script names the Release build's bin here for the others
# (spatten-compile).
if os.environ.get("SPATTEN_LIT_FALLBACK_TOOLS"):
    tool_dirs.append(os.environ["SPATTEN_LIT_FALLBACK_TOOLS"])
tools = [
    "spatten-opt", "spatten-translate", "spatten-compile", "spatten-sim",
    "spatten-objdump", "spatten-asm",
]
llvm_config.add_tool_substitutions(
    [ToolSubst(t, unresolved="ignore") for t in tools], tool_dirs)
