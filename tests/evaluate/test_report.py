from rich.console import Console

from smart_tuner.evaluate.evaluation import Evaluation
from smart_tuner.evaluate.report import print_evaluation
from smart_tuner.evaluate.selection import Selection

ROWS = [
    {"id": "a", "text": "x", "stop": "no_stop", "attention_score": 0.2, "recording_mos_p808": 3.0},
    {"id": "b", "text": "y", "stop": "ok", "attention_score": 0.8, "mcd_db": 6.0, "mos_p808": 2.0},
]


def evaluation(not_assessed: dict[str, str]) -> Evaluation:
    return Evaluation(
        "c.pt", 7, "Griffin-Lim", Selection("d", 0, "validation", []), ROWS, not_assessed
    )


def test_averages_cover_columns_that_only_later_sentences_have():
    means = evaluation({}).averages()
    assert means["mcd_db"] == 6.0 and means["attention_score"] == 0.5
    assert means["stop_no_stop"] == 0.5 and means["stop_ok"] == 0.5


def test_the_tables_show_synthesis_beside_recordings_and_what_was_not_assessed():
    console = Console(width=100, record=True)
    reason = "no speech recogniser for language 'ru'; only English has one here"
    print_evaluation(evaluation({"wer": reason, "cer": reason}), console)
    text = console.export_text()
    assert "none" in text and "ok" in text  # the per-sentence stop column
    mos_line = next(line for line in text.splitlines() if "MOS P.808" in line)
    assert "2.00" in mos_line and "3.00" in mos_line
    wer_line = next(line for line in text.splitlines() if line.startswith("│ WER"))
    assert wer_line.count("not assessed") == 2
    assert f"wer: not assessed - {reason}" in text
