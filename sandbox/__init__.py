"""A local Discord-compatible server for tests, demos and benchmarks.

``Sandbox`` serves Discord's REST API (``/api/v10``) and gateway on 127.0.0.1 so a real
discord.py client can log in, sync commands and answer interactions the sandbox injects.
"""

from .builder import SandboxAttachment
from .demo import SeedInfo, seed_demo_world, serve_forever
from .limits import RULES, Limits
from .models import Channel, Guild, Member, Message, Role, SandboxError, StoredFile, User
from .results import InteractionResult
from .server import Sandbox

__all__ = [
    "RULES",
    "Channel",
    "Guild",
    "InteractionResult",
    "Limits",
    "Member",
    "Message",
    "Role",
    "Sandbox",
    "SandboxAttachment",
    "SandboxError",
    "SeedInfo",
    "StoredFile",
    "User",
    "seed_demo_world",
    "serve_forever",
]
