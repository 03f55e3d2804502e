"""Showing a profile: the summary block (the user's example), rich tables, the cleaned filelist."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.table import Table

from smart_tuner.analysis.profile import DatasetProfile

if TYPE_CHECKING:
    from smart_tuner.recommend import EpochPlan


def _flags_text(profile: DatasetProfile) -> str:
    flags = profile.flags_set
    return ", ".join(f.label for f in flags) if flags else "no flag set"


def format_summary(profile: DatasetProfile, plan: EpochPlan) -> str:
    """The user's summary block (SPEC S4), in English, as plain text."""
    quality = (
        f"{profile.quality_class} ({profile.quality_percent:.0f} %)"
        if profile.quality_percent is not None
        else "unknown (not measured)"
    )
    lines = [
        "📊 Dataset analysis complete:",
        f"   • Size: {profile.size_class} ({_duration(profile.total_seconds)}, "
        f"{profile.n_utterances} utterances)",
        f"   • Quality: {quality}",
        f"   • Complexity: {profile.complexity_level} ({_flags_text(profile)})",
        f"   • Recommended epochs: {plan.epochs}",
        f"   • Confidence: {plan.confidence:.2f}",
        f"   • Rationale: {plan.headline}",
    ]
    lines += [f"     • {line}" for line in plan.rationale]
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return f"{text} {unit}".strip()


def render(profile: DatasetProfile, plan: EpochPlan, max_problems: int = 25) -> Group:
    """Rich renderables: summary, quality components, complexity flags, problems."""
    head = Table(title=f"Dataset analysis: {profile.dataset}", show_header=False, box=None)
    head.add_column(style="bold")
    head.add_column()
    head.add_row(
        "Size",
        f"{profile.size_class}: {_duration(profile.total_seconds)} in {profile.n_utterances} "
        f"utterances ({profile.layout} layout, language {profile.language})",
    )
    quality = (
        f"{profile.quality_class}: {profile.quality_percent:.1f} %"
        if profile.quality_percent is not None
        else "unknown"
    )
    head.add_row("Quality", quality)
    head.add_row("Complexity", f"{profile.complexity_level} ({_flags_text(profile)})")
    head.add_row("Recommended epochs", f"[bold green]{plan.epochs}[/bold green]")
    head.add_row("Confidence", f"{plan.confidence:.2f}")
    head.add_row("Rationale", "\n".join([plan.headline, *(f"• {r}" for r in plan.rationale)]))

    quality_table = Table(title="Audio quality components (weighted mean of the scores)")
    for column in ("component", "measured", "score", "weight", "how"):
        quality_table.add_column(column)
    for c in profile.quality_components:
        quality_table.add_row(
            c.label,
            _num(c.value, c.unit),
            "-" if c.score is None else f"{c.score:.0f} %",
            f"{c.weight:.2f}",
            c.detail,
        )

    flags = Table(title="Voice complexity")
    for column in ("flag", "value", "threshold", "set", "evidence"):
        flags.add_column(column)
    for f in profile.complexity:
        if not f.assessed:
            flags.add_row(f.label, "-", "-", "[yellow]not assessed[/yellow]", f.reason)
            continue
        flags.add_row(
            f.label,
            _num(f.value, f.unit),
            _num(f.threshold),
            "[red]yes[/red]" if f.flagged else "no",
            f.evidence,
        )

    parts: list = [head, quality_table, flags]
    if profile.problems:
        kinds = Counter(p.problem for p in profile.problems)
        problems = Table(
            title=f"Problems: {len(profile.problems)} "
            f"({', '.join(f'{k} x{n}' for k, n in kinds.most_common())})"
        )
        for column in ("item", "problem", "action", "detail"):
            problems.add_column(column)
        for p in profile.problems[:max_problems]:
            problems.add_row(p.item, p.problem, p.action, p.detail)
        if len(profile.problems) > max_problems:
            problems.add_row("...", f"{len(profile.problems) - max_problems} more", "", "(--json)")
        parts.append(problems)
    else:
        parts.append("No problem found in any file.")
    parts += [f"[dim]{note}[/dim]" for note in profile.notes]
    return Group(*parts)


def print_report(profile: DatasetProfile, plan: EpochPlan, console: Console) -> None:
    console.print(render(profile, plan))


def write_filelist(profile: DatasetProfile, path: str | Path) -> tuple[Path, int, int]:
    """`path|text` lines for every utterance without a 'drop' problem; (path, kept, dropped).

    Audio paths are written relative to the filelist's folder when the dataset lies inside
    it (a filelist elsewhere gets absolute paths). The dataset folder itself is not touched
    unless `path` points into it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = path.parent.resolve()
    dropped = profile.dropped_items
    lines = []
    for f in profile.files:
        if f.id in dropped or "|" in f.text or "\n" in f.text:
            continue
        audio = Path(f.path)
        try:
            shown = audio.relative_to(base).as_posix()
        except ValueError:
            shown = str(audio)
        lines.append(f"{shown}|{f.text}")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    os.replace(tmp, path)
    return path, len(lines), len(profile.files) - len(lines)


def filelist_inside(profile: DatasetProfile, path: str | Path) -> bool:
    """True when every audio path lies under the filelist's folder (the corpus loader only
    reads audio inside a filelist's folder)."""
    base = Path(path).parent.resolve()
    for f in profile.files:
        try:
            Path(f.path).relative_to(base)
        except ValueError:
            return False
    return True
