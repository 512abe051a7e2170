"""The two distributions: the construct (with the handler package, its Lambda asset) and the local tools beside it.

Each wheel is built and installed into a fresh virtual environment, which finds the third-party libraries
(aws-cdk-lib, boto3, ...) through a .pth line to this project's site-packages but not this checkout: the
editable install's finder lives in a .pth file of that folder, and a .pth line adds a folder without
running the .pth files inside it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HANDLER_MODULES = {"__init__", "index", "contract", "validation", "marker", "arns"}

SYNTH = """
import json, sys
import aws_cdk as cdk
from connect_phone_number import ClaimedPhoneNumber
app = cdk.App(outdir=sys.argv[1])
stack = cdk.Stack(app, "Packaged", env=cdk.Environment(account="123456789012", region="us-east-1"))
ClaimedPhoneNumber(stack, "Number", target_arn="arn:aws:connect:us-east-1:123456789012:instance/aaaaaaaa-1111-2222-3333-444444444444",
                   country_code="US", phone_number_type="DID")
app.synth()
import connect_phone_number_handler
print(json.dumps({"handler": connect_phone_number_handler.__file__}))
"""


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out, source = tmp_path_factory.mktemp("wheels"), tmp_path_factory.mktemp("source") / "project"
    # A copy of what the distributions are built from: setuptools builds in the source folder, and tests run in parallel.
    skipped = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for folder in ("constructs", "lambda", "local"):
        shutil.copytree(ROOT / folder, source / folder, ignore=skipped)
    for file in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / file, source / file)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", str(source), str(source / "local"), "--wheel-dir", str(out)],
        check=True,
        capture_output=True,
    )
    [construct] = out.glob("cdk_connect_phone_number-*.whl")
    [local] = out.glob("cdk_connect_phone_number_local-*.whl")
    return {"construct": construct, "local": local}


def fresh_venv(where: Path, *wheels: Path) -> Path:
    """A new virtual environment with ``wheels`` installed, and this project's third-party libraries beside them."""
    venv.create(where, with_pip=False)
    python = where / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True, check=True)
    site = Path(purelib.stdout.strip())
    (site / "project-libraries.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), *map(str, wheels)], check=True, capture_output=True)
    return python


def test_the_construct_wheel_carries_the_handler_package_and_not_the_local_tools(wheels: dict[str, Path]) -> None:
    names = set(zipfile.ZipFile(wheels["construct"]).namelist())

    assert {f"connect_phone_number_handler/{m}.py" for m in HANDLER_MODULES} <= names
    assert "connect_phone_number/phone_number.py" in names
    assert not any("emulator/" in n or "deploy/" in n for n in names), "the local tools are a distribution of their own"
    assert not any(n.startswith("constructs/") or n.startswith("lambda/") for n in names), "source roots are never packages"


def test_the_local_wheel_carries_the_emulator_its_iam_table_and_the_local_deploy(wheels: dict[str, Path]) -> None:
    names = set(zipfile.ZipFile(wheels["local"]).namelist())

    assert "connect_phone_number_local/emulator/iam_reference.json" in names
    assert {"connect_phone_number_local/deploy/engine.py", "connect_phone_number_local/testing.py"} <= names
    assert not any(n.startswith("connect_phone_number/") for n in names)


def test_an_installed_construct_synthesizes_with_an_asset_of_the_handler_package_alone(wheels: dict[str, Path], tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "venv", wheels["construct"])
    out = tmp_path / "cdk.out"

    result = subprocess.run([str(python), "-c", SYNTH, str(out)], capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stderr[-3000:]
    assert str(tmp_path / "venv") in json.loads(result.stdout.splitlines()[-1])["handler"], "the installed handler, not this checkout's"
    [asset] = [p for p in out.glob("asset.*") if p.is_dir()]
    files = {str(p.relative_to(asset)) for p in asset.rglob("*") if p.is_file()}
    assert files == {f"connect_phone_number_handler/{p.name}" for p in (ROOT / "lambda" / "connect_phone_number_handler").glob("*.py")}
    template = json.loads((out / "Packaged.template.json").read_text())
    [function] = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert function["Properties"]["Handler"] == "connect_phone_number_handler.index.on_event"


@pytest.mark.parametrize("with_local", [False, True], ids=["construct alone", "with [local]"])
def test_the_local_tools_import_only_when_installed(wheels: dict[str, Path], tmp_path: Path, with_local: bool) -> None:
    python = fresh_venv(tmp_path / "venv", wheels["construct"], *([wheels["local"]] if with_local else []))
    probe = "import connect_phone_number_local.emulator as e; print(e.ConnectEmulator.__name__)"

    result = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=False)

    assert (result.returncode == 0) is with_local, result.stderr[-2000:]
