"""How the history corrects the epoch recommendation (S19). Pure Python, no torch, no I/O.

The recommendation module computes the user's table value (size class x quality x complexity
modifiers, SPEC S1-S3) and multiplies it by `EpochCorrection.factor`. The factor is a
shrinkage estimate of the ratio  actual best epoch / table epochs  over past runs on similar
datasets:

1. Observation per past run i: y_i = ln(best_epoch_i / table_epochs_i). The table value is
   the row's `table_epochs` (the uncorrected table result) or, if absent, `recommended_epochs`.
   Runs without either, or without a best epoch, are skipped.
2. Similarity s_i in [0, 1] between the new dataset's profile and run i's
   (`profile_similarity`): 1 for the same dataset fingerprint; otherwise
   s = exp(-d^2 / 2) with d^2 summing, over the features both sides have,
     (log2 of the hours ratio)^2                   (twice the audio = 1 unit)
   + ((quality_a - quality_b) / 20 points)^2
   + (difference of complexity levels simple=0, moderate=1, complex=2, very_complex=3)^2
   + 1 for each differing categorical feature (language, preset).
   With no comparable feature s = 0. s < MIN_SIMILARITY counts as 0, so dissimilar datasets
   never move the factor.
3. Censoring. A run observed its best epoch when the controller stopped it because training
   was done (a quality stop: converged, overfitting, no_improvement), or when
   its validation loss had not improved for the last max(PLATEAU_FRACTION x epochs run,
   MIN_PLATEAU_EPOCHS) epochs. Any other run (epoch limit, time budget, interrupted, diverged,
   attention never formed, ...) was cut short: its ratio is only a lower bound. It is used
   (weight x CENSORED_WEIGHT) only when the bound lies above the estimate from the observed
   runs (it then says "at least this much"); otherwise it carries no information. So a
   20-minute demo run that stopped at epoch 40 of a 4000-epoch table never says "train less".
4. Weights w_i = s_i (x CENSORED_WEIGHT). With a prior of ln 1 = 0 worth `prior_strength`
   runs:  mu = sum(w_i y_i) / (prior_strength + sum(w_i)),  factor = exp(mu), clamped to
   [MIN_FACTOR, MAX_FACTOR]. One run moves the factor a little; many consistent runs move it
   all the way (with 20 runs at prior strength 2, 91 % of the observed log-ratio).
5. Confidence = base + (max - base) * n/(n + prior_strength) * 1/(1 + (sd/SPREAD)^2), where
   n = sum(w_i) is the effective number of similar runs and sd the weighted standard deviation
   of their y_i: more similar runs raise it, runs that disagree hold it back.

With no usable run the result is factor 1.0 with the base confidence: the table's value.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from smart_tuner.events import QUALITY_STOPS

MIN_SIMILARITY = 0.3
CENSORED_WEIGHT = 0.5
PLATEAU_FRACTION = 0.2
MIN_PLATEAU_EPOCHS = 100  # the shortest patience of SPEC S11 (alignment phase)
MIN_EVIDENCE_FRACTION = 0.25
"""Runs shorter than this share of the table's epochs are not evidence for or against it."""

CONVERGED_STOPS = QUALITY_STOPS
MIN_FACTOR, MAX_FACTOR = 0.25, 4.0
SPREAD = 0.25  # ln-ratio spread at which confidence gains are halved
HOURS_UNIT = 1.0  # log2 hours
QUALITY_UNIT = 20.0  # percentage points
COMPLEXITY_LEVELS = {"simple": 0, "moderate": 1, "complex": 2, "very_complex": 3}
CATEGORICAL = ("language", "preset")
RATIONALE_RUNS = 5


@dataclass
class EpochCorrection:
    factor: float = 1.0
    confidence: float = 0.5
    rationale: list[str] = field(default_factory=list)
    runs_used: list[str] = field(default_factory=list)

    def apply(self, table_epochs: int) -> int:
        return max(1, round(table_epochs * self.factor))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _level(value: Any) -> float | None:
    if isinstance(value, str):
        return COMPLEXITY_LEVELS.get(value.strip().lower().replace(" ", "_"))
    return _number(value)


