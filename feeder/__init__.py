"""feeder: WeChat official-account articles as Atom feeds and a weekly newsletter."""

__version__ = "0.2.0"
