"""``python -m josev`` is the ``josev`` command."""

from josev.cli import main

main()
