"""The SQL kernel, below every processor: engine, metadata, transaction, inbox, types.

Each processor's SQL adapter (``router/sql.py``, ``escalator/sql.py``,
``archive/sql.py``) imports this package and nothing of the shell
(``services/``), the way an event-sourcing library's recorders import only its
persistence kernel.
"""
