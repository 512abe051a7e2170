"""The stack's one handler: the Lambda function every ClaimedPhoneNumber of a stack calls, its role and its log group."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import jsii
from aws_cdk import CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

import connect_phone_number_handler
from connect_phone_number_handler import contract
from constructs import Construct, IConstruct, IValidation

from . import permissions

#: The Lambda asset root: the folder that holds the handler package, ``lambda/`` in this repository and
#: site-packages once installed. Only the handler package goes into the asset (HANDLER_ASSET_EXCLUDE).
HANDLER_ASSET = Path(connect_phone_number_handler.__file__).resolve().parent.parent
HANDLER_PACKAGE = connect_phone_number_handler.__name__
HANDLER_ASSET_EXCLUDE = ["*", f"!{HANDLER_PACKAGE}", f"!{HANDLER_PACKAGE}/**", "__pycache__", "*.pyc"]
HANDLER_ENTRY = f"{HANDLER_PACKAGE}.index.on_event"
HANDLER_RUNTIME = lambda_.Runtime.PYTHON_3_14
#: The id of the stack's one handler (shared by every number in it), namespaced by this distribution's name so a
#: user's own construct cannot take it by accident.
HANDLER_ID = "cdk-connect-phone-number.Handler"
#: The handler's logical ids from before HANDLER_ID was namespaced (``ConnectPhoneNumberHandler/...``), kept so that
#: an upgrade replaces nothing. The function's ARN is every number's ServiceToken, and CloudFormation refuses to
#: change a custom resource's ServiceToken ("Modifying service token is not allowed"); a new role would wait for IAM
#: to propagate, and a new log group would lose the old one's logs (it is destroyed with the stack).
HANDLER_LOGICAL_IDS = {
    "Function": "ConnectPhoneNumberHandlerFunction59832BE6",
    "Role": "ConnectPhoneNumberHandlerRole09643CE6",
    "Role/DefaultPolicy": "ConnectPhoneNumberHandlerRoleDefaultPolicy3D34FFA3",
    "Logs": "ConnectPhoneNumberHandlerLogs682E9BF4",
}
LOG_RETENTION = logs.RetentionDays.ONE_MONTH


class HandlerFunction(Construct):
    """The stack's one handler: its function, role, log group and policy. Get it with ``HandlerFunction.of(stack)``."""

    @classmethod
    def of(cls, stack: Stack) -> HandlerFunction:
        """The stack's handler, created on first use."""
        existing = stack.node.try_find_child(HANDLER_ID)
        if existing is None:
            return cls(stack, HANDLER_ID)
        if not isinstance(existing, cls):
            raise ValueError(f"ClaimedPhoneNumber: the id {HANDLER_ID!r} in stack {stack.node.path!r} is reserved for this library's handler")
        return existing

    def __init__(self, stack: Stack, id: str) -> None:  # noqa: A002 - the CDK's naming
        super().__init__(stack, id)
        log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY)
        role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        log_group.grant_write(role)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=HANDLER_RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            code=lambda_.Code.from_asset(str(HANDLER_ASSET), exclude=HANDLER_ASSET_EXCLUDE),
            handler=HANDLER_ENTRY,
            role=role,
            timeout=Duration.seconds(contract.FUNCTION_TIMEOUT_SECONDS),
            memory_size=256,
            log_group=log_group,
            description="Claims, updates and releases Amazon Connect phone numbers (cdk-connect-phone-number)",
        )
        permissions.grant_account_actions(self.function, stack)
        permissions.acknowledge_wildcards(self, stack)
        permissions.grant_flow_actions(self.function, stack)
        permissions.acknowledge_flow_wildcards(self, stack)
        for path, logical_id in HANDLER_LOGICAL_IDS.items():
            child: IConstruct = self
            for part in path.split("/"):
                child = child.node.find_child(part)
            cast(CfnResource, child.node.default_child).override_logical_id(logical_id)
        self.node.add_validation(_NoRedundantRoleDependency(self.function, role))


@jsii.implements(IValidation)
class _NoRedundantRoleDependency:
    """Drops the function's DependsOn on its role, which its ``Role: Fn::GetAtt`` already orders (cfn-lint W3005).

    aws-cdk-lib's Function depends on its whole role construct: the role, which it references anyway, and the role's
    policies, which it needs attached before it runs. Construct dependencies become CloudFormation ones after the
    aspects, so the first hook that sees them is validation; the policies (the default one and any overflow managed
    policy IAM's size limits split off) stay. Every user's template is then clean under cfn-lint with no configuration.
    """

    def __init__(self, function: lambda_.Function, role: iam.Role) -> None:
        self._function = cast(CfnResource, function.node.default_child)
        self._role = cast(CfnResource, role.node.default_child)

    def validate(self) -> list[str]:
        self._function.remove_resource_dependency(self._role)
        return []
