"""Accounts and live rooms: the domain, the ports it needs from the world, and the use cases.

Nothing here imports a framework, a store or a media protocol: the adapters (``golive.adapters``)
implement the ports, and the HTTP API and the RTMP ingest call the use cases.
"""
