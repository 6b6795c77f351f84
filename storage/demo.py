"""Demo data for `hajibot init --demo`: a small porsi registry of fictitious pilgrims."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from storage.registry_import import ImportReport, import_registry

DEMO_CSV = Path(__file__).parent / "demo_registry.csv"


async def seed_demo(session: AsyncSession) -> ImportReport:
    """Load the demo registry (idempotent: re-running updates the same rows)."""
    return await import_registry(session, DEMO_CSV.read_bytes(), strict=True)
