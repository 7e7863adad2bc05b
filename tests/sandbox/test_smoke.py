from __future__ import annotations

from .conftest import World


async def test_ping(world: World) -> None:
    res = await world.sb.slash(world.seed.fans[0], "ping")
    assert res.content == "pong"
