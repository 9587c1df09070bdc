"""`python -m approver` is `approver`."""

from approver.cli.main import main

main()
