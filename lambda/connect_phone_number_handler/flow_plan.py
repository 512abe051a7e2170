"""The flow plan: the one flow step of a request, and the routing record the marker keeps (docs/rollbacks.md).

A declared flow is associated unless it is the one associated now. The stack's first declared flow records in
the marker the routing it replaces; removing the prop (or rolling that Update back) restores it. A move records a
routing set by hand before the move drops it, and a move back restores it. One record at a time: plan_flow says
when it is written, kept and spent. Pure: the association is read by the caller (apply.route_flow).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import arns
from .marker import NOWHERE


@dataclass(frozen=True)
class FlowPlan:
    """One flow step on ``instance_arn``: associate ``flow_arn``, or disassociate when it is None.

    ``record`` is what to write into the marker as the routing from before the stack's first flow (None leaves
    the marker as it is): a flow, or NOWHERE, written before the step; or "" (the record is spent: the routing it
    kept was restored), written after it. ``change`` is False when only the record is to be written.
    """

    instance_arn: str
    flow_arn: str | None
    record: str | None = None
    change: bool = True


def flow_instance(declared: str | None, declared_before: str | None) -> str | None:
    """The instance of the flow the stack declares, else of the one it declared before; None when it declares none."""
    flow = declared or declared_before
    return arns.flow_instance_arn(flow) if flow else None


def flow_to_read(declared: str | None, declared_before: str | None, on_instance: str | None, recorded: str | None = None) -> str | None:
    """The instance whose flow associations to read before plan_flow; None when no read can change the step.

    ``on_instance`` is the instance the number is on now (None for a traffic distribution group's number). A
    number moved off the instance of the flow the stack declared before has no association there to read. With
    no flow declared, only a recorded routing on the number's instance (a move back, after the stack's own move
    dropped it) is worth a read.
    """
    if declared is None and declared_before is None:
        restorable = recorded not in (None, NOWHERE) and on_instance is not None and arns.flow_instance_arn(str(recorded)) == on_instance
        return on_instance if restorable else None
    if declared is None and declared_before is not None and on_instance is not None and on_instance != arns.flow_instance_arn(declared_before):
        return None
    return flow_instance(declared, declared_before)


def plan_flow(
    declared: str | None,
    declared_before: str | None,
    associated: str | None,
    recorded: str | None = None,
    on_instance: str | None = None,
    *,
    moved_from: str | None = None,
    restore: str | None = None,
) -> FlowPlan | None:
    """The flow step, from the association read now (after any move: a move drops Connect's association).

    ``recorded`` is the routing the marker keeps from before the stack's first flow: a flow, NOWHERE, or None (no
    record). ``on_instance`` is the instance the number is on now (None for a traffic distribution group's number).
    ``associated`` is None when nothing routes the number on the instance read, or when no read could tell
    (flow_to_read: the number was moved off the stack's flow's instance). ``moved_from``: the target this request
    moved the number from; a record of a routing there is this request's own (its RecordRouting, read before the move).
    ``restore``: the routing the stack's earlier move dropped, read from the marker before this request's move recorded
    another (a move back); restored where the number is now, and spent if the marker still holds it.
    """
    if declared is not None:
        instance = arns.flow_instance_arn(declared)
        # A record this Update wrote: read before its own move, on the instance it moves from; or by an earlier delivery
        # of it that associated the flow since (a routing read on the declared flow's instance, or NOWHERE).
        own = recorded not in (None, NOWHERE) and moved_from is not None and arns.flow_instance_arn(str(recorded)) == moved_from
        earlier = associated == declared and (recorded == NOWHERE or (recorded is not None and arns.flow_instance_arn(recorded) == instance))
        # Or a record of the instance this Update brings the number back to from another instance: the routing it had
        # there before. (Not from a group: a group's number routes on that same instance, and a rollback onto the group
        # would restore it there.)
        back_from = moved_from is not None and ":instance/" in moved_from and moved_from != instance
        arriving = back_from and recorded not in (None, NOWHERE) and arns.flow_instance_arn(str(recorded)) == instance
        if declared_before is not None or (recorded is not None and (own or earlier or arriving)):
            # Declared before; or declared first by this Update, whose own move, or earlier delivery, kept the record.
            return None if associated == declared else FlowPlan(instance, declared)
        # The stack declares a flow for the first time: record the routing it replaces, before the association. A
        # record an earlier move left (for a move back) is replaced: what a rollback restores is the routing of now.
        return FlowPlan(instance, declared, associated or NOWHERE, change=associated != declared)
    if declared_before is None:
        # No flow declared, before or now: a routing the stack's own move dropped comes back once the number is back
        # on its instance (unless routed by hand again there). Either way the record is spent there.
        back = restore if restore is not None else recorded
        if back not in (None, NOWHERE) and on_instance is not None and arns.flow_instance_arn(str(back)) == on_instance:
            return FlowPlan(on_instance, back, record="" if recorded == back else None, change=associated is None)
        return None
    stacks = arns.flow_instance_arn(declared_before)
    reachable = on_instance or stacks
    # A record of another instance than the number's (the stack moved it since) is kept for when it is back there.
    elsewhere = recorded not in (None, NOWHERE) and arns.flow_instance_arn(str(recorded)) != reachable
    spend = None if recorded is None or elsewhere else ""
    if associated is not None and associated != declared_before:
        # Changed by hand since: left alone, and the record is spent (the routing of now wins over the one of before).
        return FlowPlan(stacks, None, record=spend, change=False) if spend is not None else None
    # The stack's flow routes the number, or nothing does (a move dropped it): the routing from before the stack's
    # first flow comes back, if the number can route to it where it is; else the stack's flow goes.
    if recorded not in (None, NOWHERE) and not elsewhere:
        return FlowPlan(reachable, recorded, record="", change=recorded != associated)
    if associated == declared_before:
        return FlowPlan(stacks, None, record=spend)
    return FlowPlan(stacks, None, record=spend, change=False) if spend is not None else None
