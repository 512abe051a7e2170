"""The local tools stay split by job: no module of the local deploy or the emulator grows past a reader's sitting."""

from __future__ import annotations

from pathlib import Path

import pytest

import connect_phone_number_local

ROOT = Path(connect_phone_number_local.__file__).parent
#: About what one reads at once; a module past it has more than one job.
MAX_LINES = 420
MODULES = sorted(p for folder in ("deploy", "emulator") for p in (ROOT / folder).glob("*.py"))


@pytest.mark.parametrize("module", MODULES, ids=[f"{p.parent.name}/{p.name}" for p in MODULES])
def test_each_module_of_the_local_tools_is_short_enough_to_have_one_job(module: Path) -> None:
    lines = len(module.read_text().splitlines())

    assert lines <= MAX_LINES, f"{module.name} has {lines} lines: split it by job"


def test_the_engine_and_the_emulator_service_are_split_into_the_modules_that_do_their_jobs() -> None:
    names = {f"{p.parent.name}/{p.stem}" for p in MODULES}

    assert {"deploy/engine", "deploy/state", "deploy/providers", "deploy/connect_resources"} <= names
    assert {"emulator/service", "emulator/model", "emulator/records", "emulator/operations"} <= names
