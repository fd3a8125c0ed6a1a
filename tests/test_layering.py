"""The two "never" rules of the layout (DESIGN.md), checked in fresh interpreters:
robo_meta.envs never imports torch; robo_meta.policies never imports mujoco.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

# Imports a package (and, with walk, every module below it), then prints the forbidden
# top-level package's modules that got loaded.
_IMPORT = """
import importlib, json, pkgutil, sys
{prologue}
package = importlib.import_module({package!r})
if {walk!r}:
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == {forbidden!r})))
"""

# ``import robo_meta.policies`` first runs robo_meta/__init__.py, which imports robo_meta.envs
# (and so mujoco) to register the gymnasium ids. To see what the policies package itself
# imports, stand in for the parent package without running its __init__: robo_meta.policies
# depends on torch only, never on robo_meta's core.
_BARE_PARENT = """
import importlib.util, types
spec = importlib.util.find_spec("robo_meta")
parent = types.ModuleType("robo_meta")
parent.__path__, parent.__spec__ = list(spec.submodule_search_locations), spec
sys.modules["robo_meta"] = parent
"""


def _forbidden_after_import(package: str, forbidden: str, walk: bool = True,
                            prologue: str = "") -> list[str]:
    code = _IMPORT.format(package=package, forbidden=forbidden, walk=walk, prologue=prologue)
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_envs_never_import_torch():
    assert _forbidden_after_import("robo_meta.envs", "torch") == []


def test_import_robo_meta_does_not_import_torch():
    assert _forbidden_after_import("robo_meta", "torch", walk=False) == []


def test_policies_never_import_mujoco():
    assert _forbidden_after_import("robo_meta.policies", "mujoco", prologue=_BARE_PARENT) == []


def test_the_check_sees_what_is_imported():
    # guards against a vacuous pass: the same check does see envs load mujoco
    assert "mujoco" in _forbidden_after_import("robo_meta.envs", "mujoco")


def test_robo_meta_error_is_importable_without_mujoco_or_torch():
    code = ("import sys; from robo_meta import RoboMetaError; import robo_meta.envs.errors; "
            "import json; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} "
            "& {'mujoco', 'torch'})))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_the_library_never_imports_the_cli():
    # every import statement in robo_meta outside robo_meta/cli, function-level ones included
    import ast
    from pathlib import Path

    import robo_meta

    root = Path(robo_meta.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if "cli" in path.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n.startswith("robo_meta.cli")]
    assert len(list(root.rglob("*.py"))) > 20  # the walk saw the library
    assert offenders == []
