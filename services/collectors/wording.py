"""The sentences of collector tiers and profiles (managers' replies, notices, fans' answers)."""

from __future__ import annotations

from collections.abc import Sequence

from services.localtime import discord_timestamp
from services.text import plural
from storage.collector_profiles import ProfileFacts
from storage.collectors import Tier

PUBLIC_STATE = "Other members can see it with /collector profile."
PRIVATE_STATE = "Only you can see it; the button below lets other members see it too."
NO_TIERS = "This server has no collector tiers yet."


def role_mention(role_id: int) -> str:
    return f"<@&{role_id}>"


def unmanageable_sentence(role_id: int, *, can_manage_roles: bool, below_bot: bool) -> str:
    """What a manager must fix so the bot can hand out a tier's role ("" when nothing)."""
    fixes = []
    if not can_manage_roles:
        fixes.append("give me the **Manage Roles** permission")
    if not below_bot:
        fixes.append(f"move my own role above {role_mention(role_id)} in Server Settings → Roles")
    if not fixes:
        return ""
    return (
        "I cannot hand out this role yet: "
        + " and ".join(fixes)
        + ". Purchases are counted meanwhile; run /collector tier-set again once it is fixed."
    )


def tier_set_sentence(tier: Tier, created: bool, queued: int) -> str:
    verb = "created" if created else "updated"
    text = (
        f"Tier **{tier.name}** {verb}: fans with {plural(tier.min_purchases, 'purchase')} or "
        f"more get {role_mention(tier.role_id)}."
    )
    if queued:
        text += f" {plural(queued, 'role change')} queued for fans already there."
    return text


def tier_lines(tiers: Sequence[Tier]) -> list[str]:
    lines = []
    for tier in tiers:
        line = (
            f"**{tier.name}** · {role_mention(tier.role_id)} · from "
            f"{plural(tier.min_purchases, 'purchase')}"
        )
        if tier.disabled_reason:
            line += f" · disabled: {tier.disabled_reason}"
        lines.append(line)
    return lines


def missing_permission_notice(tier_names: Sequence[str], role_id: int) -> str:
    names = ", ".join(f"**{name}**" for name in tier_names) or "a collector tier"
    return (
        f"I could not change the collector role {role_mention(role_id)} ({names}): I need the "
        "**Manage Roles** permission, and my own role must sit above it in Server Settings → "
        "Roles. Fans' purchases are still counted; once fixed, run /collector tier-set for that "
        "tier again and the roles owed are handed out."
    )


def role_deleted_notice(tier_names: Sequence[str]) -> str:
    names = ", ".join(f"**{name}**" for name in tier_names)
    return (
        f"The role of the collector tier {names} was deleted in Discord, so the tier is "
        "disabled. Give it a new role with /collector tier-set, or remove it with "
        "/collector tier-remove."
    )


ROLE_DELETED_REASON = "its role was deleted in Discord; set it again with a new role"


def next_tier_sentence(purchases: int, tiers: Sequence[Tier]) -> str:
    enabled = sorted((t for t in tiers if t.enabled), key=lambda t: t.min_purchases)
    if not enabled:
        return NO_TIERS
    upcoming = next((t for t in enabled if t.min_purchases > purchases), None)
    if upcoming is None:
        return "The highest tier of this server."
    missing = upcoming.min_purchases - purchases
    return f"{plural(missing, 'more purchase')} to reach **{upcoming.name}**."


def profile_text(facts: ProfileFacts, tiers: Sequence[Tier], *, own: bool) -> str:
    first = (
        discord_timestamp(facts.first_purchase_at, "D")
        if facts.first_purchase_at is not None
        else "none yet"
    )
    tier = f"**{facts.tier_name}**" if facts.tier_name else "none yet"
    lines = [
        f"**Collector profile of <@{facts.user_id}>**",
        f"Drops joined: {facts.drops_joined:,}",
        f"Drops bought: {facts.drops_bought:,}",
        f"First purchase: {first}",
        f"Current streak: {plural(facts.streak, 'drop')} in a row",
        f"Tier: {tier}. {next_tier_sentence(facts.drops_bought, tiers)}",
    ]
    if own:
        lines.append(
            f"Your profile is {'public' if facts.public else 'private'}. "
            + (PUBLIC_STATE if facts.public else PRIVATE_STATE)
        )
    return "\n".join(lines)


def private_sentence(user_id: int) -> str:
    return f"<@{user_id}> keeps their collector profile private."
