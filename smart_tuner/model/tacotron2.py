"""Tacotron2 (Shen et al. 2018): text -> mel spectrogram with location-sensitive attention.

Parameter names match NVIDIA/tacotron2 so its checkpoints load (see `warm_start`). Differences
from NVIDIA's code, none of which change a parameter's name or shape:

* input lengths need not be sorted (packing uses ``enforce_sorted=False``);
* the teacher-forced loop runs the prenet, its share of the attention LSTM's input projection
  and the attention memory projection once for all steps, and projects decoder states to
  mel/gate once after the loop instead of per step;
* the decoder LSTMs run through `recurrent.LSTMRun` (one product per step, weight gradients
  batched over the sequence, float32 cell state under mixed precision);
* one gate logit per decoder step is repeated to every frame of that step (matters for r > 1);
* prenet dropout comes from the config instead of a hard-coded 0.5.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from smart_tuner.config import ModelConfig
from smart_tuner.model.dca import DynamicConvolutionAttention
from smart_tuner.model.forward_attention import ForwardAttention
from smart_tuner.model.layers import Attention, ConvNorm, LinearNorm, Postnet, Prenet, dropout
from smart_tuner.model.recurrent import LSTMRun

# Gate logit written past each utterance's end; sigmoid(1e3) == 1, i.e. "stop" (NVIDIA's value).
PADDED_GATE_LOGIT = 1e3
ATTENTION_END_FRAMES = 20  # frames of attention resting on the last symbol that end inference
# Fixed dropout of the encoder convolutions and the postnet (paper value; not an NVIDIA hparam).
CONV_DROPOUT = 0.5


class Tacotron2Output(NamedTuple):
    """Teacher-forced outputs; padded frames are masked when ``mask_padding`` is on."""

    mel_outputs: Tensor  # [B, n_mel, T_out] decoder output, before the postnet
    mel_outputs_postnet: Tensor  # [B, n_mel, T_out] decoder output + postnet residual
    gate_outputs: Tensor  # [B, T_out] stop-token logits, one per frame
    alignments: Tensor  # [B, T_out // r, T_in] attention weights per decoder step


class InferenceOutput(NamedTuple):
    mel_outputs: Tensor  # [1, n_mel, T]
    mel_outputs_postnet: Tensor  # [1, n_mel, T]
    gate_outputs: Tensor  # [1, T] stop-token logits, one per frame
    alignments: Tensor  # [1, steps, T_in]
    reached_stop: bool  # False when max_decoder_steps ran out before the gate fired
    stop_cause: str = "gate"  # gate | attention_end | max_steps


def lengths_to_padding_mask(lengths: Tensor, max_len: int) -> Tensor:
    """[B] lengths -> [B, max_len] bool, True on padding. Built on the lengths' device."""
    return torch.arange(max_len, device=lengths.device) >= lengths.unsqueeze(1)


def valid_mask(lengths: Tensor, max_len: int, dtype: torch.dtype) -> Tensor:
    """[B] lengths -> [B, 1, max_len] multiplier: 1 on real steps, 0 on padding."""
    return (~lengths_to_padding_mask(lengths, max_len)).unsqueeze(1).to(dtype)


