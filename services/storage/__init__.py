"""SQL storage shared by the processors: engine, metadata, inbox, transactions."""
