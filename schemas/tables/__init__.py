"""Each table's contract, declared once: the typed columns of the document tables with where
their values come from (`documents`), the trend row (`trends`) and the NOTIFY channels
(`channels`). The stream processor builds its SQL from these, the gateway its SQL and response
models; the migrations keep their own frozen copies, and tests/schemas/test_tables.py checks
the migrated database against this declaration.

A table that several services query has its SQL here too, in one module
(`collection_cursors`: written by the collector, read by the gateway)."""
