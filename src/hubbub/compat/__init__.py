"""Drop-in replacements for other frameworks' APIs, running on hubbub.

Each module here mirrors one framework's documented API closely enough that
an application moves by changing its import line, then grows into hubbub's
own API (events, handlers, clients) at its own pace. They use only hubbub's
public API.

* :mod:`hubbub.compat.earwax`: earwax_server's ``Server`` and ``ConnectionContext``.
"""
