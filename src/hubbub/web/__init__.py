"""The browser client page served by ws:// listeners (client.html)."""
