"""Pictures people would rather look at than read: alignments and mel spectrograms."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def fit_title(title: str, width: int) -> str:
    """Wrapped to lines of at most `width` characters, three lines at most: a sentence
    longer than the figure was clipped at both ends, so its start could not be read."""
    return textwrap.fill(title, width=width, max_lines=3, placeholder=" ...")


def plot_alignment(alignment: np.ndarray, path: Path, title: str = "") -> Path:
    """`alignment` is [decoder steps, encoder steps]; drawn with the text on the y axis."""
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    image = ax.imshow(alignment.T, aspect="auto", origin="lower", interpolation="none")
    fig.colorbar(image, ax=ax)
    ax.set_xlabel("decoder step")
    ax.set_ylabel("encoder step (text)")
    if title:
        ax.set_title(fit_title(title, 70), fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_mels(mels: dict[str, np.ndarray], path: Path, title: str = "") -> Path:
    """One panel per named log-mel spectrogram ([n_mels, frames]), e.g. target vs predicted."""
    fig, axes = plt.subplots(len(mels), 1, figsize=(8, 2.2 * len(mels)), dpi=100, squeeze=False)
    for ax, (name, mel) in zip(axes[:, 0], mels.items(), strict=True):
        ax.imshow(mel, aspect="auto", origin="lower", interpolation="none")
        ax.set_ylabel(name)
    axes[-1, 0].set_xlabel("frame")
    if title:
        axes[0, 0].set_title(fit_title(title, 95), fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
