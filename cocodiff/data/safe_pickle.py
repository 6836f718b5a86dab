"""A pickle reader that builds numpy arrays and plain containers, and nothing else.

Annotation files from PYSKL and MMAction2 are pickles. Unpickling runs whatever callables the
file names, so a file from the internet could run code. This unpickler resolves only the few
globals that numpy arrays and scalars need; any other global is refused with an error.
"""

from __future__ import annotations

import io
import os
import pickle

from cocodiff.errors import DataError

_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "slice"),
    ("builtins", "complex"),
    ("builtins", "bytearray"),
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),  # how protocol 2 pickles (Python 2 era files) store bytes
}


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a global outside the allowed set."""


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED or module.startswith("numpy.dtypes"):
            return super().find_class(module, name)
        raise RefusedGlobal(f"refused to load {module}.{name}: only numpy arrays and builtins are allowed")


def safe_loads(data: bytes, source: str | os.PathLike = "<bytes>"):
    """Unpickle `data` with the restricted unpickler; any failure becomes one `DataError`."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except RefusedGlobal as error:
        raise DataError(source, f"not a safe annotation pickle ({error})") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, ImportError, MemoryError) as error:
        raise DataError(source, f"not a readable pickle ({type(error).__name__}: {error})") from None
