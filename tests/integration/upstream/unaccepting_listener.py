# A listener whose connections never complete: it listens with the smallest backlog, fills that
# backlog with connections of its own and never accepts, so the kernel drops further SYNs and a
# client's connect() hangs until its own timeout (a replica that is down behind a silent firewall).
# Prints {"event":"listening","port":N} once the backlog is full, then waits to be killed.
import json
import socket
import sys
import time

listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(0)
port = listener.getsockname()[1]
fillers = []
for _ in range(4):
    filler = socket.socket()
    filler.setblocking(False)
    try:
        filler.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    fillers.append(filler)
time.sleep(0.2)
print(json.dumps({"event": "listening", "port": port}), flush=True)
while True:
    time.sleep(3600)
