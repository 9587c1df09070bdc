"""The stdio relay: a sans-IO framer and gate (`relay`) driven by a thin asyncio shell (`driver`)."""
