"""``python -m camscan``: the same as the ``camscan`` command."""

from camscan.cli import main

main()
