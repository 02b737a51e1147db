"""Which city serves what (业务生成平台): where a call for a business is served (pure).

The province decides which sites accept each business (``Business.accepting_sites``).
A call is served where it entered when that site accepts its business; otherwise it goes
to the nearest other site that does, keeping its priority and original arrival, and
counts as "served elsewhere by assignment". When no site accepts it, or none of those
that do is live, the call is refused with :data:`NOT_ACCEPTED`.

Liveness is not decided here: the site tries the candidates in the order given and takes
the first that takes the call (a site that is down, or has nobody logged in for the
skill, refuses).
"""

from __future__ import annotations

from dataclasses import dataclass

from vcc_domain.errors import NotFound
from vcc_domain.province import Province

NOT_ACCEPTED = "not_accepted"
"""End reason (and CDR outcome) of a call no live site that accepts its business took."""

ASSIGNED_OUT = "assigned_out"
"""CDR outcome at the site a call left because it does not accept the call's business;
not final (the call's final CDR is written where it was served)."""

ASSIGNED_FROM = "assigned_from"
"""Attached-data key the call carries to the serving site: the site it left."""


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a call for a business is served."""

    here: bool  # the entry site accepts the business: served locally
    candidates: tuple[str, ...] = ()  # else: sites that accept it, nearest first

    @property
    def refused(self) -> bool:
        """No site can serve it: the caller is told and the call ends."""
        return not self.here and not self.candidates


def placement(province: Province, business_id: str, site_id: str) -> Placement:
    """Where a call for ``business_id`` entering at ``site_id`` is served.

    NotFound for an unknown business or site. Candidates are the other sites that accept
    the business, nearest first (distance from the province file; ties by site id; a site
    with no known distance last).
    """
    business = province.business(business_id)
    province.site(site_id)  # NotFound for an unknown site
    if business.accepts(site_id):
        return Placement(here=True)
    others = [s for s in business.accepting_sites if s != site_id]
    return Placement(
        here=False,
        candidates=tuple(sorted(others, key=lambda s: (_distance(province, site_id, s), s))),
    )


def _distance(province: Province, a: str, b: str) -> float:
    try:
        return province.distance_km(a, b)
    except NotFound:
        return float("inf")
