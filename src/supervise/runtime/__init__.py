"""Running processes: asyncio, one thread, one event loop (see DESIGN.md)."""
