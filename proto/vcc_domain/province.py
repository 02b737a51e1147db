"""The province model: sites, skills, businesses, agents, tariffs and routing policy.

A province file (TOML) is parsed and validated by :mod:`vcc_domain.province_load`; this
module holds the frozen result and the questions the rest of the system asks of it
(which business a dialed code means, which sites are nearest an area code, ...).

Every number is configuration; the defaults here are the ones of ``DOMAIN.md``. Mapping
fields are plain dicts for convenience and must be treated as read-only.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcc_domain.errors import NotFound
from vcc_domain.quality import QualityForm, QualityPolicy

if TYPE_CHECKING:  # the outage module reads its tables with the province's schema
    from vcc_domain.outages import Outage

#: Customer tiers in queue-priority order (DOMAIN.md §3): VIP first, blacklist last.
TIERS: tuple[str, ...] = ("vip", "high", "middle", "ordinary", "blacklist")
LEVEL_MIN, LEVEL_MAX = 1, 5
EARTH_RADIUS_KM = 6371.0088


class BusinessKind(StrEnum):
    """Kinds of request (DOMAIN.md §2)."""

    INQUIRY = "inquiry"
    CONSULTATION = "consultation"
    ACCEPTANCE = "acceptance"
    FAULT = "fault"
    COMPLAINT = "complaint"
    SUGGESTION = "suggestion"
    OUTBOUND = "outbound"


class Role(StrEnum):
    """Seat roles (DOMAIN.md §3 "Seats")."""

    GENERAL = "general"
    SPECIALIST = "specialist"
    TEAM_LEADER = "team_leader"
    SHIFT_LEADER = "shift_leader"
    QA = "qa"
    DATA_MAINTENANCE = "data_maintenance"
    SYSTEM_ADMIN = "system_admin"


#: Roles whose seats are offered calls by the ACD.
CALL_TAKING_ROLES = frozenset({Role.GENERAL, Role.SPECIALIST, Role.TEAM_LEADER, Role.SHIFT_LEADER})


class NodeKind(StrEnum):
    MENU = "menu"  # play the prompt, collect one digit, follow options
    QUEUE = "queue"  # hand the call to the ACD for a business (default: this one)
    SELF_SERVICE = "self_service"  # run an automated service, then go to `next` or end


class SelfService(StrEnum):
    BILL_QUERY = "bill_query"
    DIRECTORY_114 = "directory_114"
    OUTAGE_NOTICE = "outage_notice"
    SET_PIN = "set_pin"


class GroupPattern(StrEnum):
    ROUND_ROBIN = "round_robin"  # agent i gets skills[i % len(skills)]
    ALL = "all"  # every agent gets every listed skill


@dataclass(frozen=True, slots=True)
class Text:
    """A bilingual prompt or label."""

    zh: str
    en: str

    def in_language(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


@dataclass(frozen=True, slots=True)
class SLTarget:
    """Service level: ``percent`` of calls answered within ``within_s`` seconds."""

    percent: int
    within_s: int


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    name: str
    area_codes: tuple[str, ...]
    seats: int
    lat: float | None = None
    lon: float | None = None
    distances_km: Mapping[str, float] = field(default_factory=dict)  # as written in the file
    grpc_port: int | None = None
    metrics_port: int | None = None
    trunk_lines: int | None = None
    ivr_ports: int | None = None


@dataclass(frozen=True, slots=True)
class Skill:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class IvrNode:
    id: str
    kind: NodeKind
    prompt: Text
    options: Mapping[str, str] = field(default_factory=dict)  # digit -> node id (menus)
    queue_business: str | None = None  # queue nodes: target business id (None = own)
    service: SelfService | None = None  # self-service nodes
    next: str | None = None  # self-service nodes: node after the service (None = end)


@dataclass(frozen=True, slots=True)
class IvrMenu:
    root: str
    nodes: tuple[IvrNode, ...]
    max_invalid_tries: int = 3
    invalid_prompt: Text = Text("按键无效，请重新选择。", "Invalid key, please choose again.")

    def node(self, node_id: str) -> IvrNode:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise NotFound(f"no IVR node {node_id!r}", field="ivr.nodes")


@dataclass(frozen=True, slots=True)
class WorkOrderSpec:
    """What a request becomes when it cannot be finished on the call (DOMAIN.md §4)."""

    type: str
    department: str
    deadline_working_days: int  # the department answers within this
    latest_working_days: int  # hard limit (complaints: 2, at the latest 4)
    reply_working_days: int = 1  # the center replies / calls back within this
    callback_percent: int = 100  # share of cases called back (fault repair: >= 5)
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Business:
    id: str
    name: str
    kind: BusinessKind
    dialed_codes: tuple[str, ...]
    skill: str
    ivr: IvrMenu
    service_levels: Mapping[str, SLTarget]  # tier -> target, every tier present
    overflow_after_s: int
    accepting_sites: tuple[str, ...]  # resolved: "all" becomes every site id
    work_order: WorkOrderSpec | None = None
    requires_identity: bool = False
    quality_form: QualityForm | None = None  # the inspectors' scoring form
    satisfaction_survey: bool = False  # offer the caller a keypad rating after the agent

    def accepts(self, site_id: str) -> bool:
        return site_id in self.accepting_sites


@dataclass(frozen=True, slots=True)
class Agent:
    id: str
    name: str
    home_site: str
    role: Role
    skills: Mapping[str, int] = field(default_factory=dict)  # skill id -> level 1..5
    general_level: int | None = None  # set for general agents (and optional for others)
    password_hash: str = ""  # argon2 hash of the initial password ("" = cannot log in)

    @property
    def takes_calls(self) -> bool:
        return self.role in CALL_TAKING_ROLES

    def level(self, skill: str) -> int:
        """Level in a skill, 0 when the agent does not have it."""
        return self.skills.get(skill, 0)


@dataclass(frozen=True, slots=True)
class AgentGroup:
    """A rule that expands into ``count`` agents with IDs ``{id_prefix}-{n:04d}``."""

    site: str
    count: int
    id_prefix: str
    start: int
    role: Role
    skills: tuple[str, ...] = ()
    pattern: GroupPattern = GroupPattern.ROUND_ROBIN
    levels: tuple[int, ...] = (3,)  # cycled over agents (skill levels)
    general_levels: tuple[int, ...] = ()  # cycled over agents; () = no general level
    name_prefix: str = "Agent"
    password_hash: str = ""  # argon2 hash given to every agent of the group

    def agent_id(self, index: int) -> str:
        return f"{self.id_prefix}-{self.start + index:04d}"


def expand_agent_group(group: AgentGroup) -> tuple[Agent, ...]:
    """The concrete agents of a group; IDs depend only on prefix, start and index."""
    agents = []
    for i in range(group.count):
        level = group.levels[i % len(group.levels)] if group.levels else LEVEL_MIN
        if not group.skills:
            skills: dict[str, int] = {}
        elif group.pattern is GroupPattern.ALL:
            skills = dict.fromkeys(group.skills, level)
        else:
            skills = {group.skills[i % len(group.skills)]: level}
        general = (
            group.general_levels[i % len(group.general_levels)] if group.general_levels else None
        )
        agent_id = group.agent_id(i)
        agents.append(
            Agent(
                agent_id,
                f"{group.name_prefix} {agent_id}",
                group.site,
                group.role,
                skills,
                general,
                group.password_hash,
            )
        )
    return tuple(agents)


@dataclass(frozen=True, slots=True)
class Tariff:
    """Charges in integer fen. Access: per started unit. Inter-site handling fee: charged
    to the caller's home site and credited to the serving site when they differ, as
    ``inter_site_fen_per_call`` plus ``inter_site_fen_per_minute`` per started minute of
    handled (talk) time."""

    version: str
    effective_from: date
    access_fen_per_unit: int = 18
    unit_seconds: int = 180
    inter_site_fen_per_call: int = 0
    inter_site_fen_per_minute: int = 6

    def access_charge_fen(self, duration_s: float) -> int:
        if duration_s <= 0:
            return 0
        return math.ceil(duration_s / self.unit_seconds) * self.access_fen_per_unit

    def inter_site_fee_fen(self, handled_s: float) -> int:
        if handled_s <= 0:
            return 0
        return (
            self.inter_site_fen_per_call
            + math.ceil(handled_s / 60) * self.inter_site_fen_per_minute
        )


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    ring_timeout_s: int = 12  # ring-no-answer: agent not-ready, call back to head of queue
    wrapup_s: int = 60  # automatic ready after this much after-call work
    overflow_margin_s: int = 10  # another site must beat the local EWT by this much ...
    transfer_cost_s: int = 5  # ... after adding this cost of moving the call
    overflow_suppression_s: int = 30  # a call that moved is not moved again for this long
    transfer_accept_timeout_s: int = 5  # target site must confirm a transfer within this
    agent_login_failures: int = 3  # failed agent logins before the agent ID is locked
    agent_lock_minutes: int = 15
    agent_backoff_s: int = 30  # the first lock at the limit; each further failure doubles it
    pin_failures: int = 5  # wrong 6-digit PINs before the account is locked
    pin_lock_minutes: int = 30
    max_invalid_tries: int = 3  # IVR default; a business menu may override it
    outbound_max_attempts: int = 3  # then back to the billing center for a written notice
    remote_read_timeout_ms: int = 1500  # reading a customer at another site
    ivr_limit_s: int = 600  # a call in the IVR longer than this is ended by the site
    queue_limit_s: int = 1800  # a call waiting longer than this is ended by the site


@dataclass(frozen=True, slots=True)
class CustomerTiers:
    service_levels: Mapping[str, SLTarget]  # every tier present
    callback_within_hours: Mapping[str, int] = field(default_factory=dict)
    order: tuple[str, ...] = TIERS

    def target(self, tier: str) -> SLTarget:
        return self.service_levels[tier]


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """One 114 directory listing (public data, maintained by the province)."""

    name: str
    number: str
    area_code: str
    category: str = ""
    keywords: tuple[str, ...] = ()


#: Roles of people of the province (not of a site): they sign in at the hub.
PROVINCE_ROLES = ("province_manager", "operations")


@dataclass(frozen=True, slots=True)
class ProvincePerson:
    """A person of the province, not of a site (a province manager, operations): signs
    in at the hub. Their initial password is given to the hub, never in the directory."""

    id: str
    name: str
    role: str  # one of PROVINCE_ROLES


@dataclass(frozen=True, slots=True)
class Province:
    name: str
    access_codes: tuple[str, ...]
    general_business: str
    sites: tuple[Site, ...]
    skills: tuple[Skill, ...]
    businesses: tuple[Business, ...]
    agents: tuple[Agent, ...]
    tariffs: tuple[Tariff, ...]  # ordered by effective_from
    routing: RoutingPolicy
    tiers: CustomerTiers
    directory: tuple[DirectoryEntry, ...] = ()
    people: tuple[ProvincePerson, ...] = ()  # of the province, not of a site
    outages: tuple[Outage, ...] = ()  # per area, read to callers by the IVR
    quality: QualityPolicy = field(default_factory=QualityPolicy)  # sampling, weights
    _by_code: dict[str, Business] = field(init=False, repr=False, compare=False)
    _sites: dict[str, Site] = field(init=False, repr=False, compare=False)
    _agents_at: dict[str, tuple[Agent, ...]] = field(init=False, repr=False, compare=False)
    _index: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_code = {c: b for b in self.businesses for c in b.dialed_codes}
        object.__setattr__(self, "_by_code", by_code)
        object.__setattr__(self, "_sites", {s.id: s for s in self.sites})
        at = {s.id: tuple(a for a in self.agents if a.home_site == s.id) for s in self.sites}
        object.__setattr__(self, "_agents_at", at)
        index: dict[str, Any] = {f"b:{b.id}": b for b in self.businesses}
        index |= {f"a:{a.id}": a for a in self.agents} | {f"p:{p.id}": p for p in self.people}
        object.__setattr__(self, "_index", index)

    # -- lookups -------------------------------------------------------------------------

    def site(self, site_id: str) -> Site:
        try:
            return self._sites[site_id]
        except KeyError:
            raise NotFound(f"unknown site {site_id!r}", field="site") from None

    def business(self, business_id: str) -> Business:
        found = self._index.get(f"b:{business_id}")
        if isinstance(found, Business):
            return found
        raise NotFound(f"unknown business {business_id!r}", field="business")

    def agent(self, agent_id: str) -> Agent:
        found = self._index.get(f"a:{agent_id}")
        if isinstance(found, Agent):
            return found
        raise NotFound(f"unknown agent {agent_id!r}", field="agent")

    def person(self, person_id: str) -> ProvincePerson | None:
        """A person of the province (not of a site), None when there is none."""
        found = self._index.get(f"p:{person_id}")
        return found if isinstance(found, ProvincePerson) else None

    def business_for_code(self, dialed_code: str) -> Business:
        """The business a dialed code means; unrecognised codes get the general business."""
        found = self._by_code.get(dialed_code)
        return found if found is not None else self.business(self.general_business)

    def agents_at(self, site_id: str) -> tuple[Agent, ...]:
        self.site(site_id)
        return self._agents_at[site_id]

    def home_site(self, area_code: str) -> Site:
        for s in self.sites:
            if area_code in s.area_codes:
                return s
        raise NotFound(f"no site serves area code {area_code!r}", field="area_code")

    def distance_km(self, a: str, b: str) -> float:
        """Explicit distance from the file (either direction), else great-circle distance."""
        sa, sb = self.site(a), self.site(b)
        if a == b:
            return 0.0
        if b in sa.distances_km:
            return sa.distances_km[b]
        if a in sb.distances_km:
            return sb.distances_km[a]
        if sa.lat is None or sa.lon is None or sb.lat is None or sb.lon is None:
            raise NotFound(f"no distance known between {a!r} and {b!r}", field="distances_km")
        return haversine_km(sa.lat, sa.lon, sb.lat, sb.lon)

    def nearest_sites(self, area_code: str) -> tuple[Site, ...]:
        """Every site, nearest first, from the site that serves ``area_code``."""
        home = self.home_site(area_code)
        return tuple(sorted(self.sites, key=lambda s: (self.distance_km(home.id, s.id), s.id)))

    def tariff_on(self, day: date) -> Tariff:
        """The tariff in force on ``day`` (the latest one effective on or before it)."""
        current = [t for t in self.tariffs if t.effective_from <= day]
        if not current:
            raise NotFound(f"no tariff in force on {day.isoformat()}", field="tariffs")
        return current[-1]

    # -- versioning ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready content (agents expanded; lookup indexes left out)."""
        result = _plain(self)
        assert isinstance(result, dict)
        return result

    def content_hash(self) -> str:
        """sha256 of the canonical JSON of :meth:`to_dict`; equal content, equal hash."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in fields(value)
            if not f.name.startswith("_")
        }
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def parse_province(text: str, source: str = "<province>") -> Province:
    """Parse and validate province TOML; raises ConfigError listing every problem."""
    from vcc_domain.province_load import parse_province as _parse

    return _parse(text, source)


def parse_province_mapping(data: Mapping[str, Any], source: str = "<province>") -> Province:
    """Validate a province document already read into tables (see :func:`parse_province`)."""
    from vcc_domain.province_load import parse_province_mapping as _parse

    return _parse(data, source)


def load_province_file(path: str | Path) -> Province:
    """Read a province file and validate it (see :func:`parse_province`)."""
    from vcc_domain.province_load import load_province_file as _load

    return _load(path)
