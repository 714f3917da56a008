import pytest

from nvdla_sim.errors import RegisterError
from nvdla_sim.layers import HardwareLayer, decode_layer, encode_layer
from nvdla_sim.layers.binding import bits
from nvdla_sim.registers import REGMAP, RegisterFile, from_rdl

from tests.conftest import REPO


def test_trace_names_resolve_to_addresses():
    assert REGMAP.lookup("NVDLA_CDMA.D_OP_ENABLE_0").address == 0x3010
    assert REGMAP.lookup("NVDLA_SDP.D_OP_ENABLE_0").address == 0x9038
    assert REGMAP.lookup("NVDLA_CDMA.D_DATAIN_SIZE_0_0").name == "D_DATAIN_SIZE_0"
    assert REGMAP.lookup("NVDLA_SDP.RDMA_D_SRC_LINE_STRIDE_0").unit == "SDP_RDMA"
    assert REGMAP.lookup("CACC.D_CLIP_CFG").address == 0x702C


def test_unknown_register_names_unit():
    with pytest.raises(RegisterError, match="unknown register 'D_NOPE' in unit SDP"):
        REGMAP.lookup("NVDLA_SDP.D_NOPE_0")
    with pytest.raises(RegisterError, match="unknown unit 'FOO'"):
        REGMAP.lookup("NVDLA_FOO.D_OP_ENABLE_0")


def test_ping_pong_groups_and_single_registers():
    rf = RegisterFile()
    reg = REGMAP.get("PDP", "D_DATA_CUBE_IN_WIDTH")
    pointer = REGMAP.get("PDP", "S_POINTER")
    rf.write(reg, 5)
    rf.write(pointer, 1)
    rf.write(reg, 9)
    assert rf.value("PDP", "D_DATA_CUBE_IN_WIDTH", 0) == 5
    assert rf.value("PDP", "D_DATA_CUBE_IN_WIDTH", 1) == 9
    lut_cfg = REGMAP.get("SDP", "S_LUT_CFG")
    rf.write(lut_cfg, 0x11)  # single register: visible whatever the group
    assert rf.value("SDP", "S_LUT_CFG", 0) == rf.value("SDP", "S_LUT_CFG", 1) == 0x11


def test_op_enable_reports_group():
    rf = RegisterFile()
    assert rf.write(REGMAP.get("CDP", "D_OP_ENABLE"), 1) == 0
    rf.write(REGMAP.get("CDP", "S_POINTER"), 1)
    assert rf.write(REGMAP.get("CDP", "D_OP_ENABLE"), 1) == 1
    assert rf.write(REGMAP.get("CDP", "D_OP_ENABLE"), 0) is None


def test_lut_port_auto_increments():
    rf = RegisterFile()
    rf.write(REGMAP.get("SDP", "S_LUT_ACCESS_CFG"), (1 << 17) | (1 << 16) | 255)  # write LO[255]
    rf.write(REGMAP.get("SDP", "S_LUT_ACCESS_DATA"), 0xFFFF)
    rf.write(REGMAP.get("SDP", "S_LUT_ACCESS_DATA"), 0x1234)
    rf.write(REGMAP.get("SDP", "S_LUT_ACCESS_DATA"), 0x4321)  # past the end: dropped
    assert rf.luts["SDP"].lo[255] == -1
    assert rf.luts["SDP"].lo[256] == 0x1234
    assert rf.luts["SDP"].le.tolist() == [0] * 65


def test_bits_plus_one_signed_and_concatenated():
    words: dict = {}
    bits("CDMA.D_DATAIN_SIZE_0.DATAIN_WIDTH", plus_one=True).encode(8, words)
    assert words[("CDMA", "D_DATAIN_SIZE_0")] == 7
    pad = bits("CSC.D_ZERO_PADDING_VALUE.PAD_VALUE", signed=True)
    pad.encode(-2, words)
    assert words[("CSC", "D_ZERO_PADDING_VALUE")] == 0xFFFE
    assert pad.decode(lambda u, r: 0xD0C0) == 0xD0C0 - 0x10000
    addr = bits("CDMA.D_WEIGHT_ADDR_LOW.WEIGHT_ADDR_LOW", "CDMA.D_WEIGHT_ADDR_HIGH.WEIGHT_ADDR_HIGH")
    addr.encode(0x1_2345_6780, words)
    assert words[("CDMA", "D_WEIGHT_ADDR_LOW")] == 0x2345_6780
    assert words[("CDMA", "D_WEIGHT_ADDR_HIGH")] == 1
    with pytest.raises(RegisterError, match="does not fit"):
        bits("CDMA.D_DATAIN_SIZE_0.DATAIN_WIDTH", plus_one=True).encode(1 << 14, {})


def test_layer_encode_decode_round_trip(trace_dir):
    from nvdla_sim.trace import run_trace
    result = run_trace(trace_dir("dc_24x33x55_5x5x55x25_int8_0"), keep=True)
    layer = result.nvdla.layers[0]
    words = encode_layer(layer)
    decoded = decode_layer(set(layer.units), lambda u, r: words.get((u, r), 0),
                           result.nvdla.regs.luts, name=layer.name)
    assert decoded == layer
    assert isinstance(decoded, HardwareLayer) and decoded.conv.kernels == 25


def test_register_table_is_nvidias_rdl():
    """The committed table is what NVIDIA's SystemRDL gives (one source of truth)."""
    rdl = REPO.parent / "shared" / "nvdla-spec" / "rdl"
    if not rdl.is_dir():
        pytest.skip(f"NVDLA RDL not found at {rdl}")
    table = REPO / "nvdla_sim" / "registers" / "regmap_table.py"
    assert from_rdl.render(rdl) == table.read_text()
