"""mailgate: the mail daemon for between-session communication in therapy practices."""

__version__ = "0.1.0"
