"""Pure domain types shared by every vcc package: IDs, clock, errors, the province model.

Nothing in this package performs I/O or imports a network, database or RPC library.
"""
