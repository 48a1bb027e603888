from tests.conftest import ME, Api, code


def test_register_then_me_returns_the_user(api: Api) -> None:
    body = api.register("Ann@X.test")
    assert body["data"]["registerUser"]["user"]["email"] == "ann@x.test"
    assert api.call(ME)["data"]["me"]["email"] == "ann@x.test"


def test_refresh_without_cookie_is_missing(api: Api) -> None:
    assert code(api.refresh()) == "REFRESH_TOKEN_MISSING"
