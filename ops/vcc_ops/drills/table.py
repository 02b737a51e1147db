"""The README's drill table, from a game day's JSON (``vcc drill plan FILE --json F``).

``python -m vcc_ops.drills.table F [--readme README.md]`` prints the Markdown, or rewrites
the README between the ``drills:begin`` / ``drills:end`` markers: every scenario, its
fault, what it measures and that run's figures (a scenario the run did not have: "not in
this run"), then the game day's score.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from vcc_ops.exits import BadInput

BEGIN, END = "<!-- drills:begin -->", "<!-- drills:end -->"

# scenario -> (the fault, what it measures)
SCENARIOS: dict[str, tuple[str, str]] = {
    "site-kill": (
        "SIGKILL a site (`--site`, default the last), restart it",
        "`detection_s` (lease lapsed), `routing_map_s`, `reroute_s` (scored: until the last "
        "failed new call of its area), `recovery_s` (serves its area again)",
    ),
    "site-partition": (
        "cut a site from the hubs, NATS and the other sites (it keeps etcd)",
        "its area's calls during the cut (taken by it / elsewhere), lease kept and first in "
        "the routing map, events it wrote, applied by the hub meanwhile, `backlog_at_heal`, "
        "`recovery_s` (hub caught up), `backlog_applied`",
    ),
    "hub-leader-kill": (
        "SIGKILL the leader hub, restart it",
        "`takeover_s` (scored), `recovery_s` (registered again as standby)",
    ),
    "hub-partition": (
        "cut the leader from the sites and NATS",
        "`recovery_s` (hub caught up after the heal)",
    ),
    "nats-node-kill": (
        "SIGKILL one NATS server (`--node`), restart it",
        "`site_leases_lost`, `leader_changes`, `replication_resumed_s` (first event written "
        "after the kill applied at the hub, server still down; waits past the hold up to "
        "20 s), `recovery_s` (server healthy)",
    ),
    "etcd-member-kill": ("SIGKILL one etcd member, restart it", "as `nats-node-kill`"),
    "slow-link": (
        "`--delay-ms` more *each way* on every site's links to the hubs and NATS",
        "`link_rtt_ms` before/during/after (NATS `PING` through the proxy on a connection it "
        "takes for the site's), `added_rtt_ms`, replication delay (event → applied at hub) "
        "p50/p99 ms before/during/after",
    ),
    "sip-site-kill": (
        "SIPp callers of a site's area through the SIP edge (Kamailio); SIGKILL the site "
        "and its SIP agent (`--site`, default KM), restart both",
        "`sip_reroute_s` (scored against `reroute_s`: kill → the first new INVITE of its "
        "area answered at the next site; the slowest new INVITE → 200), SIP calls in "
        "flight at the killed site and lost of them, `sip_calls_lost` beyond those "
        "(scored, 0), `sip_recovery_s` (a new INVITE answered by the site again); the "
        "`site-kill` figures of the gRPC callers",
    ),
    "db-restart": (
        "SIGKILL PostgreSQL (every node's database), restart it (`--postgres`)",
        "calls during the outage and their states, `db_restart_s`, `writes_resumed_s` (every "
        "site commits again), `first_call_taken_s`, `committed_writes_lost`, `recovery_s`",
    ),
}


def _s(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _site_kill(m: dict[str, Any], p: dict[str, Any]) -> str:
    return (
        f"{p.get('site', '')}: {_s(m['detection_s'])}, {_s(m['routing_map_s'])}, "
        f"{_s(m['reroute_s'])} (first call elsewhere {_s(m['first_rerouted_call_s'])}), "
        f"{_s(m['recovery_s'])}"
    )


def _site_partition(m: dict[str, Any], p: dict[str, Any]) -> str:
    site = p.get("site", "")
    kept = "kept" if m["site_lease_kept"] and m["site_first_in_routing_map"] else "NOT kept"
    return (
        f"{site}: {m['area_calls_at_site']}/{m['area_calls']} calls taken by {site}, "
        f"lease and map {kept}; {m['site_events_during']} events written, "
        f"{m['hub_applied_during']} applied, backlog {m['backlog_at_heal']}, caught up "
        f"{_s(m['recovery_s'])} s after the heal"
    )


def _server_kill(m: dict[str, Any], p: dict[str, Any]) -> str:
    leases = ", ".join(m["site_leases_lost"]) or "none"
    return (
        f"{p.get('node', '')}: {leases}, {m['leader_changes']}, "
        f"{_s(m['replication_resumed_s'])}, {_s(m['recovery_s'])}"
    )


def _slow_link(m: dict[str, Any], p: dict[str, Any]) -> str:
    def arrow(key: str) -> str:
        return " → ".join(f"{m[f'{key}_{w}']:g}" for w in ("before", "during", "after"))

    return (
        f"{p.get('delay_ms', 0):g} ms: rtt {arrow('link_rtt_ms')} ms "
        f"(+{m['added_rtt_ms']:g}); p50 {arrow('replication_p50_ms')} ms, "
        f"p99 {arrow('replication_p99_ms')} ms"
    )


def _db_restart(m: dict[str, Any], _p: dict[str, Any]) -> str:
    states = ", ".join(f"{n} {s}" for s, n in sorted(m["outage_call_states"].items()))
    return (
        f"{m['calls_during_outage']} calls during the outage ({states}); "
        f"{_s(m['db_restart_s'])}, {_s(m['writes_resumed_s'])}, "
        f"{_s(m['first_call_taken_s'])}, {m['committed_writes_lost']} lost, "
        f"{_s(m['recovery_s'])}"
    )


def _sip_site_kill(m: dict[str, Any], p: dict[str, Any]) -> str:
    answered = ", ".join(f"{n} at {s}" for s, n in m["sip_answered_by_site"].items())
    return (
        f"{p.get('site', '')}: {_s(m['sip_reroute_s'])} to {m['sip_next_site']} (slowest "
        f"new setup {_s(m['sip_new_calls_setup_max_s'])}); {m['sip_calls']} SIP calls "
        f"({answered}), "
        f"{m['sip_calls_lost_in_flight']} of {m['sip_calls_in_flight_at_kill']} in flight "
        f"lost, {m['sip_calls_lost']} lost beyond; {_s(m['sip_recovery_s'])}; gRPC callers "
        f"{_s(m['detection_s'])}, {_s(m['routing_map_s'])}, {_s(m['reroute_s'])}, "
        f"{_s(m['recovery_s'])}"
    )


FIGURES: dict[str, Callable[[dict[str, Any], dict[str, Any]], str]] = {
    "site-kill": _site_kill,
    "site-partition": _site_partition,
    "hub-leader-kill": lambda m, _p: f"{_s(m['takeover_s'])}, {_s(m['recovery_s'])}",
    "hub-partition": lambda m, _p: _s(m["recovery_s"]),
    "nats-node-kill": _server_kill,
    "etcd-member-kill": _server_kill,
    "slow-link": _slow_link,
    "db-restart": _db_restart,
    "sip-site-kill": _sip_site_kill,
}


def _lost_here(drill: dict[str, Any], before: Counter[str]) -> Counter[str]:
    """Why calls were lost or refused during this drill (the ledger counts the province's
    calls so far, so a drill's are the difference from the drills before it)."""
    now = Counter({k: int(v) for k, v in drill["checks"].get("lost_reasons", {}).items()})
    return now - before


def _row(drill: dict[str, Any], lost: Counter[str]) -> str:
    name = drill["scenario"]
    fault, measures = SCENARIOS.get(name, ("", ""))
    if drill["verdict"] == "SKIP":
        return f"| `{name}` | {fault} | {measures} | skipped: {drill.get('skipped', '')} |"
    try:
        figures = FIGURES[name](drill["measured"], drill.get("params", {}))
    except (KeyError, TypeError, ValueError):
        figures = json.dumps(drill["measured"])
    if lost:
        figures += "; calls lost or refused: " + ", ".join(
            f"{n} `{r}`" for r, n in sorted(lost.items())
        )
    if drill["verdict"] != "PASS":
        figures += f" — **{drill['verdict']}**: " + ", ".join(map(str, drill.get("failed", [])))
    return f"| `{name}` | {fault} | {measures} | {figures} |"


def render(doc: dict[str, Any], source: str) -> str:
    drills = doc["drills"]
    lines = ["| scenario | fault | measured | figures of this run |", "|---|---|---|---|"]
    seen: Counter[str] = Counter()
    for drill in drills:
        lost = _lost_here(drill, seen)
        seen += lost
        lines.append(_row(drill, lost))
    ran = {d["scenario"] for d in drills}
    for name, (fault, measures) in SCENARIOS.items():
        if name not in ran:  # added since that run: documented, no figures yet
            lines.append(f"| `{name}` | {fault} | {measures} | not in this run |")
    totals = {
        k: sum(int(d["checks"].get(k, 0)) for d in drills)
        for k in ("events_lost", "duplicates", "double_assignments")
    }
    wall = doc["finished_at"] - drills[0]["started_at"] if drills else 0.0
    levels = "; ".join(
        f"{d['scenario']} "
        + "/".join(
            f"{d['service_level'][w]['service_level_pct']:g}" for w in ("before", "during", "after")
        )
        for d in drills
        if "service_level" in d
    )
    failed = [d["scenario"] for d in drills if d["verdict"] not in ("PASS", "SKIP")]
    lines += [
        "",
        f"Every drill: {totals['events_lost']} events lost, {totals['duplicates']} "
        f"duplicates, {totals['double_assignments']} double assignments. The game day "
        f"took {wall:.0f} s wall from its first drill and scored **{doc['score']}**"
        + (f" (failed: {', '.join(failed)})" if failed else "")
        + ". Service level "
        f"before/during/after each drill, %: {levels}.",
        "",
        f"Generated from `{source}` by `python -m vcc_ops.drills.table {source} "
        "--readme README.md`.",
    ]
    return "\n".join(lines)


def rewrite_readme(readme: Path, section: str) -> None:
    text = readme.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise BadInput(f"{readme}: no {BEGIN} ... {END} markers")
    readme.write_text(pattern.sub(lambda _m: f"{BEGIN}\n{section}\n{END}", text), encoding="utf-8")


@click.command()
@click.argument("json_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--readme",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Rewrite the section between the drills markers here.",
)
def main(json_file: Path, readme: Path | None) -> None:
    """Print (or write into the README) the drill table of a game day's JSON."""
    section = render(json.loads(json_file.read_text(encoding="utf-8")), json_file.as_posix())
    if readme is None:
        click.echo(section)
    else:
        rewrite_readme(readme, section)


if __name__ == "__main__":
    main()
