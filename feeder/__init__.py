"""feeder: WeChat official-account articles as Atom feeds and a weekly newsletter."""

__version__ = "0.1.0"
