"""The bundle's entry point: `approver`, as the wheel's console script runs it."""

from approver.cli.main import main

main()
