"""Parse and validate a province file (TOML) into a :class:`~vcc_domain.province.Province`.

Every problem is collected and reported at once in one :class:`ConfigError`; each line
names the field path (indices count from 0 in file order) and the problem, e.g.
``agents[3].home_site: unknown site 'XX'``. Malformed TOML is reported as
``line 7: <what the TOML parser said>``. See ``vcc_ops/examples/yunnan.toml``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from vcc_domain.errors import ConfigError
from vcc_domain.nesting import check_depth, parse_bounded
from vcc_domain.outages import read_outages
from vcc_domain.province import (
    LEVEL_MAX,
    LEVEL_MIN,
    PROVINCE_ROLES,
    TIERS,
    Agent,
    AgentGroup,
    Business,
    BusinessKind,
    CustomerTiers,
    DirectoryEntry,
    GroupPattern,
    Province,
    ProvincePerson,
    Role,
    RoutingPolicy,
    Skill,
    SLTarget,
    Tariff,
    expand_agent_group,
)
from vcc_domain.province_ivr import read_ivr, read_work_order
from vcc_domain.province_quality import read_quality_form, read_quality_policy
from vcc_domain.province_schema import Problems, Table
from vcc_domain.province_sites import check_sites, read_site

LOWER_ID = re.compile(r"[a-z][a-z0-9_]{0,31}")
AGENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
PASSWORD_HASH = re.compile(r"(\$argon2(id|i|d)\$[A-Za-z0-9$=,+/.-]{20,200})?")
CODE = re.compile(r"[0-9]{3,8}")
PHONE = re.compile(r"[0-9][0-9-]{2,19}")
DEFAULT_SL = {t: SLTarget(90, 20) if t == "vip" else SLTarget(85, 20) for t in TIERS}
DEFAULT_OVERFLOW_S = 30
_LINE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


#: Bounds of agent-group expansion: a few lines of TOML must not expand to millions of
#: agents. A province of 16 cities at 200 seats has 3,200; these leave ample room.
MAX_GROUP_AGENTS = 5_000
MAX_AGENTS = 50_000


def parse_province(text: str, source: str = "<province>") -> Province:
    """Parse and validate province TOML; raises ConfigError listing every problem."""
    try:
        data = parse_bounded(lambda: tomllib.loads(text), "toml")
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(exc, source) from None
    return parse_province_mapping(data, source)


def parse_province_mapping(data: Mapping[str, Any], source: str = "<province>") -> Province:
    """Validate a province already read into tables (the TOML document as a mapping).

    The directory keeps the province in this form (JSON, dates as ISO strings); the same
    reader checks it, so every problem still names its field path.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"a province document must be a table, got {type(data).__name__}", source=source
        )
    check_depth(data, "province")
    problems = Problems()
    province = _read(Table(data, "", problems))
    if problems or province is None:
        raise problems.error(source)
    return province


def load_province_file(path: str | Path) -> Province:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read province file {str(path)!r}: {exc}", source=str(path)
        ) from None
    return parse_province(text, str(path))


def _toml_error(exc: tomllib.TOMLDecodeError, source: str) -> ConfigError:
    message = str(exc)
    match = _LINE.search(message)
    if match is None:
        return ConfigError(
            f"{message} (malformed TOML)", field="end of file", source=source, problems=[message]
        )
    line, column = match.groups()
    text = f"{message[: match.start()]} (column {column})"
    return ConfigError(text, field=f"line {line}", source=source, problems=[f"line {line}: {text}"])


def _dupes(items: Iterable[tuple[str, str]], what: str, problems: Problems) -> None:
    """Report repeated ids; ``items`` are (path, id) pairs."""
    first: dict[str, str] = {}
    for path, value in items:
        if value and value in first:
            problems.add(path, f"duplicate {what} {value!r} (first at {first[value]})")
        first.setdefault(value, path)


