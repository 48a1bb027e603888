"""Users: registration and password authentication.

Passwords are hashed with argon2id (RFC 9106). A login against an unknown
e-mail verifies a dummy hash made with the same parameters, so it costs what a
wrong password costs and both answer with the same error: the response does
not tell which addresses are registered.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from .errors import BadUserInput, EmailTaken, InvalidCredentials, NotFound
from .keys import as_utc
from .models import User, db

#: Built once: each runs with only the address bound.
_BY_EMAIL = select(User).where(User.email == bindparam("email"))
_SIGN_IN = select(User.id, User.email, User.password_hash, User.user_type,
                  User.created_at).where(User.email == bindparam("email"))

logger = logging.getLogger(__name__)

MIN_PASSWORD = 8
#: Bounds the hashing work one request can ask for.
MAX_PASSWORD = 1024
_COMMON = frozenset(
    {"password", "12345678", "123456789", "1234567890", "qwertyui", "qwerty123",
     "password1", "11111111", "iloveyou", "abcd1234", "letmein1", "00000000"}
)
USER_TYPES = ("user", "admin")


@dataclass(frozen=True)
class Account:
    """A user as a sign-in reads it: a row, not an object of the ORM's."""

    id: str
    email: str
    user_type: str
    created_at: datetime


@dataclass(frozen=True)
class Argon2Parameters:
    time_cost: int = 3
    memory_cost: int = 65536  # KiB: RFC 9106's second recommendation
    parallelism: int = 4


@lru_cache(maxsize=64)
def normalize_email(email: str) -> str:
    """Check syntax only (no DNS) and lower-case the address.

    A sign-in asks twice, for its rate limit and for its lookup; the cache
    is there for the second question, and small.

    :raises BadUserInput: the address is malformed.
    """
    if len(email) > 320:
        raise BadUserInput("E-mail address is too long.")
    try:
        checked = validate_email(email.strip(), check_deliverability=False,
                                 test_environment=True)
    except EmailNotValidError as err:
        # The library's wording stays on the server; the client gets ours.
        raise BadUserInput("Invalid e-mail address.") from err
    return checked.normalized.lower()


def check_password(password: str, email: str) -> None:
    """Refuse passwords an attacker would try first (NIST SP 800-63B 5.1.1).

    :raises BadUserInput: the password is weak or too long.
    """
    if len(password) < MIN_PASSWORD:
        raise BadUserInput(f"Password must have at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise BadUserInput(f"Password must have at most {MAX_PASSWORD} characters.")
    lowered = password.lower()
    if lowered in _COMMON or lowered == email or len(set(password)) < 3:
        raise BadUserInput("Password is too easy to guess.")


class Users:
    """The user store."""

    def __init__(self, parameters: Argon2Parameters) -> None:
        self.hasher = PasswordHasher(
            time_cost=parameters.time_cost,
            memory_cost=parameters.memory_cost,
            parallelism=parameters.parallelism,
        )
        self._dummy_hash: str | None = None

    def register(self, email: str, password: str, user_type: str = "user") -> User:
        """Create a user.

        :raises BadUserInput: malformed e-mail or weak password.
        :raises EmailTaken: the address is registered already.
        """
        email = normalize_email(email)
        check_password(password, email)
        if user_type not in USER_TYPES:
            raise BadUserInput(f"User type must be one of {', '.join(USER_TYPES)}.")

        if db.session.scalar(db.select(User.id).where(User.email == email)):
            raise EmailTaken()

        user = User(email=email, password_hash=self.hasher.hash(password),
                    user_type=user_type)
        db.session.add(user)
        try:
            db.session.commit()
        except IntegrityError as err:  # a concurrent registration won
            db.session.rollback()
            raise EmailTaken() from err
        return user

    def authenticate(self, email: str, password: str) -> Account:
        """Return the user whose password this is.

        Rehashes the password when the argon2 parameters have changed.

        :raises InvalidCredentials: unknown e-mail or wrong password, alike.
        """
        try:
            email = normalize_email(email)
        except BadUserInput:
            email = ""
        row = None
        if email and len(password) <= MAX_PASSWORD:
            # One row on a connection of its own: the ORM's session would
            # cost more than the query to set up and tear down.
            with db.engine.connect() as connection:
                row = connection.execute(_SIGN_IN, {"email": email}).first()

        if row is None:
            self._burn(password)
            raise InvalidCredentials()

        try:
            self.hasher.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError) as err:
            raise InvalidCredentials() from err

        if self.hasher.check_needs_rehash(row.password_hash):
            db.session.execute(update(User).where(User.id == row.id)
                               .values(password_hash=self.hasher.hash(password)))
            db.session.commit()
            logger.info("rehashed password of user %s", row.id)
        return Account(row.id, row.email, row.user_type, as_utc(row.created_at))

    def _burn(self, password: str) -> None:
        """Spend the time a real verification takes."""
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash("not a password of anyone")
        try:
            self.hasher.verify(self._dummy_hash, password[:MAX_PASSWORD])
        except VerificationError:
            pass

    def get(self, user_id: str) -> User | None:
        user: User | None = db.session.get(User, user_id)
        return user

    def by_email(self, email: str) -> User:
        """:raises NotFound: no user has this address."""
        user: User | None = db.session.scalar(
            _BY_EMAIL, {"email": email.strip().lower()}
        )
        if user is None:
            raise NotFound(f"no user {email.strip()}")
        return user

    def list(self) -> list[User]:
        return list(db.session.scalars(db.select(User).order_by(User.created_at)))

    def set_type(self, user: User, user_type: str) -> None:
        if user_type not in USER_TYPES:
            raise BadUserInput(f"User type must be one of {', '.join(USER_TYPES)}.")
        user.user_type = user_type
        db.session.commit()


def created_at(user: User | Account) -> datetime:
    return as_utc(user.created_at)
