"""The IVR engine: a pure interpreter of a business's menu tree (DOMAIN.md §3).

One :class:`IvrSession` per call. :func:`start_ivr` enters the menu's root node;
:func:`on_digits` feeds what the caller keyed in answer to the last :class:`Collect`;
:func:`on_service_result` reports what a self-service did. Each returns an
:class:`IvrStep`: prompts to play, then exactly one action for the access edge --
:class:`Collect` keys, :class:`Queue` the call at the ACD, :class:`RunService` (the
service layer performs it and calls :func:`on_service_result`), or :class:`End`.

Barge-in: the engine keeps no audio state, so digits are accepted at any time while a
:class:`Collect` is pending; a key pressed while a prompt plays stops the prompt (the
edge does that, ``Collect.barge_in``) and is processed like any other. In a menu, keys
typed ahead are applied one after another while they lead from menu to menu
("12" = option 1, then option 2 of the submenu); keys left over when the call leaves
the menus are dropped.

Invalid input (an unknown menu key, no input, a malformed number or PIN, a weak or
mismatched new PIN) counts against the menu's ``max_invalid_tries``; the counter restarts
at every accepted input, and reaching the limit queues the call to the session's own
business (path ``invalid_limit``). PINs never appear in the path or in a repr.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from vcc_domain.errors import Conflict, InvalidInput
from vcc_domain.province import Business, IvrMenu, IvrNode, NodeKind, SelfService, Text
from vcc_site.domain.ivr_texts import (
    ASK_ACCOUNT,
    ASK_CODE,
    ASK_CONFIRM_PIN,
    ASK_NAME_KEY,
    ASK_NEW_PIN,
    ASK_OLD_PIN,
    ASK_PIN,
    BAD_NUMBER,
    BAD_PIN,
    FORGOT_HINT,
    HASH_HINT,
    IDENTIFIED_ASK_PIN,
    NOT_OWN_LINE,
    PIN_MISMATCH,
    TO_AGENT,
    WEAK_PIN,
)
from vcc_site.domain.secrets import PIN_LENGTH, is_weak_pin

MAX_DIGITS = 32  # one on_digits call
NUMBER_MAX_DIGITS = 20  # account numbers and 114 name keys
MENU_TIMEOUT_MS = 5_000
ENTRY_TIMEOUT_MS = 10_000
LANGUAGES = frozenset({"zh", "en"})
_DIGITS = re.compile(r"[0-9*#]{0,32}", re.ASCII)
_NUMBER = re.compile(r"[0-9]{1,20}", re.ASCII)
_PIN = re.compile(r"[0-9]{6}", re.ASCII)


# -- what the engine tells the access edge -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Collect:
    """Collect up to ``max_digits`` keys (stop early at ``terminator``), then call
    :func:`on_digits`; after ``timeout_ms`` of silence send what was keyed (maybe "")."""

    max_digits: int
    timeout_ms: int
    barge_in: bool = True
    terminator: str | None = None


@dataclass(frozen=True, slots=True)
class Queue:
    """Hand the call to the ACD for ``business_id``; the IVR is finished."""

    business_id: str


@dataclass(frozen=True, slots=True)
class RunService:
    """Perform ``service`` with ``inputs`` (may hold a PIN: never log them), then call
    :func:`on_service_result`."""

    service: SelfService
    inputs: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class End:
    """Play the prompts and hang up; the IVR is finished."""

    reason: str


Action = Collect | Queue | RunService | End


@dataclass(frozen=True, slots=True)
class IvrStep:
    prompts: tuple[Text, ...]
    action: Action

    def texts(self, lang: str) -> tuple[str, ...]:
        return tuple(p.in_language(lang) for p in self.prompts)


@dataclass(frozen=True, slots=True)
class ServiceResult:
    """What a self-service did: prompts to play (the answer, or why not), and whether the
    caller should now go to an agent (e.g. the account is locked)."""

    ok: bool
    prompts: tuple[Text, ...] = ()
    to_agent: bool = False
    code_sent: bool = False  # a one-time code went to the customer's phone: ask for it


class Stage(StrEnum):
    MENU = "menu"
    ACCOUNT = "account"
    PIN = "pin"
    OLD_PIN = "old_pin"
    CODE = "code"  # the one-time code sent to the customer's registered phone
    NEW_PIN = "new_pin"
    CONFIRM_PIN = "confirm_pin"
    NAME_KEY = "name_key"
    SERVICE = "service"  # waiting for on_service_result
    DONE = "done"  # queued or ended


_PIN_COLLECT = Collect(PIN_LENGTH, ENTRY_TIMEOUT_MS, terminator="#")
_NUMBER_COLLECT = Collect(NUMBER_MAX_DIGITS, ENTRY_TIMEOUT_MS, terminator="#")
_MENU_COLLECT = Collect(1, MENU_TIMEOUT_MS)
_HASH_STAGES = frozenset({Stage.ACCOUNT, Stage.NAME_KEY})  # variable length, ended by #
_STAGES: dict[Stage, tuple[Text, Collect]] = {
    Stage.ACCOUNT: (ASK_ACCOUNT, _NUMBER_COLLECT),
    Stage.PIN: (ASK_PIN, _PIN_COLLECT),
    Stage.OLD_PIN: (ASK_OLD_PIN, _PIN_COLLECT),
    Stage.CODE: (ASK_CODE, _PIN_COLLECT),
    Stage.NEW_PIN: (ASK_NEW_PIN, _PIN_COLLECT),
    Stage.CONFIRM_PIN: (ASK_CONFIRM_PIN, _PIN_COLLECT),
    Stage.NAME_KEY: (ASK_NAME_KEY, _NUMBER_COLLECT),
}


@dataclass(slots=True, eq=False)
class IvrSession:
    """The IVR state of one call; change it only through this module's functions."""

    business: Business
    lang: str
    caller_identified: bool
    caller_account: str | None
    node_id: str
    stage: Stage = Stage.MENU
    invalid_count: int = 0
    path: list[str] = field(default_factory=list)
    collected: dict[str, str] = field(default_factory=dict, repr=False)
    outcome: Queue | End | None = None
    pin_set: bool = False  # the customer has a PIN: changing it asks for it first

    @property
    def menu(self) -> IvrMenu:
        return self.business.ivr

    @property
    def node(self) -> IvrNode:
        return self.menu.node(self.node_id)

    @property
    def max_invalid(self) -> int:
        return self.menu.max_invalid_tries

    @property
    def finished(self) -> bool:
        return self.stage is Stage.DONE

    def path_text(self) -> str:
        """The path for the screen pop, e.g. ``main:1 > bill_query:account > ...``."""
        return " > ".join(self.path)


