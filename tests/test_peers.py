"""PyTorchFI as the bench runs it: hooked float model equal to QatNet's, injections counted."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("pytorchfi")

import torch  # noqa: E402

from compiler.train import QatNet  # noqa: E402
from compiler.workloads import random_inputs  # noqa: E402
from compiler.zoo import get_model, lenet5_mnist_float  # noqa: E402
from nvdla_sim.peers import PytorchfiPeer, _hooked_net  # noqa: E402


@pytest.mark.parametrize("graph, shape", [
    (lenet5_mnist_float(), (1, 28, 28)),
    (get_model("resnet18", input_shape=(3, 16, 16), num_classes=10, width=0.125,
               rng=np.random.default_rng(0)), (3, 16, 16)),
])
def test_hooked_net_is_the_float_qatnet(graph, shape):
    x = torch.from_numpy(random_inputs(shape, 3, 1))
    with torch.no_grad():
        assert torch.equal(_hooked_net(graph)(x), QatNet(graph).eval()(x))


def test_peer_injects_one_fault_per_batch_element():
    graph = lenet5_mnist_float()
    peer = PytorchfiPeer(graph, random_inputs((1, 28, 28), 3, 0), batch=7)
    assert peer.golden_top1.shape == (7,)
    assert len(peer.ranges) == peer.pfi.get_total_layers() > 0
    injected, changed = peer.run(2)
    assert injected == 14 and 0 <= changed <= 14
    assert peer.pfi.corrupt_batch == list(range(7))  # PyTorchFI's last declaration
