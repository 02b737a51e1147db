"""The provincial directory at the hub: the province document, versioned (§3.5).

``tables`` holds the schema (own Alembic folder ``migrations``, version table
``hub_directory_alembic_version``), ``service`` the versioned writes and reads, and
``grpc`` the Directory servicer.
"""
