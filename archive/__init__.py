"""The archive (归档): every event and dead letter kept, one summary row per case, and the
figures reported over them (及时办结率, 满意率, escalations, dead letters)."""
