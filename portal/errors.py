"""Domain errors: raised by services with a sentence a person can act on; pages show it, the API returns it."""


class DomainError(Exception):
    """A refused action. `code` is stable for API clients; the message is for people."""

    code = "refused"
    status = 422

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
