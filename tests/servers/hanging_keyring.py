"""A keyring backend that never answers, like a Secret Service stuck behind an unlock prompt.

Selected with PYTHON_KEYRING_BACKEND=tests.servers.hanging_keyring.HangingKeyring to prove the timeout path."""

import time

from keyring.backend import KeyringBackend


class HangingKeyring(KeyringBackend):
    priority = 1

    def get_password(self, service: str, username: str) -> str | None:
        time.sleep(3600)
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        time.sleep(3600)

    def delete_password(self, service: str, username: str) -> None:
        time.sleep(3600)
