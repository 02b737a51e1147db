"""The routing map in etcd: for each area code, the live sites nearest first.

Each site holds ``/vcc/sites/<ID>`` under a lease of about 2 s (see ``vcc_site.app``).
The leader hub keeps, for every area code of the province, the key
``/vcc/routing/<area_code>`` = JSON ``{"sites": [...], "revision": N}``: the province's
sites by distance from the area's home site (:meth:`Province.nearest_sites`), keeping only
those whose registration key exists; ``revision`` is the etcd revision at which that set
of live sites was read. The writer reads the registrations and the map every 250 ms (one
snapshot) and rewrites the areas whose entry in etcd differs from what it should be,
whoever wrote it (only hubs may; a key changed by hand is put back), and deletes the
entries of area codes the province does not have, in one transaction guarded by the leader key's create
revision (the leader's fencing token): a deposed hub's write does nothing.

The map keys carry no lease, so access edges can still read the last map while no hub
leads; :func:`nearest_live_site` also drops sites whose registration has gone since.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from etcd3aio import Etcd3Client, prefix_range_end

from vcc_domain.errors import NotFound, NotLeader, Unavailable
from vcc_domain.province import Province
from vcc_failover.aio import cancel_and_wait
from vcc_failover.leadership import Leadership
from vcc_failover.lease import ETCD_ERRORS, new_client
from vcc_proto.names import LEADER_KEY, ROUTING_PREFIX, SITE_KEY_PREFIX

log = logging.getLogger(__name__)
SITE_PREFIX = SITE_KEY_PREFIX  # the name other modules import


def routing_key(area_code: str) -> str:
    return ROUTING_PREFIX + area_code


def area_codes(province: Province) -> list[str]:
    return sorted({code for site in province.sites for code in site.area_codes})


def compute_routing(province: Province, live: Iterable[str]) -> dict[str, list[str]]:
    """Area code -> IDs of the live sites, nearest first (pure)."""
    alive = set(live)
    return {
        code: [s.id for s in province.nearest_sites(code) if s.id in alive]
        for code in area_codes(province)
    }


def live_sites_of(kvs: Iterable[Any]) -> set[str]:
    """Site IDs from the registration keys of a range response."""
    found = set()
    for item in kvs:
        site_id = item.key.decode()[len(SITE_PREFIX) :]
        if site_id and "/" not in site_id:
            found.add(site_id)
    return found


class RoutingMapWriter:
    """Keeps ``/vcc/routing/*`` in step with the live sites, while this hub leads."""

    def __init__(
        self,
        endpoints: Sequence[str],
        province: Province,
        leadership: Leadership,
        *,
        poll_s: float = 0.25,
        leader_key: str = LEADER_KEY,
    ) -> None:
        self.endpoints = list(endpoints)
        self.province = province
        self.leadership = leadership
        self.poll_s = poll_s
        self.leader_key = leader_key
        self.writes = 0  # transactions that changed the map
        # The map wanted for the last set of live sites (recomputed only when it changes:
        # distances for every area are quadratic in the number of sites), and each routing
        # key as last parsed, by its modification revision.
        self._wanted: tuple[frozenset[str], dict[str, list[str]]] | None = None
        self._parsed: dict[bytes, tuple[int, list[str] | None]] = {}
        self._client: Etcd3Client | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="routing-map")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        if self._client is not None:
            with contextlib.suppress(*ETCD_ERRORS):
                await self._client.close()
            self._client = None

    async def _run(self) -> None:
        while True:
            try:
                await self.sync_once()
            except asyncio.CancelledError:
                raise
            except NotLeader:
                pass
            except ETCD_ERRORS as exc:
                log.debug("routing map: etcd call failed: %s", exc)
            except Exception:
                log.exception("routing map update failed")
            await asyncio.sleep(self.poll_s)

    async def sync_once(self) -> bool:
        """One pass (leader only): returns True if the map in etcd was changed."""
        if not self.leadership.is_leader:
            return False
        token = self.leadership.require()
        if self._client is None:
            self._client = new_client(self.endpoints, rpc_max_attempts=1)
            await self._client.connect()
        kv = self._client.kv
        assert kv is not None
        # The registrations and the map as etcd has them now (one snapshot): a key someone
        # else rewrote or added is put back, not only what differs from our last write.
        snapshot = await kv.txn(
            compare=[],
            success=[
                kv.txn_op_get(SITE_PREFIX, range_end=prefix_range_end(SITE_PREFIX)),
                kv.txn_op_get(ROUTING_PREFIX, range_end=prefix_range_end(ROUTING_PREFIX)),
            ],
            timeout=2.0,
        )
        revision = int(snapshot.header.revision)
        live = frozenset(live_sites_of(snapshot.responses[0].response_range.kvs))
        if self._wanted is None or self._wanted[0] != live:
            self._wanted = (live, compute_routing(self.province, live))
        wanted = self._wanted[1]
        in_etcd = self._map_in(snapshot.responses[1].response_range.kvs)
        changed = {a: s for a, s in wanted.items() if in_etcd.get(a) != s}
        stray = sorted(set(in_etcd) - set(wanted))
        if not changed and not stray:
            return False
        puts = [
            kv.txn_op_put(routing_key(area), json.dumps({"sites": ids, "revision": revision}))
            for area, ids in sorted(changed.items())
        ] + [kv.txn_op_delete(routing_key(area)) for area in stray]
        response = await kv.txn(
            compare=[kv.txn_compare_create_revision(self.leader_key, token)],
            success=puts,
            timeout=2.0,
        )
        if not response.succeeded:
            log.warning(
                "routing map not written: the leader key is no longer ours (token %d)", token
            )
            return False
        self.writes += 1
        log.info(
            "routing map updated at revision %d: %s",
            revision,
            ", ".join(
                [f"{a}->{'/'.join(s) or '-'}" for a, s in sorted(changed.items())]
                + [f"{a} removed" for a in stray]
            ),
        )
        return True

    def _map_in(self, kvs: Iterable[Any]) -> dict[str, list[str] | None]:
        """Area -> its sites as etcd has them; a key unchanged since the last pass is not
        parsed again."""
        found: dict[str, list[str] | None] = {}
        parsed: dict[bytes, tuple[int, list[str] | None]] = {}
        for item in kvs:
            revision = int(item.mod_revision)
            known = self._parsed.get(item.key)
            sites = known[1] if known is not None and known[0] == revision else _parse(item.value)
            parsed[item.key] = (revision, sites)
            found[item.key.decode()[len(ROUTING_PREFIX) :]] = sites
        self._parsed = parsed
        return found


def _parse(raw: bytes) -> list[str] | None:
    """An area's sites from its value (None: not a list the writer would write)."""
    try:
        sites = json.loads(raw)["sites"]
    except (ValueError, KeyError, TypeError):
        return None
    return sites if isinstance(sites, list) and all(isinstance(s, str) for s in sites) else None


def _sites_of(raw: bytes) -> list[str]:
    try:
        sites = json.loads(raw).get("sites", [])
        return [str(s) for s in sites]
    except (ValueError, AttributeError, TypeError):
        return []


# -- readers (access edges, tests) --------------------------------------------------------


async def read_routing_map(endpoints: Sequence[str]) -> dict[str, list[str]]:
    """Every area's list as the hub last wrote it (not filtered by liveness)."""
    try:
        async with new_client(endpoints) as client:
            assert client.kv is not None
            response = await client.kv.get(
                ROUTING_PREFIX, range_end=prefix_range_end(ROUTING_PREFIX), timeout=3.0
            )
    except ETCD_ERRORS as exc:
        raise Unavailable(f"etcd at {','.join(endpoints)} unreachable: {exc}") from exc
    return {
        item.key.decode()[len(ROUTING_PREFIX) :]: _sites_of(item.value) for item in response.kvs
    }


async def live_sites_for(endpoints: Sequence[str], area_code: str) -> list[str]:
    """The area's sites nearest first, keeping only those registered right now.

    Reads the map entry and the registrations in one transaction (one snapshot).
    """
    try:
        async with new_client(endpoints) as client:
            kv = client.kv
            assert kv is not None
            response = await kv.txn(
                compare=[],
                success=[
                    kv.txn_op_get(routing_key(area_code)),
                    kv.txn_op_get(SITE_PREFIX, range_end=prefix_range_end(SITE_PREFIX)),
                ],
                timeout=3.0,
            )
    except ETCD_ERRORS as exc:
        raise Unavailable(f"etcd at {','.join(endpoints)} unreachable: {exc}") from exc
    entry = response.responses[0].response_range.kvs
    if not entry:
        raise NotFound(
            f"no routing map for area code {area_code!r} (no hub has led yet?)", field="area_code"
        )
    live = live_sites_of(response.responses[1].response_range.kvs)
    return [s for s in _sites_of(entry[0].value) if s in live]


class RouteCache:
    """Every area's live sites, nearest first, re-read at most every ``refresh_s``.

    What a switch's access edge keeps: one persistent etcd client and one snapshot of the
    whole routing map and the site registrations (one transaction), instead of a new
    connection per call. A route is at most ``refresh_s`` older than etcd, on top of the
    lease TTL a failed site takes to leave the registrations.
    """

    def __init__(self, endpoints: Sequence[str], refresh_s: float = 0.5) -> None:
        self.endpoints = list(endpoints)
        self.refresh_s = refresh_s
        self._client: Etcd3Client | None = None
        self._routes: dict[str, list[str]] = {}
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    async def live_sites_for(self, area_code: str) -> list[str]:
        loop = asyncio.get_running_loop()
        if loop.time() - self._read_at > self.refresh_s:
            async with self._lock:
                if loop.time() - self._read_at > self.refresh_s:
                    await self._read()
                    self._read_at = loop.time()
        if area_code not in self._routes:
            raise NotFound(
                f"no routing map for area code {area_code!r} (no hub has led yet?)",
                field="area_code",
            )
        return list(self._routes[area_code])

    async def _read(self) -> None:
        try:
            if self._client is None:
                client = new_client(self.endpoints)
                await client.connect()
                self._client = client
            kv = self._client.kv
            assert kv is not None
            response = await kv.txn(
                compare=[],
                success=[
                    kv.txn_op_get(ROUTING_PREFIX, range_end=prefix_range_end(ROUTING_PREFIX)),
                    kv.txn_op_get(SITE_PREFIX, range_end=prefix_range_end(SITE_PREFIX)),
                ],
                timeout=3.0,
            )
        except ETCD_ERRORS as exc:
            await self.close()  # a fresh connection next time
            raise Unavailable(f"etcd at {','.join(self.endpoints)} unreachable: {exc}") from exc
        live = live_sites_of(response.responses[1].response_range.kvs)
        self._routes = {
            kv_.key.decode().removeprefix(ROUTING_PREFIX): [
                s for s in _sites_of(kv_.value) if s in live
            ]
            for kv_ in response.responses[0].response_range.kvs
        }

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()


async def nearest_live_site(endpoints: Sequence[str], area_code: str) -> str:
    """The ID of the nearest live site for a caller of ``area_code``.

    Raises NotFound if the area has no routing map, Unavailable if no site of it is live
    or etcd cannot be reached.
    """
    sites = await live_sites_for(endpoints, area_code)
    if not sites:
        raise Unavailable(f"no live site can take calls for area code {area_code!r}")
    return sites[0]
