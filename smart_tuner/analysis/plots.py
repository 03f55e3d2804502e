"""PNG histograms of the per-utterance numbers: durations, F0, SNR and speaking rate."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from smart_tuner.analysis.profile import DatasetProfile  # noqa: E402

PLOTS = {
    "durations.png": ("duration", "utterance duration (s)"),
    "f0.png": ("f0_hz", "median F0 per utterance (Hz)"),
    "snr.png": ("snr_db", "WADA-SNR per utterance (dB)"),
    "speaking_rate.png": ("speaking_rate", "characters per speech second"),
}


def write_plots(profile: DatasetProfile, folder: str | Path) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (attr, label) in PLOTS.items():
        values = np.array(
            [v for v in (getattr(f, attr) for f in profile.files) if v is not None], dtype=float
        )
        fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
        if values.size:
            ax.hist(values, bins=min(40, max(5, int(np.sqrt(values.size)) * 2)), color="#4477aa")
            median = float(np.median(values))
            ax.axvline(median, color="#cc3311", linestyle="--", label=f"median {median:.3g}")
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel(label)
        ax.set_ylabel("utterances")
        ax.set_title(f"{Path(profile.dataset).name}: {values.size} utterances", fontsize=9)
        fig.tight_layout()
        target = folder / name
        fig.savefig(target)
        plt.close(fig)
        written.append(target)
    return written
