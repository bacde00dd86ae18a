"""Small HTML helpers: escaping, tables, images as base64 PNG, the page around the sections.

Everything is inline (CSS, images), so the file opens anywhere without a network.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Section", "figure_img", "missing", "page", "para", "png_img", "table"]

_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;margin:0;
color:#1f2933;background:#f5f7fa;line-height:1.45}
header{background:#243b53;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:24px} header p{margin:4px 0 0;color:#d9e2ec;font-size:14px}
nav{background:#fff;border-bottom:1px solid #d9e2ec;padding:8px 32px;font-size:14px;
position:sticky;top:0} nav a{margin-right:16px;color:#334e68;text-decoration:none}
main{padding:8px 32px 32px;max-width:1200px}
section{background:#fff;border:1px solid #d9e2ec;border-radius:6px;margin:18px 0;
padding:8px 22px 18px}
section h2{font-size:19px;color:#243b53;border-bottom:2px solid #e4e7eb;padding-bottom:6px}
h3{font-size:15px;color:#334e68;margin:18px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0 10px}
th,td{border-bottom:1px solid #e4e7eb;padding:4px 10px;text-align:right;white-space:nowrap}
th{background:#f0f4f8;color:#334e68} td:first-child,th:first-child{text-align:left}
td.text,th.text{text-align:left;white-space:normal}
tr.best td{font-weight:600} .win{color:#2f8132;font-weight:600} .lose{color:#b83232;font-weight:600}
img{max-width:100%;height:auto;display:block;margin:8px 0;border:1px solid #eef2f7}
.missing{color:#7b8794;font-style:italic;background:#f8fafc;border-left:3px solid #bcccdc;
padding:6px 12px} .note{color:#52606d;font-size:13px}
.scroll{overflow-x:auto}
"""


@dataclass
class Section:
    """One report section: an anchor id, a title, its HTML body; ``available`` is False when
    its inputs were absent (the body then says so)."""

    key: str
    title: str
    body: str
    available: bool = True


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def para(text: str, cls: str = "note") -> str:
    return f'<p class="{cls}">{esc(text)}</p>'


def missing(text: str) -> str:
    return f'<p class="missing">{esc(text)}</p>'


def fmt(value: Any, digits: int = 3) -> str:
    """Numbers with thousands separators; floats rounded; missing as an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "\u2013"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or (
        isinstance(value, float) and value.is_integer() and abs(value) >= 1000
    ):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def table(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    text_cols: Sequence[int] = (0,),
    row_classes: Sequence[str] | None = None,
) -> str:
    """A plain HTML table; cells are escaped (pre-rendered HTML only via ``Markup``)."""

    def cell(tag: str, i: int, v: Any) -> str:
        cls = ' class="text"' if i in text_cols else ""
        body = v.html if isinstance(v, Markup) else esc(fmt(v))
        return f"<{tag}{cls}>{body}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    lines = []
    for n, row in enumerate(rows):
        cls = f' class="{row_classes[n]}"' if row_classes and row_classes[n] else ""
        lines.append(f"<tr{cls}>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>")
    return f'<div class="scroll"><table><tr>{head}</tr>{"".join(lines)}</table></div>'


@dataclass(frozen=True)
class Markup:
    """HTML that ``table`` inserts as is (built by this module's callers from escaped parts)."""

    html: str


def png_img(data: bytes, alt: str) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{encoded}">'


def figure_img(fig: Any, alt: str, *, dpi: int = 110) -> str:
    """A matplotlib figure as an inline PNG; the figure is closed."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return png_img(buffer.getvalue(), alt)


def page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    nav = "".join(f'<a href="#{s.key}">{esc(s.title)}</a>' for s in sections)
    body = "".join(
        f'<section id="{s.key}" data-available="{str(s.available).lower()}">'
        f"<h2>{esc(s.title)}</h2>{s.body}</section>"
        for s in sections
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>"
        f"<nav>{nav}</nav><main>{body}</main></body></html>\n"
    )
