"""``python -m josev.ev`` = ``josev ev``."""

from josev.cli.ev import app

if __name__ == "__main__":
    app(prog_name="josev ev")
