"""When to end a trial early, and why: a pruning rule that knows how Tacotron2 learns.

Attention forms late and loss curves cross: a configuration that wins often trails for the
first epochs while its alignment forms. A plain median rule on loss prunes those. So:

1. a trial that diverged (non-finite loss, or training or validation loss far above its own
   best) is pruned at once, whatever the epoch;
2. before the alignment grace point nothing is pruned on loss. The grace point is learned from
   the study (`study_onsets`, the default): the latest epoch at which one of its finished
   trials had formed its attention, plus `attention_window`, and never before
   `grace_epochs`; until a trial has formed attention there is none, and only divergence
   prunes. Alignment comes at epochs that move with the learning rate, r and even the
   arithmetic (in float32 on a CPU the demo's best points formed at epochs 24-26, in bf16 at
   15-23), so a grace point fixed in epochs pruned every point of a search. Fixed
   (`study_onsets` None), it is `grace_epochs`. Either way it is counted at the config's
   batch size and in optimizer updates for a trial of another one (`grace_for_batch`);
3. from the grace point on, a trial whose attention is not formed now is pruned: the mean
   attention_score of its last `attention_window` epochs is below `min_attention_score`.
   Not the best score ever seen: before attention forms the score wanders between ~0.14 and
   ~0.36 (the demo corpus), so one lucky epoch would exempt a trial that never aligns;
   once formed it stays at 0.5-0.9;
4. from the grace point on, the loss rule (Optuna's pruner on validation loss, comparing with
   the other trials) may prune.

Plain Python, no Optuna and no torch: the loss rule is passed in as a callable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["tts", "loss_only", "none"]


@dataclass(frozen=True)
class Verdict:
    prune: bool
    reason: str = ""
    rule: str = "continue"  # diverged | attention | loss | continue


CONTINUE = Verdict(False)

LOSS_RULES = {  # search.loss_pruner -> the reason a trial pruned by it is given
    "halving": "not in the top third of the trials at this rung (successive halving)",
    "median": "the trial's best so far is worse than the median of the completed trials at "
    "this epoch (median rule)",
}


@dataclass
class PruningPolicy:
    """One trial's pruning state: feed it every epoch's metrics through `decide`."""

    mode: Mode = "tts"
    grace_epochs: int = 10
    min_attention_score: float = 0.3
    divergence_factor: float = 3.0
    objective: str = "val_loss"
    attention_window: int = 3
    loss_rule: str = LOSS_RULES["halving"]  # what a loss verdict says, after the loss
    best: dict[str, float] = field(default_factory=dict)  # lowest loss so far, per key
    attention: list[float] = field(default_factory=list)  # attention_score per epoch
    attention_formed: bool = False  # judged formed at or after the grace point
    onset: int | None = None  # first epoch of the current formed stretch; None: not formed
    # the study's finished trials' onsets, in this trial's epochs; None: a fixed grace point
    study_onsets: Callable[[], Iterable[int]] | None = None
    log: list[str] = field(default_factory=list)

    @property
    def watched(self) -> tuple[str, ...]:
        return (self.objective, "train_loss")

    @property
    def recent_attention(self) -> float:
        """Mean attention_score of the last `attention_window` epochs (0 before any)."""
        window = self.attention[-max(1, self.attention_window) :]
        return sum(window) / len(window) if window else 0.0

    def grace_point(self) -> tuple[int | None, str]:
        """The epoch from which attention and loss are judged (None: not yet), and why."""
        if self.study_onsets is None:
            return self.grace_epochs, f"grace point {self.grace_epochs}"
        onsets = [*self.study_onsets(), *([self.onset] if self.onset is not None else [])]
        if not onsets:
            return None, "no trial of the study has formed attention yet"
        latest = max(onsets)
        point = max(self.grace_epochs, latest + self.attention_window)
        return point, (
            f"grace point {point}: this study's trials formed attention by epoch {latest}, "
            f"+ {self.attention_window}"
        )

    def decide(
        self, epoch: int, metrics: Mapping[str, float], loss_rule: Callable[[], bool]
    ) -> Verdict:
        verdict = self._decide(epoch, metrics, loss_rule)
        self._remember_best(metrics)
        if verdict.prune:
            self.log.append(f"epoch {epoch}: pruned ({verdict.rule}): {verdict.reason}")
        return verdict

    def recall(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Learn an epoch trained before the trial was resumed (its verdict was given then):
        the best losses and the attention history, so that the next epochs are judged as if
        the trial had never stopped."""
        self._remember_best(metrics)
        self._remember_attention(epoch, metrics)
        if self.mode == "tts" and self.onset is not None:  # the study is read only then
            point, _ = self.grace_point()
            self.attention_formed |= point is not None and epoch >= point

    def _remember_attention(self, epoch: int, metrics: Mapping[str, float]) -> None:
        score = metrics.get("attention_score", math.nan)
        if _finite(score):
            self.attention.append(float(score))
        if self.recent_attention < self.min_attention_score:
            self.onset = None
        elif self.onset is None:
            self.onset = epoch

    def _remember_best(self, metrics: Mapping[str, float]) -> None:
        for key in self.watched:
            value = metrics.get(key, math.nan)
            if _finite(value):
                self.best[key] = min(self.best.get(key, math.inf), float(value))

    def _decide(
        self, epoch: int, metrics: Mapping[str, float], loss_rule: Callable[[], bool]
    ) -> Verdict:
        if self.mode == "none":
            return CONTINUE
        loss = metrics.get(self.objective, math.nan)
        for key in self.watched:
            value = metrics.get(key, math.nan)
            if not _finite(value):
                return Verdict(True, f"diverged: {key} is {value} at epoch {epoch}", "diverged")
            best = self.best.get(key)
            if best is not None and best > 0 and value > self.divergence_factor * best:
                return Verdict(
                    True,
                    f"diverged: {key} {value:.4g} at epoch {epoch} is more than "
                    f"{self.divergence_factor:g}x its best {best:.4g}",
                    "diverged",
                )
        self._remember_attention(epoch, metrics)
        if self.mode == "tts":
            point, why = self.grace_point()
            if point is None or epoch < point:
                return CONTINUE
            recent = self.recent_attention
            if recent >= self.min_attention_score:
                self.attention_formed = True
            else:
                what = (
                    f"attention lost at epoch {epoch}"
                    if self.attention_formed
                    else f"attention not formed by epoch {epoch}"
                )
                return Verdict(
                    True,
                    f"{what} ({why}): attention_score {recent:.3f} "
                    f"(mean of the last {min(self.attention_window, len(self.attention) or 1)} "
                    f"epochs) < {self.min_attention_score:g}",
                    "attention",
                )
        if loss_rule():
            return Verdict(
                True,
                f"{self.objective} {loss:.4g} at epoch {epoch}: {self.loss_rule}",
                "loss",
            )
        return CONTINUE


def grace_for_batch(grace_epochs: int, batch_size: int, reference_batch_size: int) -> int:
    """The grace point of a trial of `batch_size`, given `grace_epochs` at the config's
    `reference_batch_size`: attention forms after a number of optimizer updates, not epochs
    (the small model on the demo corpus aligned after ~225 updates at batch 8 and ~250 at
    batch 16), and a trial of twice the batch makes half the updates per epoch."""
    if batch_size < 1 or reference_batch_size < 1:
        raise ValueError(f"batch sizes must be positive: {batch_size}, {reference_batch_size}")
    return max(1, math.ceil(grace_epochs * batch_size / reference_batch_size - 1e-9))


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
