"""Exit 0 when the PostgreSQL URL given as argv[1] accepts connections (used by scripts/test.sh)."""
import asyncio
import sys

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine


async def main(url: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return 0
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        print(f"PostgreSQL not reachable: {type(exc).__name__}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()


sys.exit(asyncio.run(main(sys.argv[1])))
