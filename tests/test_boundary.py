"""The one-way dependencies of ../shared/ARCHITECTURE.md, checked on the source.

- export/, serve/ and demo/ reach (directly, lazily inside functions, or through any cocodiff
  module they import) only cocodiff.data, cocodiff.models, the checkpoint and its contract, and
  the small base modules: never training, the method, the training config, or evaluation.
- No module imports a command-line module (one with a `__main__` block): a CLI is a thin shell
  over library code, and library code never depends on a shell.

Imports under `if TYPE_CHECKING:` are for type checkers only and are not followed.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("cocodiff", "export", "serve", "demo", "benchmarks")
DEPLOYMENT = ("export", "serve", "demo")
ALLOWED = ("cocodiff.data", "cocodiff.models", "cocodiff.checkpoint", "cocodiff.contract", "cocodiff.errors",
           "cocodiff.atomic", "cocodiff.hashing", "cocodiff.device", "cocodiff.cli", "cocodiff.engine_file")


def module_files() -> dict[str, Path]:
    files = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")) if (REPO / package).is_dir() else []:
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            files[name] = path
    return files


FILES = module_files()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST):
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            yield from (n for other in child.orelse for n in [other, *_descendants(other)])
            continue
        yield child
        yield from _walk(child)


def _descendants(node: ast.AST):
    for child in ast.iter_child_nodes(node):
        yield child
        yield from _descendants(child)


@lru_cache(maxsize=None)
def imports_of(module: str) -> frozenset[str]:
    """The project modules `module` imports anywhere in its code (not only at the top)."""
    path = FILES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in _walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            while name and name not in FILES:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    found.discard(module)
    return frozenset(found)


def reachable(module: str) -> set[str]:
    seen, todo = set(), [module]
    while todo:
        for name in imports_of(todo.pop()):
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


def is_cli(module: str) -> bool:
    return "__name__ == \"__main__\"" in FILES[module].read_text(encoding="utf-8")


def allowed(module: str) -> bool:
    return module == "cocodiff" or module.split(".")[0] in DEPLOYMENT or any(
        module == prefix or module.startswith(prefix + ".") for prefix in ALLOWED)


@pytest.mark.parametrize("module", sorted(m for m in FILES if m.split(".")[0] in DEPLOYMENT))
def test_deployment_code_reaches_only_data_models_and_the_contract(module):
    outside = sorted(name for name in reachable(module) if not allowed(name))
    assert not outside, f"{module} reaches {outside}"


@pytest.mark.parametrize("module", sorted(FILES))
def test_no_module_imports_a_command_line_module(module):
    clis = sorted(name for name in imports_of(module) if is_cli(name))
    assert not clis, f"{module} imports the command-line module(s) {clis}"


def test_the_check_sees_lazy_imports_and_would_catch_a_violation(tmp_path):
    assert "cocodiff.checkpoint" in imports_of("serve.backends.pytorch")
    assert "cocodiff.models" in reachable("serve.backends.pytorch")  # lazily, inside build_model
    assert "cocodiff.training.loop" in imports_of("cocodiff.train")  # inside main()
    assert not allowed("cocodiff.training.loop") and not allowed("cocodiff.method.auxiliary")
    assert not allowed("cocodiff.config") and not allowed("cocodiff.evaluate") and is_cli("cocodiff.evaluate")
