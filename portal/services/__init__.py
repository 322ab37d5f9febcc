"""Use cases. Services take primitives and the acting user, own the transaction and
raise ``DomainError`` subclasses that the views and the API map to responses."""


class DomainError(Exception):
    """A use case refused: the message is shown to the user as it is.

    Attributes:
        field: the form or JSON field at fault, when there is one.
        status: the HTTP status the API should answer with.
    """

    status = 400

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    """The object does not exist (or is out of the user's scope)."""

    status = 404


class Conflict(DomainError):
    """The request conflicts with the current state (e.g. a run is already active)."""

    status = 409
