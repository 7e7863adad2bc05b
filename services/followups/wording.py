"""What the thank-you DM after a purchase says."""

from __future__ import annotations

from services.schedule.render import marker_line
from services.text import shorten
from storage.followups import Followup, NextDrop

# Discord's limit on a button label.
BUTTON_LABEL_LIMIT = 80


def thank_you_dm(followup: Followup, server_name: str | None) -> str:
    server = f"**{server_name}**" if server_name else "the server"
    lines = [f"🎉 Thank you for buying **{followup.drop_name}** in {server}!"]
    if followup.next_drop is not None:
        lines.append(
            f"Next up is **{followup.next_drop.name}**: press the button below to join its "
            "waitlist."
        )
    else:
        lines.append(f"The next drop will be announced in {server}.")
    lines.append("You get this one message because you pressed Remind me for this drop.")
    # The marker lets a restart find this DM and never send it twice.
    return "\n".join(lines) + marker_line(followup.marker)


def join_label(next_drop: NextDrop) -> str:
    return shorten(f"Join the waitlist for {next_drop.name}", BUTTON_LABEL_LIMIT)
