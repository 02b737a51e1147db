"""Reading a business's IVR menu tree and work-order form from a province file."""

from __future__ import annotations

import re

from vcc_domain.province import IvrMenu, IvrNode, NodeKind, SelfService, Text, WorkOrderSpec
from vcc_domain.province_schema import Table

NODE_ID = re.compile(r"[a-z][a-z0-9_]{0,31}")
DIGIT = re.compile(r"[0-9*#]")
FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
DEFAULT_INVALID = IvrMenu("", ()).invalid_prompt


def read_ivr(t: Table | None, default_max_invalid: int) -> IvrMenu:
    """``[businesses.ivr]``: root, max_invalid_tries, invalid_prompt, ``[[...nodes]]``."""
    if t is None:
        return IvrMenu("", ())
    root = t.string("root", pattern=NODE_ID)
    tries = t.integer("max_invalid_tries", default_max_invalid, lo=1, hi=20)
    invalid = t.text("invalid_prompt") if t.has("invalid_prompt") else DEFAULT_INVALID
    node_tables = t.tables("nodes", required=True)
    nodes = [_read_node(n) for n in node_tables]
    t.close()
    ids: dict[str, int] = {}
    for i, node in enumerate(nodes):
        if node.id and node.id in ids:
            t.problem(
                f"nodes[{i}].id", f"duplicate IVR node {node.id!r} (first at nodes[{ids[node.id]}])"
            )
        ids.setdefault(node.id, i)
    if root and root not in ids:
        t.problem("root", f"unknown IVR node {root!r}")
    for i, node in enumerate(nodes):
        for digit, target in node.options.items():
            if target and target not in ids:
                t.problem(f"nodes[{i}].options.{digit}", f"unknown IVR node {target!r}")
        if node.next is not None and node.next not in ids:
            t.problem(f"nodes[{i}].next", f"unknown IVR node {node.next!r}")
    return IvrMenu(root, tuple(nodes), tries, invalid)


def _read_node(t: Table) -> IvrNode:
    node_id = t.string("id", pattern=NODE_ID)
    kind = t.string("kind", NodeKind.MENU, choices=frozenset(NodeKind))
    prompt = t.text("prompt") if kind != NodeKind.QUEUE or t.has("prompt") else Text("", "")
    options: dict[str, str] = {}
    opt_table = t.table("options")
    if opt_table is not None:
        for digit in opt_table.data:
            if not DIGIT.fullmatch(digit):
                opt_table.problem(digit, f"option keys are single keys 0-9, * or #; got {digit!r}")
            options[digit] = opt_table.string(digit, pattern=NODE_ID)
    queue = t.optional_str("queue", NODE_ID)
    service = t.string("service", choices=frozenset(SelfService)) if t.has("service") else ""
    after = t.optional_str("next", NODE_ID)
    if kind == NodeKind.MENU and not options:
        t.problem("options", "a menu node needs at least one option")
    if kind != NodeKind.MENU and opt_table is not None:
        t.problem("options", f"only menu nodes have options (this node is {kind!r})")
    if kind != NodeKind.QUEUE and queue is not None:
        t.problem("queue", f"only queue nodes name a queue (this node is {kind!r})")
    if kind == NodeKind.SELF_SERVICE and not t.has("service"):
        t.problem("service", f"a self_service node needs one of {', '.join(SelfService)}")
    if kind != NodeKind.SELF_SERVICE and (service or after is not None):
        t.problem(
            "service" if service else "next",
            f"only self_service nodes have service/next (this node is {kind!r})",
        )
    t.close()
    return IvrNode(
        node_id,
        NodeKind(kind or NodeKind.MENU),
        prompt,
        options,
        queue,
        SelfService(service) if service else None,
        after,
    )


def read_work_order(t: Table | None) -> WorkOrderSpec | None:
    """``[businesses.work_order]``: what an unfinished request becomes (DOMAIN.md §4)."""
    if t is None:
        return None
    deadline = t.integer("deadline_working_days", lo=0, hi=365)
    latest = t.integer("latest_working_days", deadline, lo=0, hi=365)
    if latest < deadline:
        t.problem(
            "latest_working_days", f"must be >= deadline_working_days ({deadline}), got {latest}"
        )
    spec = WorkOrderSpec(
        type=t.string("type", pattern=FIELD_NAME),
        department=t.string("department"),
        deadline_working_days=deadline,
        latest_working_days=latest,
        reply_working_days=t.integer("reply_working_days", 1, lo=0, hi=365),
        callback_percent=t.integer("callback_percent", 100, lo=0, hi=100),
        fields=t.strings("fields", (), FIELD_NAME),
    )
    t.close()
    return spec
