"""The local tools' old import paths still work for one release, as the new modules themselves, with a warning."""

from __future__ import annotations

import importlib
import sys

import pytest

import connect_phone_number_local.deploy.engine
import connect_phone_number_local.emulator.server
import connect_phone_number_local.testing


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("connect_phone_number.emulator.server", connect_phone_number_local.emulator.server),
        ("connect_phone_number.local_deploy.engine", connect_phone_number_local.deploy.engine),
        ("connect_phone_number.testing", connect_phone_number_local.testing),
    ],
)
def test_an_old_import_path_gives_the_new_module_and_a_deprecation_warning(old: str, new: object) -> None:
    for name in [n for n in sys.modules if n.startswith(old.rsplit(".", 1)[0]) and not n.startswith("connect_phone_number_")]:
        if name != "connect_phone_number":
            del sys.modules[name]
    with pytest.warns(DeprecationWarning, match="moved to connect_phone_number_local"):
        module = importlib.import_module(old)

    assert module is new
    assert module.__spec__ is not None and module.__spec__.name == module.__name__, "the new module keeps its own spec"
