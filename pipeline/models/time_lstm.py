"""Time-LSTM (Zhu et al. 2017, variant 3: two time gates, coupled input and forget gates).

Consumption sequences are irregular: a user may rate five films in one evening and then nothing for a
month. Time-LSTM feeds the gap between consecutive interactions into time gates: T1 (its weight on the
gap constrained to be non-positive, so long gaps shut it) lets the current item shape the state used for
this prediction (short-term interest); T2 decides how much of it is stored for later (long-term
interest), and the gap also enters the output gate.

The paper's gap is the one to the next action; at scoring time that action has not happened, so here
the gap is the one since the previous interaction (0 for a user's first item), which is known both when
training and when scoring. Gaps enter as log(1 + gap / time_unit).
"""

from __future__ import annotations

import torch
from pydantic import Field

from pipeline.models.sequential import SequenceEncoder, Sequences, SequentialConfig, SequentialRecommender


class TimeLSTMConfig(SequentialConfig):
    hidden_dim: int = Field(64, ge=1, description="smaller than the GRU's: this cell runs step by step in Python")
    time_unit: float = Field(86_400.0, gt=0, description="seconds per unit of gap fed to the time gates (a day)")


def log_gaps(sequences: Sequences, real: torch.Tensor, time_unit: float) -> torch.Tensor:
    """log(1 + gap / time_unit) before each position [b, L]; 0 at padding and at a user's first item."""
    stamps = sequences.timestamps
    gaps = torch.zeros_like(stamps, dtype=torch.float32)
    both = real[:, 1:] & real[:, :-1]
    gaps[:, 1:] = torch.where(both, (stamps[:, 1:] - stamps[:, :-1]).clamp(min=0).float(), 0.0)
    return torch.log1p(gaps / time_unit)


class TimeLSTMCell(torch.nn.Module):
    """One step of Time-LSTM 3; input projections for all steps are computed once, outside the loop."""

    def __init__(self, input_dim: int, hidden_dim: int):
        super().__init__()
        self.hidden_dim = hidden_dim
        # input terms of: input gate, candidate, output gate, time gate 1, time gate 2
        self.input_weights = torch.nn.Linear(input_dim, 5 * hidden_dim)
        self.hidden_weights = torch.nn.Linear(hidden_dim, 3 * hidden_dim, bias=False)
        self.peephole_input = torch.nn.Parameter(torch.zeros(hidden_dim))
        self.peephole_output = torch.nn.Parameter(torch.zeros(hidden_dim))
        self.gap_weight_1 = torch.nn.Parameter(torch.zeros(hidden_dim))  # used as -softplus: long gaps close T1
        self.gap_weight_2 = torch.nn.Parameter(torch.zeros(hidden_dim))
        self.gap_weight_output = torch.nn.Parameter(torch.zeros(hidden_dim))

    def gates(self, inputs: torch.Tensor, gaps: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Gap-dependent parts for every step: (input terms [b, L, 3h], T1 [b, L, h], T2 [b, L, h])."""
        x_gates, x_t1, x_t2 = self.input_weights(inputs).split([3 * self.hidden_dim, self.hidden_dim, self.hidden_dim], -1)
        gaps = gaps[..., None]
        time_1 = torch.sigmoid(x_t1 + torch.sigmoid(-torch.nn.functional.softplus(self.gap_weight_1) * gaps))
        time_2 = torch.sigmoid(x_t2 + torch.sigmoid(self.gap_weight_2 * gaps))
        x_i, x_c, x_o = x_gates.chunk(3, -1)
        return torch.cat([x_i, x_c, x_o + self.gap_weight_output * gaps], -1), time_1, time_2

    def forward(self, inputs: torch.Tensor, gaps: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """States [b, L, h]; padding steps leave the state untouched, so leading padding changes nothing."""
        x_gates, time_1, time_2 = self.gates(inputs, gaps)
        hidden = inputs.new_zeros(inputs.shape[0], self.hidden_dim)
        cell = torch.zeros_like(hidden)
        outputs = []
        # unbind once: indexing one step at a time would cost a full-size gradient per step
        for x_t, t1, t2, step in zip(x_gates.unbind(1), time_1.unbind(1), time_2.unbind(1), real[..., None].unbind(1), strict=True):
            h_i, h_c, h_o = self.hidden_weights(hidden).chunk(3, -1)
            x_i, x_c, x_o = x_t.chunk(3, -1)
            input_gate = torch.sigmoid(x_i + h_i + self.peephole_input * cell)
            candidate = torch.tanh(x_c + h_c)
            short_term = (1 - input_gate * t1) * cell + input_gate * t1 * candidate
            output_gate = torch.sigmoid(x_o + h_o + self.peephole_output * short_term)
            cell = torch.where(step, (1 - input_gate) * cell + input_gate * t2 * candidate, cell)
            hidden = torch.where(step, output_gate * torch.tanh(short_term), hidden)
            outputs.append(hidden)
        return torch.stack(outputs, 1)


class TimeLSTMEncoder(SequenceEncoder):
    def __init__(self, padding: int, dim: int, hidden_dim: int, dropout: float, time_unit: float):
        super().__init__()
        self.padding = padding
        self.time_unit = time_unit
        self.dropout = torch.nn.Dropout(dropout)
        self.cell = TimeLSTMCell(dim, hidden_dim)
        self.projection = torch.nn.Linear(hidden_dim, dim)

    def forward(self, embedded: torch.Tensor, sequences: Sequences) -> torch.Tensor:
        real = sequences.items != self.padding
        states = self.cell(self.dropout(embedded), log_gaps(sequences, real, self.time_unit), real)
        return self.projection(self.dropout(states))


class TimeLSTM(SequentialRecommender):
    name = "time_lstm"
    Config = TimeLSTMConfig
    config: TimeLSTMConfig

    def build_encoder(self) -> SequenceEncoder:
        c = self.config
        return TimeLSTMEncoder(self.n_items, c.embedding_dim, c.hidden_dim, c.dropout, c.time_unit)
