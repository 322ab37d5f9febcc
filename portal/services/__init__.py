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


class FieldErrors(DomainError):
    """Several fields at fault at once, so a form can show every error in one round.

    Attributes:
        errors: each field's error; the first also gives this error's message and field
            (an API client that reads one error reads the first).
    """

    def __init__(self, errors: list[DomainError]):
        super().__init__(errors[0].message, errors[0].field)
        self.errors = errors
        statuses = {error.status for error in errors}
        self.status = statuses.pop() if len(statuses) == 1 else 400
