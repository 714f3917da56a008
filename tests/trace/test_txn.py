"""NVIDIA's older trace-player format (input.txn): grammar, memory routing and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nvdla_sim.cli import main
from nvdla_sim.config import NV_FULL
from nvdla_sim.trace import run_trace
from nvdla_sim.trace.txn import load_dat

IN_DAT = "Data_size = 0x20\nPrecision = INT16\n" + " ".join(f"0x{b:02x}" for b in range(32)) + "\n"

# An INT16 SDP pass-through of a 1x1x16 cube (32 bytes) from DRAM 0x80000000 to
# CVSRAM 0x50000000 on nv_full (register words: 0xffff0000 | byte address >> 2).
PROGRAM = """\
load_mem 0x80000000 0x20 in.dat  # the input
write_reg 0xffff2806 0x80000000 #NVDLA_SDP_RDMA.D_SRC_BASE_ADDR_LOW_0
write_reg 0xffff2808 0x20 #NVDLA_SDP_RDMA.D_SRC_LINE_STRIDE_0
write_reg 0xffff2809 0x20 #NVDLA_SDP_RDMA.D_SRC_SURFACE_STRIDE_0
write_reg 0xffff280a 0x1 #NVDLA_SDP_RDMA.D_BRDMA_CFG_0
write_reg 0xffff2810 0x1 #NVDLA_SDP_RDMA.D_NRDMA_CFG_0
write_reg 0xffff2816 0x1 #NVDLA_SDP_RDMA.D_ERDMA_CFG_0
write_reg 0xffff281c 0x54 #NVDLA_SDP_RDMA.D_FEATURE_MODE_CFG_0 INT16
write_reg 0xffff281d 0x1 #NVDLA_SDP_RDMA.D_SRC_DMA_CFG_0 MC
write_reg 0xffff2c11 0xf #NVDLA_SDP.D_DATA_CUBE_CHANNEL_0
write_reg 0xffff2c12 0x50000000 #NVDLA_SDP.D_DST_BASE_ADDR_LOW_0
write_reg 0xffff2c14 0x20 #NVDLA_SDP.D_DST_LINE_STRIDE_0
write_reg 0xffff2c15 0x20 #NVDLA_SDP.D_DST_SURFACE_STRIDE_0
write_reg 0xffff2c16 0x1 #NVDLA_SDP.D_DP_BS_CFG_0
write_reg 0xffff2c1b 0x1 #NVDLA_SDP.D_DP_BN_CFG_0
write_reg 0xffff2c20 0x1 #NVDLA_SDP.D_DP_EW_CFG_0
write_reg 0xffff2c2d 0x0 #NVDLA_SDP.D_DST_DMA_CFG_0 CV
write_reg 0xffff2c2f 0x5 #NVDLA_SDP.D_DATA_FORMAT_0 INT16
write_reg 0xffff2c31 0x1 #NVDLA_SDP.D_CVT_SCALE_0
write_reg 0xffff2802 0x1 #NVDLA_SDP_RDMA.D_OP_ENABLE_0
write_reg 0xffff2c0e 0x1 #NVDLA_SDP.D_OP_ENABLE_0
read_reg 0xffff2c0e 0x1 0x1 #NVDLA_SDP.D_OP_ENABLE_0: still running until its interrupt
wait
read_reg 0xffff0003 0x1 0x1 #NVDLA_GLB.S_INTR_STATUS_0.SDP_DONE_STATUS0
read_reg 0xffff2c0e 0x1 0x0 #NVDLA_SDP.D_OP_ENABLE_0 cleared
dump_mem 0x50000000 0x20 out.dat
"""
OUT_DAT = ("dumped memory,start_address=0x50000000 size=0x20\nmemory type:cvsram\n"
           "==============================\n\n" + " ".join(f"0x{b:02x}" for b in range(32))
           + "\n\n====================\ndump done\n")


def make_txn(tmp_path: Path, program: str = PROGRAM, out: str = OUT_DAT) -> Path:
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "input.txn").write_text(program)
    (folder / "in.dat").write_text(IN_DAT)
    (folder / "out.dat").write_text(out)
    return folder


def test_handmade_int16_pass_through_to_cvsram(tmp_path):
    result = run_trace(make_txn(tmp_path), NV_FULL)
    assert result.error is None and result.passed, result.error


def test_a_wrong_byte_is_reported_with_its_address(tmp_path):
    wrong = OUT_DAT.replace("0x05 0x06", "0x05 0x07")
    result = run_trace(make_txn(tmp_path, out=wrong), NV_FULL)
    assert result.error is None and not result.passed
    assert result.checks[0].mismatches == 1 and result.checks[0].first == 0x5000_0006
    assert "1 bytes differ" in result.checks[0].message


def test_dat_header_and_bytes(tmp_path):
    path = tmp_path / "x.dat"
    path.write_text("W=0x3\n# comment\n0x01 0x2\n0xff\n")
    assert load_dat(path).tolist() == [1, 2, 255]
    path.write_text("0x01 0x02 zz\n")
    with pytest.raises(Exception, match=r"x.dat:1: expected bytes '0xNN \.\.\.', got 'zz'"):
        load_dat(path)


@pytest.mark.parametrize("line, message", [
    ("frobnicate 0x1", "unknown command 'frobnicate'"),
    ("write_reg 0xffff2c0e", "write_reg takes 2 arguments, got 1"),
    ("write_reg 0x2c0e 0x1", "register address 0x2c0e is not of the form 0xffffNNNN"),
    ("write_reg 0xffff3fff 0x1", "no register at address 0xfffc"),
    ("write_reg 0xffff2c0e 0xzz", "bad hex number '0xzz' for register value"),
    ("read_reg 0xffff1401 0xffffffff 0x5", "CDMA.S_POINTER reads 0x0; under mask 0xffffffff"),
    ("wait", "waits for an interrupt, but no launched layer has one left"),
])
def test_bad_lines_name_file_and_line(tmp_path, line, message):
    program = "load_mem 0x80000000 0x20 in.dat\n" + line + "\n"
    result = run_trace(make_txn(tmp_path, program), NV_FULL)
    assert result.error is not None and "input.txn:2: " in result.error
    assert message in result.error


def test_cvsram_address_without_secondary_memory(tmp_path):
    result = run_trace(make_txn(tmp_path), NV_FULL.replace(name="x", secondary_memory=False))
    assert "input.txn:26: address 0x50000000 lies in the CVSRAM, but x has no secondary" \
        in result.error


def test_cli_runs_txn_tests(tmp_path, capsys):
    folder = make_txn(tmp_path)
    assert main(["trace", "run", str(folder), "--config", "nv_full"]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out


def test_cfg_programs_reach_the_cvsram_as_sec_mem(tmp_path):
    """A .cfg program's sec_mem is the secondary memory on nv_full, an error on nv_small."""
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "s.cfg").write_text(
        'mem_init(sec_mem, 0x1000, 0x8, ONES);\n'
        'mem_init(pri_mem, 0x1000, 0x8, ALL_ZERO);\n'
        'sync_notify(X, done);\n'
        'check_crc(done, sec_mem, 0x1000, 0x8, 0x2144df1c);\n')
    result = run_trace(folder, NV_FULL)
    assert result.error is None and result.passed  # zlib.crc32(b"\xff" * 8), not the zeros
    small = run_trace(folder)
    assert "s.cfg:1: sec_mem: nv_small has no secondary memory" in small.error


def test_txn_tests_need_the_full_csb_layout(tmp_path, capsys):
    folder = make_txn(tmp_path)
    assert main(["trace", "run", str(folder)]) == 2  # default nv_small: a user error
    assert "older trace-player format addresses the full NVDLA's registers; nv_small has " \
           "the 'small' CSB layout (use --config nv_full)" in capsys.readouterr().err


def test_txn_register_value_wider_than_32_bits_is_refused(tmp_path):
    program = PROGRAM.replace("write_reg 0xffff2c31 0x1 ", "write_reg 0xffff2c31 0x100000001 ")
    folder = make_txn(tmp_path, program)
    line = program[:program.index("0x100000001")].count("\n") + 1
    assert run_trace(folder, NV_FULL).error == (f"{folder / 'input.txn'}:{line}: register value "
                                                f"0x100000001 does not fit 32 bits")


def test_binary_txn_program_is_named(tmp_path):
    folder = make_txn(tmp_path)
    (folder / "input.txn").write_bytes(b"load_mem \xff\n")
    assert run_trace(folder, NV_FULL).error == (f"{folder / 'input.txn'}:1: not a text trace "
                                                f"program: byte 0xff is not UTF-8 text")
