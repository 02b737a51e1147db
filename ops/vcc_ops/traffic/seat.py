"""Open an agent's seat as a person would at their first sign-in: the tools' bots.

On a checked (mutual-TLS) site, ``AgentDesk.Login`` with an initial password that is
right answers FAILED_PRECONDITION: the person must change it first. A bot then does what
the web desk asks of a person: ``People.SignIn`` with the initial password,
``People.ChangePassword`` to :func:`seat_password` of it, and logs in with the new one,
keeping the person's session the change gave (as the web desk does: the person who just
changed their password is at their desk, signed in). It does not sign that session out:
a team or shift leader may not sign out before handing the shift over to a successor, and
a leader opening their seat is taking the shift, not leaving it. A later run in the same work folder (the initial secret kept, the
password already changed) is told UNAUTHENTICATED for the initial one and logs in with
the changed one. The changed password is derived from the initial secret, which only the
operator's sheet holds; the bots are a load and demo harness, not people.
"""

from __future__ import annotations

import grpc
import grpc.aio

from vcc_proto.v1 import people_pb2 as p
from vcc_proto.v1 import people_pb2_grpc as pg
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg

SUFFIX = "~seat"


def seat_password(initial: str) -> str:
    """The password a bot changes ``initial`` to."""
    return initial + SUFFIX


async def open_seat(
    desk: sg.AgentDeskStub,
    people: pg.PeopleStub | None,
    agent_id: str,
    password: str,
    device: str,
    timeout_s: float = 20,
) -> tuple[s.LoginReply, str]:
    """``AgentDesk.Login``, changing an initial password first when the site asks; the
    reply and the password that opened the seat."""

    async def login(secret: str) -> s.LoginReply:
        reply: s.LoginReply = await desk.Login(
            s.LoginRequest(agent_id=agent_id, password=secret, device=device), timeout=timeout_s
        )
        return reply

    try:
        return await login(password), password
    except grpc.aio.AioRpcError as exc:
        if people is None or password.endswith(SUFFIX):
            raise
        if exc.code() == grpc.StatusCode.UNAUTHENTICATED:  # changed by an earlier run
            return await login(seat_password(password)), seat_password(password)
        if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
            raise
    new = seat_password(password)
    first = await people.SignIn(
        p.SignInRequest(person_id=agent_id, password=password), timeout=timeout_s
    )
    bearer = (("authorization", f"Bearer {first.session_token}"),)
    await people.ChangePassword(  # its new session is the person's, kept (see above)
        p.ChangePasswordRequest(old_password=password, new_password=new),
        metadata=bearer,
        timeout=timeout_s,
    )
    return await login(new), new
