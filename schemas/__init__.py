"""gridflow's contract: every message, every topic.

Message models are pydantic v2; their JSON Schemas are generated into
``schemas/json/`` (``python -m schemas.jsonschema``) for channels that do not use
Python. The topic catalogue is :mod:`schemas.topics`.
"""
