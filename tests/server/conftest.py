"""Server unit tests reuse the e2e component template."""

from tests.e2e.conftest import prepared

__all__ = ["prepared"]
