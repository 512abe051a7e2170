"""Refusals that protect held numbers, checked before anything runs (the caller raises DeployFailed with them).

- CloudFormation's own: a logical id cannot change its resource type ("Update of resource type is not permitted").
- The naive port from CfnPhoneNumber: a deploy that removes an AWS::Connect::PhoneNumber whose DeletionPolicy releases
  its number while it adds a Custom::ConnectPhoneNumber. CloudFormation would release the published number (up to
  180 days of cooldown) and the new resource would claim or adopt another; ClaimedPhoneNumber's ``migrate_from``
  moves it safely (docs/migration.md). Real CloudFormation cannot know this; rehearsing locally catches it.
- A deploy or destroy that would release, through an AWS::Connect::PhoneNumber's Delete, a number a
  Custom::ConnectPhoneNumber holds (adopted) and keeps: the release would pull the number from under it.

The checks walk nested stacks too (their states are saved under ``<parent>-<logical id>``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from .providers import nested_stack_name
from .state import ResourceState, keeps
from .template import CUSTOM_TYPES, NESTED_STACK_TYPE, PHONE_NUMBER_TYPE, Resource, StackTemplate

#: A stack's saved resources by stack name (empty when it has none), read without side effects.
Saved = Callable[[str], dict[str, ResourceState]]
#: Every saved stack name.
Names = Callable[[], list[str]]
GUIDE = "docs/migration.md"
_MIGRATE = (
    "Migrate instead: keep the CfnPhoneNumber and declare ClaimedPhoneNumber(..., migrate_from=<the CfnPhoneNumber>), "
    f"which sets it to Retain and adopts its number; deploy; then remove the CfnPhoneNumber ({GUIDE})"
)


@dataclass(frozen=True)
class _Pair:
    """One stack of the tree: what its state holds and what the template being deployed declares (empty: going)."""

    name: str
    old: Mapping[str, ResourceState]
    new: Mapping[str, Resource]


def deploy_refusals(stack: StackTemplate, saved: Saved, names: Names) -> list[str]:
    """Why deploying ``stack`` (and its nested stacks) must not start; empty when it may."""
    pairs = list(_pairs(stack, saved))
    found = [
        f"{pair.name}: {logical} changes type from {pair.old[logical].type} to {resource.type}: CloudFormation refuses it "
        "(Update of resource type is not permitted); give the new resource another construct id"
        for pair in pairs
        for logical, resource in pair.new.items()
        if logical in pair.old and pair.old[logical].type != resource.type
    ]
    released = [(pair.name, logical, state) for pair in pairs for logical, state in pair.old.items() if _released(state, pair.new.get(logical))]
    added = [f"{r.type} {r.path}" for pair in pairs for logical, r in pair.new.items() if r.type in CUSTOM_TYPES and logical not in pair.old]
    if released and added:
        found.append(
            f"this deploy removes {_describe(released)} under DeletionPolicy Delete, which releases the number, while it adds "
            f"{', '.join(added)}: a port from CfnPhoneNumber that loses the published number. {_MIGRATE}. To release it and "
            "claim another on purpose, remove the CfnPhoneNumber in a deploy of its own"
        )
    going = {(pair.name, logical) for pair in pairs for logical in pair.old if logical not in pair.new}
    found += _held_elsewhere(released, saved, names, going)
    return found


def destroy_refusals(stack_name: str, saved: Saved, names: Names) -> list[str]:
    """Why destroying ``stack_name`` (and its nested stacks) must not start; empty when it may."""
    pairs = list(_gone(stack_name, saved))
    released = [(pair.name, logical, state) for pair in pairs for logical, state in pair.old.items() if _released(state, None)]
    # A holder in the destroyed stacks that releases the number too means the release is meant.
    going = {(pair.name, logical) for pair in pairs for logical, state in pair.old.items() if not keeps(state.deletion_policy, rollback=False)}
    return _held_elsewhere(released, saved, names, going)


def _released(state: ResourceState, now: Resource | None) -> bool:
    """An AWS::Connect::PhoneNumber that leaves the template (or changes type) under a policy that releases its number."""
    gone = now is None or now.type != state.type
    return state.type == PHONE_NUMBER_TYPE and gone and not keeps(state.deletion_policy, rollback=False) and state.physical_id.startswith("arn:")


def _held_elsewhere(released: list[tuple[str, str, ResourceState]], saved: Saved, names: Names, going: set[tuple[str, str]]) -> list[str]:
    """For each number ``released`` would release that a Custom::ConnectPhoneNumber staying in a stack holds: why not."""
    holders = {
        state.physical_id: f"{state.type} {state.path or logical} of stack {name}"
        for name in names()
        for logical, state in saved(name).items()
        if state.type in CUSTOM_TYPES and (name, logical) not in going
    }
    return [
        f"{name}: removing {state.type} {state.path or logical} under DeletionPolicy Delete would release {_number(state)}, which "
        f"{holders[state.physical_id]} holds: set the CfnPhoneNumber to RemovalPolicy.RETAIN and deploy before it leaves the stack "
        f"(migrate_from does; {GUIDE})"
        for name, logical, state in released
        if state.physical_id in holders
    ]


def _pairs(stack: StackTemplate, saved: Saved) -> Iterator[_Pair]:
    """The stack and its nested stacks, as deployed and as declared; a nested stack the template drops is going."""
    old = saved(stack.name)
    yield _Pair(stack.name, old, stack.resources)
    for logical, resource in stack.resources.items():
        if resource.type == NESTED_STACK_TYPE:
            try:
                child = stack.nested(resource, nested_stack_name(stack.name, logical))
            except ValueError:  # its template is missing: refused as unsupported, before this runs
                continue
            yield from _pairs(child, saved)
    for logical, state in old.items():
        if state.type == NESTED_STACK_TYPE and getattr(stack.resources.get(logical), "type", None) != NESTED_STACK_TYPE:
            yield from _gone(nested_stack_name(stack.name, state.logical_id or logical), saved)


def _gone(stack_name: str, saved: Saved) -> Iterator[_Pair]:
    """A stack that leaves with everything in it, nested stacks included."""
    old = saved(stack_name)
    yield _Pair(stack_name, old, {})
    for logical, state in old.items():
        if state.type == NESTED_STACK_TYPE:
            yield from _gone(nested_stack_name(stack_name, state.logical_id or logical), saved)


def _number(state: ResourceState) -> str:
    address = state.attributes.get("Address")
    return f"{address} ({state.physical_id})" if address else state.physical_id


def _describe(released: list[tuple[str, str, ResourceState]]) -> str:
    return ", ".join(f"{state.type} {state.path or logical} ({_number(state)})" for _, logical, state in released)
