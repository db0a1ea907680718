"""Every table gridflow keeps, gathered on one metadata for migrations.

Each processor declares its own tables in its SQL adapter; importing them here
registers them on :data:`storage.db.metadata`.
"""

from __future__ import annotations

import archive.sql
import escalator.sql
import notifier.sql
import router.sql
from storage.db import metadata

__all__ = ["archive", "escalator", "metadata", "notifier", "router"]
