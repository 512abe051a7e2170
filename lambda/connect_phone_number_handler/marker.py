"""The claim marker: the one tag this library keeps on every number it claims or adopts.

Its value says which resource claimed or adopted the number, by which request, whether CloudFormation
was told of it, and (for an adoption) where the number was before. Every shape ever written is parsed
here, so numbers marked by earlier releases keep their meaning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .arns import flow_id, flow_instance_arn

# Every number this library claims carries this tag. Its value (ClaimMarker) names the resource
# and the CloudFormation request that claimed it, so a repeated delivery of that request can find
# the number again, and a rollback can find a replacement nobody was told about.
# Connect allows 50 tags, so users get one fewer.
CLAIM_MARKER_TAG = "cdk-connect-phone-number:claim-request"


@dataclass(frozen=True)
class ClaimMarker:
    """The value of the CLAIM_MARKER_TAG tag: who claimed or adopted the number, and whether anyone was told.

    ``RESOURCE/REQUEST`` names the resource (resource_token) and the request that claimed the
    number. A replacement claim carries ``RESOURCE/REQUEST/pending`` until the handler answers
    SUCCESS: only a pending replacement may be released by a rollback, so a number that
    CloudFormation was told about (or that RETAIN keeps) is never released that way. An adopted
    number carries ``RESOURCE/REQUEST/adopted/ORIGIN[/flow=FLOW]``: it was the account's before, so no
    clean-up of a failed claim ever releases it; ORIGIN (``instance=ID`` or
    ``traffic-distribution-group=ID``) and FLOW (``INSTANCE_ID:FLOW_ID``) are where it was and the flow
    it routed to before, written before the adoption's first change, so a redelivery can still undo it
    (at most 229 characters); ``/kept`` ends it when the number was this resource's own kept claim before.
    Numbers claimed by earlier releases of this library carry ``REQUEST`` alone and are
    never pending. A claimed number whose routing an Update of the stack replaced carries
    ``RESOURCE/REQUEST/flow=FLOW``: the flow it routed to before the stack first declared one, which removing
    the prop (or rolling back that Update) restores. All of it fits in the one reserved tag, so users keep 49.
    """

    request: str
    resource: str = ""
    pending: bool = False
    adopted: bool = False
    origin: str = ""  # adopted: the target before the adoption, as RESOURCE_TYPE=ID
    # The flow it routed to before (the adoption, or the stack's first declared flow), if any, as INSTANCE_ID:FLOW_ID.
    origin_flow: str = ""
    # RESOURCE/REQUEST/... in a form this release does not know (a later release's, or edited by hand).
    unknown: bool = False
    # adopted: the number carried this resource's own claim marker before (it kept it by RETAIN), so a give-back
    # marks it as this resource's claim again rather than unmarked (``…/kept``).
    kept: bool = False

    @property
    def value(self) -> str:
        """The tag value."""
        parts = [self.resource, self.request] if self.resource else [self.request]
        flow = [f"flow={self.origin_flow}"] if self.origin_flow else []
        if self.pending:
            parts.append("pending")
        elif self.adopted:
            parts += ["adopted", *([self.origin] if self.origin else []), *flow, *(["kept"] if self.kept else [])]
        elif self.resource:
            parts += [*flow, *(["kept"] if self.kept else [])]
        return "/".join(parts)

    def answered(self) -> ClaimMarker:
        """The same marker once CloudFormation has been told about the number."""
        return ClaimMarker(self.request, self.resource, adopted=self.adopted, origin=self.origin, origin_flow=self.origin_flow, kept=self.kept)

    @classmethod
    def parse(cls, value: str) -> ClaimMarker:
        """The marker a tag value holds. A value this library did not write is never pending or adopted."""
        parts = value.split("/")
        if len(parts) == 3 and parts[2] == "pending":
            return cls(parts[1], parts[0], pending=True)
        if 3 <= len(parts) <= 6 and parts[2] == "adopted":
            origin = next((p for p in parts[3:] if not p.startswith("flow=") and p != "kept"), "")
            flow = next((p.removeprefix("flow=") for p in parts[3:] if p.startswith("flow=")), "")
            return cls(parts[1], parts[0], adopted=True, origin=origin, origin_flow=flow, kept="kept" in parts[3:])
        if 3 <= len(parts) <= 4 and all(p.startswith("flow=") or p == "kept" for p in parts[2:]) and len(set(parts[2:])) == len(parts) - 2:
            flow = next((p.removeprefix("flow=") for p in parts[2:] if p.startswith("flow=")), "")
            return cls(parts[1], parts[0], origin_flow=flow, kept="kept" in parts[2:])
        if len(parts) == 2:
            return cls(parts[1], parts[0])
        if len(parts) > 2:
            return cls(parts[1], parts[0], unknown=True)
        return cls(value)

    def records_routing_on(self, target_arn: str) -> bool:
        """Whether the routing this marker records (``flow=INSTANCE_ID:FLOW_ID``) is one on ``target_arn``'s instance."""
        return bool(self.origin_flow) and self.origin_flow.partition(":")[0] == target_arn.rsplit("/", 1)[-1]

    def kept_claim(self) -> ClaimMarker:
        """An adoption's marker turned back into this resource's claim, kept by its removal policy (``RESOURCE/REQUEST/kept``):
        a repeated Delete keeps it (rules.keep_on_delete), and a later adoption by this resource marks it ``kept`` again."""
        return ClaimMarker(self.request, self.resource, kept=True)

    def origin_arn(self, number_arn: str) -> str | None:
        """The ARN of the target the number was on before its adoption (same partition, Region and account)."""
        if "=" not in self.origin:
            return None
        kind, _, ident = self.origin.partition("=")
        return f"{number_arn.partition(':phone-number/')[0]}:{kind}/{ident}"

    def origin_flow_arn(self, number_arn: str) -> str | None:
        """The ARN of the flow the number routed to before its adoption (or before the stack first declared one)."""
        instance, _, flow = self.origin_flow.partition(":")
        return f"{number_arn.partition(':phone-number/')[0]}:instance/{instance}/contact-flow/{flow}" if flow else None

    def recorded_routing(self, number_arn: str) -> str | None:
        """The routing this marker records, for a number it claimed (not adopted): a flow's ARN, NOWHERE, or None (no record)."""
        if self.origin_flow == NOWHERE:
            return NOWHERE
        return self.origin_flow_arn(number_arn)


