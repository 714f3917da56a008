"""HDF5 storage of campaign results (schema: docs/hdf5-schema.md).

Nothing is lost when a campaign dies: every chunk of rows is first appended
to a journal next to the HDF5 file (``<file>.journal``, raw fixed-size
records, fsync'ed), then to the HDF5 table, and the HDF5 file is closed
between chunks.  Resuming never trusts the table's row count: it keeps the
rows that equal the journal's (rows a failed write left behind, such as the
zeros of a table grown on a full disk, are dropped and rewritten from the
journal), rebuilds the file from the journal if the process died inside an
HDF5 write, drops a torn record at the journal's end, and continues from
there; the journal is removed when the campaign completes.

A file is only resumed if this tool wrote it for the same campaign: same
kind, configuration, hardware and model content hash (``model_sha256``);
anything else (another tool's file, a text file, a weight-BER result under a
transient campaign) is refused, never overwritten.  While a campaign runs it
holds an exclusive lock (``<file>.lock``), so a second one on the same
``--out`` stops with an error instead of mixing rows.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
from pathlib import Path

import h5py
import numpy as np

from nvdla_sim.errors import StorageError

FORMAT = "nvdla-fi campaign"
FORMAT_VERSION = 1
IDENTITY = ("kind", "config", "hardware", "model_sha256")  # what a resume must match
REGROUPING = {"chunk"}  # configuration keys that group the work but leave every row alone
SPACE_MARGIN = 64 << 10  # bytes free beyond twice a write: HDF5 metadata and chunk slack

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


def _cannot(path: Path, action: str, exc: Exception, started: bool = True) -> StorageError:
    reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
    then = ("rows written so far are kept: fix it (free space, a writable folder) and rerun "
            "with --resume" if started else "choose a writable --out")
    return StorageError(f"{path}: cannot {action} ({reason}); {then}")


def ensure_space(path: Path, nbytes: int) -> None:
    """Refuse a write that would not fit on the disk: HDF5 can crash the process when a
    write fails for lack of space (the journal keeps the rows either way)."""
    need = 2 * nbytes + SPACE_MARGIN
    stat = os.statvfs(path.parent)
    free = stat.f_bavail * stat.f_frsize
    if free < need:
        raise StorageError(f"{path}: disk full ({free:,} bytes free, about {need:,} needed "
                           f"to write results); rows written so far are kept: free space "
                           f"and rerun with --resume")


def _identity(attrs: dict) -> dict:
    return {key: attrs[key] for key in IDENTITY if key in attrs}


class _Lock:
    """An exclusive ``flock`` on ``<file>.lock`` for as long as a campaign writes the file
    (released by the kernel if the process dies)."""

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(path.name + ".lock")
        self.fd: int | None = None
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.read(fd, 32).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise StorageError(f"{path} is being written by another nvdla-fi campaign "
                                   f"(pid {owner}); wait for it to finish or choose another "
                                   f"--out") from None
            try:  # the holder may have removed the file between our open and flock
                if os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self.fd)
            self.fd = None

    __del__ = release  # a store dropped without close() (API use) frees its output


class ResultStore:
    """One campaign's result file, appended chunk by chunk; ``close()`` (or ``complete()``)
    releases its lock."""

    def __init__(self, path: Path, table: str, dtype: np.dtype, attrs: dict,
                 datasets: dict[str, np.ndarray], chunk: int, resume: bool) -> None:
        self.path, self.table, self.dtype = Path(path), table, np.dtype(dtype)
        self.journal = self.path.with_name(self.path.name + ".journal")
        self.header = self.journal.with_name(self.journal.name + ".config")
        self.identity = _identity(attrs)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _cannot(self.path.parent, "create the output folder", exc, False) from None
        try:
            self._lock = _Lock(self.path)
        except OSError as exc:
            raise _cannot(self.path, "create its lock file", exc, False) from None
        try:
            self._open(attrs, datasets, chunk, resume)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._lock.release()

    # -- setup ---------------------------------------------------------------------------
    def _open(self, attrs: dict, datasets: dict[str, np.ndarray], chunk: int,
              resume: bool) -> None:
        if not resume and (self.path.exists() or self.journal.exists()):
            if not self._empty_start():
                raise StorageError(f"{self.path} exists; pass --resume to continue it or "
                                   f"choose another --out")
            resume = True  # the same campaign stopped before its first row: nothing to lose
        try:
            if resume and self.path.exists() and self._ours():
                self._check_same()
            else:
                if resume and (self.path.exists() or self.journal.exists()):
                    self._check_journal_owner()
                self._create(attrs, datasets, chunk)
            self._sync_from_journal()
        except (OSError, RuntimeError) as exc:
            raise _cannot(self.path, "write results", exc) from None

    def _empty_start(self) -> bool:
        """Whether the file is this campaign's, without a row or a journal."""
        if self.journal.exists():
            return False
        try:
            with h5py.File(self.path, "r") as f:
                return (f.attrs.get("format") == FORMAT and self.table in f
                        and f[self.table].shape[0] == 0
                        and {k: f.attrs[k] for k in IDENTITY if k in f.attrs} == self.identity)
        except OSError:
            return False

    def _ours(self) -> bool:
        """Whether the file opens as this tool's campaign file with this table; a file that
        opens but is someone else's (or another kind of campaign) is refused."""
        try:
            f = h5py.File(self.path, "r")
        except OSError:
            return False  # torn by a kill inside an HDF5 write, or not HDF5 at all
        with f:
            if f.attrs.get("format") != FORMAT:
                raise StorageError(f"{self.path} is not a campaign file written by nvdla-fi; "
                                   f"refusing to overwrite it (choose another --out)")
            if self.table not in f:
                raise StorageError(f"{self.path} holds a {f.attrs.get('kind', 'different')} "
                                   f"campaign (no /{self.table} table); cannot resume it as "
                                   f"this one (choose another --out)")
        return True

    def _check_same(self) -> None:
        with h5py.File(self.path, "r") as f:
            theirs = {key: f.attrs[key] for key in IDENTITY if key in f.attrs}
        self._compare(theirs, str(self.path))

    def _compare(self, theirs: dict, what: str, keys: tuple[str, ...] = IDENTITY) -> None:
        diff = []
        for key, mine in self.identity.items():
            if key not in keys:
                continue
            other = theirs.get(key)
            if key == "config" and other is not None:
                a, b = json.loads(mine), json.loads(other)
                diff += sorted(k for k in (set(a) | set(b)) - REGROUPING
                               if a.get(k) != b.get(k))
            elif other != mine:
                diff.append({"model_sha256": "model content (model_sha256)",
                             "hardware": "hardware config"}.get(key, key))
        if diff:
            raise StorageError(f"{what} was written by a different campaign (differs in: "
                               f"{', '.join(diff)}); cannot resume it")

    def _check_journal_owner(self) -> None:
        """Before rebuilding an unreadable file from the journal: the journal must be this
        campaign's, else the file is not ours to overwrite."""
        if not self.header.exists():
            if self.path.exists():
                raise StorageError(f"{self.path} is not a campaign file written by nvdla-fi "
                                   f"(it does not open as HDF5 and no journal of it exists); "
                                   f"refusing to overwrite it (choose another --out)")
            raise StorageError(f"{self.journal} has no {self.header.name}; cannot tell which "
                               f"campaign it belongs to")
        text = self.header.read_text()
        try:
            theirs = json.loads(text)
        except ValueError:
            theirs = {}
        if isinstance(theirs, dict) and "config" not in theirs:
            # an older nvdla-fi wrote the configuration alone: compare what it holds
            self._compare({"config": text}, str(self.journal), ("config",))
        else:
            self._compare(theirs if isinstance(theirs, dict) else {}, str(self.journal))

    def _create(self, attrs: dict, datasets: dict[str, np.ndarray], chunk: int) -> None:
        """A fresh file, complete or absent: written beside, then renamed over ``path``."""
        partial = self.path.with_name(self.path.name + ".partial")
        with h5py.File(partial, "w") as f:
            for key, value in attrs.items():
                f.attrs[key] = value
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
            for name, data in datasets.items():
                f.create_dataset(name, data=data)
            f.create_dataset(self.table, shape=(0,), maxshape=(None,), dtype=self.dtype,
                             chunks=(max(1, chunk),))
        self.header.write_text(json.dumps(self.identity, sort_keys=True))
        os.replace(partial, self.path)

    # -- rows ----------------------------------------------------------------------------
    def _journal_rows(self) -> np.ndarray | None:
        if not self.journal.exists():
            return None
        raw = self.journal.read_bytes()
        whole = len(raw) // self.dtype.itemsize * self.dtype.itemsize
        if whole != len(raw):  # a record torn by a kill: drop it
            with open(self.journal, "r+b") as fh:
                fh.truncate(whole)
        return np.frombuffer(raw[:whole], self.dtype)

    def _sync_from_journal(self) -> None:
        """Keep the table's rows that are right, rewrite the rest from the journal: with a
        journal, the rows equal to it; without (a completed campaign), the rows whose ids
        run 0, 1, 2 ... (a table without ids is kept whole); whatever is dropped is recomputed or rewritten exactly."""
        journal = self._journal_rows()
        with h5py.File(self.path, "a") as f:
            table = f[self.table]
            stored = table[...]
            if journal is None and "id" not in (self.dtype.names or ()):
                good = stored.size  # tables without ids (study tables): written complete
            elif journal is None:
                good = _prefix(stored["id"], np.arange(stored.size))
            else:
                good = _prefix(_raw(stored, self.dtype), _raw(journal, self.dtype))
            if good < stored.size:
                table.resize((good,))
            if journal is not None and journal.size > good:
                table.resize((journal.size,))
                table[good:] = journal[good:]

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
        ensure_space(self.path, 2 * rows.nbytes)
        try:
            with open(self.journal, "ab") as fh:
                fh.write(rows.tobytes())
                fh.flush()
                os.fsync(fh.fileno())
            self._write_hdf5(rows)
        except (OSError, RuntimeError) as exc:  # h5py reports some failed writes as
            raise _cannot(self.path, "write results", exc) from None  # RuntimeError

    def complete(self) -> None:
        """All rows are in the HDF5 file: drop the journal, release the lock."""
        for path in (self.journal, self.header):
            path.unlink(missing_ok=True)
        self.close()


