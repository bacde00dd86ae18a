"""The docs site's own pieces that can be checked in a second (the build itself is `make docs`,
run by CI, because it executes the notebooks): every public name has an API reference entry,
every page in the nav exists, and the configuration page's links point at published files."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install -e '.[docs]')")


def _hooks():
    spec = importlib.util.spec_from_file_location("segml_docs_hooks", DOCS / "hooks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _is_module(path: str) -> bool:
    try:
        return importlib.util.find_spec(path) is not None
    except (ModuleNotFoundError, ValueError):  # a parent is a module, not a package
        return False


def _directives() -> list[tuple[str, list[str] | None]]:
    """(module, members or None for "its __all__") of every `::: module` on the API pages."""
    found = []
    for page in sorted((DOCS / "api").glob("*.md")):
        for block in re.split(r"^(?=::: )", page.read_text(encoding="utf-8"), flags=re.M)[1:]:
            head, _, options = block.partition("\n")
            members = re.search(r"^\s+members:\n((?:\s+- \S+\n)+)", options, flags=re.M)
            names = re.findall(r"- (\S+)", members.group(1)) if members else None
            target = head.removeprefix("::: ").strip()
            if "." in target and not _is_module(target):
                target, _, name = target.rpartition(".")  # one object: ::: pkg.module.name
                names = [name]
            found.append((target, names))
    return found


def test_every_public_name_has_an_api_entry() -> None:
    import segml

    documented = set()
    for module, members in _directives():
        names = members if members is not None else importlib.import_module(module).__all__
        documented |= {n for n in names if hasattr(importlib.import_module(module), n)}
    missing = sorted(set(segml.__all__) - documented)
    assert not missing, f"segml.__all__ names with no entry under docs/api/: {missing}"
    for module, members in _directives():
        for name in members or []:
            assert hasattr(importlib.import_module(module), name), f"{module}.{name} is gone"


def _shadowed(module: str, name: str) -> bool:
    """The name is also a submodule beside where it is bound or defined; griffe then documents
    the submodule instead of the function (segml.segments.readout)."""
    obj = getattr(importlib.import_module(module), name)
    homes = {module, getattr(obj, "__module__", module)}
    return not inspect.ismodule(obj) and any(_is_module(f"{home}.{name}") for home in homes)


def test_names_shadowed_by_a_submodule_are_documented_around_it() -> None:
    directives = _directives()
    explicit = {(module, n) for module, members in directives for n in members or []}
    restored = {("segml", "prepare")}  # docs/griffe_shadowed.py puts the function back
    missing = []
    for module, members in directives:
        names = members if members is not None else importlib.import_module(module).__all__
        for name in names:
            home = getattr(getattr(importlib.import_module(module), name), "__module__", module)
            handled = (module, name) in restored or (home, name) in explicit
            if _shadowed(module, name) and not handled:
                missing.append(f"{module}.{name}")
    assert not missing, (
        f"{missing}: the API page would show the submodule of the same name, not the object; "
        "document it from its defining module (::: pkg.module.name)"
    )


def test_nav_pages_exist() -> None:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=Loader)

    def pages(nav):
        for item in nav:
            for value in item.values():
                yield from pages(value) if isinstance(value, list) else [value]

    generated = {"config.md"}
    for page in pages(config["nav"]):
        where = ROOT / page if page.startswith("notebooks/") else DOCS / page
        assert page in generated or where.exists(), f"mkdocs.yml nav lists {page}; not found"


def test_config_page_links_point_at_published_files() -> None:
    text = _hooks().config_page()
    assert text.startswith("# Configuration")
    for target in re.findall(r"\]\(([^)#\s]+)\)", text):
        if target.startswith("http"):
            continue
        source = ROOT / target if target.startswith("configs/") else DOCS / target
        assert source.is_file(), f"the configuration page links to {target}; no such file"
