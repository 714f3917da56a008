import numpy as np

from nvdla_sim.config import NV_LARGE, NV_SMALL
from nvdla_sim.memory import Memory
from nvdla_sim.surface import FeatureSurface, pack_weights, read_weights, weight_offsets


def test_feature_address_formula():
    # W=2, H=2, C=10 on nv_small: atoms of 8 channels; line stride 32, surface stride 128
    surf = FeatureSurface(0x1000, 2, 2, 10, line_stride=32, surface_stride=128)
    cube = np.zeros((16, 2, 2), np.int8)
    cube[9, 1, 0] = 7  # c=9 -> surface 1, lane 1; y=1, x=0
    cube[3, 0, 1] = -2  # surface 0, lane 3; y=0, x=1
    mem = Memory()
    surf.write(mem, NV_SMALL, cube)
    assert mem.read(0x1000 + 128 + 32 + 0 * 8 + 1, 1)[0] == 7
    assert mem.read(0x1000 + 0 + 0 + 1 * 8 + 3, 1).view(np.int8)[0] == -2
    assert np.array_equal(surf.read(mem, NV_SMALL), cube)


def test_feature_atom_follows_config():
    surf = FeatureSurface.packed(0, 1, 1, 40, NV_LARGE)  # 32-byte atoms: 2 surfaces
    cube = np.arange(64, dtype=np.int8).reshape(64, 1, 1)
    mem = Memory()
    surf.write(mem, NV_LARGE, cube)
    assert mem.read(32 + 5, 1)[0] == 37


def test_weight_offsets_hand_computed():
    # K=10 (groups of 8 and 2), C=9 (blocks of 8 and 1), R=1, S=2 on nv_small
    off = weight_offsets(10, 9, 1, 2, NV_SMALL)
    # k=0,c=0,x=0: first byte
    assert off[0, 0, 0, 0] == 0
    # k=1, c=0, x=0: kk*cb = 1*8
    assert off[1, 0, 0, 0] == 8
    # k=0, c=0, x=1: rs*(cb*kpg) = 1*(8*8) = 64
    assert off[0, 0, 0, 1] == 64
    # k=0, c=8 (block 1, cb=1): b*(8*R*S*kpg) = 1*(8*2*8) = 128
    assert off[0, 8, 0, 0] == 128
    # k=0, c=8, x=1: 128 + 1*(1*8) = 136
    assert off[0, 8, 0, 1] == 136
    # k=8 (group 1, kpg=2): g*(8*R*S*C) = 8*2*9 = 144; k=9: +cb=8 -> 152
    assert off[8, 0, 0, 0] == 144
    assert off[9, 0, 0, 0] == 152
    # group 1, block 1: 144 + 1*(8*2*2) = 176
    assert off[8, 8, 0, 0] == 176
    assert sorted(off.ravel().tolist()) == list(range(10 * 9 * 2))


def test_weights_round_trip():
    rng = np.random.default_rng(0)
    w = rng.integers(-128, 128, (13, 20, 3, 2), dtype=np.int8)
    mem = Memory()
    mem.write(0x2000, pack_weights(w, NV_SMALL))
    assert np.array_equal(read_weights(mem, 0x2000, 13, 20, 3, 2, NV_SMALL), w)
