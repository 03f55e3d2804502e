"""Figures: a long sentence in the title stays readable from its first word."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from smart_tuner.plots import fit_title, plot_alignment, plot_mels


@given(st.text(alphabet="abcdefgh ,.", min_size=0, max_size=400), st.integers(20, 120))
def test_a_fitted_title_keeps_its_start_and_no_line_is_wider_than_asked(title, width):
    fitted = fit_title(title, width)
    lines = fitted.splitlines()
    assert len(lines) <= 3
    assert all(len(line) <= width for line in lines)
    first_word = title.split()[0] if title.split() else ""
    assert fitted.lstrip().startswith(first_word[: width - 4])


def test_alignment_and_mel_figures_are_written_with_a_long_title(tmp_path: Path):
    sentence = "The old clock on the kitchen wall stopped at midnight, and nobody noticed " * 2
    title = sentence + "  attention_score 0.90  diagonality 1.00"
    align = plot_alignment(np.eye(20, 12), tmp_path / "a.png", title)
    mels = plot_mels({"predicted": np.zeros((8, 30))}, tmp_path / "m.png", title)
    for path in (align, mels):
        assert path.stat().st_size > 1000
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
