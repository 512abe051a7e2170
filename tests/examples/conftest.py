"""The examples' tests: each app synthesized in-process as `cdk synth` would, then deployed locally against the emulator."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from connect_phone_number_local.deploy.engine import LocalCloudFormation
from connect_phone_number_local.emulator import ConnectEmulator

#: Context every synth gets, as the CDK CLI sets it: asset and path metadata (the local deploy names resources by path).
CLI_CONTEXT = {"aws:cdk:enable-asset-metadata": True, "aws:cdk:enable-path-metadata": True}
Synth = Callable[[Callable[[cdk.App], Any], str, dict[str, Any]], Path]


@pytest.fixture
def cli_context() -> dict[str, Any]:
    """The context the CDK CLI gives every app it synthesizes (beside the app's own)."""
    return dict(CLI_CONTEXT)


@pytest.fixture
def synth(tmp_path: Path) -> Synth:
    """``synth(main, step, context)``: run an example's ``main`` (or ``build`` then synth) on an App into tmp_path/step."""

    def run(main: Callable[[cdk.App], Any], step: str, context: dict[str, Any]) -> Path:
        app = cdk.App(outdir=str(tmp_path / step), context={**CLI_CONTEXT, **context})
        main(app)
        app.synth()  # a second synth of an app main() synthesized already returns the same assembly
        return tmp_path / step

    return run


@pytest.fixture
def local(emulator: ConnectEmulator, tmp_path: Path) -> tuple[LocalCloudFormation, io.StringIO]:
    out = io.StringIO()
    return LocalCloudFormation(tmp_path / "state", environment=dict(os.environ), out=out), out
