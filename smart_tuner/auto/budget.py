"""How `auto` splits `--max-minutes` between its stages (policy: plain Python, no torch).

The rule, printed at the start of every run:

- analysis and the report are not budgeted (the analysis is cached per file; both take
  seconds to a minute), but their time is taken from what is left;
- the search gets SEARCH_SHARE of the total when it runs, split evenly between its trials;
- the evaluation keeps EVALUATION_SHARE in reserve when it runs;
- the full training gets everything else, counted when it starts, so a stage that ran over
  shortens the training instead of the whole pipeline.

Without `--max-minutes` nothing is timed: the trials run their scaled-down epochs and the
training its recommended epochs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

SEARCH_SHARE = 0.4
EVALUATION_SHARE = 0.1
TRIAL_EPOCH_FRACTION = 0.25  # a trial trains at most this share of the recommended epochs


@dataclass(frozen=True)
class BudgetPlan:
    total_minutes: float | None
    search_minutes: float | None
    trial_minutes: float | None
    evaluation_minutes: float | None
    trials: int

    def training_minutes(self, elapsed_minutes: float) -> float | None:
        """What the training may use when it starts after `elapsed_minutes` (at least 1)."""
        if self.total_minutes is None:
            return None
        reserve = self.evaluation_minutes or 0.0
        return max(1.0, self.total_minutes - elapsed_minutes - reserve)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> list[str]:
        if self.total_minutes is None:
            return [
                "No --max-minutes: trials run their scaled-down epochs, the training its "
                "recommended epochs (the controller may stop it earlier)."
            ]
        lines = [f"Budget {self.total_minutes:g} min:"]
        if self.search_minutes:
            lines.append(
                f"  search {self.search_minutes:.1f} min ({SEARCH_SHARE:.0%}): "
                f"{self.trials} trials of at most {self.trial_minutes:.1f} min"
            )
        else:
            lines.append("  search: none")
        if self.evaluation_minutes:
            lines.append(
                f"  evaluation {self.evaluation_minutes:.1f} min kept in reserve "
                f"({EVALUATION_SHARE:.0%})"
            )
        lines.append(
            "  training: the rest, counted when it starts (analysis and report take theirs from it)"
        )
        return lines


def split_budget(
    total_minutes: float | None, trials: int, *, search: bool, evaluation: bool
) -> BudgetPlan:
    """The rule above; `search` / `evaluation` say whether those stages will run."""
    trials = trials if search else 0
    if total_minutes is None:
        return BudgetPlan(None, None, None, None, trials)
    search_minutes = total_minutes * SEARCH_SHARE if trials > 0 else 0.0
    return BudgetPlan(
        total_minutes=total_minutes,
        search_minutes=search_minutes,
        trial_minutes=search_minutes / trials if trials > 0 else None,
        evaluation_minutes=total_minutes * EVALUATION_SHARE if evaluation else 0.0,
        trials=trials,
    )


def trial_epochs(recommended: int, configured: int) -> int:
    """A trial's scaled-down epochs: the search config's, at most a quarter of the full run."""
    return max(1, min(configured, round(recommended * TRIAL_EPOCH_FRACTION)))
