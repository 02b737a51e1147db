"""Who may call each RPC: one table, an entry for every RPC of every service.

:data:`TABLE` maps ``"Service.Method"`` to a :class:`Rule`: the node kinds (the kind in a
certificate of :mod:`vcc_proto.pki`: ``hub``, ``site``, ``edge``, ``ops``) and the human
roles that may call it, and what the caller may only do as itself:

* ``own_site``: a request field (dotted for a field of a message field) that must name the
  calling site when a *site* certificate calls: a site reports its own queue figures, asks
  for its own directory and replication status, transfers its own calls. An empty field
  is not the caller's ID, so it is refused too. Hubs and the operator tool act for the
  province and are not bound.
* ``own_person``: what a *person* may only act on as themselves (``session``: the
  session in the request must be the caller's; ``agent_id``: the request's agent is the
  caller). Checked once person identities exist (see :mod:`vcc_proto.authz_interceptor`).

The kinds, in short:

* ``hub``: the provincial hub (brokers transfers, asks a site to republish events).
* ``site``: a city site node (pulls the directory, reports figures, transfers calls and
  hands over work orders to another site, reads a customer for its agent).
* ``edge``: the access edge that carries callers' calls to the sites.
* ``trunk``: the telephony side that hands callers to the edge (a SIP trunk gateway; the
  demo's callers and the load generators stand in for it); only it places calls.
* ``ops``: the operator tool (``vcc`` commands, the demo, traffic, benchmarks, and the
  gateway agent desktops sign in through until a desktop has its own credential).

The roles are those of the people the province serves: agent (话务员), team leader (班长),
quality inspector (质检), data maintenance (数据维护), site administrator (系统管理),
province manager, operations (:mod:`vcc_domain.people`). A person signs in at their site
(``People.SignIn``) and sends the session token as ``authorization: Bearer <token>``;
the request must then pass both the node that carries it and the person's role. A person
who must still change their initial password may call only :data:`WHILE_MUST_CHANGE`.

``vcc authz`` prints the table; ``vcc authz --readme README.md`` rewrites the README's
copy between ``<!-- authz:begin -->`` and ``<!-- authz:end -->``.
"""

from __future__ import annotations

from dataclasses import dataclass

from vcc_domain.people import PERSON_ROLES
from vcc_proto.pki import KINDS

ROLES = PERSON_ROLES
OWN_PERSON = ("", "session", "agent_id")


@dataclass(frozen=True, slots=True)
class Rule:
    """Who may call one RPC."""

    nodes: frozenset[str]
    roles: frozenset[str]
    own_site: str = ""
    own_person: str = ""

    def allows_node(self, kind: str) -> bool:
        return kind in self.nodes

    def allows_role(self, role: str) -> bool:
        return role in self.roles


def rule(nodes: str, roles: str = "", own_site: str = "", own_person: str = "") -> Rule:
    """A rule from space-separated kinds and roles (``rule("site ops", "operations")``)."""
    return Rule(frozenset(nodes.split()), frozenset(roles.split()), own_site, own_person)


_DESK = "agent"  # a seat: the agent at it
_LEADS = "agent team_leader"
_OVERSEE = "team_leader quality_inspector province_manager operations"
_PROVINCE = "province_manager operations"
_EVERYONE = " ".join(PERSON_ROLES)
_MANAGERS = "team_leader site_admin operations"  # see vcc_domain.people.MANAGES

#: RPCs that take no session: a bearer token sent with them (a stale one, say) is ignored.
WITHOUT_SESSION = frozenset({"People.SignIn"})
#: What a person who must change their initial password may call (else PERMISSION_DENIED).
WHILE_MUST_CHANGE = frozenset({"People.ChangePassword", "People.SignOut", "People.WhoAmI"})

