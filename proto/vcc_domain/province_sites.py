"""Reading and cross-checking the ``[[sites]]`` of a province file."""

from __future__ import annotations

import re

from vcc_domain.province import Site
from vcc_domain.province_schema import Problems, Table

SITE_ID = re.compile(r"[A-Z][A-Z0-9]{1,7}")
AREA_CODE = re.compile(r"0[0-9]{2,3}")
MAX_DISTANCE_KM = 20_000.0


def read_site(t: Table) -> Site:
    site = Site(
        id=t.string("id", pattern=SITE_ID),
        name=t.string("name"),
        area_codes=t.strings("area_codes", pattern=AREA_CODE, nonempty=True),
        seats=t.integer("seats", lo=0),
        lat=t.number("lat", -90.0, 90.0),
        lon=t.number("lon", -180.0, 180.0),
        distances_km=t.number_map("distances_km", 0.0, MAX_DISTANCE_KM),
        grpc_port=t.optional_int("grpc_port", 1, 65535),
        metrics_port=t.optional_int("metrics_port", 1, 65535),
        trunk_lines=t.optional_int("trunk_lines", 0),
        ivr_ports=t.optional_int("ivr_ports", 0),
    )
    if (site.lat is None) != (site.lon is None):
        t.problem("lat" if site.lat is None else "lon", "lat and lon must be given together")
    t.close()
    return site


def check_sites(sites: list[Site], p: Problems) -> None:
    """Unique ids, area codes and ports; distances name known sites and agree; every pair
    of sites has a distance (explicit, or both have coordinates)."""
    index = {s.id: i for i, s in reversed(list(enumerate(sites)))}
    seen_ids: set[str] = set()
    area_owner: dict[str, str] = {}
    port_owner: dict[int, str] = {}
    for i, s in enumerate(sites):
        path = f"sites[{i}]"
        if s.id and s.id in seen_ids:
            p.add(f"{path}.id", f"duplicate site {s.id!r} (first at sites[{index[s.id]}])")
        seen_ids.add(s.id)
        for j, code in enumerate(s.area_codes):
            if code in area_owner and area_owner[code] != s.id:
                p.add(
                    f"{path}.area_codes[{j}]",
                    f"{code!r} is already served by site {area_owner[code]!r}",
                )
            area_owner.setdefault(code, s.id)
        for key, port in (("grpc_port", s.grpc_port), ("metrics_port", s.metrics_port)):
            if port is not None:
                if port in port_owner:
                    p.add(f"{path}.{key}", f"port {port} is already used by {port_owner[port]}")
                port_owner.setdefault(port, f"site {s.id!r}")
        for other, km in s.distances_km.items():
            _check_distance(sites, index, i, other, km, p)
    _check_pairs(sites, p)


def _check_distance(
    sites: list[Site], index: dict[str, int], i: int, other: str, km: float, p: Problems
) -> None:
    s = sites[i]
    path = f"sites[{i}].distances_km.{other}"
    if other not in index:
        p.add(path, f"unknown site {other!r}")
    elif other == s.id:
        p.add(path, "a site has no distance to itself")
    else:
        back = sites[index[other]].distances_km.get(s.id)
        if back is not None and back != km and index[other] < i:
            p.add(
                path,
                f"{km} km disagrees with sites[{index[other]}].distances_km.{s.id} = {back} km",
            )


def _check_pairs(sites: list[Site], p: Problems) -> None:
    for i, a in enumerate(sites):
        for b in sites[i + 1 :]:
            if not a.id or not b.id or a.id == b.id:
                continue
            explicit = b.id in a.distances_km or a.id in b.distances_km
            coords = None not in (a.lat, a.lon, b.lat, b.lon)
            if not explicit and not coords:
                p.add(
                    f"sites[{i}]",
                    f"no distance to site {b.id!r}: give lat/lon on both sites or distances_km",
                )