class Encoder(nn.Module):
    """Three convolutions (local, n-gram-like context) then a bidirectional LSTM."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.encoder_embedding_dim % 2:
            raise ValueError(
                f"encoder_embedding_dim must be even (bidirectional LSTM halves), "
                f"got {cfg.encoder_embedding_dim}"
            )
        dim = cfg.encoder_embedding_dim
        in_dims = [cfg.symbols_embedding_dim] + [dim] * (cfg.encoder_n_convolutions - 1)
        self.convolutions = nn.ModuleList(
            nn.Sequential(
                ConvNorm(
                    c_in,
                    dim,
                    kernel_size=cfg.encoder_kernel_size,
                    padding=(cfg.encoder_kernel_size - 1) // 2,
                    w_init_gain="relu",
                ),
                nn.BatchNorm1d(dim),
            )
            for c_in in in_dims[: cfg.encoder_n_convolutions]
        )
        lstm_in = dim if cfg.encoder_n_convolutions else cfg.symbols_embedding_dim
        self.lstm = nn.LSTM(lstm_in, dim // 2, 1, batch_first=True, bidirectional=True)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """[B, C, T_in] embedded text -> [B, T_in, E]. ``lengths`` None means no padding.

        Padding is zeroed before every convolution so that an item's encoding does not depend
        on how much padding its batch adds (an unpadded item sees the convolution's zero
        padding there too); training then matches inference, which runs unpadded.
        """
        keep = None if lengths is None else valid_mask(lengths.to(x.device), x.size(2), x.dtype)
        for conv in self.convolutions:
            if keep is not None:
                x = x * keep
            x = dropout(F.relu(conv(x)), CONV_DROPOUT, self.training)
        x = x.transpose(1, 2)
        if lengths is None:
            return self.lstm(x)[0]
        # Packing keeps the backward LSTM from reading padding first; it needs CPU lengths.
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=x.size(1))
        return out


class DecoderState(NamedTuple):
    attention_hidden: Tensor  # [B, attention_rnn_dim]
    attention_cell: Tensor
    decoder_hidden: Tensor  # [B, decoder_rnn_dim]
    decoder_cell: Tensor
    attention_weights: Tensor  # [B, T_in]
    attention_weights_cum: Tensor  # [B, T_in]
    attention_context: Tensor  # [B, encoder_embedding_dim]


class Decoder(nn.Module):
    """Autoregressive decoder: prenet -> attention LSTM -> attention -> decoder LSTM -> frames.

    Each step emits r = n_frames_per_step frames and one stop-token (gate) logit.
    """

    def __init__(self, cfg: ModelConfig, n_mel_channels: int) -> None:
        super().__init__()
        self.n_mel_channels = n_mel_channels
        self.n_frames_per_step = cfg.n_frames_per_step
        self.attention_rnn_dim = cfg.attention_rnn_dim
        self.decoder_rnn_dim = cfg.decoder_rnn_dim
        self.encoder_embedding_dim = cfg.encoder_embedding_dim
        self.max_decoder_steps = cfg.max_decoder_steps
        self.gate_threshold = cfg.gate_threshold
        self.p_attention_dropout = cfg.p_attention_dropout
        self.p_decoder_dropout = cfg.p_decoder_dropout

        step_dim = n_mel_channels * cfg.n_frames_per_step  # the r frames of a step, concatenated
        enc = cfg.encoder_embedding_dim
        self.prenet = Prenet(step_dim, [cfg.prenet_dim, cfg.prenet_dim], cfg.p_prenet_dropout)
        self.attention_rnn = nn.LSTMCell(cfg.prenet_dim + enc, cfg.attention_rnn_dim)
        self.attention_layer: Attention | DynamicConvolutionAttention | ForwardAttention
        if cfg.attention == "dynamic_convolution":
            self.attention_layer = DynamicConvolutionAttention(
                cfg.attention_rnn_dim,
                cfg.attention_dim,
                cfg.dca_static_filters,
                cfg.dca_static_kernel_size,
                cfg.dca_dynamic_filters,
                cfg.dca_dynamic_kernel_size,
                cfg.dca_prior_length,
                cfg.dca_prior_alpha,
                cfg.dca_prior_beta,
                content_dim=enc if cfg.dca_content else 0,
            )
        elif cfg.attention == "forward":
            self.attention_layer = ForwardAttention(
                cfg.attention_rnn_dim,
                enc,
                cfg.attention_dim,
                cfg.dca_prior_alpha,
                cfg.dca_prior_beta,
            )
        else:
            self.attention_layer = Attention(
                cfg.attention_rnn_dim,
                enc,
                cfg.attention_dim,
                cfg.attention_location_n_filters,
                cfg.attention_location_kernel_size,
            )
        # Location-sensitive attention reads (previous, cumulative) alignments; DCA only the
        # previous one, so the cumulative sum is not kept for it.
        self.reads_cumulative = isinstance(self.attention_layer, Attention)
        self.decoder_rnn = nn.LSTMCell(cfg.attention_rnn_dim + enc, cfg.decoder_rnn_dim)
        self.linear_projection = LinearNorm(cfg.decoder_rnn_dim + enc, step_dim)
        self.gate_layer = LinearNorm(cfg.decoder_rnn_dim + enc, 1, w_init_gain="sigmoid")

    def initial_state(self, memory: Tensor) -> DecoderState:
        batch, t_in, _ = memory.shape
        att = memory.new_zeros(batch, self.attention_rnn_dim)
        dec = memory.new_zeros(batch, self.decoder_rnn_dim)
        weights = memory.new_zeros(batch, t_in)
        if getattr(self.attention_layer, "needs_initial_focus", False):
            weights = weights.clone()
            weights[:, 0] = 1.0  # location-relative attention starts on the first symbol
        cumulative = memory.new_zeros(batch, t_in)
        context = memory.new_zeros(batch, self.encoder_embedding_dim)
        return DecoderState(att, att, dec, dec, weights, cumulative, context)

    def step(
        self,
        attention_input: Tensor | None,
        state: DecoderState,
        memory: Tensor,
        processed_memory: Tensor,
        mask: Tensor | None,
        runs: tuple[LSTMRun, LSTMRun],
    ) -> DecoderState:
        """Advance one decoder step; the caller projects (decoder_hidden, context) to frames.

        ``attention_input`` is this step's prenet output, or None when ``runs[0]`` was built
        with the prenet output of all steps (teacher forcing).
        """
        attention_run, decoder_run = runs
        context = state.attention_context
        x = context if attention_input is None else (attention_input, context)
        att_h, att_c = attention_run.step(x, state.attention_hidden, state.attention_cell)
        att_h = dropout(att_h, self.p_attention_dropout, self.training)

        if self.reads_cumulative:
            weights_cat = torch.stack((state.attention_weights, state.attention_weights_cum), 1)
        else:  # DCA reads only the previous alignment
            weights_cat = state.attention_weights.unsqueeze(1)
        context, weights = self.attention_layer(att_h, memory, processed_memory, weights_cat, mask)
        cumulative = state.attention_weights_cum
        if self.reads_cumulative:
            cumulative = cumulative + weights

        dec_h, dec_c = decoder_run.step((att_h, context), state.decoder_hidden, state.decoder_cell)
        dec_h = dropout(dec_h, self.p_decoder_dropout, self.training)
        return DecoderState(att_h, att_c, dec_h, dec_c, weights, cumulative, context)

    def project(self, decoder_hidden: Tensor, context: Tensor) -> tuple[Tensor, Tensor]:
        """(.., D), (.., E) -> step frames (.., n_mel * r) and gate logits (..)."""
        x = torch.cat((decoder_hidden, context), -1)
        return self.linear_projection(x), self.gate_layer(x).squeeze(-1)

    def forward(
        self, memory: Tensor, mels: Tensor, memory_lengths: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Teacher-forced decoding.

        memory [B, T_in, E]; mels [B, n_mel, T_out] with T_out a multiple of r.
        Returns mel_outputs [B, n_mel, T_out], per-step gate logits [B, T_out // r] and
        alignments [B, T_out // r, T_in].
        """
        batch, n_mel, t_out = mels.shape
        steps = t_out // self.n_frames_per_step
        # [B, n_mel, T_out] -> [steps, B, n_mel * r]: the frames each step sees as "previous".
        frames = mels.transpose(1, 2).reshape(batch, steps, -1).transpose(0, 1)
        go_frame = frames.new_zeros(1, batch, frames.size(2))
        # Everything that does not depend on the recurrence is computed once, outside the loop.
        prenet_out = self.prenet(torch.cat((go_frame, frames[:-1]), dim=0))
        # The attention runs in float32 (it does its own arithmetic; see `attention_ops`):
        # cast its inputs once here rather than at every step.
        processed_memory = self.attention_layer.memory_layer(memory).float()
        memory = memory.float()
        mask = lengths_to_padding_mask(memory_lengths.to(memory.device), memory.size(1))

        # Per-step results go to lists and are stacked once. Writing them into preallocated
        # tensors would be worse under autograd: every in-place slice write adds a CopySlices
        # node whose backward copies the whole buffer, i.e. quadratic work in the step count.
        hidden: list[Tensor] = []
        contexts: list[Tensor] = []
        alignments: list[Tensor] = []
        state = self.initial_state(memory)
        # The prenet's share of the attention LSTM's input projection: one product, all steps.
        runs = (LSTMRun(self.attention_rnn, prenet_out), LSTMRun(self.decoder_rnn))
        for _ in range(steps):
            state = self.step(None, state, memory, processed_memory, mask, runs)
            hidden.append(state.decoder_hidden)
            contexts.append(state.attention_context)
            alignments.append(state.attention_weights)

        mel_steps, gate = self.project(torch.stack(hidden, 1), torch.stack(contexts, 1))
        mel_outputs = mel_steps.reshape(batch, t_out, n_mel).transpose(1, 2)
        return mel_outputs, gate, torch.stack(alignments, 1)

    @torch.no_grad()
    def inference(
        self, memory: Tensor, max_decoder_steps: int | None = None
    ) -> tuple[Tensor, Tensor, Tensor, bool, str]:
        """Free-running decoding of one utterance (B = 1) until the gate fires.

        Returns mel_outputs [1, n_mel, steps * r], per-step gate logits [1, steps], alignments
        [1, steps, T_in] and whether the gate fired before ``max_decoder_steps``.
        """
        max_steps = self.max_decoder_steps if max_decoder_steps is None else max_decoder_steps
        step_dim = self.n_mel_channels * self.n_frames_per_step
        processed_memory = self.attention_layer.memory_layer(memory)
        # Preallocated: no autograd here, so in-place writes are cheap.
        mel_buf = memory.new_empty(max_steps, step_dim)
        gate_buf = memory.new_empty(max_steps)
        align_buf = memory.new_empty(max_steps, memory.size(1))

        state = self.initial_state(memory)
        previous = memory.new_zeros(1, step_dim)  # the all-zero "go" frame
        steps, stop_cause = 0, "max_steps"
        last_symbol = memory.size(1) - 1
        # Attention resting on the final symbol (the end-of-sentence token) for this many
        # steps (~0.25 s of audio) also ends the utterance, in case the gate is still weak.
        end_patience = max(2, math.ceil(ATTENTION_END_FRAMES / self.n_frames_per_step))
        at_end = 0
        runs = (LSTMRun(self.attention_rnn), LSTMRun(self.decoder_rnn))
        while steps < max_steps:
            state = self.step(self.prenet(previous), state, memory, processed_memory, None, runs)
            frame, gate = self.project(state.decoder_hidden, state.attention_context)
            mel_buf[steps] = frame[0]
            gate_buf[steps] = gate[0]
            align_buf[steps] = state.attention_weights[0]
            steps += 1
            if torch.sigmoid(gate).item() > self.gate_threshold:
                stop_cause = "gate"
                break
            at_end = at_end + 1 if int(state.attention_weights[0].argmax()) == last_symbol else 0
            if at_end >= end_patience:
                steps -= at_end - 1  # drop the frames generated while resting on the end
                stop_cause = "attention_end"
                break
            previous = frame
        reached_stop = stop_cause != "max_steps"

        mel_outputs = mel_buf[:steps].reshape(1, steps * self.n_frames_per_step, -1)
        return (
            mel_outputs.transpose(1, 2),
            gate_buf[:steps].unsqueeze(0),
            align_buf[:steps].unsqueeze(0),
            reached_stop,
            stop_cause,
        )


