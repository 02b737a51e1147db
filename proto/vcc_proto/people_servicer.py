"""The ``People`` gRPC servicer, over the people of a site or of the province (the hub).

Both serve the same contract (``people.proto``) over a :class:`PeopleBackend`: a site's
:class:`vcc_site.service.people.PeopleService` (its seats) or the hub's
:class:`vcc_hub.service.people.HubPeopleService` (province managers, operations).

The caller's session token comes from the ``authorization: Bearer <token>`` metadata.
On a TLS port the authorization interceptor has already turned it into the person
(:func:`vcc_proto.authz_interceptor.current_caller`) and checked their role; on a
plaintext port the servicer resolves it itself, and the service checks the rights that
matter (who may reset or unlock whom) in both cases.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeAlias

from vcc_domain.errors import Unauthenticated
from vcc_domain.people import PersonSession, PersonState, SessionTable, SignedIn, bearer_token
from vcc_proto.authz_interceptor import Person, current_caller
from vcc_proto.server import ServedService
from vcc_proto.status import grpc_errors
from vcc_proto.v1 import people_pb2 as p
from vcc_proto.v1 import people_pb2_grpc as pg

Ctx: TypeAlias = Any


class PeopleBackend(Protocol):
    """What a node that signs people in offers the servicer."""

    sessions: SessionTable

    def person_for(self, token: str) -> Person | None: ...
    async def state(self, person_id: str) -> PersonState: ...
    async def sign_in(self, person_id: str, password: str) -> SignedIn: ...
    async def sign_out(self, token: str) -> PersonSession: ...
    async def change_password(self, token: str, old: str, new: str) -> SignedIn: ...
    async def reset_password(
        self, actor: Person | None, person_id: str
    ) -> tuple[PersonState, str]: ...
    async def unlock(self, actor: Person | None, person_id: str) -> PersonState: ...


def person_msg(state: PersonState) -> p.PersonView:
    return p.PersonView(
        person_id=state.id,
        name=state.name,
        role=state.role,
        site_id=state.site_id,
        must_change_password=state.must_change,
        locked_until_ms=state.locked_until_ms,
    )


class PeopleServicer(pg.PeopleServicer):
    def __init__(self, people: PeopleBackend) -> None:
        self.people = people

    def _token(self, context: Ctx) -> str:
        token = bearer_token(context.invocation_metadata() or ())
        if not token:
            raise Unauthenticated(
                "an `authorization: Bearer <session token>` is required", field="authorization"
            )
        return token

    def _person(self, context: Ctx) -> Person:
        caller = current_caller()
        person = caller.person if caller is not None else None
        if person is None:
            person = self.people.person_for(self._token(context))
        if person is None:
            raise Unauthenticated("no such session; sign in again", field="authorization")
        return person

    def _signed_in(self, done: SignedIn) -> p.SignInReply:
        policy = self.people.sessions.policy
        return p.SignInReply(
            session_token=done.token,
            person=person_msg(done.person),
            expires_at_ms=done.session.started_ms + policy.absolute_s * 1000,
            idle_timeout_ms=policy.idle_s * 1000,
        )

    @grpc_errors
    async def SignIn(self, request: p.SignInRequest, context: Ctx) -> p.SignInReply:
        return self._signed_in(await self.people.sign_in(request.person_id, request.password))

    @grpc_errors
    async def SignOut(self, request: p.SignOutRequest, context: Ctx) -> p.SignOutReply:
        await self.people.sign_out(self._token(context))
        return p.SignOutReply()

    @grpc_errors
    async def WhoAmI(self, request: p.WhoAmIRequest, context: Ctx) -> p.PersonView:
        return person_msg(await self.people.state(self._person(context).id))

    @grpc_errors
    async def ChangePassword(self, request: p.ChangePasswordRequest, context: Ctx) -> p.SignInReply:
        token = self._token(context)
        done = await self.people.change_password(token, request.old_password, request.new_password)
        return self._signed_in(done)

    @grpc_errors
    async def ResetPassword(self, request: p.PersonRef, context: Ctx) -> p.ResetPasswordReply:
        state, secret = await self.people.reset_password(self._person(context), request.person_id)
        return p.ResetPasswordReply(person=person_msg(state), one_time_password=secret)

    @grpc_errors
    async def Unlock(self, request: p.PersonRef, context: Ctx) -> p.PersonView:
        return person_msg(await self.people.unlock(self._person(context), request.person_id))


def people_service(people: PeopleBackend) -> ServedService:
    return ServedService(
        "vcc_proto.v1.People", PeopleServicer(people), pg.add_PeopleServicer_to_server
    )
