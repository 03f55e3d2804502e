"""Stop behaviour and alignment in free-running inference: does the model say the whole text
once, and then stop?

attention_score and diagonality are the project's alignment metrics (runtime/alignment_metrics).
From the inference alignment (decoder steps x input symbols) this module adds:
- skipped symbols: input symbols that receive less than half a decoder step of attention mass
  in total (the model jumped over them);
- repeated symbols: symbols the attention returns to (as its strongest weight) after having
  moved at least two symbols past them (the model said them again).
Stop behaviour: `no_stop` (no end within max_decoder_steps), `premature` (stopped before
reaching the last 10 % of the symbols, or shorter than PREMATURE_RATIO of the recording),
`attention_end` (the gate never fired; the end came from attention resting on the last
symbol) or `ok`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SKIP_MASS = 0.5
REPEAT_JUMP = 2
PREMATURE_RATIO = 0.6
END_FRACTION = 0.9


@dataclass
class AlignmentScore:
    skipped_symbols: int
    repeated_symbols: int
    reached_end: bool  # attention got to the last 10 % of the symbols


def alignment_score(alignment: np.ndarray) -> AlignmentScore:
    """Skipped and repeated symbols of one inference alignment [T_dec, T_enc]."""
    a = np.asarray(alignment, dtype=np.float64)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"expected a [decoder steps, symbols] alignment, got shape {a.shape}")
    skipped = int((a.sum(axis=0) < SKIP_MASS).sum())
    path = a.argmax(axis=1)
    furthest = np.maximum.accumulate(path)
    returns = np.zeros(len(path), dtype=bool)
    returns[1:] = path[1:] <= furthest[:-1] - REPEAT_JUMP
    repeated = len(set(path[returns].tolist()))
    reached_end = bool(furthest[-1] >= END_FRACTION * (a.shape[1] - 1))
    return AlignmentScore(skipped, repeated, reached_end)


def stop_behaviour(
    reached_stop: bool, stop_cause: str, length_ratio: float | None, reached_end: bool | None
) -> str:
    """One word for how the utterance ended; see the module docstring."""
    if not reached_stop:
        return "no_stop"
    if reached_end is False or (length_ratio is not None and length_ratio < PREMATURE_RATIO):
        return "premature"
    if stop_cause == "attention_end":
        return "attention_end"
    return "ok"
