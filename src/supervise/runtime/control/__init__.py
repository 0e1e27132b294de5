"""The control socket: `up` serves it (server), the other commands ask it (client).

One unix socket per project, in a private runtime folder (rundir); requests
and answers are JSON lines, and some answers turn the connection into a
stream: `logs -f` (logstream) and `attach` (attach). target adapts the
running Supervisor to what the server needs.
"""
