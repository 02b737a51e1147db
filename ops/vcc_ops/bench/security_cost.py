"""The cost of security in ``vcc bench all``: the site benches over mutual TLS against the
same benches in plaintext, in the same run.

``site`` and ``site_capacity`` run as the product runs (mutual TLS, every RPC checked by
the authorization table); ``site_insecure`` and ``site_capacity_insecure`` are the same
loads with the site started ``--insecure``. Each cost is the TLS figure over the plaintext
one, as a percentage worse, so positive means TLS costs and the target is at most
:data:`TARGET_PCT`:

* ``tls_cost_calls_per_s_pct``: ``(1 - tls / plaintext) * 100`` of the capacity
  (``site_capacity`` ``calls_per_s``: callers back to back; at the paced rate of ``site``
  both sides serve what is offered, so throughput shows no cost there);
* ``tls_cost_p99_pct``: ``(tls / plaintext - 1) * 100`` of ``offer_to_agent_p99_ms`` at
  the paced rate (``site``).

``paced_calls_per_s_pct`` and ``capacity_p99_pct`` are the other two comparisons, for
reference. A pair that did not run gives None.
"""

from __future__ import annotations

from typing import Any

TARGET_PCT = 15.0
# (cost field, TLS bench, plaintext bench, figure, higher is better)
PAIRS: tuple[tuple[str, str, str, str, bool], ...] = (
    ("tls_cost_calls_per_s_pct", "site_capacity", "site_capacity_insecure", "calls_per_s", True),
    ("tls_cost_p99_pct", "site", "site_insecure", "offer_to_agent_p99_ms", False),
    ("paced_calls_per_s_pct", "site", "site_insecure", "calls_per_s", True),
    (
        "capacity_p99_pct",
        "site_capacity",
        "site_capacity_insecure",
        "offer_to_agent_p99_ms",
        False,
    ),
)


def _figure(benches: dict[str, dict[str, Any]], name: str, figure: str) -> float | None:
    record = benches.get(name, {})
    value = record.get("result", {}).get(figure) if record.get("status") == "ok" else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def cost_pct(tls: float | None, plain: float | None, higher_is_better: bool) -> float | None:
    """How much worse the TLS figure is than the plaintext one, in percent."""
    if tls is None or plain is None or plain <= 0:
        return None
    ratio = tls / plain
    return round((1 - ratio if higher_is_better else ratio - 1) * 100, 1)


def security_cost(benches: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every cost field, with the figures each was computed from."""
    out: dict[str, Any] = {"target_pct": TARGET_PCT}
    rows = []
    for key, tls_bench, plain_bench, figure, higher in PAIRS:
        tls = _figure(benches, tls_bench, figure)
        plain = _figure(benches, plain_bench, figure)
        out[key] = cost_pct(tls, plain, higher)
        rows.append(
            {
                "cost": key,
                "figure": figure,
                "tls_bench": tls_bench,
                "tls": tls,
                "plaintext_bench": plain_bench,
                "plaintext": plain,
                "cost_pct": out[key],
            }
        )
    out["pairs"] = rows
    return out


def _num(value: Any) -> str:
    return "—" if value is None else f"{value:,.1f}" if abs(value) >= 100 else f"{value:.3g}"


def render(cost: dict[str, Any] | None) -> list[str]:
    """The README lines of the cost of security (none when the run has no such section)."""
    if not cost:
        return []
    lines = [
        "",
        f"| cost of mutual TLS | figure | mutual TLS | plaintext | cost % "
        f"(target ≤ {cost.get('target_pct', TARGET_PCT):g} %) |",
        "|---|---|---:|---:|---:|",
    ]
    for row in cost.get("pairs", []):
        pct = row.get("cost_pct")
        lines.append(
            f"| `{row['cost']}` | {row['tls_bench']} `{row['figure']}` | {_num(row.get('tls'))} "
            f"| {_num(row.get('plaintext'))} | {'—' if pct is None else f'{pct:+.1f}'} |"
        )
    return lines
