"""The pure core: models, policy, and decision records. No Qt, no asyncio, no file or network I/O."""