def origin_of(target_arn: str) -> str:
    """A target ARN as a marker's ORIGIN part: ``instance=ID`` or ``traffic-distribution-group=ID``."""
    return target_arn.rsplit(":", 1)[-1].replace("/", "=", 1)


# A record that the number routed to no flow (``.../flow=-``): written where "no record" would be taken for unknown.
# Earlier releases read it as no record, which is what they did before.
NOWHERE = "-"


def origin_flow_of(flow_arn: str | None) -> str:
    """A flow ARN as a marker's FLOW part, ``INSTANCE_ID:FLOW_ID`` (empty for no flow)."""
    if not flow_arn:
        return ""
    if flow_arn == NOWHERE:
        return NOWHERE
    return f"{flow_instance_arn(flow_arn).rsplit('/', 1)[-1]}:{flow_id(flow_arn)}"


def marker_of(summary: Mapping[str, Any]) -> ClaimMarker | None:
    """The marker a described number carries (ClaimedPhoneNumberSummary), or None."""
    value = summary.get("Tags", {}).get(CLAIM_MARKER_TAG)
    return None if value is None else ClaimMarker.parse(value)


@dataclass(frozen=True)
class Ownership:
    """Whose a number is, as its marker says, seen from one resource and one request: every "is it ours" answered here.

    ``own`` are the tokens a marker of this resource may carry (contract.resource_tokens); ``request`` is the
    token of the request asked about (this one, or the failed Create a rollback cleans up after).
    """

    marker: ClaimMarker | None
    ours: bool
    this_request: bool

    @classmethod
    def of(cls, summary: Mapping[str, Any], own: frozenset[str], request: str) -> Ownership:
        """The ownership of a described number."""
        marker = marker_of(summary)
        ours = marker is not None and marker.resource in own
        return cls(marker, ours, marker is not None and marker.request == request)

    @property
    def managed_elsewhere(self) -> bool:
        """Another resource of this library may manage it: its marker names another resource, or none (an earlier release's).

        For an adoption nothing is taken from a stack that may still manage the number; a Delete keeps only a number
        another resource is named on (``adopted_elsewhere``).
        """
        return self.marker is not None and not self.ours

    @property
    def adopted_elsewhere(self) -> bool:
        """Its marker names another resource of this library: that resource has taken it since."""
        return self.marker is not None and bool(self.marker.resource) and not self.ours

    @property
    def claimed_here(self) -> bool:
        """The request asked about claimed it (a claim, never an adoption, in a form this release knows).

        A request's token derives from the stack, the resource and the request (contract.deterministic_token), so a
        marker naming it is this resource's whatever its form, an earlier release's included.
        """
        return self.this_request and self.marker is not None and not self.marker.adopted and not self.marker.unknown

    @property
    def adopted_here(self) -> bool:
        """This resource adopted it in the request asked about: the marker says where it was."""
        return self.ours and self.this_request and self.marker is not None and self.marker.adopted

    @property
    def pending_ours(self) -> bool:
        """A replacement of this resource that CloudFormation was never told about: only a rollback releases it."""
        return self.ours and self.marker is not None and self.marker.pending

    @property
    def ours_known(self) -> bool:
        """This resource's marker, in a form this release knows (so it may be rewritten or removed)."""
        return self.ours and self.marker is not None and not self.marker.unknown

    @property
    def unknown_form(self) -> bool:
        """A marker in a form this release does not know (a later release's, or edited by hand): it may say keep."""
        return self.marker is not None and self.marker.unknown

    def record_keeper(self, resource: str) -> ClaimMarker | None:
        """The marker that may hold a record of the routing, on a number this resource claimed (CloudFormation names it).

        This resource's marker in a known form, not pending, not an adoption's; or an earlier release's (``REQUEST``
        alone), which names no resource and so cannot hold a record: it is returned in this release's form,
        ``resource``'s, to be written.
        """
        marker = self.marker
        if marker is None or marker.pending or marker.unknown or marker.adopted:
            return None  # an adoption's marker records where the number was before the stack: it is never rewritten
        if self.ours:
            return marker
        if not marker.resource:
            return ClaimMarker(marker.request, resource)
        return None

    def routing_record(self, number_arn: str) -> str | None:
        """The routing from before the stack's first flow, as the marker records it: a flow's ARN, NOWHERE, or None.

        An adoption's marker records where the number routed before the stack (its origin flow); a claim's marker
        records the routing an Update's first flow (or the stack's own move) replaced. Read, never written, for an
        adoption's marker (record_keeper).
        """
        marker = self.marker
        if marker is None or marker.pending or marker.unknown or (marker.resource and not self.ours):
            return None
        return marker.origin_flow_arn(number_arn) if marker.adopted else marker.recorded_routing(number_arn)
