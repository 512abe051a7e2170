"""The old import paths of the local tools, kept for one release: they moved to ``connect_phone_number_local``.

``connect_phone_number.emulator``, ``connect_phone_number.local_deploy`` and ``connect_phone_number.testing``
(and their submodules) are the new modules themselves, under their old names, with a DeprecationWarning:
one module per file, so isinstance checks and patches see the same objects. They go in the next release.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from importlib.machinery import ModuleSpec
from types import ModuleType

#: old name -> new name
MOVED = {
    "connect_phone_number.emulator": "connect_phone_number_local.emulator",
    "connect_phone_number.local_deploy": "connect_phone_number_local.deploy",
    "connect_phone_number.testing": "connect_phone_number_local.testing",
}
INSTALL_HINT = "pip install 'cdk-connect-phone-number[local]' (from this repository: pip install ./local)"


def _new_name(old: str) -> str | None:
    for before, after in MOVED.items():
        if old == before or old.startswith(before + "."):
            return after + old[len(before) :]
    return None


class _Alias(importlib.abc.Loader):
    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        try:
            module = importlib.import_module(self.new)
        except ModuleNotFoundError as missing:
            raise ModuleNotFoundError(f"{spec.name} moved to {self.new}, in cdk-connect-phone-number-local: {INSTALL_HINT}") from missing
        self.spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self.spec  # the import system set the old name's spec on it: the module keeps its own


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: object, target: object = None) -> ModuleSpec | None:
        new = _new_name(fullname)
        if new is None:
            return None
        if fullname in MOVED:
            warnings.warn(f"{fullname} moved to {new}; the old name goes in the next release", DeprecationWarning, stacklevel=2)
        return ModuleSpec(fullname, _Alias(new), is_package=importlib.util.find_spec(new) is not None and fullname in MOVED)


def install() -> None:
    """Make the old names importable (once)."""
    if not any(isinstance(finder, _AliasFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())
