"""Fixtures: the tests' clock, a fresh Connect emulator and a ResponseURL receiver per test.

Every test runs on a VirtualClock (virtual_clock.py), which moves only when the handler, the test
or a hung call waits: the handler's polls and backoffs, the emulator's workflows and the wait limits
take no real time. Mark a test ``real_clock`` where the test is about real time, or where a process of
its own reads the real clock (the local deploy's Lambda runs): it keeps the real clock throughout.
The lifecycle model's tests (the ``world`` fixture) bring a virtual time of their own.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator

import botocore.loaders
import botocore.session
import pytest

from connect_phone_number_handler import clock as handler_clock
from connect_phone_number_local.deploy import warm
from connect_phone_number_local.deploy.responses import ResponseServer
from connect_phone_number_local.emulator import ConnectEmulator
from virtual_clock import RealClock, TestClock, VirtualClock

pytest_plugins = ["connect_phone_number_local.testing"]

# aws-cdk-lib validates every synthesized template against CloudFormation's rules (a WebAssembly engine:
# about 3 CPU seconds to start in each process, and 1 per synth). Unless an app opts in, as cdk.json does,
# it only warns, and no test reads those warnings: off for the tests' synths. `make synth` and
# tests/test_demo.py run the CDK CLI with cdk.json, and keep it.
os.environ["CDK_VALIDATION"] = "false"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "real_clock: run on the real clock, not the tests' VirtualClock (see conftest.py)")


# The longest tests, which wait on the real clock: each starts a worker's share of the tests, so that none of
# them is left running alone at the end (the demo first).
LONGEST = (
    "tests/test_demo.py::test_the_demo_runs_the_whole_lifecycle_and_exits_zero",
    "tests/lifecycle/test_crashes_redeliveries_and_lost_answers.py::test_a_response_url_that_never_answers_ends_the_run_before_the_lambda_deadline_having_claimed_one_number",
)
# Run last: mypy runs that reuse .mypy_cache, which `make test`'s lint stage fills meanwhile.
LAST = ("tests/lambda/test_typed_client.py",)


@pytest.hookimpl(trylast=True)  # after -k and --deselect have taken their tests out
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "world" in getattr(item, "fixturenames", ()):  # the lifecycle model swaps the handler's time itself
            item.add_marker(pytest.mark.real_clock)
    longest = [item for name in LONGEST for item in items if item.nodeid == name]
    rest = sorted((item for item in items if item not in longest), key=lambda item: item.nodeid.startswith(LAST))
    # pytest-xdist's worksteal gives each of N workers a consecutive share (each of the remaining tests divided by
    # the workers left), and idle workers steal from the ends of the others' shares.
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    starts, start, left = [], 0, len(items)
    for worker in range(workers):
        starts.append(start)
        share = left // (workers - worker)
        start, left = start + share, left - share
    items[:] = rest
    for start, item in zip(starts, longest, strict=False):  # ascending: each lands where its share starts
        items.insert(start, item)
    items[:0] = longest[len(starts) :]  # more of them than workers: first


@pytest.fixture(autouse=True, scope="session")
def shared_botocore_data() -> Iterator[None]:
    """One botocore data loader for every session in the test process.

    The handler makes a session and a client per run, as in Lambda; each would parse botocore's JSON models
    again (a quarter of a CPU second). Its sessions share one loader here, as the clients of one session do.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", functools.cache(botocore.loaders.create_loader))
        yield


@pytest.fixture(autouse=True, scope="session")
def warm_lambda_runs() -> Iterator[None]:
    """The local deploy's Lambda runs fork from one warm runtime (deploy/warm.py): each is still a process of its own,
    but does not import boto3 and parse botocore's models again. Its users' runs, `make demo`'s among them, stay
    cold, and tests/local_deploy/test_lambda_retries.py runs both ways."""
    warm.enable()
    yield
    warm.disable()


@pytest.fixture(autouse=True)
def clock(request: pytest.FixtureRequest) -> Iterator[TestClock]:
    """The clock this test's handler, Lambda context, emulator and ResponseURL read (and its sleeps use)."""
    if request.node.get_closest_marker("real_clock") is not None:
        yield RealClock()
        return
    virtual = VirtualClock()
    previous = handler_clock.use(virtual)
    try:
        yield virtual
    finally:
        virtual.close()
        handler_clock.use(previous)


@pytest.fixture
def emulator(connect_emulator: ConnectEmulator, clock: TestClock) -> ConnectEmulator:
    """A fresh emulator, with boto3 pointed at it: the fixture the package ships for its users, on the test's clock."""
    connect_emulator.service.clock = clock.time
    return connect_emulator


@pytest.fixture
def responses(clock: TestClock) -> Iterator[ResponseServer]:
    """A ResponseURL receiver whose URLs are signed on the test's clock."""
    with ResponseServer(clock=clock.time) as server:
        yield server
