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
    pass


class IllegalAgentTransition(CoreError):
    pass


class IllegalRequestAction(CoreError):
    pass
