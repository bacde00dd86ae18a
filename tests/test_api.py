"""The public API: every exported name resolves; importing segml runs nothing."""

from __future__ import annotations

import subprocess
import sys

import segml


def test_every_exported_name_resolves() -> None:
    missing = [name for name in segml.__all__ if getattr(segml, name, None) is None]
    assert missing == []


def test_import_has_no_side_effects(tmp_path) -> None:
    code = "import segml, logging; assert not logging.getLogger().handlers"
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True)
    assert list(tmp_path.iterdir()) == []  # no files written where it was imported
