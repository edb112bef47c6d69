"""The smallest middleware on the `gor` package (0.2.3): it echoes every message."""

from gor.middleware import AsyncioGor

if __name__ == "__main__":
    AsyncioGor().run()
