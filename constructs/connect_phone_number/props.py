"""ClaimedPhoneNumber's props, held once: checked by prop_checks, adjusted by migration, rendered as the resource's Properties."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aws_cdk import Duration, RemovalPolicy, TagManager

from connect_phone_number_handler import contract


@dataclass(frozen=True)
class NumberProps:
    """The props as given (None: the default), and the number's CloudFormation Properties (``properties``)."""

    target_arn: str
    country_code: str | None = None
    phone_number_type: str | None = None
    prefix: str | None = None
    phone_number: str | None = None
    description: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    removal_policy: RemovalPolicy | None = None
    timeout: Duration | None = None
    adopt_existing: bool | None = None
    source_phone_number_arn: str | None = None
    contact_flow_arn: str | None = None

    def properties(self, *, service_token: str, wait_seconds: str, service_timeout: str, tags: TagManager) -> dict[str, object]:
        """The custom resource's Properties, in the contract's names (the handler reads them): the absent ones left out.

        ``tags`` renders at synthesis, after Tags.of has run; the property is absent when there are none.
        """
        declared = {
            contract.SERVICE_TOKEN: service_token,
            contract.SERVICE_TIMEOUT: service_timeout,
            contract.TARGET_ARN: self.target_arn,
            contract.WAIT_TIMEOUT_SECONDS: wait_seconds,
            contract.COUNTRY_CODE: self.country_code,
            contract.TYPE: self.phone_number_type,
            contract.PREFIX: self.prefix,
            contract.PHONE_NUMBER: self.phone_number,
            contract.DESCRIPTION: self.description,
            contract.SOURCE_PHONE_NUMBER_ARN: self.source_phone_number_arn,
            contract.ADOPT_EXISTING: "true" if self.adopt_existing else None,
            contract.CONTACT_FLOW_ARN: self.contact_flow_arn,
        }
        properties: dict[str, object] = {name: value for name, value in declared.items() if value is not None}
        properties[contract.TAGS] = tags.rendered_tags
        return properties
