"""Users: registration, authentication, argon2id, on every database."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

import pytest
from flask import Flask

from app.errors import BadUserInput, EmailTaken, InvalidCredentials
from app.models import User, db
from app.users import Argon2Parameters, Users
from tests.conftest import ME, Api, AppFactory, code


@pytest.fixture
def db_app(make_app: AppFactory, database_url: str) -> Iterator[Flask]:
    app = make_app(database_url=database_url)
    with app.app_context():
        yield app


@pytest.fixture
def users(db_app: Flask) -> Users:
    return db_app.extensions["token_service"].users


def test_register_stores_an_argon2id_hash_not_the_password(users: Users) -> None:
    user = users.register("ann@x.test", "correct horse")
    assert user.password_hash.startswith("$argon2id$")
    assert "correct horse" not in user.password_hash


def test_emails_are_unique_case_insensitively(users: Users) -> None:
    users.register("Ann@X.test", "correct horse")
    with pytest.raises(EmailTaken):
        users.register("ann@x.TEST", "battery staple")
    assert users.authenticate("ANN@x.test", "correct horse").email == "ann@x.test"


@pytest.mark.parametrize(
    "email", ["a@example.com", "first.last+tag@sub.x.test", "x@x.test"]
)
def test_syntax_only_email_check_accepts_test_domains(users: Users, email: str) -> None:
    assert users.register(email, "correct horse").email == email


@pytest.mark.parametrize(
    "email",
    [
        "",
        "ann",
        "ann@",
        "@x.test",
        "ann@@x.test",
        "ann@x",
        "a b@x.test",
        "a" * 321 + "@x.test",
    ],
)
def test_malformed_email_is_bad_user_input(users: Users, email: str) -> None:
    with pytest.raises(BadUserInput):
        users.register(email, "correct horse")


@pytest.mark.parametrize(
    "password",
    ["short", "password", "12345678", "aaaaaaaaaa", "ann@x.test", "x" * 1025],
)
def test_weak_password_is_bad_user_input(users: Users, password: str) -> None:
    with pytest.raises(BadUserInput):
        users.register("ann@x.test", password)
    assert db.session.scalar(db.select(db.func.count(User.id))) == 0


def test_unknown_email_and_wrong_password_are_the_same_error(users: Users) -> None:
    users.register("ann@x.test", "correct horse")
    with pytest.raises(InvalidCredentials) as unknown:
        users.authenticate("bob@x.test", "correct horse")
    with pytest.raises(InvalidCredentials) as wrong:
        users.authenticate("ann@x.test", "wrong horse")
    assert unknown.value.message == wrong.value.message


def test_unknown_email_costs_about_what_a_wrong_password_costs(
    make_app: AppFactory,
) -> None:
    app = make_app({"ARGON2_MEMORY_COST": 16384, "ARGON2_TIME_COST": 2})
    with app.app_context():
        users = app.extensions["token_service"].users
        users.register("ann@x.test", "correct horse")

        def cost(email: str) -> float:
            # CPU time of this process (argon2's threads included): other
            # work on the machine does not stretch it as it does wall time.
            start = time.process_time()
            with pytest.raises(InvalidCredentials):
                users.authenticate(email, "wrong horse")
            return time.process_time() - start

        # Interleaved, so that a change of CPU speed lands on both alike.
        samples = [(cost("bob@x.test"), cost("ann@x.test")) for _ in range(7)]
        unknown = statistics.median(pair[0] for pair in samples)
        wrong = statistics.median(pair[1] for pair in samples)
    # Both run one argon2 verification; without the dummy hash the unknown
    # address would answer in microseconds.
    assert 0.5 < unknown / wrong < 2.0


def test_changed_argon2_parameters_rehash_on_login(db_app: Flask) -> None:
    old = Users(Argon2Parameters(time_cost=1, memory_cost=1024, parallelism=1))
    old.register("ann@x.test", "correct horse")
    new = Users(Argon2Parameters(time_cost=2, memory_cost=2048, parallelism=1))
    user = new.authenticate("ann@x.test", "correct horse")
    rehashed = new.by_email("ann@x.test").password_hash
    assert "m=2048,t=2,p=1" in rehashed
    assert new.authenticate("ann@x.test", "correct horse").id == user.id
    assert new.by_email("ann@x.test").password_hash == rehashed  # once


def test_login_over_the_api(app: Flask) -> None:
    Api(app).register("ann@x.test")
    api = Api(app)
    assert code(api.login("ann@x.test", "wrong horse")) == "INVALID_CREDENTIALS"
    assert code(api.login("nobody@x.test", "wrong horse")) == "INVALID_CREDENTIALS"
    body = api.login("ANN@x.test")
    assert body["data"]["loginUser"]["user"]["email"] == "ann@x.test"
    assert body["data"]["loginUser"]["tokenType"] == "Bearer"


def test_register_over_the_api_refuses_taken_and_bad_input(api: Api) -> None:
    api.register("ann@x.test")
    assert code(Api(api.app).register("ANN@x.test")) == "EMAIL_TAKEN"
    assert code(Api(api.app).register("not-an-email")) == "BAD_USER_INPUT"
    assert code(Api(api.app).register("bob@x.test", "short")) == "BAD_USER_INPUT"


def test_every_answer_shows_the_same_created_at(api: Api) -> None:
    registered = api.register()["data"]["registerUser"]["user"]["createdAt"]
    logged_in = api.login()["data"]["loginUser"]["user"]["createdAt"]
    refreshed = api.call(
        "mutation { refreshToken { user { createdAt } } }"
    )["data"]["refreshToken"]["user"]["createdAt"]
    me = api.call(ME)["data"]["me"]["createdAt"]
    assert registered == logged_in == refreshed == me
