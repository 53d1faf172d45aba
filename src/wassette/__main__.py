"""``python -m wassette``."""

from wassette.cli import main

if __name__ == "__main__":
    main()
