"""The province console: web pages served by the hub for province managers and operations
(the board, reports with CSV, settlement, the directory, work orders), a client of the
hub's own gRPC API as the signed-in person."""
