"""Griffe extension: document ``segml.prepare``, a function that static analysis loses.

``segml/schema/__init__.py`` defines ``prepare`` and the package also has a submodule
``segml/schema/prepare.py``. Python binds ``segml.schema.prepare`` (and so ``segml.prepare``) to
the function; griffe binds it to the submodule, so the API page would show nothing. This puts each
function defined in a package ``__init__`` back where a top-level re-export points at it.
"""

from __future__ import annotations

from typing import Any

import griffe


class ShadowedBySubmodule(griffe.Extension):
    def __init__(self) -> None:
        super().__init__()
        self.defined: dict[str, griffe.Function] = {}

    def on_function_instance(self, *, func: griffe.Function, **kwargs: Any) -> None:
        parent = func.parent
        if isinstance(parent, griffe.Module) and parent.is_init_module:
            self.defined[func.path] = func

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for name, member in list(pkg.members.items()):
            if isinstance(member, griffe.Alias) and member.target_path in self.defined:
                target = pkg.modules_collection[member.target_path]
                if isinstance(target, griffe.Module):  # the submodule won
                    pkg.set_member(name, self.defined[member.target_path])
