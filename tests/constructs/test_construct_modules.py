"""The construct stays split by job: no module past a reader's sitting, and ClaimedPhoneNumber's __init__ readable at once."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import connect_phone_number
from connect_phone_number import ClaimedPhoneNumber

ROOT = Path(connect_phone_number.__file__).parent
#: About what one reads at once (the local tools' limit is 420); a module past it has more than one job.
MAX_LINES = 400
#: The body of __init__, its docstring aside: the prop checks, the handler, the properties, the resource, the attributes.
MAX_INIT_BODY_LINES = 50
MODULES = sorted(ROOT.glob("*.py"))


@pytest.mark.parametrize("module", MODULES, ids=[p.name for p in MODULES])
def test_each_module_of_the_construct_is_short_enough_to_have_one_job(module: Path) -> None:
    lines = len(module.read_text().splitlines())

    assert lines <= MAX_LINES, f"{module.name} has {lines} lines: split it by job"


def test_the_handler_function_and_the_prop_checks_live_in_modules_of_their_own() -> None:
    assert {"phone_number", "handler_function", "prop_checks", "permissions", "migration", "replacement"} <= {p.stem for p in MODULES}


def test_claimed_phone_numbers_init_reads_at_once() -> None:
    [init] = [node for node in ast.walk(ast.parse(inspect.getsource(ClaimedPhoneNumber))) if isinstance(node, ast.FunctionDef) and node.name == "__init__"]
    body = init.body[1:] if isinstance(init.body[0], ast.Expr) else init.body  # the docstring aside

    lines = body[-1].end_lineno - body[0].lineno + 1  # type: ignore[operator]

    assert lines <= MAX_INIT_BODY_LINES, f"ClaimedPhoneNumber.__init__ has {lines} lines of code"
