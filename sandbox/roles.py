"""A member's roles, as Discord guards them: ``PUT`` / ``DELETE
/guilds/{guild_id}/members/{user_id}/roles/{role_id}``.

- 404 / 10007 "Unknown Member", 404 / 10011 "Unknown Role" (a role of another guild too);
- 403 / 50013 "Missing Permissions" when the bot lacks Manage Roles (Administrator implies it),
  when the role sits at or above the bot's highest role, and for a managed role (a bot's or an
  integration's own role, which nobody assigns) or @everyone;
- 204 otherwise, also when nothing changes (adding a role the member holds, removing one they
  lack). A change dispatches GUILD_MEMBER_UPDATE (to sessions with the members intent).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import payloads
from .http_util import MISSING_PERMISSIONS, HTTPError, no_content, not_found
from .models import ADMINISTRATOR, MANAGE_ROLES, Member, Role
from .world import World

MEMBER_ROLE_ROUTE = "/guilds/{guild_id}/members/{user_id}/roles/{role_id}"


def top_position(world: World, member: Member) -> int:
    """The position of the member's highest role (0, @everyone's, if they hold none)."""
    return max((world.roles[r].position for r in member.roles if r in world.roles), default=0)


def member_update_payload(member: Member) -> dict[str, Any]:
    data = payloads.member(member)
    data["guild_id"] = str(member.guild_id)
    return data


class MemberRoles:
    def __init__(self, world: World, dispatch: Callable[[str, Any], bool]) -> None:
        self.world = world
        self.dispatch = dispatch

    def routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("PUT", MEMBER_ROLE_ROUTE, self.add),
            ("DELETE", MEMBER_ROLE_ROUTE, self.remove),
        ]

    def _target(self, request: web.Request) -> tuple[Member, Role]:
        info = request.match_info
        guild = self.world.guilds.get(_int(info["guild_id"]))
        if guild is None:
            raise not_found("Guild", 10004)
        member = guild.members.get(_int(info["user_id"]))
        if member is None:
            raise not_found("Member", 10007)
        role = self.world.roles.get(_int(info["role_id"]))
        if role is None or role.guild_id != guild.id:
            raise not_found("Role", 10011)
        bot = guild.members[self.world.bot.id]
        perms = guild.bot_permissions
        can_manage = bool(perms & (MANAGE_ROLES | ADMINISTRATOR))
        if guild.owner_id == self.world.bot.id:
            can_manage = True
        reachable = role.position < top_position(self.world, bot)
        if not can_manage or not reachable or role.managed or role.id == guild.everyone_role_id:
            raise HTTPError(*MISSING_PERMISSIONS)
        return member, role

    async def add(self, request: web.Request) -> web.Response:
        member, role = self._target(request)
        if role.id not in member.roles:
            member.roles.append(role.id)
            self._changed(member)
        return no_content()

    async def remove(self, request: web.Request) -> web.Response:
        member, role = self._target(request)
        if role.id in member.roles:
            member.roles.remove(role.id)
            self._changed(member)
        return no_content()

    def _changed(self, member: Member) -> None:
        self.world.refresh_permissions(member)
        self.dispatch("GUILD_MEMBER_UPDATE", member_update_payload(member))


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1
