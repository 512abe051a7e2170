"""The README's code runs: its stack synthesizes, its pytest example passes, its commands are the Makefile's.

`make demo` itself is run by tests/test_demo.py (demo.py), and `make test` by CI (.ci/run).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def blocks(language: str) -> list[str]:
    """The README's fenced code blocks in ``language``."""
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_the_readme_is_short_enough_to_read_in_five_minutes() -> None:
    assert len(README.splitlines()) <= 200


def test_the_readme_stack_synthesizes_a_number_routed_to_its_flow_and_used_as_a_queues_caller_id(tmp_path: Path) -> None:
    [stack] = [b for b in blocks("python") if "app.synth()" in b]
    script = tmp_path / "app.py"
    script.write_text(stack.replace("app = cdk.App()", f"app = cdk.App(outdir={str(tmp_path / 'cdk.out')!r})"))

    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=ROOT, env=dict(os.environ), check=False)

    assert result.returncode == 0, result.stderr[-3000:]
    resources = json.loads((tmp_path / "cdk.out" / "HelpDesk.template.json").read_text())["Resources"]
    [(number_id, number)] = [(k, r) for k, r in resources.items() if r["Type"] == "Custom::ConnectPhoneNumber"]
    [queue] = [r for r in resources.values() if r["Type"] == "AWS::Connect::Queue"]
    assert "ContactFlowArn" in number["Properties"]
    assert queue["Properties"]["OutboundCallerConfig"]["OutboundCallerIdNumberArn"] == {"Fn::GetAtt": [number_id, "PhoneNumberArn"]}


def test_the_readme_pytest_example_passes_against_the_emulator(tmp_path: Path) -> None:
    [example] = [b for b in blocks("python") if "connect_emulator" in b]
    (tmp_path / "test_example.py").write_text(example)

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout


def test_the_readme_commands_are_the_makefiles_and_ci_runs_make_test() -> None:
    commands = [line.split("#")[0].strip() for block in blocks("sh") for line in block.splitlines() if line.strip()]
    makefile = (ROOT / "Makefile").read_text()

    assert commands == ["make demo", "make test"]
    assert re.search(r"^demo: setup\n\tpython demo.py$", makefile, flags=re.MULTILINE)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_page_the_readme_links_exists() -> None:
    links = re.findall(r"\]\(((?:docs|examples)/[^)#]*)", README)

    assert links
    assert [link for link in links if not (ROOT / link).exists()] == []
