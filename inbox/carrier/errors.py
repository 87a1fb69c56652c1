from __future__ import annotations


class CarrierError(Exception):
    """Something the carrier refused or could not do.

    transient: worth trying again later (throttled, 5xx, timeout before sending).
    outcome_unknown: the request may have reached the carrier; re-sending could
    text the patient twice.
    """

    def __init__(
        self,
        reason: str,
        *,
        code: str | None = None,
        transient: bool = False,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.transient = transient
        self.outcome_unknown = outcome_unknown


class NumberUnavailable(CarrierError):
    """The number was bought by someone else (or never existed) between search and buy."""
