"""The report of a tiny real run, opened in Debian's Chromium (headless) through Playwright.

Playwright drives the system browser (`executable_path`); it never downloads one. Chromium is
installed by `make test` (.ci/apt-packages.txt), so this test runs in CI and does not skip.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from smart_tuner.pipeline import recommend_for
from smart_tuner.report import save_analysis, write_report
from smart_tuner.train.loop import train
from tests.helpers import make_corpus, tiny_config

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError("Debian's chromium is not installed: run `make system`")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    corpus = make_corpus(root / "corpus")
    config = tiny_config(root / "cache", epochs=3, audio_sample_minutes=1e-6)
    run = root / "run"
    save_analysis(run, recommend_for(corpus, config, _quiet()), config)
    train(config, corpus, run)
    return write_report(run)


def _quiet():  # noqa: ANN202 - a rich Console
    from rich.console import Console

    return Console(quiet=True)


def test_report_opens_in_chromium_with_every_image_and_sound(report: Path) -> None:
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 412, "height": 900})  # a phone's width
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url[:80]}"))
        page.goto(report.as_uri(), wait_until="load")
        page.wait_for_function(
            "[...document.querySelectorAll('audio')].every(a => a.readyState >= 1 || a.error)",
            timeout=20_000,
        )
        images = page.eval_on_selector_all(
            "img", "els => els.map(e => [e.alt, e.complete, e.naturalWidth])"
        )
        sounds = page.eval_on_selector_all(
            "audio",
            "els => els.map(e => [e.src.slice(0, 15), e.error && e.error.code, e.duration])",
        )
        headings = page.eval_on_selector_all("h2", "els => els.map(e => e.textContent)")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        shot = report.with_name("report.png")
        page.screenshot(path=str(shot), full_page=True)
        browser.close()

    assert headings == ["Dataset", "Recommendation", "Hyperparameter search", "Training", "Result"]
    # dataset histograms (4), training curves, alignment images (first/formed/best/last)
    assert len(images) >= 6, images
    assert all(complete and width > 0 for _, complete, width in images), images
    # the recording of the validation sentence and the model's samples, all playable
    assert len(sounds) >= 2, sounds
    for src, error, duration in sounds:
        assert src.startswith("data:audio/wav"), src
        assert error is None and duration > 0, (src, error, duration)
    assert errors == []
    assert overflow <= 0, "the page is wider than a phone's screen"
    assert shot.stat().st_size > 10_000
