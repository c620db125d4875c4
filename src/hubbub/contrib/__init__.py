"""Building blocks for games and talkers, made only of hubbub's public API.

- :mod:`~hubbub.contrib.commands`: a command registry (aliases, prefixes, help).
- :mod:`~hubbub.contrib.accounts`: logging in and registering (argon2id).
- :mod:`~hubbub.contrib.rooms`: rooms and exits, say, emote, who.
- :mod:`~hubbub.contrib.admin`: roles, kick, ban, announce, shutdown.

``examples/talker.py`` puts the four together.
"""
