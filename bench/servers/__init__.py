"""Benchmark servers, one small script per implementation.

Each script is run as its own process (``python bench/servers/NAME.py --mode echo``),
binds 127.0.0.1 on an ephemeral port, and prints ``PORT <n>`` on stdout once it is
accepting connections. Modes: ``echo`` (send every line back to its sender) and
``broadcast`` (send every line to every connected client, sender included).
Lines end in CRLF on the wire in both directions.
"""
