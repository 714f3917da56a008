import json

import numpy as np
import pytest

from nvdla_sim.campaign.store import INJECTION_DTYPE, ResultStore
from nvdla_sim.errors import ConfigError

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
    path.write_bytes(b"\x89HDF\r\n garbage: the process died inside an HDF5 write")
    with open(store.journal, "ab") as fh:  # and a torn half record at the journal's end
        fh.write(b"\x01" * (INJECTION_DTYPE.itemsize // 2))
    again = open_store(path, True)
    assert again.done == 8
    again.append(rows(8, 10))
    import h5py
    with h5py.File(path, "r") as f:
        assert np.array_equal(f["injections"][...], rows(0, 10))
        assert f["golden/top1"].shape == (3,)
    again.complete()
    assert not again.journal.exists()


def test_hdf5_behind_journal_catches_up(tmp_path):
    path = tmp_path / "r.h5"
    store = open_store(path, False)
    store.append(rows(0, 4))
    with open(store.journal, "ab") as fh:  # journal written, HDF5 write never happened
        fh.write(rows(4, 6).tobytes())
    assert open_store(path, True).done == 6


def test_refuses_to_overwrite_or_mix_campaigns(tmp_path):
    path = tmp_path / "r.h5"
    open_store(path, False).append(rows(0, 2))
    with pytest.raises(ConfigError, match="pass --resume"):
        open_store(path, False)
    with pytest.raises(ConfigError, match="different campaign .*seed"):
        open_store(path, True, {"config": json.dumps({"seed": 2})})