# -- public API ----------------------------------------------------------------------------


def start_ivr(
    business: Business,
    lang: str = "zh",
    *,
    caller_identified: bool = False,
    caller_account: str | None = None,
    pin_set: bool = False,
) -> tuple[IvrSession, IvrStep]:
    """A new session at the menu's root. ``caller_identified``: the call comes from the
    customer's own (bound) line -- bill queries then skip keying the account (the
    service uses ``caller_account`` or its own lookup) and setting a PIN is allowed."""
    if lang not in LANGUAGES:
        raise InvalidInput(
            f"language must be one of {sorted(LANGUAGES)}, got {lang!r}", field="lang"
        )
    session = IvrSession(
        business, lang, caller_identified, caller_account, business.ivr.root, pin_set=pin_set
    )
    if not business.ivr.root or not business.ivr.nodes:
        return session, _queue(session, business.id, ())
    return session, _enter(session, business.ivr.root, (), 0)


def on_digits(session: IvrSession, digits: str) -> IvrStep:
    """Process keys answering the pending :class:`Collect` ("" = nothing keyed before the
    timeout). Bad characters or over 32 keys: InvalidInput and the session is unchanged.
    A finished session, or one waiting for a service result: Conflict."""
    if not isinstance(digits, str) or not _DIGITS.fullmatch(digits):
        raise InvalidInput(f"digits are up to {MAX_DIGITS} keys of 0-9, * and #", field="digits")
    if session.stage is Stage.DONE:
        raise Conflict("the IVR of this call has finished", field="digits")
    if session.stage is Stage.SERVICE:
        raise Conflict("the call is waiting for a self-service result", field="digits")
    if session.stage is Stage.MENU:
        return _on_menu_keys(session, digits)
    value = digits.removesuffix("#")
    handler = _HANDLERS[session.stage]
    return handler(session, value)


