"""End to end: a real synthesized assembly, deployed by the local deploy through the real handler and the emulator."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from connect_phone_number import ClaimedPhoneNumber
from connect_phone_number_local.deploy import __main__ as cli
from connect_phone_number_local.deploy.engine import DeployFailed, LocalCloudFormation
from connect_phone_number_local.deploy.template import StackTemplate, load
from connect_phone_number_local.emulator import LIMIT_MESSAGE, ConnectEmulator
from support import ACCOUNT, INSTANCE, OTHER_INSTANCE

# The local deploy runs each Lambda invocation in a process of its own, on the real clock (see conftest.py).
pytestmark = pytest.mark.real_clock

STACK = "LocalTest"


def synthesize(out: Path, build: Callable[[cdk.Stack], None]) -> StackTemplate:
    """Synthesize a stack as `cdk synth` does (with asset metadata) and load it."""
    app = cdk.App(outdir=str(out), context={"aws:cdk:enable-asset-metadata": True})
    stack = cdk.Stack(app, STACK)
    build(stack)
    app.synth()
    return load(out, STACK, region="us-east-1", account=ACCOUNT)


def numbers(*specs: dict[str, Any]) -> Callable[[cdk.Stack], None]:
    def build(stack: cdk.Stack) -> None:
        for i, props in enumerate(specs):
            number = ClaimedPhoneNumber(stack, f"Number{i}", **{"target_arn": INSTANCE, "country_code": "US", "phone_number_type": "DID", **props})
            cdk.CfnOutput(stack, f"Out{i}", key=f"PhoneNumber{i}", value=number.phone_number)

    return build


@pytest.fixture
def local(emulator: ConnectEmulator, tmp_path: Path) -> tuple[LocalCloudFormation, io.StringIO]:
    out = io.StringIO()
    return LocalCloudFormation(tmp_path / "state", environment=dict(os.environ), out=out), out


def held(emulator: ConnectEmulator) -> list[dict[str, Any]]:
    return [n for n in emulator.service.held() if not n["releasing"] and n["status"] != "FAILED"]


def test_deploy_claims_and_shows_progress_and_outputs(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, out = local
    stack = synthesize(tmp_path / "a", numbers({"description": "Front desk"}))

    outputs = cloudformation.deploy(stack)

    [number] = held(emulator)
    assert outputs["PhoneNumber0"] == number["number"]
    assert number["status"] == "CLAIMED" and number["description"] == "Front desk"
    log = out.getvalue()
    assert "CREATE_IN_PROGRESS   | Custom::ConnectPhoneNumber" in log
    assert "CREATE_COMPLETE      | Custom::ConnectPhoneNumber" in log
    assert "AWS::Lambda::Function" in log and "not emulated" in log
    assert "CLAIMED after" in log  # the handler's own decision lines, relayed
    assert "X-Amz-Signature" not in log


def test_independent_numbers_are_claimed_concurrently(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    # Claims that take longer than three Lambda runs take to start, even on a loaded machine: run one after
    # another, each claim would have settled before the next one started.
    claim_seconds = 4.0
    emulator.service.config.claim_seconds = claim_seconds
    cloudformation, _ = local

    outputs = cloudformation.deploy(synthesize(tmp_path / "a", numbers({}, {}, {})))

    records = held(emulator)
    assert len({outputs[f"PhoneNumber{i}"] for i in range(3)}) == 3
    claim_started = [r["settle_at"] - claim_seconds for r in records]
    assert max(claim_started) < min(r["settle_at"] for r in records), "all three claims were in flight at once"


def test_a_failed_claim_fails_the_deploy_with_connects_message_and_rolls_back(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, out = local
    emulator.service.fail_claims("*", LIMIT_MESSAGE)

    with pytest.raises(DeployFailed, match=LIMIT_MESSAGE):
        cloudformation.deploy(synthesize(tmp_path / "a", numbers({"removal_policy": cdk.RemovalPolicy.DESTROY})))

    assert "ROLLBACK_COMPLETE" in out.getvalue()
    assert held(emulator) == []
    assert "ReleasePhoneNumber" not in emulator.service.calls
    assert not (tmp_path / "state" / f"{STACK}.state.json").exists()


def test_a_second_deploy_updates_in_place_and_removes_what_left_the_template(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, out = local
    first = cloudformation.deploy(synthesize(tmp_path / "a", numbers({}, {"removal_policy": cdk.RemovalPolicy.DESTROY})))

    second = cloudformation.deploy(synthesize(tmp_path / "b", numbers({"target_arn": OTHER_INSTANCE})))

    assert second["PhoneNumber0"] == first["PhoneNumber0"]
    assert [n["target_arn"] for n in held(emulator)] == [OTHER_INSTANCE]
    assert emulator.service.calls["ReleasePhoneNumber"] == 1
    assert "UPDATE_COMPLETE" in out.getvalue()


def test_destroy_honours_retain(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, out = local
    cloudformation.deploy(synthesize(tmp_path / "a", numbers({}, {"removal_policy": cdk.RemovalPolicy.DESTROY})))

    cloudformation.destroy(STACK)

    assert len(held(emulator)) == 1  # the retained one
    assert emulator.service.calls["ReleasePhoneNumber"] == 1
    assert "DELETE_SKIPPED" in out.getvalue()


def test_a_failed_delete_fails_the_destroy_and_keeps_the_resource_in_state(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, _ = local
    cloudformation.deploy(synthesize(tmp_path / "a", numbers({"removal_policy": cdk.RemovalPolicy.DESTROY})))
    emulator.service.fail_next(1, status=403, code="AccessDeniedException", operation="ReleasePhoneNumber")

    with pytest.raises(DeployFailed, match="DELETE_FAILED"):
        cloudformation.destroy(STACK)

    assert len(held(emulator)) == 1
    cloudformation.destroy(STACK)  # a second destroy finishes the job
    assert held(emulator) == []


def test_a_replacement_deletes_the_old_number_only_when_the_policy_allows(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, _ = local
    cloudformation.deploy(synthesize(tmp_path / "a", numbers({}, {"removal_policy": cdk.RemovalPolicy.DESTROY})))

    cloudformation.deploy(synthesize(tmp_path / "b", numbers({"country_code": "GB"}, {"country_code": "GB", "removal_policy": cdk.RemovalPolicy.DESTROY})))

    countries = sorted(n["country"] for n in held(emulator))
    assert countries == ["GB", "GB", "US"]  # the retained US number stays; the destroyable one was released
    assert emulator.service.calls["ReleasePhoneNumber"] == 1


def test_the_command_line_refuses_an_endpoint_off_loopback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONNECT", "https://connect.us-east-1.amazonaws.com")

    status = cli.main(["deploy", "--app", str(tmp_path), "--state-dir", str(tmp_path / "state")])

    assert status == 1
    assert "local Connect emulator on loopback" in capsys.readouterr().err


def test_the_command_line_deploys_and_destroys(emulator: ConnectEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    synthesize(tmp_path / "a", numbers({"removal_policy": cdk.RemovalPolicy.DESTROY}))
    common = ["--app", str(tmp_path / "a"), "--state-dir", str(tmp_path / "state")]

    assert cli.main(["deploy", *common]) == 0
    assert len(held(emulator)) == 1
    assert cli.main(["destroy", *common]) == 0

    assert held(emulator) == []
    assert f"{STACK}.PhoneNumber0 = +1" in capsys.readouterr().out


# --- removal policies: CloudFormation's rules for each way a number leaves the stack ---

RETAIN, DESTROY, RETAIN_ON_UPDATE_OR_DELETE = cdk.RemovalPolicy.RETAIN, cdk.RemovalPolicy.DESTROY, cdk.RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
FAILING_GB = {"country_code": "GB", "removal_policy": DESTROY}  # claims of +44 fail in these tests


def test_the_rollback_of_a_failed_create_releases_numbers_kept_only_on_update_or_delete(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, out = local
    emulator.service.fail_claims("+44", LIMIT_MESSAGE)
    policies = ({"removal_policy": RETAIN}, {"removal_policy": RETAIN_ON_UPDATE_OR_DELETE}, {"removal_policy": DESTROY})
    stack = synthesize(tmp_path / "a", numbers(*policies, FAILING_GB))

    with pytest.raises(DeployFailed, match=LIMIT_MESSAGE):
        cloudformation.deploy(stack)

    assert len(held(emulator)) == 1  # Retain keeps a number even when the create that claimed it rolls back
    assert emulator.service.calls["ReleasePhoneNumber"] == 2
    [skipped] = [line for line in out.getvalue().splitlines() if "DELETE_SKIPPED" in line]
    assert "Number0" in skipped and "Retain policy" in skipped


def test_a_number_added_by_an_update_that_rolls_back_is_released_under_retain_on_update_or_delete(
    emulator: ConnectEmulator, local: Any, tmp_path: Path
) -> None:
    cloudformation, _ = local
    first = cloudformation.deploy(synthesize(tmp_path / "a", numbers({"removal_policy": RETAIN_ON_UPDATE_OR_DELETE})))
    emulator.service.fail_claims("+44", LIMIT_MESSAGE)

    with pytest.raises(DeployFailed):
        kept_except_on_create = {"removal_policy": RETAIN_ON_UPDATE_OR_DELETE}
        cloudformation.deploy(synthesize(tmp_path / "b", numbers(kept_except_on_create, kept_except_on_create, FAILING_GB)))

    assert [n["number"] for n in held(emulator)] == [first["PhoneNumber0"]]


@pytest.mark.parametrize(("policy", "copy_kept"), [(RETAIN, True), (RETAIN_ON_UPDATE_OR_DELETE, False), (DESTROY, False)])
def test_the_rollback_of_a_replacement_releases_the_new_number_unless_retain_keeps_it(
    emulator: ConnectEmulator, local: Any, tmp_path: Path, policy: cdk.RemovalPolicy, copy_kept: bool
) -> None:
    cloudformation, _ = local
    first = cloudformation.deploy(synthesize(tmp_path / "a", numbers({"removal_policy": policy})))
    emulator.service.fail_claims("+44", LIMIT_MESSAGE)

    with pytest.raises(DeployFailed):  # Number0 is replaced by a toll-free number, then Number1 fails
        cloudformation.deploy(synthesize(tmp_path / "b", numbers({"removal_policy": policy, "phone_number_type": "TOLL_FREE"}, FAILING_GB)))

    types = sorted(n["type"] for n in held(emulator))
    assert types == (["DID", "TOLL_FREE"] if copy_kept else ["DID"])
    assert first["PhoneNumber0"] in [n["number"] for n in held(emulator)]


def test_destroy_keeps_numbers_retained_on_update_or_delete(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, out = local
    cloudformation.deploy(synthesize(tmp_path / "a", numbers({"removal_policy": RETAIN_ON_UPDATE_OR_DELETE})))

    cloudformation.destroy(STACK)

    assert len(held(emulator)) == 1
    assert "RetainExceptOnCreate policy" in out.getvalue()


def test_a_replacement_keeps_the_old_number_under_retain_on_update_or_delete(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, _ = local
    cloudformation.deploy(synthesize(tmp_path / "a", numbers({"removal_policy": RETAIN_ON_UPDATE_OR_DELETE})))

    cloudformation.deploy(synthesize(tmp_path / "b", numbers({"removal_policy": RETAIN_ON_UPDATE_OR_DELETE, "phone_number_type": "TOLL_FREE"})))

    assert sorted(n["type"] for n in held(emulator)) == ["DID", "TOLL_FREE"]
    assert "ReleasePhoneNumber" not in emulator.service.calls


def test_the_update_replace_policy_of_the_template_being_deployed_governs_the_old_number(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, _ = local
    cloudformation.deploy(synthesize(tmp_path / "a", numbers({"removal_policy": DESTROY})))

    cloudformation.deploy(synthesize(tmp_path / "b", numbers({"removal_policy": RETAIN, "phone_number_type": "TOLL_FREE"})))

    assert sorted(n["type"] for n in held(emulator)) == ["DID", "TOLL_FREE"]


# --- parameters, and failures that are not the handler's ---


def with_parameter(default: str | None, **props: Any) -> Callable[[cdk.Stack], None]:
    """A number whose description is the template parameter Desc."""

    def build(stack: cdk.Stack) -> None:
        description = cdk.CfnParameter(stack, "Desc", default=default)
        numbers({"description": description.value_as_string, "removal_policy": DESTROY, **props})(stack)

    return build


def test_a_parameter_gets_its_default(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, _ = local

    cloudformation.deploy(synthesize(tmp_path / "a", with_parameter("from the default")))

    assert [n["description"] for n in held(emulator)] == ["from the default"]


def test_a_parameter_value_given_in_python_overrides_the_default_and_is_kept_for_the_next_deploy(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, _ = local
    cloudformation.deploy(synthesize(tmp_path / "a", with_parameter("from the default")), parameters={"Desc": "given"})
    assert [n["description"] for n in held(emulator)] == ["given"]

    cloudformation.deploy(synthesize(tmp_path / "b", with_parameter("from the default", tags={"team": "care"})))

    # As `cdk deploy` does (--previous-parameters): a parameter not given keeps its previous value.
    [number] = held(emulator)
    assert number["description"] == "given" and number["tags"]["team"] == "care"


def test_a_parameter_without_default_or_value_fails_before_anything_runs(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, out = local

    with pytest.raises(DeployFailed, match="Desc"):
        cloudformation.deploy(synthesize(tmp_path / "a", with_parameter(None)))

    assert emulator.service.calls == {}
    assert "CREATE_IN_PROGRESS" not in out.getvalue()
    assert not (tmp_path / "state" / f"{STACK}.state.json").exists()


def test_a_value_for_a_parameter_the_template_lacks_fails_before_anything_runs(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, _ = local

    with pytest.raises(DeployFailed, match="Nope"):
        cloudformation.deploy(synthesize(tmp_path / "a", with_parameter("x")), parameters={"Nope": "1"})

    assert emulator.service.calls == {}


def test_the_command_line_sets_parameters(emulator: ConnectEmulator, tmp_path: Path) -> None:
    synthesize(tmp_path / "a", with_parameter(None))

    common = ["--app", str(tmp_path / "a"), "--state-dir", str(tmp_path / "state")]

    status = cli.main(["deploy", *common, "--parameters", f"{STACK}:Desc=from the command line", "--parameters", "OtherStack:Desc=not this stack's"])

    assert status == 0
    assert [n["description"] for n in held(emulator)] == ["from the command line"]


def test_a_template_the_local_deploy_cannot_resolve_fails_before_anything_runs(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, _ = local

    def build(stack: cdk.Stack) -> None:
        production = cdk.CfnCondition(stack, "Production", expression=cdk.Fn.condition_equals(cdk.Aws.REGION, "eu-west-1"))
        numbers({"description": cdk.Token.as_string(cdk.Fn.condition_if(production.logical_id, "prod", "test"))})(stack)

    with pytest.raises(DeployFailed, match=r"Fn::If \(not supported locally\)"):
        cloudformation.deploy(synthesize(tmp_path / "a", build))

    assert emulator.service.calls == {}


def broken_second_number(stack: cdk.Stack) -> None:
    """Number1 reads an attribute Number0 never returns: the deploy breaks after Number0 is claimed."""
    first = ClaimedPhoneNumber(stack, "Number0", target_arn=INSTANCE, country_code="US", phone_number_type="DID", removal_policy=DESTROY)
    ClaimedPhoneNumber(
        stack,
        "Number1",
        target_arn=INSTANCE,
        country_code="US",
        phone_number_type="DID",
        description=cdk.Token.as_string(first.resource.get_att("NoSuchAttribute")),
        removal_policy=DESTROY,
    )


def test_an_error_in_the_local_deploy_itself_rolls_back_what_was_claimed(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, out = local

    with pytest.raises(DeployFailed, match="NoSuchAttribute"):
        cloudformation.deploy(synthesize(tmp_path / "a", broken_second_number))

    assert held(emulator) == []
    assert "ROLLBACK_COMPLETE" in out.getvalue()
    assert not (tmp_path / "state" / f"{STACK}.state.json").exists()


def test_a_number_the_rollback_could_not_release_stays_in_state_and_destroy_releases_it(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, out = local
    emulator.service.fail_next(1, status=403, code="AccessDeniedException", operation="ReleasePhoneNumber")

    with pytest.raises(DeployFailed):
        cloudformation.deploy(synthesize(tmp_path / "a", broken_second_number))
    assert len(held(emulator)) == 1
    assert "ROLLBACK_FAILED" in out.getvalue()

    cloudformation.destroy(STACK)
    assert held(emulator) == []


def test_a_replaced_number_whose_release_failed_is_released_by_the_next_deploy(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, _ = local
    cloudformation.deploy(synthesize(tmp_path / "a", numbers({"removal_policy": DESTROY})))
    emulator.service.fail_next(1, status=403, code="AccessDeniedException", operation="ReleasePhoneNumber")

    cloudformation.deploy(synthesize(tmp_path / "b", numbers({"removal_policy": DESTROY, "phone_number_type": "TOLL_FREE"})))
    assert sorted(n["type"] for n in held(emulator)) == ["DID", "TOLL_FREE"]  # the old one could not be released

    cloudformation.deploy(synthesize(tmp_path / "b", numbers({"removal_policy": DESTROY, "phone_number_type": "TOLL_FREE"})))
    assert [n["type"] for n in held(emulator)] == ["TOLL_FREE"]


def test_a_removed_number_whose_release_failed_stays_in_state_until_a_deploy_releases_it(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, out = local
    cloudformation.deploy(synthesize(tmp_path / "a", numbers({"removal_policy": DESTROY}, {"removal_policy": DESTROY})))
    emulator.service.fail_next(1, status=403, code="AccessDeniedException", operation="ReleasePhoneNumber")

    cloudformation.deploy(synthesize(tmp_path / "b", numbers({"removal_policy": DESTROY})))
    assert len(held(emulator)) == 2
    assert "kept in the state" in out.getvalue()

    cloudformation.deploy(synthesize(tmp_path / "b", numbers({"removal_policy": DESTROY})))
    assert len(held(emulator)) == 1


def test_destroy_of_a_stack_it_never_deployed_does_not_claim_a_deletion(emulator: ConnectEmulator, local: Any) -> None:
    cloudformation, out = local

    cloudformation.destroy(STACK)

    assert "DELETE_COMPLETE" not in out.getvalue()
    assert "nothing to delete" in out.getvalue()


# --- assets ---


def test_a_plain_app_synth_without_the_cli_deploys(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, _ = local
    app = cdk.App(outdir=str(tmp_path / "plain"))  # no CLI context: no aws:asset:path metadata
    numbers({})(cdk.Stack(app, STACK))
    app.synth()

    outputs = cloudformation.deploy(load(tmp_path / "plain", STACK, region="us-east-1", account=ACCOUNT))

    assert [n["number"] for n in held(emulator)] == [outputs["PhoneNumber0"]]


def test_a_stacks_own_contact_flow_routes_the_number_and_follows_it_across_a_move(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    """The flow is an AWS::Connect::ContactFlow of the stack: its placeholder ARN lies under the instance it names.

    Each target's flow has its own id: the local deploy keeps a placeholder when its properties change.
    """
    cloudformation, _ = local

    def with_flow(target: str) -> Callable[[cdk.Stack], None]:
        def build(stack: cdk.Stack) -> None:
            flow_id = "FlowA" if target == INSTANCE else "FlowB"
            flow = cdk.aws_connect.CfnContactFlow(stack, flow_id, instance_arn=target, name="Inbound", type="CONTACT_FLOW", content="{}")
            ClaimedPhoneNumber(stack, "Number", target_arn=target, country_code="US", phone_number_type="DID", contact_flow_arn=flow.attr_contact_flow_arn)

        return build

    cloudformation.deploy(synthesize(tmp_path / "a", with_flow(INSTANCE)))
    [created] = held(emulator)
    cloudformation.deploy(synthesize(tmp_path / "b", with_flow(OTHER_INSTANCE)))
    [moved] = held(emulator)

    assert created["contact_flow"].startswith(f"{INSTANCE}/contact-flow/")
    assert moved["contact_flow"].startswith(f"{OTHER_INSTANCE}/contact-flow/")
    assert moved["number"] == created["number"]