def _read(root: Table) -> Province | None:
    p = root.problems
    head = root.table("province", required=True)
    name = head.string("name") if head else ""
    access = head.strings("access_codes", (), CODE) if head else ()
    general = head.string("general_business", pattern=LOWER_ID) if head else ""
    if head:
        head.close()

    sites = [read_site(t) for t in root.tables("sites", required=True)]
    site_ids = {s.id for s in sites}
    check_sites(sites, p)

    skill_tables = root.tables("skills", required=True)
    skills = [Skill(t.string("id", pattern=LOWER_ID), t.string("name")) for t in skill_tables]
    for t in skill_tables:
        t.close()
    _dupes(((t.at("id"), s.id) for t, s in zip(skill_tables, skills, strict=True)), "skill", p)
    skill_ids = {s.id for s in skills}

    routing = _read_routing(root.table("routing"))
    tiers = _read_tiers(root.table("customer_tiers"))
    businesses = _read_businesses(
        root.tables("businesses", required=True), routing, tiers, site_ids, skill_ids, p
    )
    business_ids = {b.id for b in businesses}
    if general and general not in business_ids:
        p.add("province.general_business", f"unknown business {general!r}")
    codes = {c for b in businesses for c in b.dialed_codes}
    for i, code in enumerate(access):
        if code not in codes:
            p.add(f"province.access_codes[{i}]", f"{code!r} is not a dialed code of any business")

    agents = _read_agents(root, site_ids, skill_ids, {s.id: s.name for s in sites})
    tariffs = _read_tariffs(root.tables("tariffs", required=True))
    area_codes = {c for s in sites for c in s.area_codes}
    directory = [_read_entry(t, area_codes) for t in root.tables("directory")]
    people = _read_people(root, {a.id for a in agents})
    outages = read_outages(root.tables("outages"), area_codes, p)
    quality = read_quality_policy(root.table("quality"))
    root.close()
    if p:
        return None
    return Province(
        name,
        access,
        general,
        tuple(sites),
        tuple(skills),
        tuple(businesses),
        tuple(agents),
        tuple(tariffs),
        routing,
        tiers,
        tuple(directory),
        tuple(people),
        tuple(outages),
        quality,
    )


def _read_people(root: Table, agent_ids: set[str]) -> list[ProvincePerson]:
    """``[[people]]``: people of the province (id, name, role), who sign in at the hub."""
    people = []
    for t in root.tables("people"):
        person_id = t.string("id", pattern=AGENT_ID)
        if person_id in agent_ids:
            t.problem("id", f"{person_id!r} is already an agent's ID")
        people.append(
            ProvincePerson(
                person_id, t.string("name"), t.string("role", choices=frozenset(PROVINCE_ROLES))
            )
        )
        t.close()
    _dupes(((f"people[{i}].id", p.id) for i, p in enumerate(people)), "person", root.problems)
    return people


def _read_routing(t: Table | None) -> RoutingPolicy:
    if t is None:
        return RoutingPolicy()
    values = {f.name: t.integer(f.name, f.default, lo=1) for f in fields(RoutingPolicy)}
    t.close()
    return RoutingPolicy(**values)


def _read_sl(t: Table | None, defaults: dict[str, SLTarget]) -> dict[str, SLTarget]:
    """``{ vip = { percent = 90, within_s = 20 }, ... }`` merged over ``defaults``."""
    out = dict(defaults)
    if t is None:
        return out
    for tier in t.data:
        sub = t.table(tier)
        if tier not in TIERS:
            t.problem(tier, f"unknown customer tier {tier!r}; expected one of {', '.join(TIERS)}")
            continue
        if sub is not None:
            base = defaults[tier]
            out[tier] = SLTarget(
                sub.integer("percent", base.percent, lo=0, hi=100),
                sub.integer("within_s", base.within_s, lo=1),
            )
            sub.close()
    return out


def _read_tiers(t: Table | None) -> CustomerTiers:
    if t is None:
        return CustomerTiers(dict(DEFAULT_SL), {"middle": 24})
    levels = _read_sl(t.table("service_level"), DEFAULT_SL)
    callback: dict[str, int] = {"middle": 24}
    if t.has("callback_within_hours"):
        callback = t.number_map(
            "callback_within_hours", 1, 24 * 30, integer=True, key_choices=frozenset(TIERS)
        )
    t.close()
    return CustomerTiers(levels, callback)