def profile_similarity(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Similarity in [0, 1] of two dataset profiles (see the module docstring, step 2)."""
    fa, fb = a.get("dataset_fingerprint"), b.get("dataset_fingerprint")
    if fa and fb and fa == fb:
        return 1.0
    d2 = 0.0
    compared = 0
    ha, hb = _number(a.get("dataset_hours")), _number(b.get("dataset_hours"))
    if ha and hb and ha > 0 and hb > 0:
        d2 += (math.log2(ha / hb) / HOURS_UNIT) ** 2
        compared += 1
    qa, qb = _number(a.get("quality_percent")), _number(b.get("quality_percent"))
    if qa is not None and qb is not None:
        d2 += ((qa - qb) / QUALITY_UNIT) ** 2
        compared += 1
    ca, cb = a.get("complexity_level"), b.get("complexity_level")
    if ca is not None and cb is not None:
        la, lb = _level(ca), _level(cb)
        if la is not None and lb is not None:
            d2 += (la - lb) ** 2
        else:
            d2 += 0.0 if str(ca) == str(cb) else 1.0
        compared += 1
    if compared == 0:  # nothing about the data itself to compare
        return 0.0
    for key in CATEGORICAL:
        if a.get(key) is not None and b.get(key) is not None and str(a[key]) != str(b[key]):
            d2 += 1.0
    return math.exp(-d2 / 2.0)


def dataset_fingerprint(profile: dict[str, Any]) -> str:
    """A short id of a corpus that survives moving its folder: a hash of the utterance ids and
    durations of an analysis profile (`DatasetProfile.to_dict()`), or of its totals when the
    per-file list is absent."""
    files = profile.get("files") or []
    if files:
        key: Any = sorted(
            (str(f.get("id")), round(float(f.get("duration") or 0), 2)) for f in files
        )
    else:
        key = [
            profile.get("dataset"),
            profile.get("n_utterances"),
            round(float(profile.get("total_seconds") or 0), 1),
        ]
    return hashlib.sha1(json.dumps(key).encode()).hexdigest()[:16]


def profile_features_of(profile: Any) -> dict[str, Any]:
    """The similarity features of a `DatasetProfile` (or its `to_dict()`)."""
    data = profile.to_dict() if hasattr(profile, "to_dict") else dict(profile)
    hours = data.get("total_hours")
    if hours is None and data.get("total_seconds") is not None:
        hours = float(data["total_seconds"]) / 3600.0
    features = {
        "dataset_fingerprint": data.get("dataset_fingerprint") or dataset_fingerprint(data),
        "dataset_hours": hours,
        "quality_percent": data.get("quality_percent"),
        "complexity_level": data.get("complexity_level"),
        "language": data.get("language"),
    }
    return {k: v for k, v in features.items() if v is not None}


def run_profile_params(profile: Any, plan: Any = None) -> dict[str, Any]:
    """What the pipeline adds to `RunStarted.params` so the history can learn from the run.

    `plan` is the `EpochPlan`: `recommended_epochs` = its epochs (what was recommended, with
    the history's correction), `table_epochs` = base x modifiers before the correction and the
    clamp (what the learning rule compares the outcome with).
    """
    params = profile_features_of(profile)
    if plan is not None:
        params["recommended_epochs"] = int(plan.epochs)
        table = float(getattr(plan, "base_epochs", 0) or 0)
        for modifier in getattr(plan, "modifiers", []) or []:
            table *= 1.0 + float(modifier.fraction)
        if table > 0:
            params["table_epochs"] = round(table)
    return params


@dataclass
class _Observation:
    run_id: str
    y: float
    similarity: float
    censored: bool
    stop_reason: str
    best_epoch: int
    table_epochs: float
    same_dataset: bool


def _observation(features: dict[str, Any], row: dict[str, Any]) -> _Observation | None:
    row_features = {**{k: row.get(k) for k in _ROW_FEATURE_KEYS}, **(row.get("features") or {})}
    table = _number(row_features.get("table_epochs") or row.get("table_epochs"))
    if not table:
        table = _number(row_features.get("recommended_epochs") or row.get("recommended_epochs"))
    best = _number(row.get("best_epoch"))
    if not table or table <= 0 or not best or best <= 0:
        return None
    similarity = profile_similarity(features, row_features)
    if similarity < MIN_SIMILARITY:
        return None
    epochs_run = _number(row.get("epochs_run")) or best
    # A run whose schedule was squeezed far below the recommendation (a time budget, a demo,
    # a smoke test) peaked early because its learning rate decayed early: no evidence that
    # fewer epochs suffice, whatever its stop reason; at most it shows more are needed. A run
    # on the full schedule that the controller stopped early *is* evidence, unless it ended
    # before any patience could have run out. Rows without the schedule: its epochs run.
    schedule = _schedule_epochs(row) or epochs_run
    compressed = schedule < MIN_EVIDENCE_FRACTION * table or epochs_run < MIN_PLATEAU_EPOCHS
    plateau = epochs_run - best >= max(PLATEAU_FRACTION * epochs_run, MIN_PLATEAU_EPOCHS)
    censored = compressed or (row.get("stop_reason") not in CONVERGED_STOPS and not plateau)
    fingerprint = features.get("dataset_fingerprint")
    return _Observation(
        run_id=str(row.get("run_id")),
        y=math.log(best / table),
        similarity=similarity,
        censored=censored,
        stop_reason=str(row.get("stop_reason")),
        best_epoch=int(best),
        table_epochs=table,
        same_dataset=bool(fingerprint) and fingerprint == row_features.get("dataset_fingerprint"),
    )


def _schedule_epochs(row: dict[str, Any]) -> float | None:
    """Epochs the run's phases and LR schedule spanned at the end (after budget replans)."""
    controller = (row.get("summary") or {}).get("controller") or {}
    return _number(controller.get("effective_epochs"))


_ROW_FEATURE_KEYS = (
    "dataset_fingerprint",
    "dataset_hours",
    "quality_percent",
    "complexity_level",
    "language",
    "preset",
)


def learn_epoch_correction(
    features: dict[str, Any],
    history: Iterable[dict[str, Any]],
    *,
    base_confidence: float = 0.5,
    max_confidence: float = 0.95,
    prior_strength: float = 2.0,
) -> EpochCorrection:
    """The history's correction of the table's epochs for a dataset with these features.

    `features`: the new dataset's profile (dataset_fingerprint, dataset_hours,
    quality_percent, complexity_level, language, preset; any may be missing).
    `history`: rows as returned by `HistoryDB.runs()`.
    """
    rows = list(history)
    if not rows:
        return EpochCorrection(
            1.0, base_confidence, ["no finished runs in the history yet: the table's value"], []
        )
    observations = [o for o in (_observation(features, r) for r in rows) if o is not None]
    observed = [o for o in observations if not o.censored]
    weight = sum(o.similarity for o in observed)
    mu = sum(o.similarity * o.y for o in observed) / (prior_strength + weight)
    used = [(o, o.similarity) for o in observed]
    for o in observations:
        if o.censored and o.y > mu:  # a lower bound above the estimate: "at least this much"
            used.append((o, o.similarity * CENSORED_WEIGHT))
    if not used:
        ignored = len(rows) - len(observations)
        rationale = [
            f"{len(rows)} past run(s), none usable for this dataset "
            f"({ignored} dissimilar or without a best epoch / table value; "
            f"{len(observations)} cut short while still improving): the table's value"
        ]
        observations.sort(key=lambda o: -o.similarity)
        rationale += [_unused(o) for o in observations[:RATIONALE_RUNS]]
        return EpochCorrection(1.0, base_confidence, rationale, [])
    n = sum(w for _, w in used)
    mu = sum(w * o.y for o, w in used) / (prior_strength + n)
    factor = min(MAX_FACTOR, max(MIN_FACTOR, math.exp(mu)))
    mean = sum(w * o.y for o, w in used) / n
    sd = math.sqrt(sum(w * (o.y - mean) ** 2 for o, w in used) / n)
    gain = n / (n + prior_strength) / (1.0 + (sd / SPREAD) ** 2)
    confidence = base_confidence + (max_confidence - base_confidence) * gain
    used.sort(key=lambda item: -item[1])
    rationale = [
        f"history: {len(used)} similar run(s) (effective weight {n:.2f}) give a mean ratio "
        f"best/table epochs of x{math.exp(mean):.2f}; shrunk toward x1.00 with prior strength "
        f"{prior_strength:g}: x{factor:.2f}"
    ]
    for o, w in used[:RATIONALE_RUNS]:
        bound = ", still improving: a lower bound" if o.censored else ""
        rationale.append(
            f"run {o.run_id} ({_where(o)}{bound}): best epoch {o.best_epoch} vs table "
            f"{o.table_epochs:.0f} -> x{math.exp(o.y):.2f} (weight {w:.2f})"
        )
    if len(used) > RATIONALE_RUNS:
        rationale.append(f"... and {len(used) - RATIONALE_RUNS} more run(s)")
    return EpochCorrection(
        round(factor, 4), round(confidence, 4), rationale, [o.run_id for o, _ in used]
    )


def _where(o: _Observation) -> str:
    return "same dataset" if o.same_dataset else f"similarity {o.similarity:.2f}"


def _unused(o: _Observation) -> str:
    return (
        f"run {o.run_id} ({_where(o)}): stopped ({o.stop_reason}) at best epoch {o.best_epoch} "
        f"while still improving, so it only shows >= x{math.exp(o.y):.2f} of the table's "
        f"{o.table_epochs:.0f}: not used"
    )
