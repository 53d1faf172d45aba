import wassette


def test_version() -> None:
    assert wassette.__version__