def _read_businesses(
    tables: list[Table],
    routing: RoutingPolicy,
    tiers: CustomerTiers,
    site_ids: set[str],
    skill_ids: set[str],
    p: Problems,
) -> list[Business]:
    out: list[Business] = []
    code_owner: dict[str, str] = {}
    for t in tables:
        bid = t.string("id", pattern=LOWER_ID)
        kind = t.string("kind", choices=frozenset(BusinessKind))
        codes = t.strings("dialed_codes", (), CODE)
        for i, code in enumerate(codes):
            if code in code_owner:
                t.problem(
                    f"dialed_codes[{i}]",
                    f"{code!r} is already used by business {code_owner[code]!r}",
                )
            code_owner.setdefault(code, bid)
        skill = t.string("skill", pattern=LOWER_ID)
        if skill and skill not in skill_ids:
            t.problem("skill", f"unknown skill {skill!r}")
        out.append(
            Business(
                id=bid,
                name=t.string("name"),
                kind=BusinessKind(kind or "inquiry"),
                dialed_codes=codes,
                skill=skill,
                ivr=read_ivr(t.table("ivr", required=True), routing.max_invalid_tries),
                service_levels=_read_sl(t.table("service_level"), dict(tiers.service_levels)),
                overflow_after_s=t.integer("overflow_after_s", DEFAULT_OVERFLOW_S, lo=0),
                accepting_sites=_accepting(t, site_ids),
                work_order=read_work_order(t.table("work_order")),
                requires_identity=t.boolean("requires_identity", False),
                quality_form=read_quality_form(t.table("quality_form")),
                satisfaction_survey=t.boolean("satisfaction_survey", False),
            )
        )
        t.close()
    _dupes(((t.at("id"), b.id) for t, b in zip(tables, out, strict=True)), "business", p)
    ids = {b.id for b in out}
    for t, b in zip(tables, out, strict=True):
        for node_i, node in enumerate(b.ivr.nodes):
            if node.queue_business is not None and node.queue_business not in ids:
                t.problem(f"ivr.nodes[{node_i}].queue", f"unknown business {node.queue_business!r}")
    return out


def _accepting(t: Table, site_ids: set[str]) -> tuple[str, ...]:
    if t.has("accepting_sites") and t.data["accepting_sites"] == "all":
        t.string("accepting_sites")
        return tuple(sorted(site_ids))
    if not t.has("accepting_sites"):
        t.strings("accepting_sites", ())
        return tuple(sorted(site_ids))
    if isinstance(t.data["accepting_sites"], str):
        t.problem(
            "accepting_sites",
            f'must be "all" or an array of site ids, got {t.data["accepting_sites"]!r}',
        )
    chosen = t.strings("accepting_sites", ())
    for i, sid in enumerate(chosen):
        if sid and sid not in site_ids:
            t.problem(f"accepting_sites[{i}]", f"unknown site {sid!r}")
    return chosen


def _check_role(t: Table, role: str, has_skills: bool, general: Any, general_key: str) -> None:
    if role == Role.GENERAL and not general:
        t.problem(general_key, f"a general agent needs a general level ({LEVEL_MIN}..{LEVEL_MAX})")
    if role == Role.SPECIALIST and not has_skills:
        t.problem("skills", "a specialist needs at least one skill")


