"""Figures embedded in a page as base64 PNGs, so a report is one file that can be mailed or stored."""

from __future__ import annotations

import base64
import io
import warnings
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Figure:
    """A PNG with the name a page (``id="plot-NAME"``) and a script find it by, and its caption."""

    name: str
    caption: str
    png: bytes

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def png_bytes(fig: Any, dpi: int = 100, quiet: bool = False) -> bytes:
    """A matplotlib figure as PNG bytes (closed afterwards, so long reports do not pile figures up).

    ``quiet`` silences missing-glyph warnings where the page's tables carry the exact text.
    No ``Software`` metadata: the same numbers give the same bytes.
    """
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
