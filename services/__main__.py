"""``python -m services`` is the ``gridflow`` command."""

from services.cli import main

main()