def on_service_result(session: IvrSession, result: ServiceResult) -> IvrStep:
    """Continue after a :class:`RunService`: to an agent when ``result.to_agent``, else
    the node's ``next`` node, else End("self_service_done")."""
    if session.stage is not Stage.SERVICE:
        raise Conflict("no self-service is running for this call", field="service_result")
    node = session.node
    session.path.append(f"{node.id}:{'ok' if result.ok else 'failed'}")
    prompts = tuple(result.prompts)
    if result.to_agent:
        session.path.append("to_agent")
        return _queue(session, session.business.id, prompts)
    if result.code_sent:  # setting a PIN goes on with the code the customer received
        return _ask(session, Stage.CODE, prompts)
    return _after(session, node, prompts, "self_service_done", 0)


# -- moving between nodes --------------------------------------------------------------------


def _enter(session: IvrSession, node_id: str, before: tuple[Text, ...], hops: int) -> IvrStep:
    if hops > len(session.menu.nodes):  # e.g. set_pin -> next set_pin, caller not identified
        return _end(session, "ivr_loop", before)
    node = session.menu.node(node_id)
    session.node_id = node.id
    session.collected.clear()
    if node.kind is NodeKind.MENU:
        session.stage = Stage.MENU
        return IvrStep(before + _said(node.prompt), _MENU_COLLECT)
    if node.kind is NodeKind.QUEUE:
        target = node.queue_business or session.business.id
        return _queue(session, target, before + _said(node.prompt))
    return _start_service(session, node, before, hops)


def _start_service(
    session: IvrSession, node: IvrNode, before: tuple[Text, ...], hops: int
) -> IvrStep:
    service = node.service
    if service is SelfService.BILL_QUERY:
        if session.caller_identified:
            session.collected["account_source"] = "caller"
            if session.caller_account:
                session.collected["account"] = session.caller_account
            return _ask(session, Stage.PIN, before, IDENTIFIED_ASK_PIN)
        session.collected["account_source"] = "keyed"
        return _ask(session, Stage.ACCOUNT, before, node.prompt)
    if service is SelfService.SET_PIN:
        if not session.caller_identified:
            session.path.append(f"{node.id}:not_own_line")
            return _after(session, node, (*before, NOT_OWN_LINE), "not_own_line", hops)
        if session.pin_set:  # a caller number can be spoofed: the current PIN first
            asked = _ask(session, Stage.OLD_PIN, (*before, *_said(node.prompt)))
            return IvrStep((*asked.prompts, FORGOT_HINT), asked.action)
        # no PIN yet: a one-time code to the registered phone proves the line
        return _run(session, (*before, *_said(node.prompt)), {"send_code": "1"})
    if service is SelfService.DIRECTORY_114 and _said(node.prompt):
        return _ask(session, Stage.NAME_KEY, before, node.prompt)
    return _run(session, before + _said(node.prompt), {})


def _after(
    session: IvrSession, node: IvrNode, prompts: tuple[Text, ...], reason: str, hops: int
) -> IvrStep:
    if node.next is not None:
        return _enter(session, node.next, prompts, hops + 1)
    return _end(session, reason, prompts)


def _ask(
    session: IvrSession, stage: Stage, before: tuple[Text, ...], first: Text | None = None
) -> IvrStep:
    """Wait for input of ``stage``: the node's own prompt when it has one (plus the hash
    hint for #-terminated input), else the stage's standard question."""
    session.stage = stage
    ask, collect = _STAGES[stage]
    if first is not None and _said(first):
        hint = (HASH_HINT,) if stage in _HASH_STAGES else ()
        return IvrStep((*before, first, *hint), collect)
    return IvrStep((*before, ask), collect)


def _run(session: IvrSession, prompts: tuple[Text, ...], inputs: dict[str, str]) -> IvrStep:
    service = session.node.service
    assert service is not None
    session.stage = Stage.SERVICE
    session.collected.clear()
    session.invalid_count = 0
    return IvrStep(prompts, RunService(service, inputs))


def _queue(session: IvrSession, business_id: str, prompts: tuple[Text, ...]) -> IvrStep:
    action = Queue(business_id)
    session.stage, session.outcome = Stage.DONE, action
    session.path.append(f"queue:{business_id}")
    return IvrStep(prompts, action)


def _end(session: IvrSession, reason: str, prompts: tuple[Text, ...]) -> IvrStep:
    action = End(reason)
    session.stage, session.outcome = Stage.DONE, action
    session.path.append(f"end:{reason}")
    return IvrStep(prompts, action)


def _said(text: Text) -> tuple[Text, ...]:
    return (text,) if text.zh or text.en else ()


# -- input handlers ----------------------------------------------------------------------------


