"""The realism report's CNN: tells real from synthetic 64 x 64 patches at 0.2 mm, if it can.

Why a CNN besides the texture statistics: a phantom can match a handful of
statistics and still look wrong (the shape of ducts, the edges of fat lobules,
film grain). A small convolutional network trained for a few epochs is the
"stronger discriminator" issue 15 asks the report to show: if it cannot beat
AUC 0.75 under patient-grouped cross-validation, the phantom's patches pass.

Used through ``mommi.data.realism.crossval.cross_validate`` (``fit_predict`` has its
signature). Deterministic for a seed: seeded weights and batches, and one intra-op
thread while it runs (float sums then happen in one order on every machine).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

EPOCHS = 4
BATCH = 64
LEARNING_RATE = 2e-3
WIDTH = 16


class PatchDiscriminator(nn.Module):
    """Four conv-BN-ReLU-maxpool blocks (64 -> 4 px), global average pool, one logit."""

    def __init__(self, width: int = WIDTH) -> None:
        super().__init__()
        channels = [1, width, 2 * width, 4 * width, 4 * width]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            layers += [
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(channels[-1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3))).squeeze(1)


def _recalibrate_batch_norm(model: nn.Module, x: torch.Tensor) -> None:
    """Batch-norm running statistics recomputed over the training patches at the final weights.

    Why: with a few hundred steps the exponential running averages still remember the
    first, random-weight batches, and the evaluation-mode network then sees shifted
    features; a pass with a cumulative average (momentum None) gives the exact statistics.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    model.train()
    with torch.no_grad():
        for start in range(0, len(x), 256):
            model(x[start : start + 256])


def fit_predict(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, seed: int, epochs: int = EPOCHS
) -> np.ndarray:
    """Train on (N, H, W) patches in [0, 1] with labels 0/1; return logits for ``test_x``.

    Raw intensities (centred at 0.5) go in: brightness is part of what a reader
    sees. Augmentation is flips only (they change nothing about realism).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        model = PatchDiscriminator()
        optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
        x = torch.from_numpy(np.ascontiguousarray(train_x, dtype=np.float32))[:, None] - 0.5
        y = torch.from_numpy(np.asarray(train_y, dtype=np.float32))
        loss_fn = nn.BCEWithLogitsLoss()
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=generator)
            for start in range(0, len(x), BATCH):
                index = order[start : start + BATCH]
                if len(index) < 2:  # batch norm needs two samples
                    continue
                batch = x[index]
                if torch.rand(1, generator=generator).item() < 0.5:
                    batch = batch.flip(3)
                if torch.rand(1, generator=generator).item() < 0.5:
                    batch = batch.flip(2)
                optimiser.zero_grad()
                loss = loss_fn(model(batch), y[index])
                loss.backward()
                optimiser.step()
        _recalibrate_batch_norm(model, x)
        model.eval()
        test = torch.from_numpy(np.ascontiguousarray(test_x, dtype=np.float32))[:, None] - 0.5
        with torch.no_grad():
            scores = [model(test[i : i + 256]) for i in range(0, len(test), 256)]
        return torch.cat(scores).numpy().astype(np.float64) if scores else np.zeros(0)
    finally:
        torch.set_num_threads(threads)
