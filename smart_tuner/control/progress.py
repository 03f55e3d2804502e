"""Progress analysis (S15): the verdict a user would otherwise form by staring at curves."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

STATUSES = ("not_converged", "converging", "converged")
RISKS = ("low", "medium", "high")


@dataclass
class ProgressReport:
    """One analysis. `remaining_epochs` and the predictions are None until a curve is fitted."""

    epoch: int
    planned_epochs: int
    phase: str
    status: str
    overfitting_risk: str
    continue_training: bool
    recommendation: str
    remaining_epochs: int | None = None
    val_loss: float | None = None  # this epoch's
    val_loss_trend: float | None = None  # smoothed (what the rules judge)
    best_val_loss: float | None = None
    best_epoch: int | None = None
    attention_score: float | None = None  # smoothed
    predicted_final_val_loss: float | None = None
    predicted_stop_epoch: int | None = None
    predicted_convergence_epoch: int | None = None
    fit_model: str | None = None
    fit_r2: float | None = None
    risk_reasons: list[str] = field(default_factory=list)
    budget_note: str | None = None
    stop_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["risk_reasons"] = list(self.risk_reasons)
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProgressReport:
        return cls(**data)

    def headline(self) -> str:
        """One line for logs: the decision's reason."""
        verdict = "continue" if self.continue_training else f"stop ({self.stop_reason})"
        n = self.remaining_epochs
        remaining = f", ~{n} epoch{'s' if n != 1 else ''} left" if n else ""
        return (
            f"epoch {self.epoch}: {self.status}, phase {self.phase}, overfitting risk "
            f"{self.overfitting_risk}, {verdict}{remaining}"
        )


def format_progress(report: ProgressReport) -> str:
    """The user's S15 block, in English:

    📊 Epoch 100 - progress analysis:
       • Status: converging
       • Overfitting risk: low
       • Continue training: yes
       • Remaining epochs: ~1100
       • Recommendation: ...
    """
    r = report
    risk = r.overfitting_risk
    if r.risk_reasons and risk != "low":
        risk += f" ({'; '.join(r.risk_reasons)})"
    lines = [
        f"📊 Epoch {r.epoch} - progress analysis:",
        f"   • Phase: {r.phase.replace('_', '-')}"
        + (f" (attention score {r.attention_score:.2f})" if r.attention_score is not None else ""),
        f"   • Status: {r.status}",
        f"   • Overfitting risk: {risk}",
        f"   • Continue training: {'yes' if r.continue_training else 'no'}",
    ]
    if r.continue_training and r.remaining_epochs is not None:
        lines.append(f"   • Remaining epochs: ~{r.remaining_epochs}")
    if r.val_loss is not None and r.best_val_loss is not None:
        trend = f"trend {r.val_loss_trend:.4g}, " if r.val_loss_trend is not None else ""
        lines.append(
            f"   • Validation loss: {r.val_loss:.4g} ({trend}best {r.best_val_loss:.4g} "
            f"at epoch {r.best_epoch})"
        )
    forecast = r.predicted_final_val_loss is not None and r.predicted_stop_epoch is not None
    if forecast and r.continue_training:
        r2 = f", R² {r.fit_r2:.2f}" if r.fit_r2 is not None else ""
        lines.append(
            f"   • Forecast: val_loss ≈ {r.predicted_final_val_loss:.4g} when training stops "
            f"at ~epoch {r.predicted_stop_epoch} of {r.planned_epochs} "
            f"({(r.fit_model or '').replace('_', ' ')} fit{r2})"
        )
    if r.budget_note:
        lines.append(f"   • Budget: {r.budget_note}")
    lines.append(f"   • Recommendation: {r.recommendation}")
    return "\n".join(lines)
