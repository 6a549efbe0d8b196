"""A figure written twice from the same data is the same file: no time stamp in a PDF or SVG, no random
SVG ids. A PDF's /CreationDate made `git diff results/quickstart` report scaling.pdf changed after every
demo on identical rows, and an SVG differed in 294 lines between two runs."""
from __future__ import annotations

import matplotlib.pyplot as plt

from fits.plot import save


def _figure() -> plt.Figure:
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([1, 2, 3], [0.5, 0.4, 0.35], marker="o")
    ax.fill_between([1, 2, 3], [0.45, 0.35, 0.3], [0.55, 0.45, 0.4], alpha=0.3)  # clip paths: ids in an SVG
    ax.set_title("curve")
    return fig


def test_vector_figures_carry_no_date_and_repeat_byte_for_byte(tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)  # the default: matplotlib would stamp the time
    png, pdf = save(_figure(), tmp_path / "a.png")
    assert b"/CreationDate" not in pdf.read_bytes()
    first = {p.suffix: p.read_bytes() for p in (png, pdf)}
    svgs = [save(_figure(), tmp_path / f"s{i}.svg")[0].read_bytes() for i in range(2)]
    assert b"<dc:date>" not in svgs[0]
    assert svgs[0] == svgs[1], "two SVGs of one figure differ (dates or random ids)"
    png2, pdf2 = save(_figure(), tmp_path / "b.png")
    assert {".png": png2.read_bytes(), ".pdf": pdf2.read_bytes()} == first