class Tacotron2(nn.Module):
    """Text ids -> mel spectrogram. Submodules: embedding, encoder, decoder, postnet."""

    def __init__(self, cfg: ModelConfig, n_symbols: int, n_mel_channels: int) -> None:
        super().__init__()
        self.mask_padding = cfg.mask_padding
        self.n_mel_channels = n_mel_channels
        self.n_frames_per_step = cfg.n_frames_per_step
        self.embedding = nn.Embedding(n_symbols, cfg.symbols_embedding_dim)
        # Xavier-uniform bound, as NVIDIA: keeps the first conv's input at unit-ish scale.
        bound = math.sqrt(3.0) * math.sqrt(2.0 / (n_symbols + cfg.symbols_embedding_dim))
        nn.init.uniform_(self.embedding.weight, -bound, bound)
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg, n_mel_channels)
        self.postnet = Postnet(
            n_mel_channels,
            cfg.postnet_embedding_dim,
            cfg.postnet_kernel_size,
            cfg.postnet_n_convolutions,
        )

    def forward(
        self, text: Tensor, input_lengths: Tensor, mels: Tensor, output_lengths: Tensor
    ) -> Tacotron2Output:
        """Teacher-forced pass.

        text [B, T_in] (lengths need not be sorted); mels [B, n_mel, T_out] with T_out a
        multiple of n_frames_per_step (the collate pads to it).
        """
        r = self.n_frames_per_step
        t_out = mels.size(2)
        if t_out % r:
            raise ValueError(
                f"mel length {t_out} is not a multiple of n_frames_per_step={r}; "
                f"the collate must pad T_out to a multiple of r"
            )
        memory = self.encoder(self.embedding(text).transpose(1, 2), input_lengths)
        mel_outputs, gate_steps, alignments = self.decoder(memory, mels, input_lengths)
        gate_outputs = gate_steps.repeat_interleave(r, dim=1)
        if not self.mask_padding:
            return Tacotron2Output(
                mel_outputs, mel_outputs + self.postnet(mel_outputs), gate_outputs, alignments
            )

        # Frames past each length are zeroed (and kept zero inside the postnet) so that the
        # postnet's convolutions never mix decoder output from beyond the end into real frames.
        keep = valid_mask(output_lengths.to(mels.device), t_out, mel_outputs.dtype)
        mel_outputs = mel_outputs * keep
        mel_outputs_postnet = (mel_outputs + self.postnet(mel_outputs, keep)) * keep
        gate_outputs = gate_outputs.masked_fill(keep.squeeze(1) == 0, PADDED_GATE_LOGIT)
        return Tacotron2Output(mel_outputs, mel_outputs_postnet, gate_outputs, alignments)

    @torch.no_grad()
    def inference(self, text: Tensor, max_decoder_steps: int | None = None) -> InferenceOutput:
        """Synthesize one utterance, text [1, T_in].

        Runs in eval mode (BatchNorm running stats, no decoder dropout; the prenet keeps its
        dropout by design) and restores the previous mode afterwards, so it is safe to call
        in the middle of training. ``max_decoder_steps`` overrides the config; it counts
        decoder steps, i.e. at most ``max_decoder_steps * r`` frames.
        """
        if text.dim() != 2 or text.size(0) != 1:
            raise ValueError(f"inference expects text of shape [1, T_in], got {list(text.shape)}")
        was_training = self.training
        self.eval()
        try:
            memory = self.encoder(self.embedding(text).transpose(1, 2))
            mel_outputs, gate_steps, alignments, reached_stop, cause = self.decoder.inference(
                memory, max_decoder_steps
            )
            mel_outputs_postnet = mel_outputs + self.postnet(mel_outputs)
        finally:
            self.train(was_training)
        gate_outputs = gate_steps.repeat_interleave(self.n_frames_per_step, dim=1)
        return InferenceOutput(
            mel_outputs, mel_outputs_postnet, gate_outputs, alignments, reached_stop, cause
        )

    def reset_attention(self) -> list[str]:
        """Re-initialise the attention layer's weights; returns the reset parameter names.

        The recovery logic uses this when attention has collapsed; the caller should also drop
        the optimizer state of these parameters (Adam moments would push them straight back).
        """
        layer = self.decoder.attention_layer
        layer.reset_parameters()
        return [f"decoder.attention_layer.{name}" for name, _ in layer.named_parameters()]

    @torch.no_grad()
    def init_output_bias(self, mel_mean: Tensor, frames_per_utterance: float) -> None:
        """Start the outputs at the data's statistics instead of zero.

        The mel projection's bias becomes the per-channel mean log-mel (log-mels sit around -6,
        so a zero start spends the first hundreds of steps learning a constant), and the gate
        bias the log-odds of a step being the last one. Call on a fresh model only.
        """
        r = self.n_frames_per_step
        bias = self.decoder.linear_projection.linear_layer.bias
        bias.copy_(mel_mean.to(bias).repeat(r))
        p_stop = min(0.5, r / max(frames_per_utterance, 1.0))
        self.decoder.gate_layer.linear_layer.bias.fill_(math.log(p_stop / (1.0 - p_stop)))
