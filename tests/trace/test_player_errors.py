"""Malformed trace programs fail with the file, the line and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from nvdla_sim.cli import main
from nvdla_sim.trace import run_trace

DAT = "{\n{offset:0x0, size:8, payload:0x01 0x02 0x03 0x04 0x05 0x06 0x07 0x08} ,\n}\n"

# An SDP pass-through of a 1x1x8 cube from 0x1000 to 0x2000 (all stages bypassed,
# converter scale 1): the output bytes equal the input bytes.
SDP_PASS = """\
mem_init(pri_mem, 0x1000, 0x8, ALL_ZERO);
mem_load(pri_mem, 0x1000, "in.dat");
mem_init(pri_mem, 0x2000, 0x8, ALL_ZERO);
reg_write(NVDLA_SDP_RDMA.D_SRC_BASE_ADDR_LOW_0, 0x1000);
reg_write(NVDLA_SDP_RDMA.D_SRC_LINE_STRIDE_0, 0x8);
reg_write(NVDLA_SDP_RDMA.D_SRC_SURFACE_STRIDE_0, 0x8);
reg_write(NVDLA_SDP_RDMA.D_BRDMA_CFG_0, 0x1);
reg_write(NVDLA_SDP_RDMA.D_NRDMA_CFG_0, 0x1);
reg_write(NVDLA_SDP_RDMA.D_ERDMA_CFG_0, 0x1);
reg_write(NVDLA_SDP.D_DATA_CUBE_CHANNEL_0, 0x7);
reg_write(NVDLA_SDP.D_DST_BASE_ADDR_LOW_0, 0x2000);
reg_write(NVDLA_SDP.D_DST_LINE_STRIDE_0, 0x8);
reg_write(NVDLA_SDP.D_DST_SURFACE_STRIDE_0, 0x8);
reg_write(NVDLA_SDP.D_DP_BS_CFG_0, 0x1);
reg_write(NVDLA_SDP.D_DP_BN_CFG_0, 0x1);
reg_write(NVDLA_SDP.D_DP_EW_CFG_0, 0x1);
reg_write(NVDLA_SDP.D_CVT_SCALE_0, 0x1);
reg_write(NVDLA_SDP.D_OP_ENABLE_0, 0x1);
reg_write(NVDLA_SDP_RDMA.D_OP_ENABLE_0, 0x1);
intr_notify(SDP_0, done);
check_crc(done, 1, 0x2000, 0x8, CRC);
"""
CRC_OF_INPUT = "0x3fca88c5"  # zlib.crc32(bytes(range(1, 9)))


def make_test(tmp_path: Path, program: str, dat: str | None = DAT, name: str = "t") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / f"{name}.cfg").write_text(program)
    if dat is not None:
        (folder / "in.dat").write_text(dat)
    return folder


def test_handmade_sdp_pass_through_passes(tmp_path):
    result = run_trace(make_test(tmp_path, SDP_PASS.replace("CRC", CRC_OF_INPUT)))
    assert result.error is None and result.passed


def test_wrong_crc_fails_with_values(tmp_path):
    result = run_trace(make_test(tmp_path, SDP_PASS.replace("CRC", "0x1234")))
    assert result.error is None and not result.passed
    assert result.checks[0].actual == int(CRC_OF_INPUT, 16)


@pytest.mark.parametrize("edit, message, line", [
    (("NVDLA_SDP.D_CVT_SCALE_0", "NVDLA_SDP.D_CVT_SCALX_0"),
     "unknown register 'D_CVT_SCALX' in unit SDP", 17),
    (("D_CVT_SCALE_0, 0x1", "D_CVT_SCALE_0, 0xzz"), "bad number '0xzz' for register value", 17),
    (('"in.dat"', '"missing.dat"'), "missing.dat does not exist", 2),
    (("check_crc(done, 1, 0x2000", "check_crc(done, 1, 0x3000"), "never written", 21),
    (("intr_notify(SDP_0", "intr_notify(PDP_0"), "interrupt PDP_0 that no finished layer", 20),
    (("reg_write(NVDLA_SDP.D_OP_ENABLE_0, 0x1);", "reg_write(NVDLA_SDP.D_OP_ENABLE_0 0x1);"),
     "reg_write takes 2 arguments, got 1", 18),
    (("ALL_ZERO);\nmem_load", "ALL_NOPE);\nmem_load"), "unknown fill pattern 'ALL_NOPE'", 1),
])
def test_errors_name_file_and_line(tmp_path, edit, message, line):
    program = SDP_PASS.replace("CRC", CRC_OF_INPUT).replace(*edit)
    folder = make_test(tmp_path, program)
    result = run_trace(folder)
    assert not result.passed
    assert f"{folder / 't.cfg'}:{line}: " in result.error
    assert message in result.error


def test_bad_memory_file_line(tmp_path):
    folder = make_test(tmp_path, SDP_PASS.replace("CRC", CRC_OF_INPUT),
                       dat="{\n{offset:0x0, size:4, payload:0x01 0x02}\n{offset:0x4 size:4}\n}\n")
    result = run_trace(folder)
    assert f"{folder / 'in.dat'}:3: expected a record" in result.error


def test_cli_reports_and_exit_status(tmp_path, capsys):
    make_test(tmp_path, SDP_PASS.replace("CRC", CRC_OF_INPUT), name="good")
    make_test(tmp_path, SDP_PASS.replace("CRC", "0x1"), name="bad")
    assert main(["trace", "run", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "good  PASS" in out
    assert "bad   FAIL  line 21: CRC of [0x2000, +0x8) expected 0x00000001, got 0x3fca88c5" in out
    assert out.strip().splitlines()[-1].startswith("1 passed, 1 failed")


def test_cli_missing_folder_is_a_clean_error(tmp_path, capsys):
    assert main(["trace", "run", str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_binary_program_is_named_with_its_line(tmp_path):
    folder = make_test(tmp_path, "")
    (folder / "t.cfg").write_bytes(b"// a comment\nreg_write(\x80\x81);\n")
    result = run_trace(folder)
    assert result.error == (f"{folder / 't.cfg'}:2: not a text trace program: byte 0x80 is "
                            f"not UTF-8 text")


def test_binary_memory_file_is_named(tmp_path):
    folder = make_test(tmp_path, SDP_PASS.replace("CRC", CRC_OF_INPUT))
    (folder / "in.dat").write_bytes(b"\xff\xfe\x00\x81" * 8)
    assert run_trace(folder).error == (f"{folder / 'in.dat'}:1: not a text memory file: byte "
                                       f"0xff is not UTF-8 text")


@pytest.mark.parametrize("dat, message", [
    ("{\n{offset:0x0, size:8, payload:0x01 0x02 0x03", ":2: record does not close with '}' "
                                                       "(file cut short?)"),
    ("{\n{offset:0x0, size:8, payload:0x01 0x02 0x03 0x04 0x05 0x06 0x07 0x08} ,\n",
     ": ends at line 2 without the '}' that closes the '{' of line 1 (file cut short?)"),
])
def test_memory_file_cut_short_is_refused_not_zero_filled(tmp_path, dat, message):
    folder = make_test(tmp_path, SDP_PASS.replace("CRC", CRC_OF_INPUT), dat=dat)
    assert run_trace(folder).error == f"{folder / 'in.dat'}{message}"


@pytest.mark.parametrize("value, message", [
    ("0x100000001", "register value 0x100000001 does not fit 32 bits (expected 0 to "
                    "0xffffffff)"),
    ("-1", "register value -1 does not fit 32 bits (expected 0 to 0xffffffff)"),
])
def test_register_value_wider_than_the_register_is_refused(tmp_path, value, message):
    program = SDP_PASS.replace("CRC", CRC_OF_INPUT).replace(
        "D_CVT_SCALE_0, 0x1", f"D_CVT_SCALE_0, {value}")
    folder = make_test(tmp_path, program)
    assert run_trace(folder).error == f"{folder / 't.cfg'}:17: {message}"


def test_malformed_test_is_a_user_error_on_stderr(tmp_path, capsys):
    make_test(tmp_path, SDP_PASS.replace("CRC", CRC_OF_INPUT), name="good")
    bad = make_test(tmp_path, SDP_PASS.replace("CRC", "0xzz"), name="bad")
    assert main(["trace", "run", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"nvdla-fi: error: {bad / 'bad.cfg'}:21: bad number '0xzz' for CRC\n"
    assert captured.out.strip().splitlines()[-1].startswith("1 passed, 0 failed, 1 not runnable")


def test_memory_file_spanning_more_than_memory_is_refused(tmp_path):
    dat = "{offset:0x0, size:0x100000000000, payload:0x01}\n"
    folder = make_test(tmp_path, SDP_PASS.replace("CRC", CRC_OF_INPUT), dat=dat)
    assert run_trace(folder).error == (f"{folder / 'in.dat'}:1: record ends at 0x100000000000, "
                                       f"beyond the 0x100000000 bytes one memory file may span")
