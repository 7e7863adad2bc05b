"""**Create drop from this poll**: a modal asks the name, the opening time, the stock and the
product to sell; the drop is announced like /drop create, and its waitlist starts with the
poll's committed fans (filled before the announcement goes out)."""

from __future__ import annotations

from typing import Any

import discord

from bot import errors
from bot.ui import DropbellModal, guild_id_of, require_manager, services_of
from cogs.drops.announcement import post_announcement
from services.drops.rules import MAX_PRODUCT_LENGTH
from services.localtime import discord_timestamp
from services.polls.wording import winner
from services.text import plural
from storage.polls import Poll


class DropFromPollModal(DropbellModal, title="Create drop from this poll"):
    name: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Drop name", min_length=1, max_length=80
    )
    opens_at: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Opens at (YYYY-MM-DD HH:MM, 24 h)", min_length=10, max_length=40
    )
    stock: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Stock (units)", min_length=1, max_length=9
    )
    # Without it the drop is waitlist only, as /drop create without `product`: a drop from a
    # poll could otherwise never sell, since /drop edit does not change a drop's product.
    product: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Product (shop:id; empty: waitlist only)",
        required=False,
        max_length=MAX_PRODUCT_LENGTH,
        placeholder="such as sandbox:price_123 (as /drop create's product)",
    )

    def __init__(
        self,
        poll: Poll,
        default_name: str,
        default_stock: int,
        nonce: int,
        default_product: str | None = None,
    ) -> None:
        # One modal per press: discord.py keys open modals by custom_id.
        super().__init__(custom_id=f"dropbell:polldrop-modal:{poll.id}:{nonce}", timeout=900)
        self.poll = poll
        self.name.default = default_name[:80]
        self.opens_at.placeholder = f"in {poll.timezone}"[:100]
        self.stock.default = str(max(1, default_stock))
        self.product.default = default_product

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        # Checked again on submit: the modal stays open up to 15 minutes, long enough for the
        # manager to lose the role.
        await require_manager(interaction)
        # Announcing and filling the waitlist takes more than Discord's 3 seconds on a big poll.
        await interaction.response.defer(ephemeral=True, thinking=True)
        to_drop = services_of(interaction).polls.to_drop
        poll = await to_drop.check(guild_id_of(interaction), self.poll.id)
        product = self.product.value.strip() or None
        if product is not None:
            # Exactly /drop create's check: a connected shop, a product it has; one sentence.
            await services_of(interaction).drop_day.products.check(product)
        spec = await to_drop.spec(
            poll, self.name.value, self.opens_at.value, self.stock.value, poll.channel_id, product
        )
        # Written with its pre-filled waitlist before the post exists: nobody can press Join
        # on it ahead of the committed fans.
        drop, fans = await to_drop.create(poll, interaction.user.id, spec)
        channel = interaction.client.get_partial_messageable(
            poll.channel_id, guild_id=poll.guild_id
        )
        drops = services_of(interaction).drops
        try:
            message = await post_announcement(channel, drop, None)
        except discord.HTTPException as error:
            await drops.delete(drop.id)  # its waitlist goes with it, and the poll is free again
            raise errors.UserError(
                f"I couldn't post in <#{poll.channel_id}> ({error.text or error.status}); "
                "nothing was created."
            ) from error
        await drops.announced(
            drop.id, channel_id=poll.channel_id, message_id=message.id, event_id=None
        )
        await to_drop.tell_fans(drop)
        selling = f" It sells `{drop.product}`." if drop.product else " It is waitlist only."
        await interaction.followup.send(
            f"**{drop.name}** is announced in <#{poll.channel_id}>: opens "
            f"{discord_timestamp(drop.starts_at, 'F')}, {drop.stock:,} in stock. Its waitlist "
            f"starts with the {plural(fans, 'fan')} who committed, in order of first commitment."
            f"{selling}",
            ephemeral=True,
        )


async def open_drop_modal(interaction: discord.Interaction[Any], poll_id: int) -> None:
    polls = services_of(interaction).polls
    poll = await polls.to_drop.check(guild_id_of(interaction), poll_id)
    options = await polls.options(poll.id)
    best = winner(options)
    # The winning option's name, if a connected shop has exactly one product called so.
    suggested = await services_of(interaction).drop_day.products.named(best.name)
    await interaction.response.send_modal(
        DropFromPollModal(poll, best.name, best.units, interaction.id, suggested)
    )
