"""Forward attention with a transition agent (Zhang, Ling and Dai 2018, "Forward attention in
sequence-to-sequence acoustic modelling for speech synthesis").

Why: the alignment of speech to text is monotonic, and how long each sound lasts is a decision
the decoder should make from what it has already said. Here every step either stays on its
symbols or moves on by one or two, with probabilities a small "transition agent" predicts from
the attention LSTM's state; a content term (query . key, as in location-sensitive attention)
then decides which of the reachable symbols is read:

    reach_t(n) = p_stay a_{t-1}(n) + p_one a_{t-1}(n-1) + p_two a_{t-1}(n-2)
    a_t(n)    ∝ reach_t(n) · exp(e_t(n)),   e_t(n) = v · tanh(W q_t + V m_n)

The two-symbol move lets the attention pass symbols that take no time (stress marks, the
spaces between words) within one step. Unlike DCA's fixed prior, the move probabilities
depend on the decoder state, so the pace can follow each sound's duration; unlike
location-sensitive attention, it cannot jump back or skip ahead.

The paper lets the agent decide after the step (from the new context); here it decides at the
start of the step from the attention LSTM's output, which has already seen the last frame and
context. Same call signature as the other attentions, and no extra decoder state.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from smart_tuner.model.attention_ops import fast_tanh, read_out
from smart_tuner.model.dca import beta_binomial_prior

# Stay, move one, move two symbols.
MOVES = 3


class ForwardAttention(nn.Module):
    """Monotonic attention whose per-step moves are predicted from the decoder state."""

    needs_initial_focus = True

    def __init__(
        self,
        attention_rnn_dim: int,
        embedding_dim: int,
        attention_dim: int = 128,
        initial_move_alpha: float = 0.3,
        initial_move_beta: float = 0.7,
    ) -> None:
        super().__init__()
        self.query_layer = nn.Linear(attention_rnn_dim, attention_dim, bias=False)
        self.key_layer = nn.Linear(embedding_dim, attention_dim, bias=False)
        self.v = nn.Linear(attention_dim, 1, bias=False)
        self.transition = nn.Linear(attention_rnn_dim, MOVES)
        self.initial_moves = beta_binomial_prior(MOVES, initial_move_alpha, initial_move_beta)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for layer in (self.query_layer, self.key_layer, self.v):
            nn.init.xavier_uniform_(layer.weight, gain=nn.init.calculate_gain("tanh"))
        # The agent starts at a typical pace (the DCA prior's: stay 0.60, one 0.21, two
        # 0.20 for alpha 0.3, beta 0.7, i.e. 0.6 symbols a step) with small weights, so the
        # state refines that pace rather than deciding it from noise.
        nn.init.normal_(self.transition.weight, std=0.01)
        with torch.no_grad():
            self.transition.bias.copy_(self.initial_moves.clamp_min(1e-3).log())

    def memory_layer(self, memory: Tensor) -> Tensor:
        """Keys of the content term, once per utterance."""
        return self.key_layer(memory)

    def forward(
        self,
        query: Tensor,
        memory: Tensor,
        processed_memory: Tensor,
        weights_cat: Tensor,
        mask: Tensor | None,
    ) -> tuple[Tensor, Tensor]:
        """query [B, attention_rnn_dim]; weights_cat [B, 1, T_in] (previous alignment);
        mask [B, T_in] True on padding. Returns (context [B, E], weights [B, T_in])."""
        dtype = processed_memory.dtype
        query = query.to(dtype)
        previous = weights_cat[:, 0].to(dtype)
        # Each move keeps a little probability, so wherever the previous alignment had mass
        # something stays reachable (a row with nothing reachable would be all -inf).
        moves = F.softmax(self.transition(query).float(), dim=-1).clamp_min(1e-6).to(dtype)
        shifted_one = F.pad(previous[:, :-1], (1, 0))
        shifted_two = F.pad(previous[:, :-2], (2, 0))
        reach = moves[:, :1] * previous + moves[:, 1:2] * shifted_one + moves[:, 2:] * shifted_two
        features = processed_memory + self.query_layer(query).unsqueeze(1)
        energies = self.v(fast_tanh(features)).squeeze(-1)
        # log(reach) + e, normalised: reach · exp(e) / sum, without under- or overflow.
        # Unreachable symbols get exactly nothing, however large their energy (the clamp only
        # keeps log and its gradient finite before they are masked).
        scores = reach.clamp_min(torch.finfo(torch.float32).tiny).log() + energies
        unreachable = reach <= 0 if mask is None else (reach <= 0) | mask
        return read_out(scores, unreachable, memory.to(dtype))