def _raw(rows: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Rows as (n, itemsize) bytes, compared exactly (NaN deviations included)."""
    return np.ascontiguousarray(rows, dtype).view(np.uint8).reshape(-1, dtype.itemsize)


def _prefix(a: np.ndarray, b: np.ndarray) -> int:
    """Length of the leading rows on which ``a`` and ``b`` agree."""
    n = min(len(a), len(b))
    same = np.all(a[:n] == b[:n], axis=tuple(range(1, a.ndim)))
    return n if same.all() else int(np.argmin(same))


def write_summary(path: Path, groups: dict[str, np.ndarray], attrs: dict) -> None:
    """(Re)write the /summary group after the campaign is complete."""
    ensure_space(Path(path), sum(t.nbytes for t in groups.values()))
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
        raise StorageError(f"{path}: no such campaign results file")
    try:
        f = h5py.File(path, "r")
    except (OSError, FileNotFoundError) as exc:
        raise StorageError(f"{path}: cannot open campaign results ({exc})") from None
    if f.attrs.get("format") != FORMAT:
        f.close()
        raise StorageError(f"{path}: not an nvdla-fi campaign file")
    if table not in f:
        f.close()
        raise StorageError(f"{path}: has no /{table} table")
    return f[table][...], dict(f.attrs), f


def incomplete(path: Path, rows: int, attrs: dict) -> str | None:
    """Why a result file is not a finished campaign ("600 of 1,500 injections ..."), or
    None: fewer rows than the configuration asks for, or a journal still beside it."""
    config = json.loads(attrs.get("config", "{}"))
    if attrs.get("kind") == "weight-ber":
        total, unit = len(config.get("ber", ())) * config.get("trials", 0), "trials"
    else:
        total, unit = config.get("injections", rows), "injections"
    journal = Path(path).with_name(Path(path).name + ".journal")
    if rows >= total and not journal.exists():
        return None
    return (f"incomplete campaign: {rows:,} of {total:,} {unit} (interrupted or still "
            f"running; finish it with the same command and --resume)")


def result_kind(path: Path) -> tuple[str, str | None]:
    """(kind, :func:`incomplete` note) of a result file this tool wrote; anything else is a
    StorageError naming the file."""
    table = "injections"
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("kind") == "weight-ber":
                table = "trials"
    except OSError:
        pass  # read_rows names what is wrong
    rows, attrs, f = read_rows(path, table)
    f.close()
    return str(attrs.get("kind", "transient")), incomplete(path, rows.size, attrs)
