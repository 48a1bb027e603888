"""Random secrets shared by every worker through the database."""

from __future__ import annotations

import secrets
import threading

from sqlalchemy.exc import IntegrityError

from .models import ServerSecret, db

REFRESH_MAC = "refresh-mac"


class SecretStore:
    """Reads each named secret once per worker, creating it on first use."""

    def __init__(self) -> None:
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> bytes:
        cached = self._cache.get(name)
        if cached is not None:
            return cached

        with self._lock:
            row = db.session.get(ServerSecret, name)
            if row is None:
                db.session.add(ServerSecret(name=name, value=secrets.token_bytes(32)))
                try:
                    db.session.commit()
                except IntegrityError:  # another worker created it first
                    db.session.rollback()
                row = db.session.get(ServerSecret, name)
            if row is None:  # pragma: no cover - the insert above failed
                raise RuntimeError(f"server secret {name} could not be created")
            self._cache[name] = bytes(row.value)
            db.session.rollback()
        return self._cache[name]
