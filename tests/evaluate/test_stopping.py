import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from smart_tuner.evaluate.stopping import alignment_score, stop_behaviour


def path_alignment(path: list[int], symbols: int) -> np.ndarray:
    """One-hot attention following `path` (decoder step -> attended symbol)."""
    a = np.zeros((len(path), symbols), dtype=np.float32)
    a[np.arange(len(path)), path] = 1.0
    return a


def test_a_clean_diagonal_skips_and_repeats_nothing():
    score = alignment_score(path_alignment([s for s in range(10) for _ in range(3)], 10))
    assert (score.skipped_symbols, score.repeated_symbols, score.reached_end) == (0, 0, True)


def test_jumping_over_symbols_counts_them_as_skipped():
    path = [0, 0, 1, 1, 4, 4, 5, 5, 6, 6, 7, 7]  # 2 and 3 never attended
    score = alignment_score(path_alignment(path, 8))
    assert score.skipped_symbols == 2
    assert score.repeated_symbols == 0


def test_going_back_to_said_symbols_counts_them_as_repeated():
    path = [0, 1, 2, 3, 4, 5, 2, 3, 4, 5, 6, 7]  # 2 and 3 said twice (4 and 5 are < 2 back)
    score = alignment_score(path_alignment(path, 8))
    assert score.repeated_symbols == 2
    assert score.skipped_symbols == 0


def test_stopping_halfway_through_the_text_is_premature():
    score = alignment_score(path_alignment([0, 1, 2, 3, 4], 10))
    assert not score.reached_end
    assert stop_behaviour(True, "gate", 1.0, score.reached_end) == "premature"


def test_stop_behaviour_words():
    assert stop_behaviour(False, "max_steps", None, None) == "no_stop"
    assert stop_behaviour(True, "gate", 0.4, True) == "premature"
    assert stop_behaviour(True, "attention_end", 1.0, True) == "attention_end"
    assert stop_behaviour(True, "gate", 1.1, True) == "ok"


@given(st.lists(st.integers(0, 19), min_size=1, max_size=80))
def test_counts_stay_within_the_number_of_symbols(path):
    score = alignment_score(path_alignment(path, 20))
    assert 0 <= score.skipped_symbols <= 20 - len(set(path))
    assert 0 <= score.repeated_symbols <= len(set(path))
