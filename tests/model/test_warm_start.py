from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from tiny_tacotron import N_MEL, one_thread, tiny_config

from smart_tuner.model import Tacotron2, extract_state_dict, load_checkpoint_state, warm_start


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_thread():
        yield


def test_other_symbol_set_loads_all_but_embedding(tmp_path) -> None:
    torch.manual_seed(0)
    source = Tacotron2(tiny_config(), 30, N_MEL)
    target = Tacotron2(tiny_config(), 12, N_MEL)
    path = tmp_path / "nvidia.pt"
    # NVIDIA's layout, saved from DataParallel.
    state = {f"module.{k}": v for k, v in source.state_dict().items()}
    torch.save({"state_dict": state, "iteration": 3, "learning_rate": 1e-3}, path)

    report = warm_start(target, load_checkpoint_state(path))
    assert report.skipped == [
        ("embedding.weight", "shape mismatch (ckpt [30,16] vs model [12,16])")
    ]
    assert len(report.loaded) == len(target.state_dict()) - 1
    for name in report.loaded:
        assert torch.equal(target.state_dict()[name], source.state_dict()[name]), name
    assert "embedding.weight" in report.summary() and "loaded" in report.summary()

    with pytest.raises(ValueError, match="another symbol set"):
        warm_start(target, state, skip_embedding_if_mismatch=False)


def test_missing_and_unexpected_keys_are_reported() -> None:
    model = Tacotron2(tiny_config(), 12, N_MEL)
    state = dict(model.state_dict())
    del state["postnet.convolutions.0.0.conv.weight"]
    state["decoder.extra.weight"] = torch.zeros(2)
    report = warm_start(model, {"model": state})
    assert ("postnet.convolutions.0.0.conv.weight", "not in checkpoint") in report.skipped
    assert ("decoder.extra.weight", "not in model") in report.skipped


def test_extract_state_dict_forms() -> None:
    t = torch.zeros(1)
    assert extract_state_dict({"a": t}) == {"a": t}
    assert extract_state_dict({"model": {"module.a": t}, "step": 1}) == {"a": t}
    with pytest.raises(ValueError, match="not a checkpoint"):
        extract_state_dict([t])


def test_bad_files(tmp_path) -> None:
    with pytest.raises(ValueError, match="checkpoint not found"):
        load_checkpoint_state(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="a text file, not a PyTorch checkpoint"):
        load_checkpoint_state(junk)
    empty = tmp_path / "empty.pt"
    torch.save({"iteration": 1}, empty)
    with pytest.raises(ValueError, match="found no tensors"):
        load_checkpoint_state(empty)
    with pytest.raises(ValueError, match="shares no tensor"):
        warm_start(Tacotron2(tiny_config(), 12, N_MEL), {"foo": torch.zeros(1)})
