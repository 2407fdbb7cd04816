"""Read data pickles from untrusted sessions without running code.

OpenCap calibration pickles and Human3.6M's ``cameras.pkl`` hold only dicts, lists, tuples,
scalars, strings and numpy arrays. A plain ``pickle.load`` would call whatever callable the
file names (``os.system`` included); :func:`load_data_pickle` admits only the numpy globals
that rebuild arrays, dtypes and numpy scalars, and refuses anything else with an error that
names the file and the refused global.
"""
from __future__ import annotations

import codecs
import io
import pickle
from pathlib import Path

import numpy as np

from mv3d.errors import InputError

def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it (bytes stored as latin-1 text), no other codec."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError("bytes stored with a codec other than latin-1")
    return codecs.encode(text, "latin1")


#: The only globals a data pickle may name: what numpy's own pickling of arrays, dtypes and
#: scalars refers to, all pure constructors (numpy 1.x writes ``numpy.core``, numpy 2.x ``numpy._core``).
ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_bytes,  # how protocol 2 writes bytes (array buffers)
}
for _core in ("numpy.core", "numpy._core"):
    ALLOWED_GLOBALS[(f"{_core}.multiarray", "_reconstruct")] = np._core.multiarray._reconstruct
    ALLOWED_GLOBALS[(f"{_core}.multiarray", "scalar")] = np._core.multiarray.scalar
    ALLOWED_GLOBALS[(f"{_core}.numeric", "_frombuffer")] = np._core.numeric._frombuffer
# dtypes of numpy 2 pickles name their class (e.g. numpy.dtypes.Float64DType)
for _name in dir(np.dtypes):
    if _name.endswith("DType"):
        ALLOWED_GLOBALS[("numpy.dtypes", _name)] = getattr(np.dtypes, _name)

#: Longest name quoted back in an error message.
_MAX_NAME = 80


class _DataUnpickler(pickle.Unpickler):
    def __init__(self, fh, path: Path):
        super().__init__(fh, encoding="latin1")
        self.path = path

    def find_class(self, module: str, name: str):
        found = ALLOWED_GLOBALS.get((module, name))
        if found is None:
            what = f"{module}.{name}"
            what = what if len(what) <= _MAX_NAME else what[:_MAX_NAME] + "..."
            raise InputError(f"{self.path} refers to {what!r}, which a calibration or data pickle never holds; "
                             f"it was not loaded because it could run code. Use the file only if you trust its "
                             f"origin, and re-save it holding plain dicts and numpy arrays")
        return found

    def persistent_load(self, pid):
        raise InputError(f"{self.path} uses pickle persistent ids, which data pickles never hold; it was not loaded")


def load_data_pickle(path: str | Path):
    """The content of a data pickle (dicts, lists, scalars, numpy arrays); InputError naming
    the file when it is unreadable or refers to anything else."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path} cannot be read: {exc.strerror}") from exc
    try:
        return _DataUnpickler(io.BytesIO(data), path).load()
    except InputError:
        raise
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, KeyError, TypeError,
            ValueError, OverflowError, MemoryError, RecursionError, LookupError) as exc:
        raise InputError(f"{path} is not a readable pickle ({type(exc).__name__}); re-export the file") from exc
