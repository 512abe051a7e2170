"""Reading a template: parameter values, what the local deploy cannot resolve, and references."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connect_phone_number_local.deploy.template import Resolver, Resource, StackTemplate, references


def stack(parameters: dict[str, Any], **properties: Any) -> StackTemplate:
    """A stack with one of this library's resources, whose properties are ``properties``."""
    number = Resource("Number", "Custom::ConnectPhoneNumber", {"ServiceToken": "arn", **properties}, references(properties))
    return StackTemplate("S", Path(), {"Number": number}, {}, "us-east-1", "123456789012", "arn:stack", parameters)


def test_a_value_given_wins_over_the_previous_one_which_wins_over_the_default() -> None:
    spec = {"Type": "String", "Default": "default"}
    template = stack({"A": spec, "B": spec, "C": spec})

    values = template.with_parameters({"A": "given"}, {"A": "previous", "B": "previous"}).parameter_values

    assert values == {"A": "given", "B": "previous", "C": "default"}


def test_a_value_outside_the_allowed_values_is_refused_with_the_parameters_name() -> None:
    template = stack({"Kind": {"Type": "String", "AllowedValues": ["DID", "TOLL_FREE"]}})

    with pytest.raises(ValueError, match=r"parameter Kind: 'UIFN' is not one of"):
        template.with_parameters({"Kind": "UIFN"}, {})


def test_a_value_that_does_not_match_the_allowed_pattern_or_is_not_a_number_is_refused() -> None:
    template = stack({"Prefix": {"Type": "String", "AllowedPattern": r"\+[0-9]+"}, "Count": {"Type": "Number", "Default": "1"}})

    with pytest.raises(ValueError, match="does not match"):
        template.with_parameters({"Prefix": "1800"}, {})
    with pytest.raises(ValueError, match="not a number"):
        template.with_parameters({"Prefix": "+1800", "Count": "one"}, {})


def test_ref_to_a_list_parameter_is_a_list_and_sub_reads_parameters() -> None:
    template = stack({"Codes": {"Type": "CommaDelimitedList", "Default": "US,GB"}, "Team": {"Type": "String", "Default": "care"}})
    resolver = Resolver(template.with_parameters({}, {}), {}, {})

    assert resolver.resolve({"Fn::Select": [1, {"Ref": "Codes"}]}) == "GB"
    assert resolver.resolve({"Fn::Sub": "team-${Team}-${AWS::Region}"}) == "team-care-us-east-1"


def test_what_cannot_be_resolved_locally_is_named() -> None:
    template = stack(
        {},
        Description={"Fn::If": ["IsProd", "a", "b"]},
        Prefix={"Ref": "AWS::NoValue"},
        TargetArn={"Fn::GetAtt": ["Missing", "Arn"]},
    )

    problems = template.unsupported()

    assert problems == ["Fn::If (not supported locally)", "Missing (no such resource or parameter)", "Ref AWS::NoValue (not supported locally)"]


def test_sub_variables_are_not_references_to_resources() -> None:
    assert references({"Fn::Sub": ["${Name}-${Other.Arn}", {"Name": "x"}]}) == {"Other"}


def test_a_nested_stack_whose_template_is_not_in_the_assembly_is_refused_naming_it(tmp_path: Path) -> None:
    nested = Resource("Child", "AWS::CloudFormation::Stack", {"TemplateURL": "https://s3.example/abc123.json"}, set())
    template = StackTemplate("S", tmp_path, {"Child": nested}, {}, "us-east-1", "123456789012", "arn:stack", {})

    assert template.unsupported() == ["Child: a nested stack whose template is not in the assembly (TemplateURL 'https://s3.example/abc123.json')"]


def test_an_import_resolves_to_the_value_a_deployed_stack_exports() -> None:
    template = stack({}, Description={"Fn::ImportValue": {"Fn::Sub": "${AWS::Region}-desk"}})
    known = StackTemplate(**{**template.__dict__, "imports": {"us-east-1-desk": "+18005550100"}})

    assert template.unsupported() == ["Fn::ImportValue of 'us-east-1-desk': no stack deployed here exports it"]
    assert known.unsupported() == []
    assert Resolver(known, {}, {}).resolve(known.resources["Number"].properties["Description"]) == "+18005550100"
