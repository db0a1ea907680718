"""The query HTTP API (FastAPI) over the archive: cases, units' work, the queue, the KPIs."""
