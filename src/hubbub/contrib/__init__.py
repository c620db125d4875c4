"""Building blocks for games and talkers, made only of hubbub's public API.

``commands`` (a command registry), with accounts, rooms and admin to come.
"""