def _on_menu_keys(session: IvrSession, digits: str) -> IvrStep:
    if not digits:
        return _invalid(session, "(no input)", ())
    step: IvrStep | None = None
    for key in digits:
        if session.stage is not Stage.MENU:
            break  # type-ahead left over after leaving the menus
        node = session.node
        target = node.options.get(key)
        if target is None:
            return _invalid(session, key, (session.menu.invalid_prompt,))
        session.path.append(f"{node.id}:{key}")
        session.invalid_count = 0
        step = _enter(session, target, (), 0)
    assert step is not None
    return step


def _invalid(
    session: IvrSession, shown: str, notice: tuple[Text, ...], restage: Stage | None = None
) -> IvrStep:
    """Count an invalid input; re-ask (at ``restage`` if given) or go to an agent."""
    session.invalid_count += 1
    session.path.append(f"{session.node_id}:{shown}(invalid)")
    if session.invalid_count >= session.max_invalid:
        session.path.append("invalid_limit")
        return _queue(session, session.business.id, (*notice, TO_AGENT))
    if session.stage is Stage.MENU:
        return IvrStep(notice + _said(session.node.prompt), _MENU_COLLECT)
    return _ask(session, restage or session.stage, notice)


def _accept(session: IvrSession, what: str) -> None:
    session.path.append(f"{session.node_id}:{what}")
    session.invalid_count = 0


def _on_account(session: IvrSession, value: str) -> IvrStep:
    if not _NUMBER.fullmatch(value):
        return _invalid(session, "account", (BAD_NUMBER,) if value else ())
    session.collected["account"] = value
    _accept(session, "account")
    return _ask(session, Stage.PIN, ())


def _on_pin(session: IvrSession, value: str) -> IvrStep:
    if not _PIN.fullmatch(value):
        return _invalid(session, "pin", (BAD_PIN,) if value else ())
    _accept(session, "pin")
    inputs = {**session.collected, "pin": value}
    inputs.setdefault("account", "")
    return _run(session, (), inputs)


def _on_old_pin(session: IvrSession, value: str) -> IvrStep:
    if value == "*":  # forgotten: a one-time code to the registered phone instead
        _accept(session, "old_pin:forgotten")
        return _run(session, (), {"send_code": "1"})
    if not _PIN.fullmatch(value):
        return _invalid(session, "old_pin", (BAD_PIN,) if value else ())
    session.collected["old_pin"] = value
    _accept(session, "old_pin")
    return _ask(session, Stage.NEW_PIN, ())


def _on_code(session: IvrSession, value: str) -> IvrStep:
    if not _PIN.fullmatch(value):
        return _invalid(session, "code", (BAD_PIN,) if value else ())
    session.collected["code"] = value
    _accept(session, "code")
    return _ask(session, Stage.NEW_PIN, ())


def _on_new_pin(session: IvrSession, value: str) -> IvrStep:
    if not _PIN.fullmatch(value):
        return _invalid(session, "new_pin", (BAD_PIN,) if value else ())
    if is_weak_pin(value):
        return _invalid(session, "new_pin:weak", (WEAK_PIN,))
    session.collected["new_pin"] = value
    _accept(session, "new_pin")
    return _ask(session, Stage.CONFIRM_PIN, ())


def _on_confirm_pin(session: IvrSession, value: str) -> IvrStep:
    if value != session.collected.get("new_pin"):
        session.collected.pop("new_pin", None)
        return _invalid(session, "confirm_pin:mismatch", (PIN_MISMATCH,), Stage.NEW_PIN)
    _accept(session, "confirm_pin")
    proof = {k: v for k, v in session.collected.items() if k in ("old_pin", "code")}
    return _run(session, (), {"pin": value, **proof})


def _on_name_key(session: IvrSession, value: str) -> IvrStep:
    if not value:  # nothing keyed: the service may listen for speech or offer an operator
        _accept(session, "name_key:none")
        return _run(session, (), {})
    if not _NUMBER.fullmatch(value):
        return _invalid(session, "name_key", (BAD_NUMBER,))
    _accept(session, "name_key")
    return _run(session, (), {"name_key": value})


_HANDLERS = {
    Stage.ACCOUNT: _on_account,
    Stage.PIN: _on_pin,
    Stage.OLD_PIN: _on_old_pin,
    Stage.CODE: _on_code,
    Stage.NEW_PIN: _on_new_pin,
    Stage.CONFIRM_PIN: _on_confirm_pin,
    Stage.NAME_KEY: _on_name_key,
}
