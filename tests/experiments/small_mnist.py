"""A study's trained LeNet-5 with a tenth of the MNIST split, for toy-scale study tests."""

from __future__ import annotations

from experiments.qdnn import Data, trained_network


def use_small_lenet5(monkeypatch, module, setting) -> None:
    """Make ``module``'s study run on LeNet-5 with every 10th training image and every 5th
    test image (all digits), at ``setting``."""
    name, graph, data = trained_network("zoo:lenet5")
    small = Data(data.train_images[::10], data.train_labels[::10],
                 data.test_images[::5], data.test_labels[::5], data.note)
    monkeypatch.setattr(module, "trained_network", lambda spec: (name, graph, small))
    monkeypatch.setattr(module, "QUICK", setting)