TABLE: dict[str, Rule] = {
    # Site: calls from the access edge (and the operator tool's traffic and outbound).
    "Access.OfferCall": rule("edge ops"),
    "Access.SendDigits": rule("edge ops"),
    "Access.HangUp": rule("edge ops"),
    "Access.GetCall": rule("edge ops", "team_leader operations"),
    # Site: the agent desktop; a person acts only on their own session.
    "AgentDesk.Login": rule("ops", _DESK, own_person="agent_id"),
    "AgentDesk.Logout": rule("ops", _DESK, own_person="session"),
    "AgentDesk.SetReady": rule("ops", _DESK, own_person="session"),
    "AgentDesk.SetNotReady": rule("ops", _DESK, own_person="session"),
    "AgentDesk.Events": rule("ops", _DESK, own_person="session"),
    "AgentDesk.Answer": rule("ops", _DESK, own_person="session"),
    "AgentDesk.Hold": rule("ops", _DESK, own_person="session"),
    "AgentDesk.Resume": rule("ops", _DESK, own_person="session"),
    "AgentDesk.HangUp": rule("ops", _DESK, own_person="session"),
    "AgentDesk.WrapUp": rule("ops", _DESK, own_person="session"),
    "AgentDesk.Transfer": rule("ops", _DESK, own_person="session"),
    "AgentDesk.Consult": rule("ops", _DESK, own_person="session"),
    "AgentDesk.ConsultComplete": rule("ops", _DESK, own_person="session"),
    "AgentDesk.GetMyDay": rule("ops", _DESK, own_person="session"),
    "AgentDesk.GetReadyWhere": rule("ops", _DESK, own_person="session"),
    "AgentDesk.GetRecentCalls": rule("ops", _DESK, own_person="session"),
    # Site: what other nodes ask of a site.
    "Remote.LookupCustomer": rule(
        "site ops", "data_maintenance quality_inspector", own_site="actor.site_id"
    ),
    "Remote.AcceptTransfer": rule("hub"),
    "Remote.ConcludeConsult": rule("site", own_site="actor.site_id"),
    "Remote.ReportLeg": rule("site", own_site="site_id"),
    "Remote.RepublishEvents": rule("hub"),
    "Remote.GetQueueFigures": rule("hub ops", "team_leader operations"),
    "Remote.WatchBoard": rule("ops", "team_leader site_admin operations"),
    "Remote.Supervise": rule("ops", "team_leader site_admin"),
    "Remote.GetCallOwnership": rule("site", own_site="site_id"),
    # Site: work orders, outbound campaigns and shift handover (people at the site).
    "WorkOrders.Create": rule("ops", _LEADS),
    "WorkOrders.Accept": rule("site"),
    "WorkOrders.Get": rule("ops", "agent team_leader quality_inspector"),
    "WorkOrders.List": rule("ops", "agent team_leader quality_inspector"),
    "WorkOrders.Feedback": rule("ops", "team_leader data_maintenance"),
    "WorkOrders.Reply": rule("ops", _LEADS),
    "WorkOrders.CallbackDone": rule("ops", _LEADS),
    "WorkOrders.Close": rule("ops", _LEADS),
    "WorkOrders.Chase": rule("ops", _LEADS),
    "WorkOrders.GetFigures": rule("ops", "team_leader quality_inspector province_manager"),
    "WorkOrders.LoadCampaign": rule("ops", "team_leader data_maintenance"),
    "WorkOrders.NextOutbound": rule("ops", _LEADS),
    "WorkOrders.ListCampaign": rule("ops", _LEADS),
    "WorkOrders.ConnectOutbound": rule("ops", _LEADS),
    "WorkOrders.RecordOutbound": rule("ops", _LEADS),
    "WorkOrders.ReturnedList": rule("ops", "team_leader data_maintenance"),
    "WorkOrders.CreateHandover": rule("ops", "team_leader"),
    "WorkOrders.AcknowledgeHandover": rule("ops", "team_leader"),
    "WorkOrders.ListHandovers": rule("ops", "team_leader"),
    # Site: quality inspection, ratings and the monthly assessment (an agent disputes only
    # their own score; an inspector scores, the signed-in inspector being the one recorded).
    "Quality.DrawSample": rule("ops", "quality_inspector team_leader"),
    "Quality.ListReviews": rule("ops", "agent team_leader quality_inspector"),
    "Quality.Score": rule("ops", "quality_inspector"),
    "Quality.Dispute": rule("ops", _DESK, own_person="agent_id"),
    "Quality.SecondReview": rule("ops", "quality_inspector"),
    "Quality.CheckOrder": rule("ops", "quality_inspector"),
    "Quality.GetCorrectness": rule("ops", _OVERSEE),
    "Quality.GetSatisfaction": rule("ops", _OVERSEE),
    "Quality.GetAssessment": rule("ops", f"{_OVERSEE} site_admin"),
    # Site: the week's schedule, published by who plans, read by the team leaders (an
    # agent reads their own shifts only: the servicer binds it to the signed-in agent).
    "Quality.PublishSchedule": rule("ops", "operations site_admin"),
    "Quality.GetSchedule": rule("ops", "agent team_leader site_admin operations"),
    # Site: call recordings. The site's SIP agent (an access edge) files what its media
    # relay recorded; only a quality inspector lists and plays them (each audited).
    "Quality.ReportRecording": rule("edge"),
    "Quality.ListRecordings": rule("ops", "quality_inspector"),
    "Quality.PlayRecording": rule("ops", "quality_inspector"),
    # Hub: the directory (sites pull their own copy; people change it).
    "Directory.GetSnapshot": rule("site ops", "operations", own_site="site_id"),
    "Directory.GetDeltas": rule("site ops", _PROVINCE, own_site="site_id"),
    "Directory.ApplyChange": rule("ops", "data_maintenance site_admin operations"),
    "Directory.ImportProvince": rule("ops", "operations"),
    "Directory.ListEntities": rule(
        "ops", "data_maintenance site_admin province_manager operations"
    ),
    # Hub: routing between sites (a site speaks only for itself).
    "Routing.AdviseOverflow": rule("site", own_site="site_id"),
    "Routing.BrokerTransfer": rule("site", own_site="from_site_id"),
    "Routing.ReportQueueFigures": rule("site", own_site="site_id"),
    # (a site reads it for its agents choosing a transfer target)
    "Routing.GetBoard": rule("site ops", "team_leader province_manager operations"),
    "Routing.WatchBoard": rule("ops", "team_leader province_manager operations"),
    # Hub: reports and the month's settlement.
    "Reports.GetReport": rule("ops", _OVERSEE),
    "Reports.CloseSettlement": rule("ops", "province_manager"),
    "Reports.GetStatement": rule("ops", _PROVINCE),
    "Reports.Reconcile": rule("ops", _PROVINCE),
    "Replication.GetReplicationStatus": rule("site ops", "operations", own_site="site_id"),
    "Customers.GetCustomerCopy": rule("site", "data_maintenance", own_site="actor.site_id"),
    "ProvinceWorkOrders.ListOrders": rule("ops", _PROVINCE),
    "ProvinceWorkOrders.GetFigures": rule("ops", "quality_inspector " + _PROVINCE),
    # Sites and the hub: people sign in where they belong (a site's people at their home
    # site, the province's at the hub), carried by the desktop gateway; the session token
    # is the bearer. Reset and unlock are for those who manage others.
    "People.SignIn": rule("ops"),
    "People.SignOut": rule("ops", _EVERYONE),
    "People.WhoAmI": rule("ops", _EVERYONE),
    "People.ChangePassword": rule("ops", _EVERYONE),
    "People.ResetPassword": rule("ops", _MANAGERS),
    "People.Unlock": rule("ops", _MANAGERS),
    # Every process: who it is.
    "Node.GetInfo": rule("hub site edge ops", "operations"),
    # The access edge: only the telephony side (``trunk``: the demo's callers and the load
    # generators stand in for it) hands a caller in, with the caller's number the sites
    # then trust; it also follows and ends its calls. The far end releases the line when
    # an agent hangs up: today the traffic's agent bots do it (with the operator tool's
    # certificate); a site is admitted for when it does it itself.
    "Edge.PlaceCall": rule("trunk"),
    "Edge.SendDigits": rule("ops trunk"),
    "Edge.HangUp": rule("ops trunk"),
    "Edge.ReleaseCall": rule("site ops trunk"),
    "Edge.GetCall": rule("site ops trunk", "operations"),
    "Edge.Sweep": rule("ops trunk", "operations"),
    "Edge.ListCalls": rule("ops trunk", "operations"),
    "Edge.GetCounts": rule("ops trunk", "operations"),
}

