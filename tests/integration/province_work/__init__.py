"""One real province shared by the modules of this package (see its ``conftest``)."""
