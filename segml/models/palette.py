"""One label and one colour per model name, for every figure that plots models.

The backtest plots logged with each training run (``segml.models.experiment``) and the report's
figures (``segml.report.figures``) both read ``model_style``, so the model is blue, the RFM
baseline purple and BG/NBD orange in every plot. A name not listed here gets a colour from a
fixed spare list chosen by a stable hash of the name (the same in every plot and every run).
"""

from __future__ import annotations

import zlib

__all__ = ["MODEL_STYLES", "model_style"]

MODEL_STYLES: dict[str, tuple[str, str]] = {
    "model": ("model", "#3b6ea5"),  # blue
    "challenger": ("challenger", "#3b6ea5"),  # the newly trained model: same as "model"
    "rfm": ("RFM baseline", "#8c6bb1"),  # purple
    "btyd": ("BG/NBD baseline", "#dd8452"),  # orange
    "champion": ("champion", "#55a868"),  # green
}
_SPARE = ("#c44e52", "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd")


def model_style(who: str) -> tuple[str, str]:
    """(legend label, hex colour) of the model called ``who`` ("model", "rfm", "btyd", ...)."""
    if who in MODEL_STYLES:
        return MODEL_STYLES[who]
    return who, _SPARE[zlib.crc32(who.encode()) % len(_SPARE)]
