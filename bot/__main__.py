"""``python -m bot`` runs the ``yield-auditor`` command line."""

from bot.cli.main import main

main()
