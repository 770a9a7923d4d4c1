"""The classification head over a pooled vector."""

from __future__ import annotations

import torch
from torch import nn


class TanhProjectionHead(nn.Module):
    """dropout -> Linear(hidden, hidden) -> tanh -> dropout -> Linear(hidden, num_labels).

    The tanh projection mirrors BERT's own pooler, so [CLS] and mean pooling get the same
    capacity on top and the comparison between them is fair.
    """

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(hidden_size, hidden_size),
            nn.Tanh(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, num_labels),
        )

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.net(pooled)
