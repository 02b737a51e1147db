"""``vcc simulate``: a discrete-event simulator that runs the real ACD on a virtual clock,
checked against Erlang C and Erlang A, and a staffing search on top of it."""

from vcc_ops.simulate.engine import SimConfig, SimResult, simulate
from vcc_ops.simulate.erlang import ErlangA, ErlangC, erlang_a, erlang_c, erlang_c_agents
from vcc_ops.simulate.staffing import Candidate, StaffResult, staff

__all__ = [
    "Candidate",
    "ErlangA",
    "ErlangC",
    "SimConfig",
    "SimResult",
    "StaffResult",
    "erlang_a",
    "erlang_c",
    "erlang_c_agents",
    "simulate",
    "staff",
]
