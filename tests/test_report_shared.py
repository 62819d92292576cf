"""``lmcore.report``: what both reports share escapes what it shows and formats numbers one way."""

from __future__ import annotations

import subprocess
import sys

from lmcore.report import Check, Figure, Pct, Pre, environment, num, pct


def _render(source: str, **context) -> str:
    env = environment()
    return env.from_string('{% import "macros.html.j2" as m %}' + source).render(**context)


def test_table_cells_escape_text_and_format_numbers_and_shares():
    page = _render(
        '{{ m.rows_table("t", ["a", "b"], rows) }}',
        rows=[["<b>x</b>", 1234567], [Pct(0.12345), Pre("  keep <me>")], [None, 0.000123456]],
    )
    assert '<table id="t">' in page and "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x" not in page
    assert '<td class="num">1,234,567</td>' in page and '<td class="num">12.35%</td>' in page
    assert "<pre>  keep &lt;me&gt;</pre>" in page and '<td class="num">0.0001235</td>' in page
    assert "<td></td>" in page  # None is an empty cell, not "None"


def test_figures_are_embedded_and_checks_show_their_level():
    fig = Figure("loss", 'a "caption"', b"\x89PNG")
    assert fig.data_uri == "data:image/png;base64,iVBORw=="
    page = _render(
        "{{ m.figure(f) }}{{ m.checks(cs) }}",
        f=fig,
        cs=[Check("counts add up", True, "1 = 1"), Check("leftovers", False, "<x>", level="warning")],
    )
    assert '<figure id="plot-loss"><img alt="a &#34;caption&#34;" src="data:image/png;base64,' in page
    assert (
        '<td class="ok">ok</td>' in page and '<td class="warn">warning</td>' in page and "&lt;x&gt;" in page
    )
    assert not Check("w", False, "", "warning").failed_error and Check("e", False, "").failed_error
    assert Check.from_dict(Check("e", False, "d").to_dict()) == Check("e", False, "d")


def test_number_formats():
    assert [num(v) for v in (None, True, 12000, 2.5, "a")] == ["", "True", "12,000", "2.5", "a"]
    assert pct(None) == "" and pct(0.4123) == "41.23%"


def test_the_shared_package_imports_neither_beam_nor_torch_nor_matplotlib():
    code = (
        "import sys, lmcore.report, pipelines.report, pipelines.report.html, lm_train.report\n"
        "print(sorted(m for m in ('apache_beam', 'torch', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
