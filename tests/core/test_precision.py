"""Precision as data: the widths each precision gives the datapath, and the configs' sizes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nvdla_sim.config import NV_FULL, NV_LARGE, NV_SMALL, load_config_toml
from nvdla_sim.errors import ConfigError, LayerError
from nvdla_sim.memory import Memory
from nvdla_sim.precision import FP16, FP32, INT8, INT16, from_code, get_precision
from nvdla_sim.surface import FeatureSurface, pack_weights, read_weights, weight_offsets
from nvdla_sim.value_bits import number_format


def test_precision_widths():
    assert (INT8.bits, INT8.element_bytes, INT8.min, INT8.max) == (8, 1, -128, 127)
    assert (INT16.bits, INT16.element_bytes, INT16.min, INT16.max) == (16, 2, -32768, 32767)
    assert INT8.product_max == 1 << 14 and INT16.product_max == 1 << 30
    assert INT16.dtype == np.dtype("<i2")
    assert (INT8.acc_bits, INT16.acc_bits) == (34, 48)


def test_float_precision_layout():
    # FP16: cmac.h FP16_SIGN/EXP/FRA_BIT_WIDTH 1/5/10; FP32 is IEEE binary32, reference only,
    # on the value 3 NVIDIA's 2-bit precision fields leave unused
    assert (FP16.code, FP16.bits, FP16.exp_bits, FP16.mant_bits) == (2, 16, 5, 10)
    assert (FP32.code, FP32.exp_bits, FP32.mant_bits) == (3, 8, 23) and FP32.reference_only
    assert FP16.is_float and not INT16.is_float and not FP16.reference_only
    assert (FP16.max, FP16.min) == (65504.0, -65504.0)  # 0x7bff: exponent 30, mantissa all ones
    assert FP32.max == float(np.finfo(np.float32).max)
    assert FP16.dtype == np.dtype("<f2") and FP32.element_bytes == 4
    # CACC FP48 assembly value: FP16_ALEN 48 = FP16_ELEN 8 + FP16_MLEN 40
    assert (FP16.acc_bits, FP16.acc_exp_bits) == (48, 8)
    # the bit fields come from these widths (value_bits, the one naming of bits)
    fp16, fp32 = number_format("fp16"), number_format("fp32")
    assert [fp16.field(b) for b in (15, 14, 10, 9, 0)] == [
        "sign", "exponent", "exponent", "mantissa", "mantissa"]
    assert [fp32.field(b) for b in (31, 30, 23, 22)] == ["sign", "exponent", "exponent", "mantissa"]


def test_float_precisions_on_nv_full_only():
    assert get_precision("fp16") is FP16 and get_precision("fp32") is FP32
    assert NV_FULL.replace(precision="fp16").prec is FP16
    assert NV_FULL.replace(precision="fp32").prec is FP32  # the reference datapath
    with pytest.raises(ConfigError, match="precision 'fp16' is not one of"):
        NV_SMALL.replace(precision="fp16")


def test_register_codes():
    assert from_code(0, "X") is INT8 and from_code(1, "X") is INT16
    assert from_code(2, "X") is FP16 and from_code(3, "X") is FP32
    with pytest.raises(LayerError, match="X: value 4 is not a precision"):
        from_code(4, "X")
    with pytest.raises(ConfigError, match="unknown precision 'int3'"):
        get_precision("int3")


def test_config_sizes_per_precision():
    # nv_full: 32-byte atoms hold 32 int8 or 16 int16 channels; kernel groups of 32 / 16
    assert NV_FULL.atom_channels(INT8) == 32 and NV_FULL.atom_channels(INT16) == 16
    assert NV_FULL.kernel_group(INT8) == 32 and NV_FULL.kernel_group(INT16) == 16
    assert NV_FULL.channels_padded(40, INT16) == 48 and NV_FULL.surfaces(40, INT16) == 3
    assert NV_SMALL.precisions == ("int8",) and NV_SMALL.bpe == 8
    assert NV_FULL.replace(precision="int16").bpe == 16
    assert NV_FULL.secondary_memory and NV_LARGE.secondary_memory
    assert not NV_SMALL.secondary_memory


def test_config_refuses_a_precision_it_lacks(tmp_path):
    with pytest.raises(ConfigError, match="precision 'int16' is not one of"):
        NV_SMALL.replace(precision="int16")
    path = tmp_path / "mine.toml"
    path.write_text('base = "nv_small"\nprecisions = ["int8", "int16"]\nprecision = "int16"\n')
    cfg = load_config_toml(path)
    assert cfg.precisions == ("int8", "int16") and cfg.prec is INT16


def test_int16_surface_layout():
    # W=2, H=1, C=20 int16 on nv_full: 16 channels (32 bytes) per atom, little-endian
    surf = FeatureSurface(0x0, 2, 1, 20, line_stride=64, surface_stride=64, precision=INT16)
    cube = np.zeros((32, 1, 2), np.int16)
    cube[17, 0, 1] = -2  # surface 1, lane 1, x=1 -> 64 + 32 + 2
    cube[3, 0, 0] = 0x1234
    mem = Memory()
    surf.write(mem, NV_FULL, cube)
    assert mem.read(64 + 32 + 2, 2).tolist() == [0xFE, 0xFF]
    assert mem.read(6, 2).tolist() == [0x34, 0x12]
    assert np.array_equal(surf.read(mem, NV_FULL), cube)


def test_int16_weights_group_sixteen_kernels():
    off = weight_offsets(20, 3, 1, 1, NV_FULL, INT16)
    assert off[1, 0, 0, 0] == 3  # kernel 1 follows kernel 0's 3 channels
    assert off[16, 0, 0, 0] == 16 * 3  # the second group starts after 16 kernels
    rng = np.random.default_rng(1)
    w = rng.integers(-32768, 32768, (20, 70, 2, 1), dtype=np.int16)
    mem = Memory()
    mem.write(0x100, pack_weights(w, NV_FULL, INT16))
    assert np.array_equal(read_weights(mem, 0x100, 20, 70, 2, 1, NV_FULL, INT16), w)


def test_secondary_memory_is_its_own_address_space():
    mem = Memory(Memory())
    mem.port(0).write(0x5000_0000, b"\x01")
    mem.port(1).write(0x5000_0000, b"\x02")
    assert mem.secondary.read(0x5000_0000, 1)[0] == 1 and mem.read(0x5000_0000, 1)[0] == 2
    assert Memory().port(0).read(0, 1)[0] == 0  # no secondary: the primary answers


def test_configs_saved_before_precisions_load():
    old = {k: v for k, v in dataclasses.asdict(NV_SMALL).items()
           if k not in ("precision", "precisions", "csb_layout", "secondary_memory")}
    old["bpe"] = 8
    assert NV_SMALL.from_dict(old) == NV_SMALL
    assert NV_SMALL.from_dict(dataclasses.asdict(NV_FULL)) == NV_FULL
