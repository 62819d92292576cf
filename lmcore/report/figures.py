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


# PNG metadata without matplotlib's version: the same numbers give the same bytes on any install.
NO_SOFTWARE_TAG = {"Software": None}


def png_bytes(fig: Any, dpi: int = 100, quiet: bool = False, metadata: dict | None = None) -> bytes:
    """A matplotlib figure as PNG bytes (closed afterwards, so long reports do not pile figures up).

    ``quiet`` silences missing-glyph warnings where the page's tables carry the exact text;
    ``metadata`` goes to ``savefig`` (e.g. ``NO_SOFTWARE_TAG``).
    """
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        if fig.get_layout_engine() is None:  # a figure may bring its own (constrained) layout
            fig.tight_layout()
        fig.savefig(buf, format="png", dpi=dpi, metadata=metadata)
    plt.close(fig)
    return buf.getvalue()
