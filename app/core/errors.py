"""Named errors for illegal moves. The engine raises them before changing any state."""


class CoreError(Exception):
    """Base class: the event was refused and the state is unchanged."""


class UnknownQueue(CoreError):
    pass


class UnknownAgent(CoreError):
    pass


class UnknownRequest(CoreError):
    pass


class DuplicateRequest(CoreError):
    """The request (or, for DuplicateNumber, the number in that queue) is already there."""

    def __init__(self, message: str, existing_request_id: str) -> None:
        super().__init__(message)
        self.existing_request_id = existing_request_id


class DuplicateNumber(DuplicateRequest):
    """A callback asked for a number that already has one waiting in the queue."""


class InvalidPriority(CoreError):
    pass


class IllegalAgentTransition(CoreError):
    pass


class IllegalRequestAction(CoreError):
    pass


class EventOvertaken(CoreError):
    """Legal when it was sent, made moot by a deadline that came due first (the callback expired,
    the wrap-up ended): the engine dropped it. Raised by the shell to whoever sent it."""


class InvalidPosition(CoreError):
    """A position outside 1..n, n the requests holding a place in the queue."""


class CallbacksDisabled(CoreError):
    """The queue does not take callbacks (`callback.enabled: false`)."""


class DailyLimitReached(CoreError):
    """The number was promised `callback.max_per_number_per_day` callbacks in the last 24 hours."""

    def __init__(self, message: str, free_again_at: float) -> None:
        super().__init__(message)
        self.free_again_at = free_again_at
