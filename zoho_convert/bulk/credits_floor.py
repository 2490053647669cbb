"""``min_credits``: a run stops submitting once Zoho says fewer API credits remain.

Zoho counts API credits per org and day, and tells what is left in the
``X-API-CREDITS-REMAINING`` header (the client records it, per process or fleet-wide). The
driver asks the floor inside a request slot, just before each POST: a reading taken before a
batch queued would let every batch of a large run through.
"""

from __future__ import annotations

from zoho_convert.api.credits import CreditsBook

__all__ = ["CreditsFloor"]


class CreditsFloor:
    """The credits a run must leave to the org's other work.

    Args:
        credits: where the client records what Zoho said remains.
        minimum: stop submitting below this many.
    """

    def __init__(self, credits: CreditsBook, minimum: int) -> None:
        self.credits = credits
        self.minimum = minimum

    async def breached(self) -> str:
        """Why the run must stop submitting; "" while enough credits remain (or Zoho has not
        said how many do)."""
        remaining = await self.credits.remaining()
        if remaining is None or remaining >= self.minimum:
            return ""
        return (
            f"API credits remaining ({remaining:,}) fell below min_credits ({self.minimum:,})"
        )
