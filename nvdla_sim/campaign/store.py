"""HDF5 storage of campaign results (schema: docs/hdf5-schema.md).

Nothing is lost when a campaign dies: every chunk of rows is first appended
to a journal next to the HDF5 file (``<file>.journal``, raw fixed-size
records, fsync'ed), then to the HDF5 table, and the HDF5 file is closed
between chunks.  Resuming reopens the file (or rebuilds it from the journal
if the process died inside an HDF5 write), adds journal rows the file lacks,
drops a torn record at the journal's end, and continues from there; the
journal is removed when the campaign completes.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

import h5py
import numpy as np

from nvdla_sim.errors import ConfigError

FORMAT = "nvdla-fi campaign"
FORMAT_VERSION = 1

INJECTION_DTYPE = np.dtype([
    ("id", "<i8"), ("site", "<i8"), ("layer", "<i2"), ("register", "<i2"),
    ("instance", "<i4"), ("bit", "<i2"), ("bits", "<i1"), ("cycle", "<i8"),
    ("model", "<i1"), ("image", "<i4"), ("label", "<i2"), ("golden_top1", "<i2"),
    ("faulty_top1", "<i2"), ("outcome", "<i1"), ("flags", "<i1"), ("deviation", "<f4"),
    ("changed", "<i4"), ("live", "?"),
])
TRIAL_DTYPE = np.dtype([
    ("id", "<i8"), ("ber", "<f8"), ("trial", "<i4"), ("flipped_bits", "<i8"),
    ("accuracy", "<f8"), ("golden_accuracy", "<f8"), ("agreement", "<f8"),
])


class ResultStore:
    """One campaign's result file, appended chunk by chunk."""

    def __init__(self, path: Path, table: str, dtype: np.dtype, attrs: dict,
                 datasets: dict[str, np.ndarray], chunk: int, resume: bool) -> None:
        self.path, self.table, self.dtype = Path(path), table, np.dtype(dtype)
        self.journal = self.path.with_name(self.path.name + ".journal")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not resume and (self.path.exists() or self.journal.exists()):
            raise ConfigError(f"{self.path} exists; pass --resume to continue it or choose "
                              f"another --out")
        if resume and self.path.exists() and self._readable():
            self._check_same(attrs)
        else:
            if resume and self.journal.exists():
                self._check_journal_owner(attrs)
            self._create(attrs, datasets, chunk)
        self._sync_from_journal()

    # -- setup ---------------------------------------------------------------------------
    def _readable(self) -> bool:
        try:
            with h5py.File(self.path, "r") as f:
                return self.table in f
        except OSError:
            return False

    def _check_same(self, attrs: dict) -> None:
        with h5py.File(self.path, "r") as f:
            theirs = json.loads(f.attrs.get("config", "{}"))
        mine = json.loads(attrs["config"])
        if mine != theirs:
            diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            raise ConfigError(f"{self.path} was written by a different campaign (differs in: "
                              f"{', '.join(diff)}); cannot resume it")

    def _check_journal_owner(self, attrs: dict) -> None:
        header = self.journal.with_name(self.journal.name + ".config")
        if header.exists() and header.read_text() != attrs["config"]:
            raise ConfigError(f"{self.journal} belongs to a different campaign; cannot resume")

    def _create(self, attrs: dict, datasets: dict[str, np.ndarray], chunk: int) -> None:
        with h5py.File(self.path, "w") as f:
            for key, value in attrs.items():
                f.attrs[key] = value
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
            for name, data in datasets.items():
                f.create_dataset(name, data=data)
            f.create_dataset(self.table, shape=(0,), maxshape=(None,), dtype=self.dtype,
                             chunks=(max(1, chunk),))
        self.journal.with_name(self.journal.name + ".config").write_text(attrs["config"])

    # -- rows ----------------------------------------------------------------------------
    def _journal_rows(self) -> np.ndarray:
        if not self.journal.exists():
            return np.zeros(0, self.dtype)
        raw = self.journal.read_bytes()
        whole = len(raw) // self.dtype.itemsize * self.dtype.itemsize
        if whole != len(raw):  # a record torn by a kill: drop it
            with open(self.journal, "r+b") as fh:
                fh.truncate(whole)
        return np.frombuffer(raw[:whole], self.dtype)

    def _sync_from_journal(self) -> None:
        rows = self._journal_rows()
        done = self.done
        if rows.size > done:
            self._write_hdf5(rows[done:])

    @property
    def done(self) -> int:
        with h5py.File(self.path, "r") as f:
            return int(f[self.table].shape[0])

    def _write_hdf5(self, rows: np.ndarray) -> None:
        with h5py.File(self.path, "a") as f:
            table = f[self.table]
            n = table.shape[0]
            table.resize((n + rows.size,))
            table[n:] = rows

    def append(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, self.dtype)
        with open(self.journal, "ab") as fh:
            fh.write(rows.tobytes())
            fh.flush()
            os.fsync(fh.fileno())
        self._write_hdf5(rows)

    def complete(self) -> None:
        """All rows are in the HDF5 file: drop the journal."""
        for path in (self.journal, self.journal.with_name(self.journal.name + ".config")):
            path.unlink(missing_ok=True)


def write_summary(path: Path, groups: dict[str, np.ndarray], attrs: dict) -> None:
    """(Re)write the /summary group after the campaign is complete."""
    with h5py.File(path, "a") as f:
        if "summary" in f:
            del f["summary"]
        summary = f.create_group("summary")
        for name, table in groups.items():
            summary.create_dataset(name, data=table)
        for key, value in attrs.items():
            summary.attrs[key] = value


def read_rows(path: Path, table: str = "injections") -> tuple[np.ndarray, dict, h5py.File]:
    """Rows, root attributes and the open file (caller closes) of a result file."""
    if not Path(path).is_file():
        raise ConfigError(f"{path}: no such campaign results file")
    try:
        f = h5py.File(path, "r")
    except (OSError, FileNotFoundError) as exc:
        raise ConfigError(f"{path}: cannot open campaign results ({exc})") from None
    if f.attrs.get("format") != FORMAT:
        f.close()
        raise ConfigError(f"{path}: not an nvdla-fi campaign file")
    if table not in f:
        f.close()
        raise ConfigError(f"{path}: has no /{table} table")
    return f[table][...], dict(f.attrs), f