def _read_agents(
    root: Table, site_ids: set[str], skill_ids: set[str], site_names: dict[str, str]
) -> list[Agent]:
    roles = frozenset(Role)
    agents: list[Agent] = []
    owners: list[tuple[str, str]] = []
    for t in root.tables("agents"):
        agent_id = t.string("id", pattern=AGENT_ID)
        site = t.string("home_site")
        if site and site not in site_ids:
            t.problem("home_site", f"unknown site {site!r}")
        role = t.string("role", choices=roles)
        skills = t.number_map("skills", LEVEL_MIN, LEVEL_MAX, integer=True)
        general = t.optional_int("general_level", LEVEL_MIN, LEVEL_MAX)
        for name in skills:
            if name not in skill_ids:
                t.problem(f"skills.{name}", f"unknown skill {name!r}")
        _check_role(t, role, bool(skills), general, "general_level")
        password_hash = t.string("password_hash", "", pattern=PASSWORD_HASH)
        agents.append(
            Agent(
                agent_id,
                t.string("name"),
                site,
                Role(role or "general"),
                skills,
                general,
                password_hash,
            )
        )
        owners.append((t.at("id"), agent_id))
        t.close()
    next_number: dict[str, int] = {}
    for t in root.tables("agent_groups"):
        group = _read_group(t, site_ids, skill_ids, site_names, next_number)
        if group is None:
            continue
        if len(agents) + group.count > MAX_AGENTS:
            t.problem("count", f"the province would have more than {MAX_AGENTS} agents")
            break  # expanding further only costs memory: the file is refused anyway
        next_number[group.id_prefix] = max(
            next_number.get(group.id_prefix, 1), group.start + group.count
        )
        for agent in expand_agent_group(group):
            agents.append(agent)
            owners.append((t.path, agent.id))
    _dupes(owners, "agent id", root.problems)
    return agents


def _read_group(
    t: Table,
    site_ids: set[str],
    skill_ids: set[str],
    site_names: dict[str, str],
    next_number: dict[str, int],
) -> AgentGroup | None:
    before = len(t.problems.items)
    site = t.string("site")
    if site and site not in site_ids:
        t.problem("site", f"unknown site {site!r}")
    count = t.integer("count", lo=1, hi=MAX_GROUP_AGENTS)
    prefix = t.string("id_prefix", site, pattern=AGENT_ID)
    start = t.integer("start", next_number.get(prefix, 1), lo=0)
    role = t.string("role", choices=frozenset(Role))
    skills = t.strings("skills", ())
    pattern = t.string("pattern", GroupPattern.ROUND_ROBIN, choices=frozenset(GroupPattern))
    levels = t.integers("levels", (3,), LEVEL_MIN, LEVEL_MAX)
    general = t.integers("general_levels", (), LEVEL_MIN, LEVEL_MAX)
    name_prefix = t.string("name_prefix", site_names.get(site, "Agent"))
    password_hash = t.string("password_hash", "", pattern=PASSWORD_HASH)
    _check_role(t, role, bool(skills), general, "general_levels")
    for i, s in enumerate(skills):
        if s not in skill_ids:
            t.problem(f"skills[{i}]", f"unknown skill {s!r}")
    if skills and not levels:
        t.problem("levels", "must not be empty when skills are listed")
    t.close()
    if len(t.problems.items) > before:
        return None
    return AgentGroup(
        site,
        count,
        prefix,
        start,
        Role(role),
        skills,
        GroupPattern(pattern),
        levels,
        general,
        name_prefix,
        password_hash,
    )


def _read_tariffs(tables: list[Table]) -> list[Tariff]:
    out = []
    for t in tables:
        out.append(
            Tariff(
                version=t.string("version"),
                effective_from=t.day("effective_from"),
                access_fen_per_unit=t.integer("access_fen_per_unit", 18, lo=0),
                unit_seconds=t.integer("unit_seconds", 180, lo=1),
                inter_site_fen_per_call=t.integer("inter_site_fen_per_call", 0, lo=0),
                inter_site_fen_per_minute=t.integer("inter_site_fen_per_minute", 6, lo=0),
            )
        )
        t.close()
    if tables:
        p = tables[0].problems
        _dupes(
            ((t.at("version"), x.version) for t, x in zip(tables, out, strict=True)),
            "tariff version",
            p,
        )
        _dupes(
            (
                (t.at("effective_from"), x.effective_from.isoformat())
                for t, x in zip(tables, out, strict=True)
            ),
            "effective_from",
            p,
        )
    return sorted(out, key=lambda x: x.effective_from)


def _read_entry(t: Table, area_codes: set[str]) -> DirectoryEntry:
    area = t.string("area_code")
    if area and area not in area_codes:
        t.problem("area_code", f"unknown area code {area!r} (no site serves it)")
    entry = DirectoryEntry(
        t.string("name"),
        t.string("number", pattern=PHONE),
        area,
        t.string("category", ""),
        t.strings("keywords", ()),
    )
    t.close()
    return entry
