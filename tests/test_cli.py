"""Commands that name a shop: one that has not installed the app is refused with its name."""

from __future__ import annotations

import pytest

from shared.cli import main

NOWHERE = "never-installed.myshopify.com"


@pytest.mark.parametrize("argv", [
    ["match-competitors", "--shop", NOWHERE, "--list-only"],
    ["confirm-match", "1", "--shop", NOWHERE],
])
def test_a_shop_that_is_not_installed_is_named_and_refused(db, capsys, argv):
    assert main(argv) == 1
    assert f"shop {NOWHERE} is not installed" in capsys.readouterr().err
