"""LSTM cells for an autoregressive decoder that spend their time in matrix arithmetic.

Why: in Tacotron2's decoder each step is a handful of small matrix products (batch x 4H). Run
through ``nn.LSTMCell`` step by step, autograd computes every weight gradient as a rank-B
outer product and adds it into a full weight-sized buffer, once per step: for NVIDIA's sizes
that is ~70 MB of memory traffic per step for a few MFLOP, and it dominates the backward pass
on a CPU. `LSTMRun` keeps the cell's parameters (NVIDIA's names, so checkpoints load) but:

* computes the input projection of everything known before the loop (the prenet output)
  for all steps in one matrix product;
* does one matrix product per step, ``[x_t, h_{t-1}] @ [W_x, W_hh]^T``, on weights that are
  concatenated (and, under autocast, cast to bf16/fp16) once per sequence;
* defers the weight gradient: each step's backward only produces the input gradient and
  files (input, output-gradient) away; the weight gradient of the whole sequence is then one
  large matrix product (``G^T X`` over all steps), which runs near the machine's peak and
  rounds once instead of once per step;
* keeps the cell state and gate arithmetic in float32 under mixed precision;
* runs a step (product + gate maths) as one autograd node with a hand-written backward
  instead of ~15 (a small gain: ~2 % of a `small` training step).

The maths is exactly the LSTM of ``nn.LSTMCell`` (gate order i, f, g, o).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _GradientBank:
    """(input, output-gradient) pairs of every step, turned into one weight gradient."""

    def __init__(self) -> None:
        self.inputs: list[Tensor] = []
        self.grads: list[Tensor] = []

    def weight_grad(self) -> Tensor:
        """Sum over all steps of grad_t^T x_t, as float32 (fp16 would overflow under a loss
        scaler; bf16 is accumulated in float32 inside the product and rounded once)."""
        grads, inputs = torch.cat(self.grads), torch.cat(self.inputs)
        self.inputs, self.grads = [], []
        if grads.dtype == torch.float16:
            grads, inputs = grads.float(), inputs.float()
        return (grads.t() @ inputs).float()


def _cell(gates: Tensor, c: Tensor) -> tuple[Tensor, ...]:
    """LSTM pointwise maths on float32 pre-activations (gate order i, f, g, o)."""
    i, f, g, o = gates.chunk(4, 1)
    i, f, o, g = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o), torch.tanh(g)
    c_new = torch.addcmul(f * c, i, g)
    tanh_c = torch.tanh(c_new)
    return o * tanh_c, c_new, i, f, g, o, tanh_c


class _LSTMStep(torch.autograd.Function):
    """One LSTM step, ``[x_t, h_{t-1}] @ W^T (+ static part) -> (h_t, c_t)``, as one autograd
    node with a hand-written backward.

    Why: as separate autograd ops a step is ~15 nodes (concatenation, casts, chunk, three
    sigmoids, two tanhs, products, sums), each with its own bookkeeping; measured, one node
    saves ~2 % of a `small` CPU training step. The backward produces only the input
    gradients and files (input, gate-gradient) in the bank (see module doc); the weight
    gradient comes later.
    ``parts`` are the step's input pieces (the last is h_{t-1}), concatenated in here.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, c: Tensor, static: Tensor, weight: Tensor, bank: _GradientBank, *parts: Tensor
    ) -> tuple[Tensor, Tensor]:
        inputs = torch.cat(parts, -1).to(weight.dtype)
        gates = (inputs @ weight.t()).float() + static
        h, c_new, i, f, g, o, tanh_c = _cell(gates, c)
        ctx.save_for_backward(inputs, c, i, f, g, o, tanh_c)
        ctx.weight, ctx.bank, ctx.static_is_bias = weight, bank, static.dim() == 1
        ctx.parts = [(p.size(-1), p.dtype) for p in parts]
        return h, c_new

    @staticmethod
    def backward(ctx, dh: Tensor, dc: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        inputs, c, i, f, g, o, tanh_c = ctx.saved_tensors
        d_o = dh * tanh_c
        dc = torch.addcmul(dc, dh * o, 1.0 - tanh_c * tanh_c)
        d_i, d_f, d_g = dc * g, dc * c, dc * i
        dgates = torch.cat(
            (
                d_i * i * (1.0 - i),
                d_f * f * (1.0 - f),
                d_g * (1.0 - g * g),
                d_o * o * (1.0 - o),
            ),
            1,
        )
        d_static = dgates.sum(0) if ctx.static_is_bias else dgates
        dgates_c = dgates.to(inputs.dtype)
        ctx.bank.inputs.append(inputs)
        ctx.bank.grads.append(dgates_c)
        d_inputs = (dgates_c @ ctx.weight).split([size for size, _ in ctx.parts], -1)
        d_parts = (d.to(dtype) for d, (_, dtype) in zip(d_inputs, ctx.parts, strict=True))
        return dc * f, d_static, None, None, *d_parts


class _GradientAnchor(torch.autograd.Function):
    """A zero added to the first step's h_{t-1}: its backward runs after every step's backward
    (all of them feed that gradient), so it is where the bank becomes the weight gradient."""

    @staticmethod
    def forward(ctx, weight: Tensor, bank: _GradientBank, like: Tensor) -> Tensor:  # type: ignore[override]
        ctx.bank = bank
        return like.new_zeros(())

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        return ctx.bank.weight_grad(), None, None


def compute_dtype(reference: Tensor) -> torch.dtype:
    """The dtype matrix products run in: autocast's when it is on for this device."""
    device = reference.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return reference.dtype


class LSTMRun:
    """One sequence through an ``nn.LSTMCell``: build it before the loop, call `step` per step.

    ``static_inputs`` [T, B, S] are the first S input features of every step, when they are
    known before the loop; `step` then takes only the remaining (dynamic) features.
    """

    def __init__(self, cell: nn.LSTMCell, static_inputs: Tensor | None = None) -> None:
        w_ih, w_hh = cell.weight_ih, cell.weight_hh
        bias = cell.bias_ih + cell.bias_hh if cell.bias else None
        s = 0 if static_inputs is None else static_inputs.size(-1)
        dtype = compute_dtype(w_ih)
        # Per-step views via unbind: one backward node for all steps. Indexing pre[t] instead
        # would give each step a backward that zero-fills a whole [T, B, 4H] gradient.
        self.pre: tuple[Tensor, ...] | None = None
        if static_inputs is not None:
            pre = F.linear(static_inputs.to(dtype), w_ih[:, :s].to(dtype)).float()
            if bias is not None:
                pre = pre + bias
            self.pre = pre.unbind(0)
            bias = None
        # What is added to every step's gates: its precomputed share ([B, 4H] per step) or
        # the bias ([4H]; zeros for a cell without one).
        self.bias = bias if bias is not None else w_ih.new_zeros(w_ih.size(0))
        # float32 and tracked by autograd: the anchor hands the batched gradient to it. The
        # steps use a detached copy in the compute dtype (cast once per sequence).
        self.master = torch.cat((w_ih[:, s:], w_hh), 1)
        self.weight = self.master.detach().to(dtype)
        self.dtype = dtype
        self.bank: _GradientBank | None = None
        if torch.is_grad_enabled() and self.master.requires_grad:
            self.bank = _GradientBank()
        self.t = 0

    def step(self, x: Tensor | tuple[Tensor, ...], h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """x [B, D] (dynamic inputs, or pieces of them to concatenate), h, c [B, H] float32
        -> (h', c') float32."""
        parts = (*x, h) if isinstance(x, tuple) else (x, h)
        static = self.bias if self.pre is None else self.pre[self.t]
        self.t += 1
        if self.bank is None:  # inference or frozen weights: no autograd bookkeeping needed
            inputs = torch.cat(parts, -1).to(self.dtype)
            gates = (inputs @ self.weight.t()).float() + static
            return _cell(gates, c)[:2]
        if self.t == 1:
            h = h + _GradientAnchor.apply(self.master, self.bank, h)
            parts = (*parts[:-1], h)
        return _LSTMStep.apply(c, static, self.weight, self.bank, *parts)
