"""Tag values follow this library's rule, as docs/tags.md says: Connect's model gives TagValue a length only."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import assertions

from connect_phone_number import ClaimedPhoneNumber
from connect_phone_number_handler import validation
from support import INSTANCE


def number_tagged(value: str) -> assertions.Template:
    stack = cdk.Stack(cdk.App(), "Tagged")
    ClaimedPhoneNumber(stack, "Number", target_arn=INSTANCE, country_code="US", phone_number_type="DID", tags={"team": value})
    return assertions.Template.from_stack(stack)


def test_the_model_has_no_value_pattern_so_the_value_rule_is_the_key_pattern_without_its_aws_exclusion() -> None:
    """If botocore's model ever gives TagValue a pattern, this fails: docs/tags.md must then say the rule is Connect's."""
    assert validation._connect_shape("TagValue").metadata.get("pattern") is None
    assert validation.tag_value_pattern_source() == validation.tag_key_pattern_source().replace("(?!aws:)", "")


def test_a_value_may_start_with_aws_or_be_empty_unlike_a_key() -> None:
    template = number_tagged("aws:managed")
    number_tagged("")

    template.has_resource_properties("Custom::ConnectPhoneNumber", {"Tags": [{"Key": "team", "Value": "aws:managed"}]})
    with pytest.raises(ValueError, match="reserved prefix 'aws:'"):
        ClaimedPhoneNumber(cdk.Stack(cdk.App(), "Key"), "Number", target_arn=INSTANCE, country_code="US", phone_number_type="DID", tags={"aws:team": "v"})


@pytest.mark.parametrize("value", ["care#1", "a\tb", "x" * 257])
def test_a_value_outside_the_librarys_rule_is_refused_at_synth_naming_tags(value: str) -> None:
    with pytest.raises(ValueError, match=r"^ClaimedPhoneNumber: tags: tag 'team'"):
        number_tagged(value)
