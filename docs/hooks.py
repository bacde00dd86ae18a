"""MkDocs hook: pages whose sources live outside docs/, added without copies that could drift.

- notebooks/*.ipynb become pages (rendered, and executed, by mkdocs-jupyter);
- configs/**/*.yaml are published as files, so the configuration page can link to them;
- the Spark notebook is rendered without executing it when pyspark or Java is missing (as the
  test suite skips it), and the build says so;
- config.md is generated from configs/README.md (the one reference of every config key), with
  its links rewritten from the configs/ folder's point of view to the site's.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

from segml.engine import spark_unavailable

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"notebooks": "*.ipynb", "configs": "**/*.yaml"}
log = logging.getLogger("mkdocs.hooks.segml")
LINK = re.compile(r"\]\((?!https?:|mailto:|#|/)([^)\s]+)\)")


def _site_link(match: re.Match[str]) -> str:
    target = match.group(1)
    if target.startswith("../docs/"):
        return f"]({target.removeprefix('../docs/')})"
    if target.startswith("../"):
        return f"]({target.removeprefix('../')})"
    return f"](configs/{target})"


def config_page() -> str:
    """configs/README.md with its relative links pointing where the site publishes them."""
    text = (ROOT / "configs" / "README.md").read_text(encoding="utf-8")
    return LINK.sub(_site_link, text)


def on_config(config: Any) -> Any:
    jupyter = config["plugins"]["mkdocs-jupyter"].config
    if jupyter["execute"] and (reason := spark_unavailable()):
        log.info("not executing notebooks/04-spark.ipynb: %s; it is shown without outputs", reason)
        jupyter["execute_ignore"].append("*spark*.ipynb")
    return config


@event_priority(100)  # before mkdocs-jupyter turns .ipynb files into pages
def on_files(files: Files, *, config: Any) -> Files:
    for folder, pattern in SOURCES.items():
        for path in sorted((ROOT / folder).glob(pattern)):
            rel = path.relative_to(ROOT).as_posix()
            files.append(
                File(
                    rel,
                    src_dir=str(ROOT),
                    dest_dir=config["site_dir"],
                    use_directory_urls=config["use_directory_urls"],
                )
            )
    files.append(File.generated(config, "config.md", content=config_page()))
    return files
