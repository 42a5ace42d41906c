"""An email backend for delivery tests: it fails the way it is told to, and can be slow."""

import threading
import time

from django.core.mail.backends.base import BaseEmailBackend


class ScriptedBackend(BaseEmailBackend):
    """`open_error` is raised by open(), `send_error` by send_messages(); `delay` seconds pass inside the send.
    Every message handed over is appended to `sent`. Reset with `reset()`."""

    open_error: Exception | None = None
    send_error: Exception | None = None
    delay: float = 0.0
    sent: list = []
    lock = threading.Lock()

    @classmethod
    def reset(cls):
        cls.open_error = cls.send_error = None
        cls.delay = 0.0
        cls.sent = []

    def open(self):
        if self.open_error is not None:
            raise self.open_error
        return True

    def send_messages(self, email_messages):
        time.sleep(self.delay)
        if self.send_error is not None:
            raise self.send_error
        with self.lock:
            self.sent.extend(email_messages)
        return len(email_messages)
