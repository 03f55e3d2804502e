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
* keeps the cell state and gate arithmetic in float32 under mixed precision.

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


class _DeferredLinear(torch.autograd.Function):
    """``x @ weight^T`` whose backward returns only the input gradient (see module doc)."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bank: _GradientBank) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.weight, ctx.bank = weight, bank
        return x @ weight.t()

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        grad = grad.to(x.dtype)
        ctx.bank.inputs.append(x)
        ctx.bank.grads.append(grad)
        return grad @ ctx.weight, None, None


class _GradientAnchor(torch.autograd.Function):
    """A zero added to the first step's input: its backward runs after every step's backward
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
        self.bias = bias
        # float32 and tracked by autograd: the anchor hands the batched gradient to it. The
        # steps use a detached copy in the compute dtype (cast once per sequence).
        self.master = torch.cat((w_ih[:, s:], w_hh), 1)
        self.weight = self.master.detach().to(dtype)
        self.dtype = dtype
        self.bank: _GradientBank | None = None
        if torch.is_grad_enabled() and self.master.requires_grad:
            self.bank = _GradientBank()
        self.t = 0

    def step(self, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """x [B, D] (dynamic inputs), h, c [B, H] float32 -> (h', c') float32."""
        inputs = torch.cat((x, h), -1).to(self.dtype)
        if self.bank is not None:
            if self.t == 0:
                inputs = inputs + _GradientAnchor.apply(self.master, self.bank, inputs)
            gates = _DeferredLinear.apply(inputs, self.weight, self.bank)
        else:
            gates = inputs @ self.weight.t()
        gates = gates.float()
        if self.pre is not None:
            gates = gates + self.pre[self.t]
        elif self.bias is not None:
            gates = gates + self.bias
        self.t += 1
        i, f, g, o = gates.chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c
