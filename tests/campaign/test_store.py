import json
import os

import h5py

import numpy as np
import pytest

from nvdla_sim.campaign.store import INJECTION_DTYPE, ResultStore
from nvdla_sim.errors import StorageError

ATTRS = {"config": json.dumps({"seed": 1})}


def rows(start, stop):
    r = np.zeros(stop - start, INJECTION_DTYPE)
    r["id"] = np.arange(start, stop)
    r["deviation"] = np.arange(start, stop) * 0.5
    return r


def open_store(path, resume, attrs=ATTRS):
    return ResultStore(path, "injections", INJECTION_DTYPE, attrs, {"golden/top1": np.arange(3)},
                       4, resume)


def test_rebuilds_from_journal_when_hdf5_is_torn(tmp_path):
    path = tmp_path / "r.h5"
    store = open_store(path, False)
    store.append(rows(0, 4))
    store.append(rows(4, 8))
    store.close()
    path.write_bytes(b"\x89HDF\r\n garbage: the process died inside an HDF5 write")
    with open(store.journal, "ab") as fh:  # and a torn half record at the journal's end
        fh.write(b"\x01" * (INJECTION_DTYPE.itemsize // 2))
    again = open_store(path, True)
    assert again.done == 8
    again.append(rows(8, 10))

    with h5py.File(path, "r") as f:
        assert np.array_equal(f["injections"][...], rows(0, 10))
        assert f["golden/top1"].shape == (3,)
    again.complete()
    assert not again.journal.exists()


def test_hdf5_behind_journal_catches_up(tmp_path):
    path = tmp_path / "r.h5"
    store = open_store(path, False)
    store.append(rows(0, 4))
    store.close()
    with open(store.journal, "ab") as fh:  # journal written, HDF5 write never happened
        fh.write(rows(4, 6).tobytes())
    assert open_store(path, True).done == 6


def test_refuses_to_overwrite_or_mix_campaigns(tmp_path):
    path = tmp_path / "r.h5"
    store = open_store(path, False)
    store.append(rows(0, 2))
    store.close()
    with pytest.raises(StorageError, match="pass --resume"):
        open_store(path, False)
    with pytest.raises(StorageError, match="different campaign .*seed"):
        open_store(path, True, {"config": json.dumps({"seed": 2})})


def test_rows_a_failed_write_left_are_rewritten_from_the_journal(tmp_path):
    """A disk that fills inside the HDF5 write leaves the table grown with zero rows
    (read as masked injections); resuming rewrites them from the journal."""
    path = tmp_path / "r.h5"
    store = open_store(path, False)
    store.append(rows(0, 4))
    with open(store.journal, "ab") as fh:  # the next chunk reached the journal ...
        fh.write(rows(4, 8).tobytes())
    with h5py.File(path, "a") as f:  # ... and only the table's resize reached the file
        f["injections"].resize((8,))
    store.close()
    again = open_store(path, True)
    with h5py.File(path, "r") as f:
        assert np.array_equal(f["injections"][...], rows(0, 8))
    again.close()


def test_rows_differing_from_the_journal_are_replaced(tmp_path):
    path = tmp_path / "r.h5"
    store = open_store(path, False)
    store.append(rows(0, 6))
    store.close()
    with h5py.File(path, "a") as f:
        f["injections"][3] = rows(10, 11)[0]
        f["injections"].resize((7,))  # and one row the journal never had
    open_store(path, True).close()
    with h5py.File(path, "r") as f:
        assert np.array_equal(f["injections"][...], rows(0, 6))


def test_completed_file_keeps_only_rows_with_the_right_ids(tmp_path):
    """Without a journal (a completed campaign) the row count is not trusted either: rows
    from the first wrong id on are dropped (the campaign recomputes them exactly)."""
    path = tmp_path / "r.h5"
    store = open_store(path, False)
    store.append(rows(0, 6))
    store.complete()
    with h5py.File(path, "a") as f:
        f["injections"][4] = np.zeros(1, INJECTION_DTYPE)[0]
    store = open_store(path, True)
    assert store.done == 4
    store.close()


@pytest.mark.parametrize("kind", ["text", "other tool", "weight-ber"])
def test_resume_refuses_files_it_did_not_write(tmp_path, kind):
    path = tmp_path / "r.h5"
    if kind == "text":
        path.write_text("my notes\n")
        message = "not a campaign file written by nvdla-fi"
    elif kind == "other tool":
        with h5py.File(path, "w") as f:
            f["data"] = np.arange(3)
        message = "not a campaign file written by nvdla-fi"
    else:
        with h5py.File(path, "w") as f:
            f.attrs["format"], f.attrs["kind"] = "nvdla-fi campaign", "weight-ber"
            f["trials"] = np.arange(3)
        message = "holds a weight-ber campaign \\(no /injections table\\)"
    before = path.read_bytes()
    with pytest.raises(StorageError, match=f"^{path} (is|holds) .*{message}|^{path} {message}"):
        open_store(path, True)
    assert path.read_bytes() == before
    assert not (tmp_path / "r.h5.lock").exists()


def test_resume_compares_model_and_hardware_hashes(tmp_path):
    path = tmp_path / "r.h5"
    attrs = dict(ATTRS, model_sha256="aa", hardware='{"name": "nv_small"}')
    store = open_store(path, False, attrs)
    store.append(rows(0, 2))
    store.close()
    with pytest.raises(StorageError, match=r"differs in: model content \(model_sha256\)\)"):
        open_store(path, True, dict(attrs, model_sha256="bb"))
    with pytest.raises(StorageError, match=r"differs in: hardware config\)"):
        open_store(path, True, dict(attrs, hardware='{"name": "nv_large"}'))
    open_store(path, True, attrs).close()


def test_a_second_writer_is_refused_while_the_first_runs(tmp_path):
    path = tmp_path / "r.h5"
    first = open_store(path, False)
    with pytest.raises(StorageError, match=f"^{path} is being written by another nvdla-fi "
                                           f"campaign \\(pid {os.getpid()}\\)"):
        open_store(path, True)
    first.append(rows(0, 2))
    first.close()
    second = open_store(path, True)
    assert second.done == 2
    second.complete()
    assert not (tmp_path / "r.h5.lock").exists()


def test_rerun_of_a_campaign_that_stopped_before_its_first_row_needs_no_resume(tmp_path):
    path = tmp_path / "r.h5"
    open_store(path, False).close()  # e.g. the first chunk failed
    store = open_store(path, False)
    store.append(rows(0, 2))
    store.close()
    with pytest.raises(StorageError, match="pass --resume"):
        open_store(path, False)
    other = tmp_path / "s.h5"
    open_store(other, False).close()
    with pytest.raises(StorageError, match="pass --resume"):  # an empty file of another one
        open_store(other, False, {"config": json.dumps({"seed": 2})})


def test_journal_header_of_an_older_version_still_resumes(tmp_path):
    path = tmp_path / "r.h5"
    attrs = dict(ATTRS, model_sha256="aa")
    store = open_store(path, False, attrs)
    store.append(rows(0, 3))
    store.close()
    store.header.write_text(ATTRS["config"])  # the configuration alone, as before
    path.write_bytes(b"torn")
    again = open_store(path, True, attrs)
    assert again.done == 3
    again.close()
