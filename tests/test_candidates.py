"""The cpu profile's model: small_cnn's flattened head, and the candidates table that prices sizes in seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from sgdtricks.study.candidates import Candidate, run
from sgdtricks.models import SmallCNN


@pytest.fixture(scope="module")
def synthetic_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CIFAR-shaped npz (uint8 NHWC, 10 classes) the suite makes itself: 220 train, 60 test images."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("data") / "synthetic.npz"
    np.savez(path, x_train=rng.integers(0, 256, (220, 32, 32, 3), dtype=np.uint8), y_train=rng.integers(0, 10, 220),
             x_test=rng.integers(0, 256, (60, 32, 32, 3), dtype=np.uint8), y_test=rng.integers(0, 10, 60))
    return path


def test_small_cnn_head_reads_every_position_of_the_last_feature_map():
    """A global average pool would give the head widths[-1] numbers, the same for any spatial arrangement."""
    model = SmallCNN(3, 10, widths=(4, 8, 16)).eval()
    assert model[-1].in_features == 16 * 4 * 4
    features = torch.nn.Sequential(*list(model)[:-3])  # the conv blocks, before pool, flatten and head
    head = torch.nn.Sequential(*list(model)[-3:])
    maps = features(torch.randn(2, 3, 32, 32))
    assert maps.shape[-2:] == (4, 4)
    moved = torch.roll(maps, shifts=1, dims=-1)  # the same features at other positions
    assert not torch.allclose(head(maps), head(moved))
    assert model(torch.randn(2, 3, 28, 28)).shape == (2, 10)  # Fashion-MNIST's size gives the same head


def test_candidates_table_has_accuracy_seconds_and_provenance(synthetic_npz: Path, tmp_path: Path):
    candidates = [Candidate((4, 8, 8), 100), Candidate((4, 8, 16), None)]
    table = run(["data=npz", f"data.path={synthetic_npz}", "trainer.epochs=2"], tmp_path, candidates=candidates)
    written = pd.read_csv(tmp_path / "candidates.csv")
    assert list(written["train_images"]) == [100, 198]  # None: all 220 less the 10% validation split
    assert written["epochs"].tolist() == [2, 2]
    assert written["final_test_acc"].between(0, 1).all() and (written["s_per_epoch"] > 0).all()
    assert written["parameters"].iloc[1] > written["parameters"].iloc[0]
    assert {"cpu", "load", "versions", "commit"} <= set(written.columns)
    page = (tmp_path / "candidates.md").read_text()
    assert "small_cnn [4, 8, 16], all images" in page and "| load (1-min, before / after) |" in page
    assert len(table) == 2
