"""Seconds per Tacotron2 training step and mel frames per second, printed as a table.

    python benchmarks/train_throughput.py [--nvidia-repo DIR] [--repeats 3] [--quick]
                                          [--models small "base r=2"]

Shapes: batch 16 x 100 tokens x 560 frames (NVIDIA-sized utterances) and the demo's typical
batch (16 x 50 x 264). Models: `base` r=1, `base` r=2, `small` with its r. With
`--nvidia-repo DIR` (a checkout of NVIDIA/tacotron2 *outside* this project; its code is never
copied here) the reference model is timed at the same sizes and shape in the same run, taking
turns with ours step by step (a shared machine's load then hits both alike), and the table
gives the ratio of the fastest steps. "non-matmul %" is the share of the step's CPU time spent
outside matrix arithmetic (GEMM and convolution kernels), from torch.profiler.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smart_tuner.config import ModelConfig, load_config  # noqa: E402
from smart_tuner.model import Tacotron2, Tacotron2Loss  # noqa: E402
from smart_tuner.runtime.device import amp_dtype, select_device  # noqa: E402

N_SYMBOLS = 148
N_MELS = 80
MATMUL_OPS = (
    "aten::mm",
    "aten::addmm",
    "aten::bmm",
    "aten::baddbmm",
    "aten::addbmm",
    "aten::mkldnn_convolution",
    "aten::_convolution",
    "aten::convolution_backward",
    "aten::mkldnn_rnn_layer",
    "aten::mkldnn_rnn_layer_backward",
    "aten::_mkldnn_rnn_layer",
)


MODELS = {
    "base r=1": {"model.preset": "base"},
    "base r=2": {"model.preset": "base", "model.n_frames_per_step": 2},
    "small": {"model.preset": "small"},
}


@dataclass
class Shape:
    name: str
    batch: int
    t_in: int
    t_out: int


@dataclass
class Result:
    forward: float
    backward: float
    optimizer: float
    non_matmul: float | None

    @property
    def step(self) -> float:
        return self.forward + self.backward + self.optimizer


def make_batch(shape: Shape, r: int, device: torch.device) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    t_out = shape.t_out - shape.t_out % r
    mels = torch.randn(shape.batch, N_MELS, t_out, generator=g) - 5.0
    gate = torch.zeros(shape.batch, t_out)
    gate[:, -1] = 1.0
    return {
        "text": torch.randint(2, N_SYMBOLS, (shape.batch, shape.t_in), generator=g).to(device),
        "in_len": torch.full((shape.batch,), shape.t_in, dtype=torch.long).to(device),
        "mels": mels.to(device),
        "out_len": torch.full((shape.batch,), t_out, dtype=torch.long).to(device),
        "gate": gate.to(device),
    }


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class Stepper:
    """Times training steps (forward, backward, optimizer) of one model; `run` adds one."""

    def __init__(
        self,
        forward_loss: Callable[[], torch.Tensor],
        params: list[torch.nn.Parameter],
        device: torch.device,
    ) -> None:
        self.forward_loss, self.device = forward_loss, device
        self.opt = torch.optim.Adam(params, lr=1e-4)
        self.runs: list[tuple[float, float, float]] = []
        self._one()  # warm-up (allocator, kernels)

    def _one(self) -> tuple[float, float, float]:
        sync(self.device)
        t0 = time.perf_counter()
        loss = self.forward_loss()
        sync(self.device)
        t1 = time.perf_counter()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        sync(self.device)
        t2 = time.perf_counter()
        self.opt.step()
        sync(self.device)
        t3 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t2

    def run(self) -> None:
        self.runs.append(self._one())

    def result(self, profile: bool) -> Result:
        """The fastest step (the least disturbed by other load), plus the non-matmul share."""
        best = min(self.runs, key=sum)
        non_matmul = None
        if profile and self.device.type == "cpu":
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
                self._one()
            events = prof.key_averages()
            total = sum(e.self_cpu_time_total for e in events)
            matmul = sum(e.self_cpu_time_total for e in events if e.key in MATMUL_OPS)
            non_matmul = 1.0 - matmul / max(total, 1)
        return Result(*best, non_matmul)


def ours(cfg: ModelConfig, shape: Shape, device, dtype: torch.dtype | None = None) -> Stepper:
    torch.manual_seed(0)
    model = Tacotron2(cfg, N_SYMBOLS, N_MELS).to(device).train()
    criterion = Tacotron2Loss()
    b = make_batch(shape, cfg.n_frames_per_step, device)

    def forward_loss() -> torch.Tensor:
        # The training loop's mixed precision (`training.amp`), when a dtype is given.
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = model(b["text"], b["in_len"], b["mels"], b["out_len"])
            return criterion(out, b["mels"], b["gate"], b["in_len"], b["out_len"], 1.0)["loss"]

    return Stepper(forward_loss, list(model.parameters()), device)


def nvidia(repo: Path, cfg: ModelConfig, shape: Shape, device) -> Stepper:
    """NVIDIA/tacotron2's own model and loss, imported from a checkout outside the project."""
    sys.path.insert(0, str(repo))
    import loss_function  # type: ignore[import-not-found]
    import model as nv_model  # type: ignore[import-not-found]

    def mask_from_lengths(lengths: torch.Tensor) -> torch.Tensor:  # theirs hard-codes CUDA
        ids = torch.arange(int(lengths.max()), device=lengths.device)
        return ids < lengths.unsqueeze(1)

    def parse_decoder_inputs(self, decoder_inputs: torch.Tensor) -> torch.Tensor:
        # Theirs calls .view on a transposed tensor, which fails for r > 1; same arithmetic.
        x = decoder_inputs.transpose(1, 2)
        return x.reshape(x.size(0), x.size(1) // self.n_frames_per_step, -1).transpose(0, 1)

    nv_model.get_mask_from_lengths = mask_from_lengths
    nv_model.Decoder.parse_decoder_inputs = parse_decoder_inputs
    r = cfg.n_frames_per_step
    hp = SimpleNamespace(
        **cfg.model_dump(), n_symbols=N_SYMBOLS, n_mel_channels=N_MELS, fp16_run=False
    )
    # Theirs emits one gate per decoder step and breaks in its padding mask when r > 1, so the
    # mask is off there and the stop target is given per step (timing is unaffected).
    hp.mask_padding = r == 1
    torch.manual_seed(0)
    model = nv_model.Tacotron2(hp).to(device).train()
    criterion = loss_function.Tacotron2Loss()
    b = make_batch(shape, cfg.n_frames_per_step, device)
    max_len = int(b["in_len"].max())

    def forward_loss() -> torch.Tensor:
        out = model((b["text"], b["in_len"], b["mels"], max_len, b["out_len"]))
        return criterion(out, (b["mels"], b["gate"][:, r - 1 :: r]))

    return Stepper(forward_loss, list(model.parameters()), device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nvidia-repo", type=Path, help="checkout of NVIDIA/tacotron2")
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per model")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="demo shape only")
    parser.add_argument("--no-amp", action="store_true", help="float32 rows only")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = select_device(args.device)
    shapes = [Shape("demo 16x50x264", 16, 50, 264)]
    if not args.quick:
        shapes.insert(0, Shape("NVIDIA 16x100x560", 16, 100, 560))
    models = [(name, load_config(None, MODELS[name]).model) for name in args.models]
    console = Console(width=170)
    table = Table(title=f"Tacotron2 training step on {device} ({torch.get_num_threads()} threads)")
    precisions: list[torch.dtype | None] = [None]
    if not args.no_amp and amp_dtype(device) is not None:
        precisions.append(amp_dtype(device))
    for col in (
        "shape",
        "model",
        "r",
        "precision",
        "forward s",
        "backward s",
        "optim s",
        "step s",
        "frames/s",
        "non-matmul %",
        "NVIDIA step s",
        "speed-up",
    ):
        table.add_column(col, justify="right")
    for shape in shapes:
        for name, cfg in models:
            # Theirs (float32: its fp16 path is CUDA-only) and ours take turns step by step, so
            # other load on the machine hits both alike; each keeps its fastest step.
            ref = nvidia(args.nvidia_repo, cfg, shape, device) if args.nvidia_repo else None
            mine = [ours(cfg, shape, device, dtype) for dtype in precisions]
            for _ in range(args.repeats):
                for stepper in [s for s in (ref, *mine) if s is not None]:
                    stepper.run()
            ref_step = None if ref is None else ref.result(profile=False).step
            for dtype, stepper in zip(precisions, mine, strict=True):
                res = stepper.result(profile=True)
                frames = shape.batch * (shape.t_out - shape.t_out % cfg.n_frames_per_step)
                ref_s, ratio = "", ""
                if ref_step is not None:
                    ref_s, ratio = f"{ref_step:.2f}", f"{ref_step / res.step:.2f}x"
                table.add_row(
                    shape.name,
                    name,
                    str(cfg.n_frames_per_step),
                    "float32" if dtype is None else str(dtype).removeprefix("torch."),
                    f"{res.forward:.2f}",
                    f"{res.backward:.2f}",
                    f"{res.optimizer:.3f}",
                    f"{res.step:.2f}",
                    f"{frames / res.step:.0f}",
                    "" if res.non_matmul is None else f"{100 * res.non_matmul:.0f}",
                    ref_s,
                    ratio,
                )
    console.print(table)


if __name__ == "__main__":
    main()