PACKAGE_PREFIX = "vcc_proto.v1."

# Standard services every process serves; any authenticated caller may use them.
OPEN_SERVICES = (
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
)


def rule_for(service: str, method: str) -> Rule | None:
    """The rule of ``Service.Method`` (short service name), None if the table has none."""
    return TABLE.get(f"{service}.{method}")


def problems() -> list[str]:
    """Entries that name an unknown kind or role, a bad ``own_person``, or allow nobody."""
    out = []
    for key, r in TABLE.items():
        if not r.nodes and not r.roles:
            out.append(f"{key}: allows no caller")
        if unknown := sorted(r.nodes - set(KINDS)):
            out.append(f"{key}: unknown node kinds {unknown}")
        if unknown := sorted(r.roles - set(ROLES)):
            out.append(f"{key}: unknown roles {unknown}")
        if r.own_person not in OWN_PERSON:
            out.append(f"{key}: own_person {r.own_person!r} not one of {OWN_PERSON}")
    return out


BEGIN = "<!-- authz:begin -->"
END = "<!-- authz:end -->"


def render_markdown() -> str:
    """The table as Markdown, one row per RPC in table order."""
    lines = ["| RPC | node kinds | roles | only as itself |", "|---|---|---|---|"]
    for key, r in TABLE.items():
        own = [f"site: `{r.own_site}`"] if r.own_site else []
        own += [f"person: {r.own_person}"] if r.own_person else []
        nodes = ", ".join(k for k in KINDS if k in r.nodes)
        roles = ", ".join(x for x in ROLES if x in r.roles)
        lines.append(f"| `{key}` | {nodes} | {roles} | {'; '.join(own)} |")
    return "\n".join(lines) + "\n"
